"""Sending requests to the server under test: one httpx client, extra headers, a timeout, a rate limit.

Every request of a run (probes, schemathesis cases, the checks' own) goes through one
:class:`HttpSender`, which turns a :class:`~qmcontract.wire.Request` into an
:class:`~qmcontract.conformance.exchange.Exchange`. A request without an answer raises
:class:`~qmcontract.conformance.checks.SendError`. An ``httpx`` transport may be given instead of
the network, and :class:`EngineSender` answers in-process from an engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import httpx

from qmcontract.conformance.checks import SendError
from qmcontract.conformance.exchange import Exchange, sent_headers
from qmcontract.engine import Engine
from qmcontract.wire import Request, header_pairs


class RateLimit:
    """At most ``per_second`` requests per second, shared by every thread."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next request may go."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            time.sleep(start - now)


class HttpSender:
    """Sends requests relative to one base URL; counts them through ``on_send``."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        rate_limit: float | None = None,
        transport: httpx.BaseTransport | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.extra_headers = header_pairs(headers or {})
        self._limit = RateLimit(rate_limit) if rate_limit else None
        self._on_send = on_send
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)

    def __call__(self, request: Request) -> Exchange:
        """Send one request; raises SendError when no answer comes back."""
        if self._limit is not None:
            self._limit.wait()
        if self._on_send is not None:
            self._on_send()
        url = self.base_url + request.target
        try:
            response = self._client.request(
                request.method,
                url,
                headers=sent_headers(request, self.extra_headers),
                content=request.body or None,
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, UnicodeError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}") from None
        return Exchange(
            request, response.status_code, header_pairs(response.headers.multi_items()), response.content
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class EngineSender:
    """Answers requests in-process with an engine: how the tests judge deliberately broken engines
    quickly, with no server and no HTTP in between."""

    def __init__(self, engine: Engine, *, on_send: Callable[[], None] | None = None) -> None:
        self.base_url = "http://in-process.invalid"
        self._engine = engine
        self._on_send = on_send

    def __call__(self, request: Request) -> Exchange:
        """The engine's answer (no body for HEAD, as a server sends it)."""
        if self._on_send is not None:
            self._on_send()
        response = self._engine.handle(request)
        body = b"" if request.method == "HEAD" else response.body
        return Exchange(request, response.status, response.headers, body)

    def close(self) -> None:
        """Nothing to release."""
