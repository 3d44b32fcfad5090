"""The server under test: its base URL, the names known to exist there, and the caller's token.

A live server is named by URL; its known names come from ``--slug`` options or, failing
that, from ``GET /query_models`` (``{"data": [names]}``) when the server offers it.
Anything that stops a run before it starts (no names, an unset token variable, an
unreachable server) is a :class:`ConformanceUsageError`: one clear line, exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from qmcontract.catalog import load_catalog
from qmcontract.engine import ResponseHook
from qmcontract.errors import QmContractError
from qmcontract.names import is_name
from qmcontract.server import running_server

#: The token sent to the embedded mock server, which accepts any non-empty token.
EMBEDDED_TOKEN: Final = "qmcontract-conformance-token"
#: At most this many discovered names are probed (the list endpoint returns them sorted).
MAX_DISCOVERED: Final = 16
LIST_PATH: Final = "/query_models"


class ConformanceUsageError(QmContractError):
    """The run cannot start: bad options, no known names, or an unreachable server."""


@dataclass(frozen=True)
class Target:
    """A server to test. The token is never printed."""

    base_url: str
    slugs: tuple[str, ...]
    token: str | None = field(default=None, repr=False)
    embedded: bool = False


def normalise_base_url(url: str) -> str:
    """The base URL without a trailing slash; raises when it is not an http(s) URL."""
    if not url.startswith(("http://", "https://")):
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


def _get(client: httpx.Client, url: str) -> httpx.Response:
    try:
        return client.get(url)
    except httpx.HTTPError as exc:
        raise ConformanceUsageError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None


def check_reachable(client: httpx.Client, base_url: str, slug: str) -> None:
    """Raise :class:`ConformanceUsageError` unless the server answers at all."""
    _get(client, f"{base_url}/query_models/{slug}")


def discover_slugs(client: httpx.Client, base_url: str, *, limit: int = MAX_DISCOVERED) -> tuple[str, ...]:
    """Names from ``GET /query_models``; raises a usage error when the server does not list any."""
    url = base_url + LIST_PATH
    response = _get(client, url)
    hint = "pass the names of existing Query Models with --slug NAME"
    if response.status_code != 200:
        raise ConformanceUsageError(f"GET {url} gave {response.status_code}, so no names to test: {hint}")
    names = _names_of(response)
    if not names:
        raise ConformanceUsageError(f'GET {url} did not return {{"data": [names]}}: {hint}')
    return tuple(names[:limit])


def _names_of(response: httpx.Response) -> list[str]:
    try:
        body: Any = response.json()
    except ValueError:
        return []
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    return [name for name in data if is_name(name)]


def resolve_live_target(
    base_url: str, slugs: Sequence[str], token: str | None, *, timeout: float = 30.0
) -> Target:
    """A live server: checks that it answers, and discovers names when none are given."""
    base_url = normalise_base_url(base_url)
    bad = [slug for slug in slugs if not is_name(slug)]
    if bad:
        raise ConformanceUsageError(f"--slug {bad[0]!r} is not a Query Model name (22 base62 characters)")
    with httpx.Client(timeout=timeout) as client:
        if slugs:
            check_reachable(client, base_url, slugs[0])
            names = tuple(dict.fromkeys(slugs))
        else:
            names = discover_slugs(client, base_url)
    return Target(base_url, names, token)


@contextmanager
def embedded_target(
    *, token: str | None = None, slugs: Sequence[str] = (), hook: ResponseHook | None = None
) -> Iterator[Target]:
    """Start the embedded mock server on a free port; its catalogue's names are the known ones.

    ``hook`` rewrites every response (test-only: the mutation test builds broken servers
    with it); nothing passes one by default.
    """
    catalog = load_catalog()
    names = tuple(slugs) or tuple(catalog.names())
    with running_server(catalog, hook=hook, access_log=False) as base_url:
        yield Target(
            normalise_base_url(base_url), names, token if token is not None else EMBEDDED_TOKEN, True
        )
