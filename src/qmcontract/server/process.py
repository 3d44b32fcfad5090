"""Running the server: the socket, uvicorn, worker processes, and :func:`running_server` for tests.

:func:`serve` runs in the foreground until SIGINT or SIGTERM. With one worker, uvicorn serves
in this process; with more, uvicorn's supervisor starts that many worker processes on one
socket, and the control API's state lives in a :class:`~qmcontract.server.store.SqliteStore`
in a temporary directory. Either way the start-up line is written once the server answers
``/healthz`` (with workers: once every worker has started).

A worker exits (gracefully) when its supervisor dies, even by SIGKILL: on Linux the kernel
sends it SIGTERM (``PR_SET_PDEATHSIG``), elsewhere a thread notices the parent change within
:data:`SUPERVISOR_POLL_SECONDS`; the workers then remove the store directory.

Options reach the workers through an environment variable (:data:`ENVIRONMENT_VARIABLE`): tokens
given by value travel that way too, readable only by the same user; ``token_env`` and
``control_token_env`` pass only variable names.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import logging
import logging.config
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn
from uvicorn.supervisors import Multiprocess

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.engine import ResponseHook
from qmcontract.server.access_log import stdout_sink
from qmcontract.server.app import HEALTH_PATH, CatalogLike, QueryModelServer, catalog_of
from qmcontract.server.control import ControlPolicy
from qmcontract.server.options import ServerError, ServerOptions
from qmcontract.server.protocol import uvicorn_protocol_settings
from qmcontract.server.store import SqliteStore, Store

#: The environment variable through which the supervisor configures its worker processes.
ENVIRONMENT_VARIABLE: Final = "QMCONTRACT_SERVER_CONFIG"
#: How often a worker checks that its supervisor is still there (besides PR_SET_PDEATHSIG).
SUPERVISOR_POLL_SECONDS: Final = 0.5
#: Seconds a graceful shutdown may take before open connections are cut.
GRACEFUL_SHUTDOWN_SECONDS: Final = 5
STARTUP_SECONDS: Final = 15.0
_READY_DIRECTORY: Final = "ready"
_PR_SET_PDEATHSIG: Final = 1
_LOG: Final = logging.getLogger("qmcontract.server")


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, or one clear :class:`ServerError` (port in use, bad address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = (
            "the port is already in use" if getattr(exc, "errno", None) == errno.EADDRINUSE else _reason(exc)
        )
        raise ServerError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def uvicorn_settings(options: ServerOptions, *, configure_logging: bool) -> dict[str, Any]:
    """The ``uvicorn.Config`` arguments every way of running the server shares."""
    logs: dict[str, Any] = {"log_config": log_config(options.log_level), "log_level": options.log_level}
    return {
        **(logs if configure_logging else {"log_config": None}),
        "access_log": False,
        "lifespan": "on",
        "ws": "none",
        "proxy_headers": False,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        **uvicorn_protocol_settings(),
    }


class _ServerThread(threading.Thread):
    """Runs a uvicorn server and keeps the exception that stopped it, if any."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        super().__init__(name="qmcontract-server", daemon=True)
        self.server = server
        self.sock = sock
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:
            self.error = exc


