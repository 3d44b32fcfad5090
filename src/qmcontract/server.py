"""The mock server: a plain ASGI app over :class:`~qmcontract.engine.Engine`, run by uvicorn.

The engine answers every API request; this module only adapts ASGI to it and adds what a
server owns: the transport (latency, dropped connections), the control API
(:mod:`qmcontract.control`), configured faults (``--error-rate``, ``--token``), the access log
and the ``--self-check`` mode.

The hot path is a plain retrieve (``GET`` without a query string): its answer depends on the
path and the catalogue only, so the engine's answer is kept and sent again until the
catalogue changes. A plain ASGI callable is used rather than a framework, and access lines
are written in batches, because each of these costs more than the answer itself.

Routes: ``GET /query_models/{slug}``, ``GET /query_models``, ``GET /query_models/count`` (the
engine), ``GET /healthz``, ``GET /openapi.yaml``, and the control API under ``/__qmcontract/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import gc
import json
import logging
import logging.config
import os
import random
import select
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
import jsonschema_rs
import uvicorn
from uvicorn.supervisors import Multiprocess

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.control import (
    CONTROL_PREFIX,
    ControlApi,
    JournalEntry,
    MemoryStore,
    SqliteStore,
    Store,
    current_worker,
)
from qmcontract.engine import Engine, ResponseHook
from qmcontract.errors import QmContractError, SpecError, Violation
from qmcontract.params import BadParameter, parse_stats_params
from qmcontract.resources import shipped_path, spec_path
from qmcontract.routes import route_of
from qmcontract.spec import component_schema, load_spec
from qmcontract.validate import validate_query_model
from qmcontract.wire import (
    JSON_CONTENT_TYPE,
    Request,
    Response,
    error_response,
    json_response,
    method_not_allowed,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ENVIRONMENT_VARIABLE: Final = "QMCONTRACT_SERVER_CONFIG"
ERROR_RATE_MESSAGE: Final = "injected server error (--error-rate)"
MEMO_LIMIT: Final = 4096
ACCESS_FLUSH_SECONDS: Final = 0.1
HEALTH_PATH: Final = "/healthz"
SPEC_ROUTE: Final = "/openapi.yaml"
CONTROL_SPEC_FILE: Final = "openapi-control.yaml"
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")
_JSON_HEADER: Final = (b"content-type", b"application/json")
_ACCESS_LOG = logging.getLogger("qmcontract.access")
_SELF_CHECK_LOG = logging.getLogger("qmcontract.selfcheck")


class ServerError(QmContractError):
    """The server cannot start: the address is taken, or an option is out of range."""


@dataclass(frozen=True)
class ServerOptions:
    """How the server misbehaves on purpose, and what it records."""

    tokens: tuple[str, ...] = ()
    latency_ms: int = 0
    error_rate: float = 0.0
    seed: int | None = None
    self_check: bool = False
    access_log: bool = True

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ServerError(f"latency must be >= 0 ms, got {self.latency_ms}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ServerError(f"the error rate must be between 0 and 1, got {self.error_rate}")


class QueryModelServer:
    """The ASGI application. One instance per worker process; not shared between event loops."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        options: ServerOptions = ServerOptions(),
        hook: ResponseHook | None = None,
        store: Store | None = None,
        access_sink: AccessSink | None = None,
    ) -> None:
        self.options = options
        self._access = (access_sink or LoggingSink()) if options.access_log else None
        self.store: Store = store if store is not None else MemoryStore()
        self._owns_store = store is None
        self._base = catalog.copy()
        self._hook = hook
        self._generation = -1
        self._engine = Engine(self._base, hook=hook, tokens=options.tokens)
        self._memo: dict[tuple[str, bytes], Response] = {}
        self._memo_day = -1
        self._random = random.Random(options.seed)
        self._tokens = frozenset(options.tokens)
        self._worker = current_worker()
        self._spec = spec_path().read_bytes()
        self.control = ControlApi(self.store, catalog_of=self.catalog, spec=_control_spec())

    def catalog(self) -> Catalog:
        """The catalogue being served, run-time additions included."""
        return self._current_engine().catalog

    def _current_engine(self) -> Engine:
        """The engine over the current catalogue (rebuilt when the control API changed it).

        Also empties the memo of answers. A ``GET`` without ``authorization`` gets an answer that
        depends only on the path, the query string, the catalogue and (for metadata statistics)
        the UTC day, so the engine's 200 answers to those are kept for the day and sent again:
        the hot path then skips parsing. Not with a hook, which may change anything.
        """
        generation, day = self.store.sync(), int(time.time() // 86_400)
        if day != self._memo_day:
            self._memo, self._memo_day = {}, day
        if generation != self._generation:
            catalog = self._base.copy()
            for document in self.store.added_models():
                catalog.add_built(document)
            self._engine = Engine(catalog, hook=self._hook, tokens=self.options.tokens)
            self._memo = {}
            self._generation = generation
        return self._engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            body = await _read_body(receive)
            request = _request(scope, body)
            response = self.control.handle(request, body)
            await _send(send, response)
            status: int | None = response.status
        elif path in (HEALTH_PATH, SPEC_ROUTE):
            status = await self._static(scope, send)
        else:
            status = await self._api(scope, receive, send)
        if self._access is not None:
            self._access(_access_line(scope, status, started))

    async def _static(self, scope: Scope, send: Send) -> int:
        if scope["method"] not in ("GET", "HEAD"):
            response = method_not_allowed(scope["method"], scope["path"], ("GET", "HEAD"))
        elif scope["path"] == HEALTH_PATH:
            response = json_response(200, b'{"status":"ok"}')
        else:
            response = Response(200, (("content-type", "application/yaml"),), self._spec)
        await _send(send, response)
        return response.status

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> int | None:
        engine = self._current_engine()
        path: str = scope["path"]
        key = (path, scope["query_string"])
        plain = scope["method"] == "GET" and not any(name == b"authorization" for name, _ in scope["headers"])
        response = self._memo.get(key) if plain else None
        request = None
        if response is None:
            body = await _read_body(receive) if scope["method"] == "POST" else b""
            request = _request(scope, body)
            response = engine.handle(request)
            if plain and self._hook is None and response.status == 200 and len(self._memo) < MEMO_LIMIT:
                self._memo[key] = response
        fault = self.store.take_fault(path)
        injected = fault is not None
        if fault is not None:
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.transport is not None:
                await _drop_connection(receive, send)
                self.store.record(_journal_entry(scope, None, self._worker))
                return None
            response = fault.apply(response)
        elif self.options.error_rate and self._random.random() < self.options.error_rate:
            response, injected = error_response(500, ERROR_RATE_MESSAGE), True
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000)
        if self.options.self_check:
            request = request or _request(scope)
            _report(request, response, self_check(request, response), injected=injected)
        await _send(send, response)
        self.store.record(_journal_entry(scope, response.status, self._worker))
        return response.status

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        flusher = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._access is not None:
                    flusher = asyncio.create_task(self._flush_access_log(self._access))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if flusher is not None:
                    flusher.cancel()
                if self._access is not None:
                    self._access.flush()
                if self._owns_store:
                    self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _flush_access_log(sink: AccessSink) -> None:
        while True:
            await asyncio.sleep(ACCESS_FLUSH_SECONDS)
            sink.flush()


