"""Keep-alive HTTP/1.1 connections to the upstream server, read with httptools (llhttp, in C).

The proxy forwards requests it has already parsed, so what it needs from a client is small:
write one request, read one response (status, headers in order and as sent, the body as it
comes), and reuse the connection when the server allows it. httpx (and httpcore under it)
costs about 0.3 ms of CPU per request in pure-Python parsing and socket polling, five times what
the upstream itself spends, so this module does that work on an ``asyncio.Protocol`` with the
same C parser uvicorn uses for requests.

Idle connections wait on a stack and the most recent is reused; one idle for more than
:data:`IDLE_SECONDS` is closed instead. A read request (GET, HEAD, OPTIONS) that finds its
reused connection closed by the server before any answer is retried once on a new connection.
A body read faster than the client takes it pauses the upstream socket above
:data:`BUFFER_BYTES`. The answer to a HEAD request has no body, whatever its
``content-length`` says; its connection is not reused.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Final, cast

import httptools
import httpx

#: Seconds after which an idle connection is closed rather than reused.
IDLE_SECONDS: Final = 4.0
#: Idle connections kept at most.
MAX_IDLE: Final = 256
#: Bytes of an answer's body buffered before the upstream socket is paused.
BUFFER_BYTES: Final = 1024 * 1024
_RETRIED: Final = frozenset({b"GET", b"HEAD", b"OPTIONS"})


class UpstreamError(Exception):
    """No answer from upstream: refused, reset, closed early, or not HTTP (the proxy answers 502)."""


class UpstreamTimeout(UpstreamError):
    """Upstream did not connect or answer in time (the proxy answers 504)."""


class _Stale(UpstreamError):
    """A reused connection was closed by the server before any answer came."""


#: What breaks off an answer being streamed.
BROKEN_OFF: Final = (UpstreamError,)


class _Connection(asyncio.Protocol):
    """One connection: one request at a time, its answer parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reusable = False
        self.answer: Answer | None = None
        self.used = False

    # --- asyncio ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is None or answer.done:
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            answer.fail(UpstreamError(f"not an HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self.answer
        if answer is not None and not answer.done:
            if not answer.started and self.used:
                answer.fail(_Stale("the server closed a kept-alive connection"))
            elif answer.started and answer.until_close:
                answer.finish()
            else:
                answer.fail(UpstreamError(f"the connection closed early{f': {exc}' if exc else ''}"))

    def pause_writing(self) -> None:
        """Writes are small (one request); nothing to do."""

    def resume_writing(self) -> None:
        """See pause_writing."""

    # --- httptools ---

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.answer is not None:
            self.answer.headers.append((name, value))

    def on_headers_complete(self) -> None:
        answer = self.answer
        if answer is None:
            return
        answer.status = self.parser.get_status_code()
        keys = {key.lower() for key, _ in answer.headers}
        answer.until_close = b"content-length" not in keys and b"transfer-encoding" not in keys
        answer.started = True
        answer.ready.set()
        if answer.head or answer.status in (204, 304) or 100 <= answer.status < 200:
            self.reusable = False
            answer.finish()
            self.close()

    def on_body(self, body: bytes) -> None:
        if self.answer is not None and not self.answer.done:
            self.answer.push(body)

    def on_message_complete(self) -> None:
        answer = self.answer
        if answer is not None and not answer.done:
            self.reusable = self.parser.should_keep_alive() and not answer.until_close
            answer.finish()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Answer:
    """An upstream response being read: status, raw headers as sent, and the body as it comes."""

    def __init__(self, connection: _Connection, pool: UpstreamPool, *, head: bool, timeout: float) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head, self.started, self.done, self.until_close = head, False, False, False
        self.ready = asyncio.Event()
        self._connection, self._pool, self._timeout = connection, pool, timeout
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._error: UpstreamError | None = None
        self._more = asyncio.Event()

    # --- fed by the connection ---

    def push(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self._more.set()
        transport = self._connection.transport
        if self._buffered > BUFFER_BYTES and transport is not None:
            transport.pause_reading()

    def finish(self) -> None:
        self.done = True
        self.ready.set()
        self._more.set()

    def fail(self, error: UpstreamError) -> None:
        self._error = error
        self.finish()

    # --- read by the proxy ---

    async def wait_for_head(self) -> None:
        """Wait until status and headers are in; raise when they never come."""
        try:
            await asyncio.wait_for(self.ready.wait(), self._timeout)
        except asyncio.TimeoutError:
            self._connection.close()
            raise UpstreamTimeout("no answer in time") from None
        if not self.started and self._error is not None:
            raise self._error

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as sent (transfer coding undone, content coding kept)."""
        while True:
            while self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                transport = self._connection.transport
                if self._buffered <= BUFFER_BYTES // 2 and transport is not None and not self.done:
                    transport.resume_reading()
                yield chunk
            if self.done:
                if self._error is not None:
                    raise self._error
                return
            self._more.clear()
            try:
                await asyncio.wait_for(self._more.wait(), self._timeout)
            except asyncio.TimeoutError:
                self._connection.close()
                raise UpstreamTimeout("the answer stalled") from None

    async def close(self) -> None:
        """Release the connection: back to the pool when the whole answer was read and it may carry
        another request, else closed."""
        connection = self._connection
        connection.answer = None
        if self.done and self._error is None and connection.reusable and not connection.closed:
            self._pool.give_back(connection)
        else:
            connection.close()


class UpstreamPool:
    """Connections to one origin (``scheme://host:port``), for requests of any target."""

    def __init__(self, url: httpx.URL, *, timeout: float) -> None:
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.host_header = url.netloc
        self._ssl: ssl.SSLContext | None = httpx.create_ssl_context() if url.scheme == "https" else None
        self._timeout = timeout
        self._connect_timeout = min(timeout, 10.0)
        self._idle: list[tuple[_Connection, float]] = []

    async def send(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Answer:
        """Send one request and wait for the answer's head; raises UpstreamError or UpstreamTimeout."""
        head = b"".join(
            [method, b" ", target, b" HTTP/1.1\r\nhost: ", self.host_header, b"\r\n"]
            + [part for key, value in headers for part in (key, b": ", value, b"\r\n")]
            + [b"\r\n"]
        )
        connection = self._take()
        try:
            return await self._exchange(connection or await self._connect(), method, head, body)
        except _Stale:
            if connection is None or method not in _RETRIED:
                raise
        return await self._exchange(await self._connect(), method, head, body)

    async def _exchange(self, connection: _Connection, method: bytes, head: bytes, body: bytes) -> Answer:
        answer = Answer(connection, self, head=method == b"HEAD", timeout=self._timeout)
        connection.answer = answer
        connection.reusable = False
        assert connection.transport is not None
        connection.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            connection.transport.write(body)
        try:
            await answer.wait_for_head()
        except BaseException:
            connection.close()
            raise
        return answer

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                ),
                self._connect_timeout,
            )
        except asyncio.TimeoutError:
            raise UpstreamTimeout("connecting timed out") from None
        except OSError as exc:
            raise UpstreamError(f"{type(exc).__name__}: {exc.strerror or exc}") from None
        return protocol

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection, since = self._idle.pop()
            if connection.closed or now - since > IDLE_SECONDS:
                connection.close()
                continue
            connection.parser = httptools.HttpResponseParser(connection)
            return connection
        return None

    def give_back(self, connection: _Connection) -> None:
        """Keep a connection that can carry another request."""
        connection.used = True
        if len(self._idle) < MAX_IDLE:
            self._idle.append((connection, time.monotonic()))
        else:
            connection.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()