@contextlib.contextmanager
def running_server(
    catalog: CatalogLike = None,
    options: ServerOptions | None = None,
    *,
    hook: ResponseHook | None = None,
    store: Store | None = None,
    **overrides: Any,
) -> Iterator[str]:
    """Serve ``catalog`` (a catalogue, a directory; default: the shipped mocks) in a thread.

    Listens on ``options.host`` (127.0.0.1) and a free port unless ``port=`` is passed; yields
    the base URL once ``/healthz`` answers and stops the server when the block ends.
    ``options`` and ``overrides`` are the fields of :class:`ServerOptions`.
    """
    overrides.setdefault("port", 0)
    settings = ServerOptions.of(options, **overrides)
    app = QueryModelServer(catalog_of(catalog), options=settings, hook=hook, store=store)
    sock = bind_socket(settings.host, settings.port)
    config = uvicorn.Config(app, **uvicorn_settings(settings, configure_logging=False))
    thread = _ServerThread(uvicorn.Server(config), sock)
    url = base_url(settings.host, sock.getsockname()[1])
    thread.start()
    try:
        _wait_until_healthy(url, thread)
        yield url
    finally:
        thread.server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def base_url(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 address in brackets."""
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _wait_until_healthy(url: str, thread: _ServerThread, *, timeout: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise ServerError(f"the server stopped while starting: {thread.error!r}")
        if thread.server.started and answers_health(url):
            return
        time.sleep(0.01)
    raise ServerError(f"the server at {url} did not answer {HEALTH_PATH} within {timeout:.0f} s")


def answers_health(url: str) -> bool:
    """True when ``GET /healthz`` answers 200 (no proxy from the environment is used)."""
    try:
        with httpx.Client(trust_env=False, timeout=2) as client:
            return client.get(url + HEALTH_PATH).status_code == 200
    except httpx.HTTPError:
        return False


def serve(
    catalog_dir: str | os.PathLike[str] | None = None, options: ServerOptions | None = None, **overrides: Any
) -> None:
    """Run the server in the foreground until SIGINT or SIGTERM (then shut down gracefully).

    ``options`` and ``overrides`` are the fields of :class:`ServerOptions`. With ``workers`` > 1,
    uvicorn runs that many processes on one socket and the control API's state lives in a
    shared SQLite store, so every worker sees the same models, faults and journal.
    """
    settings = ServerOptions.of(options, **overrides)
    catalog = catalog_of(catalog_dir)
    policy = ControlPolicy.of(settings)
    sock = bind_socket(settings.host, settings.port)
    logging.config.dictConfig(log_config(settings.log_level))
    url = base_url(settings.host, sock.getsockname()[1])
    announcement = (
        f"qmcontract serving {len(catalog)} Query Models on {url} with {settings.workers} worker(s); "
        f"{policy.describe()} (Ctrl-C to stop)"
    )
    try:
        if settings.workers == 1:
            _serve_one(catalog, settings, sock, announcement)
        else:
            _serve_workers(catalog_dir, settings, sock, announcement)
    finally:
        sock.close()


def _serve_one(catalog: Catalog, options: ServerOptions, sock: socket.socket, announcement: str) -> None:
    app = QueryModelServer(catalog, options=options, access_sink=stdout_sink())
    _freeze_heap()
    server = uvicorn.Server(uvicorn.Config(app, **uvicorn_settings(options, configure_logging=True)))
    with _announced(announcement, _probe_url(sock), ready=lambda: server.started):
        server.run(sockets=[sock])


def _serve_workers(
    catalog_dir: str | os.PathLike[str] | None, options: ServerOptions, sock: socket.socket, announcement: str
) -> None:
    with tempfile.TemporaryDirectory(prefix="qmcontract-store-") as directory:
        SqliteStore(directory).close()
        ready = Path(directory, _READY_DIRECTORY)
        ready.mkdir()
        settings = {
            "catalog": None if catalog_dir is None else os.fspath(catalog_dir),
            "store": directory,
            "supervisor": os.getpid(),
            "options": options.to_json(),
        }
        os.environ[ENVIRONMENT_VARIABLE] = json.dumps(settings)
        try:
            config = uvicorn.Config(
                f"{__name__}:app_from_environment",
                factory=True,
                workers=options.workers,
                **uvicorn_settings(options, configure_logging=True),
            )
            supervisor = Multiprocess(config, sockets=[sock])
            workers_ready = lambda: len(os.listdir(ready)) >= options.workers  # noqa: E731
            with _announced(announcement, _probe_url(sock), ready=workers_ready):
                supervisor.run()
        finally:
            os.environ.pop(ENVIRONMENT_VARIABLE, None)


@contextlib.contextmanager
def _announced(message: str, url: str, *, ready: Callable[[], bool]) -> Iterator[None]:
    """Log ``message`` from a thread once ``ready()`` holds and ``url`` answers ``/healthz``."""
    stop = threading.Event()

    def announce() -> None:
        while not stop.wait(0.05):
            if ready() and answers_health(url):
                _LOG.info("%s", message)
                return

    thread = threading.Thread(target=announce, name="qmcontract-announce", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def _probe_url(sock: socket.socket) -> str:
    """A URL this process can reach the socket at (a wildcard address is reached over loopback)."""
    host, port = sock.getsockname()[:2]
    loopback = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return base_url(loopback, port)


def app_from_environment() -> QueryModelServer:
    """The app of one worker process, configured by the supervisor through the environment.

    The worker reports itself ready once its app has started, exits when the supervisor dies,
    and then removes the store directory the supervisor can no longer remove.
    """
    settings = json.loads(os.environ[ENVIRONMENT_VARIABLE])
    supervisor, directory = int(settings["supervisor"]), Path(settings["store"])
    store = SqliteStore(directory)
    watch_supervisor(supervisor)

    def started() -> None:
        (directory / _READY_DIRECTORY / str(os.getpid())).touch()

    def stopped() -> None:
        store.close()
        if os.getppid() != supervisor:
            shutil.rmtree(directory, ignore_errors=True)

    app = QueryModelServer(
        load_catalog(settings["catalog"]),
        options=ServerOptions.from_json(settings["options"]),
        store=store,
        access_sink=stdout_sink(),
        on_startup=started,
        on_shutdown=stopped,
    )
    _freeze_heap()
    return app


def watch_supervisor(supervisor: int) -> None:
    """Make this process shut down gracefully (SIGTERM) when process ``supervisor``, its parent, dies."""
    _ask_for_parent_death_signal()
    if os.getppid() != supervisor:
        os.kill(os.getpid(), signal.SIGTERM)
        return
    threading.Thread(
        target=_poll_supervisor, args=(supervisor,), name="qmcontract-supervisor-watch", daemon=True
    ).start()


def _ask_for_parent_death_signal() -> None:
    """Linux: have the kernel send SIGTERM when the parent dies (``prctl(PR_SET_PDEATHSIG)``)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _poll_supervisor(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(SUPERVISOR_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def _freeze_heap() -> None:
    """Keep what start-up built (catalogue, schemas, modules) out of every later full collection.

    A server process only; a long full collection over that heap shows up as latency spikes.
    """
    gc.collect()
    gc.freeze()


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration plus ours: access lines on stdout, the rest on stderr."""
    config: dict[str, Any] = json.loads(json.dumps(uvicorn.config.LOGGING_CONFIG))
    config["formatters"]["plain"] = {"format": "%(message)s"}
    config["handlers"]["plain"] = {
        "formatter": "plain",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["qmcontract"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["loggers"]["qmcontract.access"] = {
        "handlers": ["plain"],
        "level": level.upper(),
        "propagate": False,
    }
    return config
