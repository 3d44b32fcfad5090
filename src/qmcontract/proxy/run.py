"""Running the proxy: a uvicorn server in the foreground until SIGINT or SIGTERM, or in a thread for tests.

:func:`run_proxy` binds (127.0.0.1 unless told), says where it listens, serves until a signal,
lets the judge finish what is queued, and returns the report; ``qmcontract proxy`` prints it,
writes the report files and exits 1 when a rule failed, else 0. :func:`running_proxy` does the
same in a thread and yields the proxy's URL (tests, embedding).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn

from qmcontract.conformance.traffic import TrafficJudge, TrafficReport, violation_lines
from qmcontract.errors import QmContractError
from qmcontract.proxy.app import ProxyApp
from qmcontract.recording import RecordingWriter
from qmcontract.report.model import Failure
from qmcontract.server.options import ServerError
from qmcontract.server.process import bind_socket
from qmcontract.server.protocol import uvicorn_protocol_settings

TITLE: Final = "qmcontract proxy"
Log = Callable[[str], None]


class ProxyError(QmContractError):
    """The proxy cannot start: a bad upstream URL, an address in use, a recording that cannot be written."""


@dataclass(frozen=True)
class ProxyOptions:
    """What ``qmcontract proxy`` was asked to do."""

    upstream: str
    host: str = "127.0.0.1"
    port: int = 8080
    record: Path | None = None
    timeout: float = 60.0
    excluded: frozenset[str] = field(default_factory=frozenset)


@dataclass
class ProxyResult:
    """What a proxy run saw: its report and how many exchanges it recorded."""

    url: str
    app: ProxyApp
    started: float
    report: TrafficReport | None = None

    def finish(self) -> TrafficReport:
        """The report on everything judged (call once the server has stopped)."""
        recorder = self.app.recorder
        settings: dict[str, Any] = {"listening": self.url, "upstream": str(self.app.upstream)}
        if recorder is not None:
            settings |= {"recording": str(recorder.path), "recorded": recorder.written}
            recorder.close()
        self.report = self.app.judge.report(
            title=TITLE,
            target=str(self.app.upstream),
            seconds=time.monotonic() - self.started,
            settings=settings,
        )
        return self.report


def normalise_upstream(url: str) -> str:
    """The upstream base URL (the API root) without a trailing slash; ProxyError if not http(s)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ProxyError(f"--upstream {url!r} is not a URL: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.query or parsed.fragment:
        raise ProxyError(f"--upstream {url!r}: expected an http:// or https:// URL without a query")
    return str(parsed).rstrip("/")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or one clear ProxyError (address in use, bad address).

    It listens at once, so the address answers as soon as it is announced.
    """
    try:
        sock = bind_socket(host, port)
    except ServerError as exc:
        raise ProxyError(str(exc)) from None
    sock.listen(2048)  # connections wait in the backlog until uvicorn accepts them
    return sock


def _app(options: ProxyOptions, log: Log) -> ProxyApp:
    upstream = normalise_upstream(options.upstream)

    def on_failure(failure: Failure) -> None:
        for line in violation_lines(failure):
            log(line)

    judge = TrafficJudge(upstream, on_failure=on_failure, excluded=options.excluded)
    recorder = None
    if options.record is not None:
        try:
            recorder = RecordingWriter(options.record, base_url=upstream)
        except OSError as exc:
            raise ProxyError(f"--record {options.record}: cannot write: {exc.strerror or exc}") from None
    return ProxyApp(upstream, judge, recorder=recorder, timeout=options.timeout)


def _config(app: ProxyApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=LOG_CONFIG,
        access_log=False,
        lifespan="on",
        ws="none",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=5,
        **uvicorn_protocol_settings(),
    )


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def run_proxy(options: ProxyOptions, *, log: Log) -> TrafficReport:
    """Serve in the foreground until SIGINT or SIGTERM; return the report of the run."""
    app = _app(options, log)
    sock = bind(options.host, options.port)
    result = ProxyResult(_url(sock, options.host), app, time.monotonic())
    where = f", recording to {options.record}" if options.record is not None else ""
    log(f"qmcontract proxy on {result.url} -> {app.upstream}{where} (Ctrl-C to stop and report)")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        uvicorn.Server(_config(app)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    return result.finish()


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def running_proxy(
    upstream: str, *, record: Path | None = None, log: Log | None = None, timeout: float = 60.0
) -> Iterator[ProxyResult]:
    """Run a proxy to ``upstream`` on 127.0.0.1 and a free port, in a thread.

    Yields a :class:`ProxyResult` whose ``url`` answers; when the block ends the proxy stops,
    judges what is queued, and ``result.report`` holds the verdict.
    """
    options = ProxyOptions(upstream, port=0, record=record, timeout=timeout)
    app = _app(options, log or (lambda _line: None))
    sock = bind("127.0.0.1", 0)
    result = ProxyResult(_url(sock, "127.0.0.1"), app, time.monotonic())
    server = uvicorn.Server(_config(app))
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)

    thread = threading.Thread(target=serve, name="qmcontract-proxy", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ProxyError(f"the proxy did not start: {errors[0] if errors else 'timed out'}")
            time.sleep(0.01)
        yield result
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        result.finish()


class _NoTraceback(logging.Filter):
    """uvicorn's own errors in one line each: a user never sees a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line": {"()": _NoTraceback}},
    "formatters": {"plain": {"format": "qmcontract proxy: %(levelname)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
            "filters": ["one_line"],
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}
