"""The proxy's ASGI app: forward, stream back unchanged, then record and judge.

Every request, on any method and path, goes upstream as it came: the path and query as sent
(percent-encoding untouched), every end-to-end header in order, the body (read first: at most
:data:`~qmcontract.limits.MAX_BODY_BYTES`, else 413; the request head is bounded as the mock
server's is, by :class:`~qmcontract.server.protocol.BoundedHttpToolsProtocol`: 431). ``Host``
names the upstream and the hop-by-hop headers of RFC 9110 section 7.6.1 (``Connection`` and
those it lists, ``Keep-Alive``, ``Proxy-Connection``, ``TE``, ``Transfer-Encoding``,
``Upgrade``) are dropped, as is ``Expect`` (the body is already read). The answer comes back
with upstream's status, its end-to-end headers unchanged and in order, and its body bytes as
sent (a ``content-encoding`` is passed through, not undone), streamed; the proxy adds no header
(uvicorn's ``server`` and ``date`` headers are off). Upstream unreachable: 502, timed out: 504,
each with a contract error body.

Judging never holds up an answer: once the last byte is sent, the exchange goes to a queue
that a background task works through, one exchange per turn of the event loop. It writes the
recording line and judges the exchange. When the queue holds more than
:data:`~qmcontract.limits.JUDGE_QUEUE_BYTES`, an exchange is recorded at once and counted as
not judged. Response bodies above :data:`~qmcontract.limits.MAX_JUDGED_BODY_BYTES` pass through
and are counted, not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

import httpx

from qmcontract.conformance.traffic import TrafficJudge, fingerprint
from qmcontract.limits import JUDGE_QUEUE_BYTES, MAX_BODY_BYTES, MAX_JUDGED_BODY_BYTES
from qmcontract.proxy.upstream import BROKEN_OFF, Answer, UpstreamError, UpstreamPool, UpstreamTimeout
from qmcontract.recording import Recorded, RecordingWriter, decoded
from qmcontract.routes import route_of
from qmcontract.wire import Request, Response, error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Hop-by-hop headers (RFC 9110, 7.6.1): never forwarded, in either direction.
HOP_BY_HOP: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"transfer-encoding", b"upgrade"}
)
#: Request headers the proxy replaces or has already acted on (the body is read, then sent with its length).
_REQUEST_ONLY: Final = frozenset({b"host", b"expect", b"content-length"})
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: Request headers a recording (and a curl reproduction) leaves out: they belong to the connection.
_NOT_RECORDED: Final = frozenset({b"host", b"expect", b"content-length"})
#: Answers up to this size (by ``content-length``) are read whole and sent in one message.
SMALL_BODY_BYTES: Final = 256 * 1024
#: Seconds between pushes of the recording to its file.
FLUSH_SECONDS: Final = 0.5
SOURCE: Final = "proxy"


class _BodyTooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


@dataclass(frozen=True)
class _Done:
    """An exchange that went through, as it came and went (raw bytes), waiting for the judge."""

    time: datetime
    method: str
    path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    status: int
    response_headers: list[tuple[bytes, bytes]]
    response_body: bytes
    kept: bool

    @property
    def size(self) -> int:
        return len(self.body) + len(self.response_body) + len(self.query) + 1024

    def fingerprint(self, version: int) -> bytes:
        """What the judge's verdict on this exchange depends on, hashed (see ``traffic.fingerprint``)."""
        token = next((value for key, value in self.headers if key == b"authorization"), b"")
        content_type = next((v for k, v in self.response_headers if k.lower() == b"content-type"), b"")
        return fingerprint(
            version,
            self.time,
            head=(self.method, self.path, self.query, token),
            header_names=[key for key, _ in self.headers],
            request_body=self.body,
            answer=(self.status, content_type),
            body=self.response_body,
        )

    def recorded(self) -> Recorded:
        request = _request(self.method, self.path, self.query, self.headers, self.body)
        return Recorded(
            self.time, request, self.status, _text(self.response_headers), self.response_body, self.kept
        )


