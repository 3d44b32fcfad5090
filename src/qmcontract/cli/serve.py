"""``qmcontract serve``: the mock server, for clients written in any language."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import click

from qmcontract.cli._common import OneLineUsage
from qmcontract.extras import ensure_extra


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
    help="An accepted authorization (repeatable). With it, metadata=true&me=true and any other value gets "
    "401; without it, any non-empty authorization is accepted.",
)
@click.option("--latency-ms", type=click.IntRange(min=0), default=0, help="Delay added to every API answer.")
@click.option(
    "--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of API requests given a 500."
)
@click.option("--seed", type=int, default=None, help="Seed of the --error-rate draws.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
    help="warning and above silence the access log.",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="One line per request.")
@click.option("--self-check", is_flag=True, help="Validate every response sent; log each violation.")
def serve_command(
    *,
    host: str,
    port: int,
    catalog_dir: str | None,
    tokens: tuple[str, ...],
    latency_ms: int,
    error_rate: float,
    seed: int | None,
    workers: int,
    log_level: str,
    access_log: bool,
    self_check: bool,
) -> None:
    """Run the mock server for GET /query_models/{slug} until Ctrl-C or SIGTERM."""
    ensure_extra("server", "qmcontract serve")
    from qmcontract.server import serve  # noqa: PLC0415 (uvicorn loads only for this command)

    with _stop_quietly():
        serve(
            catalog_dir,
            host=host,
            port=port,
            tokens=tokens,
            latency_ms=latency_ms,
            error_rate=error_rate,
            seed=seed,
            self_check=self_check,
            workers=workers,
            log_level=log_level,
            access_log=access_log,
        )


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
