"""The mock server's ASGI application: a thin adapter over :class:`~qmcontract.engine.Engine`.

The engine answers every route of the API family (POST bodies included); this module adapts
ASGI to it and adds what a server owns: request bodies read with a bound (413 above
:data:`~qmcontract.limits.MAX_BODY_BYTES`, on every route), the transport faults (latency,
dropped connections), the control API (:mod:`qmcontract.server.control`), configured faults
(``error_rate``), the journal, the access log and ``--self-check``. Static routes:
``GET /healthz`` and ``GET /openapi.yaml``.

The hot path is a plain retrieve (``GET`` without ``authorization`` or a body): its answer
depends on the path, the query string, the catalogue and (for metadata) the UTC day, so the
engine's 200 answers are kept, up to :data:`~qmcontract.limits.MEMO_BYTES`, and sent again
until the catalogue changes. A plain ASGI callable is used rather than a framework, and access
lines are written in batches, because each of these costs more than the answer itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.engine import Engine, ResponseHook
from qmcontract.errors import SpecError
from qmcontract.limits import MAX_BODY_BYTES, MAX_DISCARDED_BODY_BYTES, MEMO_BYTES
from qmcontract.redact import cut, loggable_target
from qmcontract.resources import shipped_path, spec_path
from qmcontract.server.access_log import ACCESS_FLUSH_SECONDS, AccessSink, LoggingSink, access_line
from qmcontract.server.control import CONTROL_PREFIX, ControlApi, ControlPolicy
from qmcontract.server.options import ServerOptions
from qmcontract.server.self_check import self_check
from qmcontract.server.store import Generation, MemoryStore, Store
from qmcontract.wire import (
    JSON_CONTENT_TYPE,
    YAML_CONTENT_TYPE,
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
CatalogLike = Catalog | str | os.PathLike[str] | None

ERROR_RATE_MESSAGE: Final = "injected server error (--error-rate)"
TOO_LARGE_MESSAGE: Final = f"the request body is larger than {MAX_BODY_BYTES:,} bytes"
HEALTH_PATH: Final = "/healthz"
SPEC_ROUTE: Final = "/openapi.yaml"
CONTROL_SPEC_FILE: Final = "openapi-control.yaml"
#: Bytes a kept answer is counted for besides its key and body.
_MEMO_OVERHEAD: Final = 200
_JSON_HEADER: Final = (b"content-type", b"application/json")
_SELF_CHECK_LOG: Final = logging.getLogger("qmcontract.selfcheck")
#: A declared body length when the request is chunked (its length is known once read).
_UNKNOWN_LENGTH: Final = -1


class QueryModelServer:
    """The ASGI application. One instance per worker process; not shared between event loops.

    ``on_startup`` and ``on_shutdown`` run at the ends of the ASGI lifespan (the workers of
    :func:`~qmcontract.server.serve` use them to report readiness and clean up).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        options: ServerOptions | None = None,
        hook: ResponseHook | None = None,
        store: Store | None = None,
        access_sink: AccessSink | None = None,
        on_startup: Callable[[], None] | None = None,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.options = options = options or ServerOptions()
        self._access = (access_sink or LoggingSink()) if options.logs_access else None
        self.store: Store = store if store is not None else MemoryStore()
        self._owns_store = store is None
        self._base = catalog.copy()
        self._hook = hook
        self._tokens = options.api_tokens()
        self._seen = Generation(-1, 0)
        self._engine = Engine(self._base, hook=hook, tokens=self._tokens)
        self._memo: dict[tuple[bytes, bytes], _Kept] = {}
        #: Nothing but the memo can change a repeated plain GET's answer: it may skip the slow path.
        self._memo_answers_alone = hook is None and not (
            options.error_rate or options.latency_ms or options.self_check
        )
        self._memo_bytes = 0
        self._memo_day = -1
        self._random = random.Random(options.seed)
        self._spec = spec_path().read_bytes()
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self.control = ControlApi(self.store, policy=ControlPolicy.of(options), spec=_control_spec())

    def catalog(self) -> Catalog:
        """The catalogue being served, run-time additions included."""
        return self._current_engine().catalog

    def _current_engine(self) -> Engine:
        """The engine over the current catalogue, with the models added since the last request.

        A reset rebuilds the catalogue from the one given at start-up; an addition only adds the
        new documents, so the 500th addition costs what the first did. Either empties the memo of
        answers, which is also emptied when the UTC day changes (metadata figures change daily).
        """
        generation, day = self.store.sync(), int(time.time() // 86_400)
        if day != self._memo_day:
            self._forget_answers()
            self._memo_day = day
        if generation != self._seen:
            catalog = self._engine.catalog
            start = self._seen.models
            if generation.resets != self._seen.resets or generation.models < start:
                catalog, start = self._base.copy(), 0
            for document in self.store.added_models(start):
                catalog.add_built(document)
            self._engine = Engine(catalog, hook=self._hook, tokens=self._tokens)
            self._forget_answers()
            self._seen = generation
        return self._engine

    def _forget_answers(self) -> None:
        self._memo, self._memo_bytes = {}, 0

    def _remember(self, key: tuple[bytes, bytes], response: Response) -> None:
        """Keep a 200 answer; when the memo would outgrow its bound in bytes, start it afresh."""
        size = len(key[0]) + len(key[1]) + len(response.body) + _MEMO_OVERHEAD
        if size > MEMO_BYTES:
            return
        if self._memo_bytes + size > MEMO_BYTES:
            self._forget_answers()
        self._memo[key] = _Kept(response)
        self._memo_bytes += size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not await self._from_memo(scope, send):
                await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _from_memo(self, scope: Scope, send: Send) -> bool:
        """The hot path: a repeated plain ``GET`` that nothing but the memo can answer differently
        (no fault, no injected error or latency, no self-check) is sent as kept. False otherwise."""
        if not self._memo_answers_alone or scope["method"] != "GET":
            return False
        started = time.perf_counter() if self._access is not None else 0.0
        self._current_engine()  # follows run-time changes and the day, forgetting stale answers
        kept = self._memo.get((scope.get("raw_path") or scope["path"].encode(), scope["query_string"]))
        if kept is None or self.store.faults_scheduled() or _head_facts(scope["headers"]) != (False, 0):
            return False
        await send(kept.start)
        await send(kept.body)
        self._record(scope, 200, authorization=False)
        if self._access is not None:
            self._access(access_line(scope, 200, started))
        return True

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            status: int | None = await self._control(scope, receive, send)
        elif path in (HEALTH_PATH, SPEC_ROUTE):
            status = await self._static(scope, receive, send)
        else:
            status = await self._api(scope, receive, send)
        if self._access is not None:
            self._access(access_line(scope, status, started))

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> int:
        request = wire_request(scope)
        server = scope.get("server")
        response = self.control.policy.refusal(request, server[1] if server else None)
        if response is None:
            declared = _head_facts(scope["headers"])[1]
            body = await read_body(receive, declared)
            if body is None:
                response = too_large(declared)
            else:
                response = await self.control.handle(replace(request, body=body))
        await send_response(send, response)
        return response.status

    async def _static(self, scope: Scope, receive: Receive, send: Send) -> int:
        declared = _head_facts(scope["headers"])[1]
        if scope["method"] not in ("GET", "HEAD"):
            response = method_not_allowed(scope["method"], scope["path"], ("GET", "HEAD"))
        elif await read_body(receive, declared) is None:
            response = too_large(declared)
        elif scope["path"] == HEALTH_PATH:
            response = json_response(200, b'{"status":"ok"}')
        else:
            response = Response(200, (("content-type", YAML_CONTENT_TYPE),), self._spec)
        await send_response(send, response)
        return response.status

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> int | None:
        engine = self._current_engine()
        authorization, declared = _head_facts(scope["headers"])
        plain = scope["method"] == "GET" and not authorization and not declared
        key = (scope.get("raw_path") or scope["path"].encode(), scope["query_string"])
        kept = self._memo.get(key) if plain else None
        response = kept.response if kept is not None else None
        request = None
        if response is None:
            body = await read_body(receive, declared)
            if body is None:
                response = too_large(declared)
                await send_response(send, response)
                self._record(scope, response.status, authorization=authorization)
                return response.status
            request = wire_request(scope, body)
            response = engine.handle(request)
            if plain and self._hook is None and response.status == 200:
                self._remember(key, response)
        return await self._deliver(scope, receive, send, request, response, authorization=authorization)

    async def _deliver(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: Request | None,
        response: Response,
        *,
        authorization: bool,
    ) -> int | None:
        """Send the engine's answer, as a scheduled fault or ``error_rate`` changes it; journal it."""
        fault = self.store.take_fault(scope["path"])
        injected = fault is not None
        if fault is not None:
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.transport is not None:
                await _drop_connection(receive, send)
                self._record(scope, None, authorization=authorization)
                return None
            response = fault.apply(response)
        elif self.options.error_rate and self._random.random() < self.options.error_rate:
            response, injected = error_response(500, ERROR_RATE_MESSAGE), True
        if self.options.latency_ms:
            await asyncio.sleep(self.options.latency_ms / 1000)
        if self.options.self_check:
            request = request or wire_request(scope)
            self._report(request, response, injected=injected)
        await send_response(send, response)
        self._record(scope, response.status, authorization=authorization)
        return response.status

    def _report(self, request: Request, response: Response, *, injected: bool) -> None:
        """Log, by rule id, what the answer about to be sent breaks (``--self-check``)."""
        violations = self_check(request, response, self.catalog(), self.options.tokens)
        if not violations:
            return
        target = loggable_target(cut(request.path), request.query)
        suffix = " (injected fault)" if injected else ""
        for violation in violations:
            _SELF_CHECK_LOG.warning(
                "self-check: %s %s -> %s%s: %s", request.method, target, response.status, suffix, violation
            )

    def _record(self, scope: Scope, status: int | None, *, authorization: bool) -> None:
        self.store.record(
            (scope["method"], scope["path"], scope["query_string"], status, authorization, time.time())
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        flusher = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._access is not None:
                    flusher = asyncio.create_task(self._flush_access_log(self._access))
                if self._on_startup is not None:
                    self._on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if flusher is not None:
                    flusher.cancel()
                self._shut_down()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _shut_down(self) -> None:
        if self._access is not None:
            self._access.flush()
        self.control.close()
        if self._owns_store:
            self.store.close()
        if self._on_shutdown is not None:
            self._on_shutdown()

    @staticmethod
    async def _flush_access_log(sink: AccessSink) -> None:
        while True:
            await asyncio.sleep(ACCESS_FLUSH_SECONDS)
            sink.flush()


def create_app(
    catalog: CatalogLike = None,
    options: ServerOptions | None = None,
    *,
    hook: ResponseHook | None = None,
    store: Store | None = None,
    **overrides: Any,
) -> QueryModelServer:
    """The ASGI app serving ``catalog`` (a catalogue, copied; a directory; default: the shipped mocks).

    ``options`` and ``overrides`` (the fields of :class:`ServerOptions`, such as ``tokens``,
    ``error_rate``, ``control_token``) say how it behaves. ``hook`` rewrites every engine answer
    (tests build deliberately broken servers with it). ``store``: where the control API's state
    lives (default: in memory, one process).
    """
    return QueryModelServer(
        catalog_of(catalog), options=ServerOptions.of(options, **overrides), hook=hook, store=store
    )


def catalog_of(catalog: CatalogLike) -> Catalog:
    """A catalogue as given, or loaded from a directory (default: the shipped mocks)."""
    if isinstance(catalog, Catalog):
        return catalog
    return load_catalog(None if catalog is None else Path(catalog))


class _Kept:
    """A kept 200 answer, with the ASGI messages that send it ready (uvicorn only reads them)."""

    __slots__ = ("body", "response", "start")

    def __init__(self, response: Response) -> None:
        self.response = response
        self.start = {"type": "http.response.start", "status": 200, "headers": _asgi_headers(response)}
        self.body = {"type": "http.response.body", "body": response.body}


def _asgi_headers(response: Response) -> list[tuple[bytes, bytes]]:
    body = response.body
    if len(response.headers) == 1 and response.headers[0][1] == JSON_CONTENT_TYPE:
        return [_JSON_HEADER, (b"content-length", b"%d" % len(body))]
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", b"%d" % len(body)))
    return headers


def wire_request(scope: Scope, body: bytes = b"") -> Request:
    """The engine's request value from an ASGI scope: the path as sent (percent-encoded)."""
    headers = tuple(
        (key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in scope["headers"]
    )
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1").partition("?")[0] if raw_path else scope["path"]
    return Request(scope["method"], path, scope["query_string"].decode("latin-1"), headers, body)


def _head_facts(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int]:
    """Whether ``authorization`` was sent, and the declared body length (-1: chunked, unknown)."""
    authorization, length = False, 0
    for name, value in headers:
        if name == b"authorization":
            authorization = authorization or bool(value)
        elif name == b"content-length":
            length = int(value) if value.isdigit() else _UNKNOWN_LENGTH
        elif name == b"transfer-encoding":
            length = _UNKNOWN_LENGTH
    return authorization, length


async def read_body(receive: Receive, declared: int, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The request body, or None when it is larger than ``limit`` (never read past the bound)."""
    if not declared:
        return b""
    if declared > limit:
        return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def too_large(declared: int) -> Response:
    """413 with a contract body; the connection is closed when the rest is too much to throw away."""
    response = error_response(413, TOO_LARGE_MESSAGE)
    if declared > MAX_DISCARDED_BODY_BYTES:
        response = replace(response, headers=(*response.headers, ("connection", "close")))
    return response


async def send_response(send: Send, response: Response) -> None:
    """Send a :class:`~qmcontract.wire.Response`."""
    await send({"type": "http.response.start", "status": response.status, "headers": _asgi_headers(response)})
    await send({"type": "http.response.body", "body": response.body})


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


def _control_spec() -> bytes:
    try:
        return shipped_path(CONTROL_SPEC_FILE).read_bytes()
    except (SpecError, OSError):
        return (
            b"openapi: 3.1.0\ninfo: {title: qmcontract control API (spec missing), version: '0'}\npaths: {}\n"
        )
