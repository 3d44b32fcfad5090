"""``qmcontract serve``: the mock server, for clients written in any language."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import click

from qmcontract.cli._common import OneLineUsage
from qmcontract.errors import CatalogError
from qmcontract.extras import ensure_extra
from qmcontract.limits import MAX_LATENCY_MS


@click.command("serve", cls=OneLineUsage)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; loopback unless told.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--catalog", "catalog_dir", metavar="DIR", help="Directory of definitions [default: the mocks]."
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    metavar="TOKEN",
    help="An accepted API token (repeatable): metadata=true&me=true with any other authorization gets 401; "
    "without one, any non-empty authorization is accepted. Visible to other users in ps: prefer --token-env.",
)
@click.option(
    "--token-env",
    "token_env",
    multiple=True,
    metavar="VAR",
    help="Like --token, the token read from environment variable VAR (repeatable).",
)
@click.option(
    "--control-token-env",
    metavar="VAR",
    help="Control API requests then need 'authorization: Bearer <$VAR>', from any host; "
    "without it the control API answers loopback clients on a loopback bind only.",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(0, MAX_LATENCY_MS),
    default=0,
    help="Delay added to every API answer.",
)
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of API requests given a 500."
)
@click.option("--seed", type=int, default=None, help="Seed of the --error-rate draws.")
@click.option(
    "--workers", type=click.IntRange(1, 256), default=1, show_default=True, help="Worker processes."
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="warning and above silence the access log.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="One line per request.")
@click.option("--self-check", is_flag=True, help="Validate every response sent; log each violation.")
def serve_command(*, catalog_dir: str | None, **options: Any) -> None:
    """Run the mock server of the Query Model API family until Ctrl-C or SIGTERM.

    \b
    Example:
      OBJECTIVEAI_TEST_TOKEN=sk-test qmcontract serve --port 9000 --token-env OBJECTIVEAI_TEST_TOKEN
    """
    ensure_extra("server", "qmcontract serve")
    from qmcontract.server import ServerOptions, serve  # noqa: PLC0415 (uvicorn loads only for this command)

    settings = ServerOptions(**options)
    with _stop_quietly():
        try:
            serve(catalog_dir, settings)
        except CatalogError as exc:
            raise CatalogError("; ".join(str(exc).splitlines())) from None


@contextlib.contextmanager
def _stop_quietly() -> Iterator[None]:
    """A server stopped by SIGINT or SIGTERM has shut down gracefully: exit 0, no traceback."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