def create_app(
    catalog: Catalog,
    *,
    tokens: Sequence[str] = (),
    latency_ms: int = 0,
    error_rate: float = 0.0,
    seed: int | None = None,
    self_check: bool = False,
    hook: ResponseHook | None = None,
    store: Store | None = None,
    access_log: bool = True,
) -> QueryModelServer:
    """The ASGI app serving ``catalog`` (copied: run-time additions do not change it).

    ``tokens``: when given, ``metadata=true&me=true`` with an ``authorization`` outside the list
    gets 401 (a ``Bearer`` prefix is ignored); without it any non-empty value is accepted.
    ``error_rate``: the share of API requests answered by a seeded random 500.
    ``store``: where the control API's state lives (default: in memory, one process).
    """
    options = ServerOptions(
        tokens=tuple(tokens),
        latency_ms=latency_ms,
        error_rate=error_rate,
        seed=seed,
        self_check=self_check,
        access_log=access_log,
    )
    return QueryModelServer(catalog, options=options, hook=hook, store=store)


def _journal_entry(scope: Scope, status: int | None, worker: int) -> JournalEntry:
    """The journal's record, read straight from the scope: only whether a token was sent."""
    authorization = False
    for key, value in scope["headers"]:
        if key == b"authorization" and value:
            authorization = True
            break
    query = scope["query_string"].decode("latin-1")
    return JournalEntry(scope["method"], scope["path"], query, status, authorization, time.time(), worker)


