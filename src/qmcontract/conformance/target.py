"""The server under test: where it is, which names it serves, and which token it accepts.

A live server is named by URL. Its names come from ``--slug`` and from its own list
(``GET /query_models``, every page): the list is evidence as well as set-up, so a malformed list
answer is judged by the checks like any other, and only an unreachable server, or a missing list
route when no ``--slug`` is given, stops the run. A token given with ``--token-env`` that the
server refuses stops the run with one line; without one, the run tries a made-up probe token,
and if the server refuses it the ``me`` checks are reported as not exercised.

Anything that stops a run before it starts is a :class:`ConformanceUsageError`: one line, exit 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

from qmcontract.conformance import exchange as build
from qmcontract.conformance.checks import Sender, SendError
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.probes import PROBE_TOKEN
from qmcontract.errors import QmContractError
from qmcontract.names import is_name
from qmcontract.wire import Request

#: Pages of 1000 names read from the list before the run stops counting (the rest are not known).
MAX_LIST_PAGES: Final = 10
#: Names the per-name probes use at most (in list order).
MAX_PROBED: Final = 16


class ConformanceUsageError(QmContractError):
    """The run cannot start: bad options, no known names, a refused token, or an unreachable server."""


@dataclass(frozen=True)
class Target:
    """A server to test, as the run knows it. The token is never printed."""

    base_url: str
    names: tuple[str, ...]
    served: tuple[str, ...] = ()
    token: str | None = field(default=None, repr=False)
    token_accepted: bool = True
    embedded: bool = False

    @property
    def probed(self) -> tuple[str, ...]:
        """The names the per-name probes use."""
        return self.names[:MAX_PROBED]

    @property
    def complete(self) -> bool:
        """True when every served name is known (so any other name is not served)."""
        return bool(self.served)


def normalise_base_url(url: str) -> str:
    """The base URL without a trailing slash; a usage error when it is not an http(s) URL."""
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ConformanceUsageError(f"{url!r} is not an http:// or https:// URL")
    return url.rstrip("/")


def token_from_env(variable: str | None) -> str | None:
    """The token held by an environment variable, or None when no variable is named."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConformanceUsageError(f"--token-env {variable}: the environment variable {variable} is not set")
    return value


def _ask(send: Sender, request: Request, base_url: str) -> Exchange:
    try:
        return send(request)
    except SendError as exc:
        raise ConformanceUsageError(f"cannot reach {base_url}{request.target}: {exc}") from None


def list_everything(send: Sender, base_url: str) -> tuple[list[str], bool, int]:
    """Every well-formed name the list holds, whether that was all of them, and the first status."""
    names: list[str] = []
    first_status = 0
    for page in range(MAX_LIST_PAGES):
        answer = _ask(send, build.listing([("count", "1000"), ("offset", str(page * 1000))]), base_url)
        first_status = first_status or answer.status
        data = answer.parsed.get("data") if answer.status == 200 and isinstance(answer.parsed, dict) else None
        if not isinstance(data, list):
            return names, False, first_status
        names += [name for name in data if is_name(name) and name not in names]
        if len(data) < 1000:
            return names, True, first_status
    return names, False, first_status


def resolve(
    send: Sender, base_url: str, slugs: Sequence[str], token: str | None, *, embedded: bool = False
) -> Target:
    """What the run knows of a server: its names, whether that is all of them, and its token."""
    bad = [slug for slug in slugs if not is_name(slug)]
    if bad:
        raise ConformanceUsageError(f"--slug {bad[0]!r} is not a Query Model name (22 base62 characters)")
    listed, complete, status = list_everything(send, base_url)
    if not slugs and status in (404, 405):
        raise ConformanceUsageError(
            f"GET {base_url}/query_models answered {status}, so there are no names to test: "
            "pass the names of existing Query Models with --slug NAME"
        )
    names = tuple(dict.fromkeys([*slugs, *listed]))
    served = tuple(listed) if complete and listed and not set(slugs) - set(listed) else ()
    probe = token if token is not None else PROBE_TOKEN
    refused = bool(names) and _refuses(send, base_url, names[0], probe)
    if refused and token is not None:
        request = f"GET /query_models/{names[0]}?metadata=true&me=true"
        raise ConformanceUsageError(f"the server refused the token of --token-env (401 to {request})")
    return Target(base_url, names, served, probe, not refused, embedded)


def _refuses(send: Sender, base_url: str, name: str, token: str) -> bool:
    """Whether the server answers 401 to a ``me=true`` request carrying ``token``."""
    answer = _ask(
        send, build.model(name, [("metadata", "true"), ("me", "true")], authorization=token), base_url
    )
    return answer.status == 401


@contextmanager
def embedded_server() -> Iterator[str]:
    """Start the embedded mock server (the shipped catalogue) on a free loopback port."""
    from qmcontract.catalog import load_catalog  # noqa: PLC0415 (uvicorn loads only for the embedded run)
    from qmcontract.server import running_server  # noqa: PLC0415

    with running_server(load_catalog(), access_log=False) as base_url:
        yield base_url
