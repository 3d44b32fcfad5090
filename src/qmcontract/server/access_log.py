"""The access log: one line per request, and where lines go.

``127.0.0.1 GET /query_models/2FgLFqAf8M6MTa6MtGLLwM?metadata=true 200 0.4ms``

A line never shows a header, redacts the value of every secret query parameter
(:data:`~qmcontract.redact.SECRET_PARAM_WORDS`), cuts long paths and query strings and escapes control
and non-printable characters (:func:`~qmcontract.redact.loggable_target`), so a request can
neither leak a key into the log nor forge a line of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import time
from collections.abc import MutableMapping
from typing import Any, Final, Protocol

from qmcontract.redact import cut, escape_for_log, loggable_target

#: Seconds between two writes of collected access lines.
ACCESS_FLUSH_SECONDS: Final = 0.1
_ACCESS_LOG: Final = logging.getLogger("qmcontract.access")


def access_line(scope: MutableMapping[str, Any], status: int | None, started: float) -> str:
    """The line for one request: client, method, target, status (``dropped``) and time taken."""
    client = scope.get("client")
    query = scope["query_string"]
    target = loggable_target(cut(scope["path"]), query.decode("latin-1") if query else "")
    elapsed = (time.perf_counter() - started) * 1000
    shown = "dropped" if status is None else status
    method = escape_for_log(scope["method"])
    return f"{client[0] if client else '-'} {method} {target} {shown} {elapsed:.1f}ms"


class AccessSink(Protocol):
    """Where access lines go: one call per request, ``flush`` called at least every 0.1 s."""

    def __call__(self, line: str) -> None: ...

    def flush(self) -> None: ...


class LoggingSink:
    """Access lines as INFO records of the ``qmcontract.access`` logger (embedded servers, tests)."""

    def __call__(self, line: str) -> None:
        if _ACCESS_LOG.isEnabledFor(logging.INFO):
            _ACCESS_LOG.info("%s", line)

    def flush(self) -> None:
        """Records are handled as they come."""


class LineBuffer:
    """Access lines of a server process, written to a file descriptor in whole lines.

    A logging record and a write per request cost more than answering the request, so lines
    are collected and written at least every 0.1 s (or every ``limit`` lines), in chunks of
    at most ``PIPE_BUF`` bytes cut at line ends: workers sharing stdout never split a line.
    """

    def __init__(self, fd: int, *, limit: int = 256) -> None:
        self._fd = fd
        self._limit = limit
        self._lines: list[str] = []

    def __call__(self, line: str) -> None:
        self._lines.append(line)
        if len(self._lines) >= self._limit:
            self.flush()

    def flush(self) -> None:
        """Write every collected line."""
        lines, self._lines = self._lines, []
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            data = (line + "\n").encode("utf-8", "replace")
            if chunk and size + len(data) > select.PIPE_BUF:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(data)
            size += len(data)
        if chunk:
            self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            while data:
                data = data[os.write(self._fd, data) :]


def stdout_sink() -> AccessSink:
    """Whole lines on standard output when it has a file descriptor, else the logger."""
    try:
        return LineBuffer(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return LoggingSink()