def _request(scope: Scope, body: bytes = b"") -> Request:
    headers = tuple(
        (key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in scope["headers"]
    )
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1").partition("?")[0] if raw_path else scope["path"]
    return Request(scope["method"], path, scope["query_string"].decode("latin-1"), headers, body)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, response: Response) -> None:
    body = response.body
    if len(response.headers) == 1 and response.headers[0][1] == JSON_CONTENT_TYPE:
        headers = [_JSON_HEADER, (b"content-length", b"%d" % len(body))]
    else:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without answering.

    uvicorn's ``send`` is a method of the request cycle, which holds the transport. Elsewhere
    the fallback starts a response and abandons it, which ASGI servers answer by closing.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
        return
    transport.close()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_until_disconnected(receive), timeout=5)


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _access_line(scope: Scope, status: int | None, started: float) -> str:
    """``127.0.0.1 GET /query_models/X?metadata=true 200 0.4ms``: no header is ever shown."""
    client = scope.get("client")
    query = scope["query_string"]
    target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
    elapsed = (time.perf_counter() - started) * 1000
    shown = "dropped" if status is None else status
    return f"{client[0] if client else '-'} {scope['method']} {target} {shown} {elapsed:.1f}ms"


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


def self_check(request: Request, response: Response) -> list[Violation]:
    """What is wrong with a response the server is about to send, by the contract's rule ids.

    Checks the content type, error bodies, documented statuses, and every 200 retrieve
    document with the validator (schema, names, order, metadata presence) and ``slug-echo``.
    """
    headers = dict(response.headers)
    if headers.get("content-type") != JSON_CONTENT_TYPE:
        return [
            Violation(
                "content-type", "", f"expected {JSON_CONTENT_TYPE}, got {headers.get('content-type')!r}"
            )
        ]
    try:
        body = json.loads(response.body)
    except ValueError:
        rule = "error-body" if response.status >= 400 else "schema"
        return [Violation(rule, "", "the body is not JSON")]
    if response.status >= 400:
        return _error_violations(response.status, body)
    return _success_violations(request, body)


def _error_violations(status: int, body: Any) -> list[Violation]:
    violations = []
    if not _error_validator().is_valid(body):
        violations.append(Violation("error-body", "", f"not a {{code, message}} error body: {body!r:.200}"))
    elif body["code"] != status:
        violations.append(Violation("error-body", "/code", f"expected {status}, got {body['code']!r}"))
    if status >= 500:
        violations.append(Violation("no-server-error", "", f"status {status}"))
    elif status not in _documented_statuses():
        violations.append(Violation("schema", "", f"status {status} is not documented in openapi.yaml"))
    return violations


def _success_violations(request: Request, body: Any) -> list[Violation]:
    route = route_of(request.path)
    kind = route.kind(request.method)
    if kind in ("model-list", "model-count"):
        return _listing_violations("count" if kind == "model-count" else "", body)
    if kind != "model":
        return []
    rest = route.name or ""
    try:
        metadata = parse_stats_params(request.query).metadata
    except BadParameter:
        return [Violation("bad-request", "", "a malformed request was answered with 200")]
    violations = validate_query_model(body, metadata=metadata)
    if isinstance(body, dict) and body.get("name") != rest:
        violations.append(Violation("slug-echo", "/name", f"expected {rest!r}, got {body.get('name')!r}"))
    return violations


def _listing_violations(rest: str, body: Any) -> list[Violation]:
    if rest == "count":
        valid = isinstance(body, dict) and isinstance(body.get("count"), int) and body["count"] >= 0
        return [] if valid else [Violation("schema", "", f'expected {{"count": n}}, got {body!r:.200}')]
    names = body.get("data") if isinstance(body, dict) else None
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return []
    return [Violation("schema", "/data", f'expected {{"data": [names]}}, got {body!r:.200}')]


@functools.cache
def _error_validator() -> Any:
    return jsonschema_rs.Draft202012Validator(component_schema("Error"))


@functools.cache
def _documented_statuses() -> frozenset[int]:
    responses = load_spec()["paths"]["/query_models/{slug}"]["get"]["responses"]
    return frozenset(int(status) for status in responses if status.isdigit())


def _report(request: Request, response: Response, violations: list[Violation], *, injected: bool) -> None:
    where = (
        f"{request.method} {request.path}{'?' + request.query if request.query else ''} -> {response.status}"
    )
    suffix = " (injected fault)" if injected else ""
    for violation in violations:
        _SELF_CHECK_LOG.warning("self-check: %s%s: %s", where, suffix, violation)


