"""Keep-alive connections to the upstream server: httpcore (the HTTP engine under httpx), pooled here.

httpx's own pool checks every pooled connection's socket on every request; with 32 clients that
cost milliseconds per request (measured: under 200 req/s through the proxy). This pool keeps
idle connections on a stack, reuses the most recent one, checks a connection's socket only when
it has been idle for more than :data:`CHECK_AFTER_SECONDS`, drops it after
:data:`IDLE_SECONDS`, and retries a read request once on a fresh connection when a reused one
turns out to have been closed by the server before it answered.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import httpcore
import httpx

#: Seconds a connection may stay idle before its socket is checked before reuse.
CHECK_AFTER_SECONDS: Final = 1.0
#: Seconds after which an idle connection is closed rather than reused.
IDLE_SECONDS: Final = 4.0
#: Idle connections kept at most.
MAX_IDLE: Final = 256
#: Methods retried once on a fresh connection when a reused one was closed under them.
_RETRIED: Final = frozenset({b"GET", b"HEAD", b"OPTIONS"})
_STALE: Final = (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError)

#: What a failed exchange with upstream raises: a timeout (504) or anything else (502).
UpstreamTimeout: Final = httpcore.TimeoutException
UpstreamError: Final = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    OSError,
    ValueError,
)
#: What breaks off an answer being streamed.
BROKEN_OFF: Final = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError)


@dataclass
class _Idle:
    connection: httpcore.AsyncHTTPConnection
    since: float


class Answer:
    """An upstream response being read: status, raw headers, and the body as it comes."""

    def __init__(
        self, response: httpcore.Response, pool: UpstreamPool, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        self.status = response.status
        self.headers: list[tuple[bytes, bytes]] = list(response.headers)
        self._response, self._pool, self._connection = response, pool, connection

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as sent (no content coding undone)."""
        async for chunk in self._response.aiter_stream():
            yield chunk

    async def close(self) -> None:
        """Release the connection (back to the pool when it can carry another request)."""
        await self._response.aclose()
        await self._pool.give_back(self._connection)


class UpstreamPool:
    """Connections to one origin (``scheme://host:port``), for requests of any target."""

    def __init__(self, url: httpx.URL, *, timeout: float) -> None:
        self.scheme, self.host = url.scheme.encode("ascii"), url.raw_host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.host_header = url.netloc
        self._origin = httpcore.Origin(self.scheme, self.host, self.port)
        self._ssl = httpx.create_ssl_context() if url.scheme == "https" else None
        self._timeouts = {"connect": min(timeout, 10.0), "read": timeout, "write": timeout, "pool": timeout}
        self._idle: list[_Idle] = []

    async def send(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        """Send one request; raises httpcore's errors (timeouts, connection failures)."""
        request = httpcore.Request(
            method,
            httpcore.URL(scheme=self.scheme, host=self.host, port=self.port, target=target),
            headers=[(b"host", self.host_header), *headers],
            content=body,
            extensions={"timeout": self._timeouts},
        )
        connection, reused = await self._take()
        try:
            response = await connection.handle_async_request(request)
        except _STALE:
            await connection.aclose()
            if not reused or method not in _RETRIED:
                raise
            connection = self._new()
            response = await self._first(connection, request)
        except BaseException:
            await connection.aclose()
            raise
        return Answer(response, self, connection)

    async def _first(
        self, connection: httpcore.AsyncHTTPConnection, request: httpcore.Request
    ) -> httpcore.Response:
        try:
            return await connection.handle_async_request(request)
        except BaseException:
            await connection.aclose()
            raise

    def _new(self) -> httpcore.AsyncHTTPConnection:
        return httpcore.AsyncHTTPConnection(self._origin, ssl_context=self._ssl, http1=True, http2=False)

    async def _take(self) -> tuple[httpcore.AsyncHTTPConnection, bool]:
        now = time.monotonic()
        while self._idle:
            idle = self._idle.pop()
            quiet = now - idle.since
            if quiet > IDLE_SECONDS or (quiet > CHECK_AFTER_SECONDS and idle.connection.has_expired()):
                await idle.connection.aclose()
                continue
            return idle.connection, True
        return self._new(), False

    async def give_back(self, connection: httpcore.AsyncHTTPConnection) -> None:
        """Keep a connection that can carry another request; close any other."""
        if connection.is_idle() and len(self._idle) < MAX_IDLE:
            self._idle.append(_Idle(connection, time.monotonic()))
        else:
            await connection.aclose()

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for item in idle:
            with contextlib.suppress(Exception):
                await item.connection.aclose()