@dataclass(frozen=True)
class _Failed:
    """A request upstream did not answer (or whose answer broke off)."""

    request: Request
    error: str

    @property
    def size(self) -> int:
        return len(self.request.body) + len(self.request.query) + 1024


def _text(headers: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in headers)


def _connection_listed(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    return {
        token.strip().lower()
        for key, value in headers
        if key.lower() == b"connection"
        for token in value.split(b",")
        if token.strip()
    }


def end_to_end(
    headers: list[tuple[bytes, bytes]], also: frozenset[bytes] = frozenset()
) -> list[tuple[bytes, bytes]]:
    """The headers a proxy forwards: all but the hop-by-hop ones (and ``also``), in order."""
    listed = _connection_listed(headers)
    return [
        (key, value)
        for key, value in headers
        if (lowered := key.lower()) not in HOP_BY_HOP and lowered not in listed and lowered not in also
    ]


class ProxyApp:
    """Forwards to ``upstream`` (a base URL, maybe with a path: the API root) and judges the traffic.

    ``judge`` and ``recorder`` are used only from the event loop's thread, after each answer.
    """

    def __init__(
        self,
        upstream: str,
        judge: TrafficJudge,
        *,
        recorder: RecordingWriter | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.upstream = httpx.URL(upstream)
        self._prefix = self.upstream.raw_path.split(b"?", 1)[0].rstrip(b"/")
        self.judge = judge
        self.recorder = recorder
        self._timeout = timeout
        self._pool: UpstreamPool | None = None
        self._queue: deque[_Done | _Failed] = deque()
        self._queued_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # --- ASGI ---------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        """Open the upstream connection pool and start the judge (inside the running event loop)."""
        self._pool = UpstreamPool(self.upstream, timeout=self._timeout)
        self._wakeup = asyncio.Event()
        self._tasks = [asyncio.create_task(self._judge_loop()), asyncio.create_task(self._flush_loop())]

    async def stop(self) -> None:
        """Judge what is still queued, flush the recording, close the pool."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        while self._queue:
            self._process(self._queue.popleft())
        self._queued_bytes = 0
        if self.recorder is not None:
            self.recorder.flush()
        if self._pool is not None:
            await self._pool.aclose()

    # --- the client path ------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        moment = datetime.now(timezone.utc)
        method: str = scope["method"]
        path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = path.split(b"?", 1)[0]
        query: bytes = scope["query_string"]
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        try:
            body = await _read_body(receive, headers)
        except _BodyTooLarge:
            message = f"the request body is larger than {MAX_BODY_BYTES:,} bytes"
            await _send_error(send, error_response(413, message, ("connection", "close")))
            return
        except _ClientGone:
            return
        target = self._prefix + path + (b"?" + query if query else b"")
        try:
            answer = await self._pool_or_fail().send(
                method.encode("latin-1"), target, _forwarded(method, headers, body), body
            )
        except UpstreamTimeout as exc:
            original = _request(method, path, query, headers, body)
            await self._no_answer(send, 504, original, f"timed out: {type(exc).__name__}")
            return
        except UpstreamError as exc:
            original = _request(method, path, query, headers, body)
            await self._no_answer(send, 502, original, f"{type(exc).__name__}: {exc}")
            return
        try:
            sent = await _relay(answer, method, send)
        finally:
            await answer.close()
        if isinstance(sent, str):
            self._finished(_Failed(_request(method, path, query, headers, body), sent))
            return
        kept, response_body = sent
        self._finished(
            _Done(
                moment,
                method,
                path,
                query,
                headers,
                body,
                answer.status,
                end_to_end(answer.headers),
                response_body,
                kept,
            )
        )

    def _pool_or_fail(self) -> UpstreamPool:
        if self._pool is None:
            raise ConnectionError("the proxy has not started (no lifespan)")
        return self._pool

    async def _no_answer(self, send: Send, status: int, original: Request, error: str) -> None:
        where = self.upstream.copy_with(raw_path=self._prefix or b"/")
        verb = "did not answer in time" if status == 504 else "cannot be reached"
        await _send_error(send, error_response(status, f"the upstream server {where} {verb}: {error}"[:500]))
        self._finished(_Failed(original, error))

    # --- after the answer ------------------------------------------------------------------------------

    def _finished(self, item: _Done | _Failed) -> None:
        if self._wakeup is None or self._queued_bytes + item.size > JUDGE_QUEUE_BYTES:
            if isinstance(item, _Done):
                self._record(item)
            self.judge.not_judged()
            return
        self._queue.append(item)
        self._queued_bytes += item.size
        self._wakeup.set()

    async def _judge_loop(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = self._queue.popleft()
            self._queued_bytes -= item.size
            self._process(item)
            await asyncio.sleep(0)

    def _process(self, item: _Done | _Failed) -> None:
        if isinstance(item, _Failed):
            self.judge.no_answer(item.request, item.error, SOURCE)
            return
        on_route = item.kept and route_of(item.path.decode("latin-1")).exists
        key = item.fingerprint(self.judge.version) if on_route else None
        if key is not None and self.judge.repeated(key):
            if self.recorder is not None:
                self._record(item)
            self.judge.count_repeat()
            return
        recorded = self._record(item)
        self.judge(decoded(recorded), SOURCE, fingerprint=key)

    def _record(self, item: _Done) -> Recorded:
        recorded = item.recorded()
        if self.recorder is not None:
            self.recorder.write(recorded)
        return recorded

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if self.recorder is not None:
                self.recorder.flush()


def _request(
    method: str, path: bytes, query: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> Request:
    """The request as judged and recorded: relative to the API root, connection headers left out."""
    recorded = _text(end_to_end(headers, _NOT_RECORDED))
    return Request(method, path.decode("latin-1"), query.decode("latin-1"), recorded, body)


async def _read_body(receive: Receive, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request body, at most MAX_BODY_BYTES (a larger declared length is refused unread)."""
    for key, value in headers:
        if key == b"content-length" and value.strip().isdigit() and int(value) > MAX_BODY_BYTES:
            raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _forwarded(method: str, headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    """The request headers sent upstream: end-to-end ones in order, and the body's length."""
    forwarded = end_to_end(headers, _REQUEST_ONLY)
    if body or method in _BODY_METHODS:
        forwarded.append((b"content-length", b"%d" % len(body)))
    return forwarded


async def _relay(answer: Answer, method: str, send: Send) -> tuple[bool, bytes] | str:
    """Send upstream's answer as it comes; return (body kept, the kept body), or why it broke off."""
    headers = end_to_end(answer.headers)
    length = next((value for key, value in answer.headers if key.lower() == b"content-length"), b"")
    small = (
        method == "HEAD"
        or answer.status in (204, 304)
        or (length.isdigit() and int(length) <= SMALL_BODY_BYTES)
    )
    try:
        if small:
            body = b"".join([chunk async for chunk in answer.chunks()])
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return True, body
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        kept: list[bytes] | None = []
        size = 0
        async for chunk in answer.chunks():
            size += len(chunk)
            if kept is not None and size <= MAX_JUDGED_BODY_BYTES:
                kept.append(chunk)
            else:
                kept = None
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except BROKEN_OFF as exc:
        _abort(send)
        return f"the answer broke off: {type(exc).__name__}"
    except OSError:
        return "the client went away"
    return (True, b"".join(kept)) if kept is not None else (False, b"")


def _abort(send: Send) -> None:
    """Close the client's connection: an answer that broke off upstream must not look complete."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.close()


async def _send_error(send: Send, response: Response) -> None:
    headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in response.headers]
    headers.append((b"content-length", b"%d" % len(response.body)))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


__all__ = ["HOP_BY_HOP", "ProxyApp", "end_to_end"]