def _control_spec() -> bytes:
    try:
        return shipped_path(CONTROL_SPEC_FILE).read_bytes()
    except (SpecError, OSError):
        return (
            b"openapi: 3.1.0\ninfo: {title: qmcontract control API (spec missing), version: '0'}\npaths: {}\n"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket, or one clear :class:`ServerError` (port in use, bad address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ServerError(f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


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
    catalog: Catalog | None = None, *, hook: ResponseHook | None = None, **options: Any
) -> Iterator[str]:
    """Serve ``catalog`` (default: the shipped mocks) on 127.0.0.1 and a free port, in a thread.

    Yields the base URL ``http://127.0.0.1:PORT`` once ``/healthz`` answers; stops the server
    when the block ends. ``options`` are those of :func:`create_app`.
    """
    app = create_app(catalog if catalog is not None else load_catalog(), hook=hook, **options)
    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="none",
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    thread = _ServerThread(uvicorn.Server(config), sock)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    thread.start()
    try:
        _wait_until_healthy(url, thread)
        yield url
    finally:
        thread.server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def _wait_until_healthy(url: str, thread: _ServerThread, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise ServerError(f"the server stopped while starting: {thread.error!r}")
        if thread.server.started:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + HEALTH_PATH, timeout=2).status_code == 200:
                    return
        time.sleep(0.01)
    raise ServerError(f"the server at {url} did not answer {HEALTH_PATH} within {timeout:.0f} s")


def serve(
    catalog_dir: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    tokens: Sequence[str] = (),
    latency_ms: int = 0,
    error_rate: float = 0.0,
    seed: int | None = None,
    self_check: bool = False,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Run the server in the foreground until SIGINT or SIGTERM (then shut down gracefully).

    With ``workers`` > 1, uvicorn runs that many processes on one socket and the control
    API's state lives in a shared SQLite store, so every worker sees the same models,
    faults and journal.
    """
    if workers < 1:
        raise ServerError(f"workers must be >= 1, got {workers}")
    if log_level not in LOG_LEVELS:
        raise ServerError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    options = ServerOptions(
        tokens=tuple(tokens),
        latency_ms=latency_ms,
        error_rate=error_rate,
        seed=seed,
        self_check=self_check,
        access_log=access_log and log_level in ("info", "debug"),
    )
    catalog = load_catalog(catalog_dir)
    sock = bind_socket(host, port)
    logging.config.dictConfig(log_config(log_level))
    address = sock.getsockname()
    logging.getLogger("qmcontract.server").info(
        "qmcontract serving %d Query Models on http://%s:%d with %d worker(s) (Ctrl-C to stop)",
        len(catalog),
        host if ":" not in host else f"[{host}]",
        address[1],
        workers,
    )
    common: dict[str, Any] = {
        "log_config": log_config(log_level),
        "log_level": log_level,
        "access_log": False,
        "lifespan": "on",
        "ws": "none",
        "proxy_headers": False,
        "timeout_graceful_shutdown": 5,
    }
    try:
        if workers == 1:
            app = QueryModelServer(catalog, options=options, access_sink=_stdout_sink())
            _freeze_heap()
            uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=[sock])
        else:
            _serve_workers(catalog_dir, options, sock, workers=workers, uvicorn_options=common)
    finally:
        sock.close()


def _serve_workers(
    catalog_dir: str | Path | None,
    options: ServerOptions,
    sock: socket.socket,
    *,
    workers: int,
    uvicorn_options: dict[str, Any],
) -> None:
    with tempfile.TemporaryDirectory(prefix="qmcontract-store-") as directory:
        SqliteStore(directory).close()
        settings = {
            "catalog": str(catalog_dir) if catalog_dir is not None else None,
            "store": directory,
            "options": dataclasses.asdict(options),
        }
        os.environ[ENVIRONMENT_VARIABLE] = json.dumps(settings)
        config = uvicorn.Config(
            "qmcontract.server:app_from_environment", factory=True, workers=workers, **uvicorn_options
        )
        Multiprocess(config, sockets=[sock]).run()


def app_from_environment() -> QueryModelServer:
    """The app of one worker process, configured by the supervisor through the environment."""
    settings = json.loads(os.environ[ENVIRONMENT_VARIABLE])
    options = {**settings["options"], "tokens": tuple(settings["options"]["tokens"])}
    app = QueryModelServer(
        load_catalog(settings["catalog"]),
        options=ServerOptions(**options),
        store=SqliteStore(settings["store"]),
        access_sink=_stdout_sink(),
    )
    _freeze_heap()
    return app


def _stdout_sink() -> AccessSink:
    try:
        return LineBuffer(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):
        return LoggingSink()


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


__all__ = [
    "QueryModelServer",
    "ServerError",
    "ServerOptions",
    "create_app",
    "running_server",
    "self_check",
    "serve",
]
