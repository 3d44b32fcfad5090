"""uvicorn's httptools protocol with the bounds a public-facing server needs on the request head.

Stock uvicorn with httptools reads a request line and headers of any size (an 8 MB header is
answered) and waits for a request head forever. :class:`BoundedHttpToolsProtocol` adds:

- a request head (request line and headers) larger than :data:`~qmcontract.limits.MAX_HEAD_BYTES`
  is answered 431 with a contract error body, and the connection closed;
- a request head not complete :data:`~qmcontract.limits.HEAD_TIMEOUT_SECONDS` after the
  connection opened or the request began is dropped (the connection closed);
- the body of a request answered before it was read (a 413) is read and thrown away up to
  :data:`~qmcontract.limits.MAX_DISCARDED_BODY_BYTES`, then the connection is closed;
- a request the parser cannot read is answered 400 with a contract error body (stock: plain text).

Idle keep-alive connections close after :data:`~qmcontract.limits.KEEP_ALIVE_SECONDS`
(uvicorn's ``timeout_keep_alive``). Without httptools, uvicorn's h11 protocol is used with its
own bound on an incomplete request head.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from qmcontract.limits import (
    HEAD_TIMEOUT_SECONDS,
    KEEP_ALIVE_SECONDS,
    MAX_DISCARDED_BODY_BYTES,
    MAX_HEAD_BYTES,
)
from qmcontract.wire import STATUS_TEXT, encode_json

HEAD_TOO_LARGE_MESSAGE: Final = f"the request line and headers are larger than {MAX_HEAD_BYTES:,} bytes"
#: Bytes each header line adds besides its name and value (``: `` and CRLF).
_HEADER_FRAMING: Final = 4


def error_bytes(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 error response with a contract body, closing the connection."""
    body = encode_json({"code": status, "message": message})
    head = (
        f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Error')}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def uvicorn_protocol_settings() -> dict[str, Any]:
    """The ``uvicorn.Config`` arguments for the HTTP protocol and its connection timeouts."""
    return {"http": BoundedHttpToolsProtocol, "timeout_keep_alive": KEEP_ALIVE_SECONDS}


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a bounded, timed request head and bounded discarded bodies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_pending = True
        self._head_bytes = 0
        self._head_too_large = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._discarded = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    # The three callbacks below run for every request: they call the base class directly (cheaper
    # than super() on Python 3.11) and do the least they can.

    def data_received(self, data: bytes) -> None:
        if self._head_pending:
            self._head_bytes += len(data)
        HttpToolsProtocol.data_received(self, data)
        if self._head_bytes and self._head_pending:
            self._head_in_progress()

    def _head_in_progress(self) -> None:
        """Bytes of a head came in that did not complete it (or exceed the bound)."""
        if self.transport.is_closing():
            return
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse(431, HEAD_TOO_LARGE_MESSAGE)
        elif self._head_timer is None:
            # A head split over packets: it has HEAD_TIMEOUT_SECONDS to complete. A head that comes
            # whole (nearly every request) never arms a timer, which costs more than the request.
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        if self._head_timer is not None:
            self._cancel_head_timer()
        if self._head_bytes > MAX_HEAD_BYTES and self._head_size() > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge
        self._head_pending = False
        self._head_bytes = 0
        self._discarded = 0
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self._head_pending = True

    def _head_size(self) -> int:
        """The head's size (only needed when more than the bound came in, body bytes maybe among them)."""
        return len(self.url) + sum(len(name) + len(value) + _HEADER_FRAMING for name, value in self.headers)

    def on_body(self, body: bytes) -> None:
        if self.cycle is not None and self.cycle.response_complete:
            self._discarded += len(body)
            if self._discarded > MAX_DISCARDED_BODY_BYTES and not self.transport.is_closing():
                self.transport.close()
            return
        HttpToolsProtocol.on_body(self, body)

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse(431, HEAD_TOO_LARGE_MESSAGE)
        else:
            self._refuse(400, f"the request cannot be read as HTTP/1.1 ({msg.rstrip('.').lower()})")

    def _refuse(self, status: int, message: str) -> None:
        self._cancel_head_timer()
        if not self.transport.is_closing():
            self.transport.write(error_bytes(status, message))
            self.transport.close()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_pending and not self.transport.is_closing():
            self.transport.close()


class _HeadTooLarge(Exception):
    """Raised inside the parser's callback to stop parsing a head that is too large."""
