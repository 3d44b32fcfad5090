"""The mock server's control API (``/__qmcontract/...``) and who may use it.

Tests written in any language drive the server through it, WireMock-style: add a Query Model
at run time, schedule faults for the next N requests, read and reset the request journal. The
state it changes lives in a :class:`~qmcontract.server.store.Store`.

Whoever reaches the control API can make the server lie, so :class:`ControlPolicy` guards it.
When several answers apply, the first wins in this order:

1. **404**: on a non-loopback bind the control API is off, unless a control token is set.
2. **403**: a request a browser page could send cross-site or by DNS rebinding is refused: an
   ``Origin`` other than the server's own, a ``Host`` that is not a loopback name or address
   (not checked with a control token: the token is the guard), or a ``POST`` whose content type
   is not ``application/json`` or ``application/yaml`` (bodyless POSTs included). A browser
   cannot send any of these cross-site without a CORS preflight, which the server never grants.
3. **401**: with a control token, every request needs ``authorization: Bearer <token>``.

Request bodies are parsed, built and validated on a worker thread (one at a time, so the
memory a body may cost is bounded), never on the event loop; only the change itself is made on
the loop, so control requests never stall API requests.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from qmcontract.catalog import Catalog
from qmcontract.errors import InputError, InvalidDefinition
from qmcontract.faults import DEFAULT_RETRY_AFTER, Fault
from qmcontract.inputs import decode_utf8, parse_json_or_yaml
from qmcontract.limits import MAX_LATENCY_MS, MAX_STRING_LENGTH, quoted
from qmcontract.server.options import LOOPBACK_NAMES, ServerOptions, is_loopback_host
from qmcontract.server.store import Store
from qmcontract.wire import (
    JSON_CONTENT_TYPE,
    YAML_CONTENT_TYPE,
    Request,
    Response,
    encode_json,
    error_response,
    json_response,
)

CONTROL_PREFIX: Final = "/__qmcontract"
#: The only content types a control POST may have: neither can be sent cross-site without a preflight.
BODY_TYPES: Final = frozenset({JSON_CONTENT_TYPE, YAML_CONTENT_TYPE})
DEFAULT_FAULT_PREFIX: Final = "/query_models"
TOO_MANY_REQUESTS: Final = 429
#: Most requests one scheduled fault may be given to.
MAX_FAULT_TIMES: Final = 1_000_000_000
#: Largest ``retry_after`` (seconds) a fault may send.
MAX_RETRY_AFTER: Final = 2**31 - 1
_FAULT_FIELDS: Final = frozenset(
    {"status", "retry_after", "latency_ms", "malformed_body", "drop_connection", "times", "path_prefix"}
)
OFF_MESSAGE: Final = (
    "the control API is off: the server listens on a non-loopback address and no control token is set "
    "(--control-token-env)"
)
_T = TypeVar("_T")


class ControlRequestError(ValueError):
    """A control request that cannot be carried out: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ControlPolicy:
    """Who may use the control API: see the module's docstring for the rules and their order."""

    host: str
    token: str | None = None

    @classmethod
    def of(cls, options: ServerOptions) -> ControlPolicy:
        """The policy the options ask for (the control token read from the environment if so)."""
        return cls(options.host, options.control_secret())

    @property
    def enabled(self) -> bool:
        """On for a loopback bind, or whenever a control token is set."""
        return self.token is not None or is_loopback_host(self.host)

    def describe(self) -> str:
        """What the start-up line says about the control API."""
        if self.token is not None:
            return "control API on (bearer token required)"
        if self.enabled:
            return "control API on for loopback clients"
        return "control API off (non-loopback address without --control-token-env)"

    def refusal(self, request: Request, port: int | None) -> Response | None:
        """The 404, 403 or 401 this request gets, or None when it may go on."""
        if not self.enabled:
            return error_response(404, OFF_MESSAGE)
        forbidden = self._forbidden(request, port)
        if forbidden is not None:
            return error_response(403, forbidden)
        if self.token is not None and not self._authorized(request.authorization):
            return error_response(
                401,
                "the control API needs authorization: Bearer <control token>",
                ("www-authenticate", "Bearer"),
            )
        return None

    def _forbidden(self, request: Request, port: int | None) -> str | None:
        host = request.header("host")
        if self.token is None and not self._local_host(host):
            return f"the Host header {quoted(host)} is not a loopback name or address"
        origin = request.header("origin")
        if origin is not None and not self._own_origin(origin, host, port):
            return f"the Origin {quoted(origin)} is not this server's own"
        if request.method == "POST" and media_type(request.header("content-type")) not in BODY_TYPES:
            shown = quoted(request.header("content-type") or "none")
            return f"a control POST must be sent as application/json or application/yaml, got {shown}"
        return None

    def _local_host(self, host: str | None) -> bool:
        """True for a Host header naming this machine: a loopback name or address, or the bound host."""
        if host is None:
            return False
        name = _host_name(host)
        return name is not None and (is_loopback_host(name) or name == self.host.strip("[]").lower())

    def _own_origin(self, origin: str, host: str | None, port: int | None) -> bool:
        if host is not None and origin.lower() == f"http://{host}".lower():
            return True
        try:
            parts = urlsplit(origin)
            origin_port = parts.port or 80
        except ValueError:
            return False
        name = (parts.hostname or "").rstrip(".")
        local = name in LOOPBACK_NAMES or is_loopback_host(name) or name == self.host.strip("[]").lower()
        return parts.scheme == "http" and local and origin_port == port and not parts.path.strip("/")

    def _authorized(self, authorization: str | None) -> bool:
        if authorization is None or self.token is None:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8", "replace"), self.token.encode("utf-8"))


def media_type(content_type: str | None) -> str | None:
    """``application/json`` from ``Application/JSON; charset=utf-8``; None when absent."""
    if content_type is None:
        return None
    return content_type.partition(";")[0].strip().lower()


def _host_name(host: str) -> str | None:
    """The name or address in a Host header (``[::1]:8000`` -> ``::1``), lower-case; None if malformed."""
    try:
        name = urlsplit(f"//{host.strip()}").hostname
    except ValueError:
        return None
    return name.rstrip(".") if name else None


Handler = Callable[[Request], Awaitable[Response]]


class ControlApi:
    """Answers requests under ``/__qmcontract`` once :class:`ControlPolicy` let them through.

    ``spec`` is the control API's own OpenAPI document, served at ``/__qmcontract/openapi.yaml``.
    """

    def __init__(self, store: Store, *, policy: ControlPolicy, spec: bytes) -> None:
        self.policy = policy
        self._store = store
        self._spec = spec
        self._parser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qmcontract-control")
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/models"): self._list_models,
            ("POST", "/models"): self._add_model,
            ("GET", "/faults"): self._pending,
            ("POST", "/faults"): self._schedule,
            ("DELETE", "/faults"): self._clear_faults,
            ("GET", "/journal"): self._journal,
            ("DELETE", "/journal"): self._clear_journal,
            ("POST", "/reset"): self._reset,
            ("GET", "/openapi.yaml"): self._openapi,
        }

    @property
    def routes(self) -> tuple[tuple[str, str], ...]:
        """Every (method, path) the control API answers, paths under ``/__qmcontract``."""
        return tuple(self._routes)

    async def handle(self, request: Request) -> Response:
        """The response to one request under ``/__qmcontract`` (its body already read and bounded)."""
        route = (request.method, request.path[len(CONTROL_PREFIX) :].rstrip("/"))
        handler = self._routes.get(route)
        if handler is None:
            allowed = sorted(method for method, path in self._routes if path == route[1])
            if allowed:
                response = error_response(405, f"{request.method} is not allowed on {quoted(request.path)}")
                return replace(response, headers=(*response.headers, ("allow", ", ".join(allowed))))
            return error_response(404, f"no control route {quoted(request.path)}")
        try:
            return await handler(request)
        except ControlRequestError as exc:
            return error_response(exc.status, str(exc))

    def close(self) -> None:
        """Stop the parsing thread (a parse under way finishes on its own)."""
        self._parser.shutdown(wait=False, cancel_futures=True)

    async def _off_loop(self, work: Callable[[bytes], _T], body: bytes) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._parser, work, body)

    async def _list_models(self, _request: Request) -> Response:
        names = [document["name"] for document in self._store.added_models()]
        return _ok({"data": names})

    async def _add_model(self, request: Request) -> Response:
        built = await self._off_loop(build_document, request.body)
        if isinstance(built, InvalidDefinition):
            return _invalid(built)
        self._store.add_model(built)
        return json_response(201, encode_json(built))

    async def _schedule(self, request: Request) -> Response:
        fault, times, prefix = await self._off_loop(parse_fault_body, request.body)
        self._store.schedule(fault, times=times, path_prefix=prefix)
        return json_response(201, encode_json({"pending": self._store.pending_faults()}))

    async def _pending(self, _request: Request) -> Response:
        return _ok({"pending": self._store.pending_faults()})

    async def _clear_faults(self, _request: Request) -> Response:
        self._store.clear_faults()
        return _ok({"pending": 0})

    async def _journal(self, _request: Request) -> Response:
        return _ok({"requests": [entry.to_json() for entry in self._store.journal()]})

    async def _clear_journal(self, _request: Request) -> Response:
        self._store.clear_journal()
        return _ok({"requests": []})

    async def _reset(self, _request: Request) -> Response:
        self._store.reset()
        return _ok({"reset": True})

    async def _openapi(self, _request: Request) -> Response:
        return Response(200, (("content-type", YAML_CONTENT_TYPE),), self._spec)


def _ok(value: Any) -> Response:
    return json_response(200, encode_json(value))


def _invalid(exc: InvalidDefinition) -> Response:
    violations = [{"rule": v.rule, "path": v.path, "message": v.message} for v in exc.violations]
    body = {
        "code": 422,
        "message": f"invalid Query Model definition ({len(violations)} violation(s))",
        "violations": violations,
    }
    return json_response(422, encode_json(body))


def parse_body(body: bytes) -> Any:
    """A control body as a JSON value: JSON or YAML, UTF-8, bounded (no aliases, depth, numbers)."""
    if not body.strip():
        raise ControlRequestError(400, "the request body is empty; expected JSON or YAML")
    try:
        return parse_json_or_yaml(decode_utf8(body, source="request body"), source="request body")
    except InputError as exc:
        raise ControlRequestError(400, str(exc)) from None


def build_document(body: bytes) -> dict[str, Any] | InvalidDefinition:
    """The document a ``POST /models`` body builds to (a definition) or is (a valid document).

    Cost depends on the body alone, never on how many models the server holds.
    """
    definition = parse_body(body)
    if not isinstance(definition, dict):
        raise ControlRequestError(400, "the body must be a Query Model definition (a JSON object)")
    try:
        return Catalog().add(definition)
    except InvalidDefinition as exc:
        return exc


def parse_fault_body(body: bytes) -> tuple[Fault, int, str]:
    """The fault a ``POST /faults`` body asks for: see :func:`parse_fault_request`."""
    return parse_fault_request(parse_body(body))


def parse_fault_request(value: Any) -> tuple[Fault, int, str]:
    """``{status, retry_after, latency_ms, malformed_body, drop_connection, times, path_prefix}``.

    Returns the fault, how many requests get it, and the path prefix they must have. Every
    number is bounded, so no value can break the request that later takes the fault.
    """
    if not isinstance(value, dict):
        raise ControlRequestError(400, "the body must be a JSON object describing the fault")
    unknown = sorted(set(value) - _FAULT_FIELDS)
    if unknown:
        raise ControlRequestError(400, f"unknown fault field(s): {quoted(', '.join(unknown))}")
    times = _integer(value, "times", 1, minimum=1, maximum=MAX_FAULT_TIMES)
    prefix = value.get("path_prefix", DEFAULT_FAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix.startswith("/") or len(prefix) > MAX_STRING_LENGTH:
        raise ControlRequestError(
            400, f"`path_prefix` must be a path starting with / of at most {MAX_STRING_LENGTH} characters"
        )
    status = _optional_integer(value, "status", maximum=599)
    retry_after = _optional_integer(value, "retry_after", maximum=MAX_RETRY_AFTER)
    if status == TOO_MANY_REQUESTS and retry_after is None:
        retry_after = DEFAULT_RETRY_AFTER
    try:
        fault = Fault(
            status=status,
            retry_after=retry_after,
            latency_ms=_integer(value, "latency_ms", 0, minimum=0, maximum=MAX_LATENCY_MS),
            malformed_body=_boolean(value, "malformed_body"),
            transport="drop_connection" if _boolean(value, "drop_connection") else None,
        )
    except ValueError as exc:
        raise ControlRequestError(400, str(exc)) from None
    if fault == Fault():
        raise ControlRequestError(
            400, "the fault changes nothing: give status, latency_ms, malformed_body or drop_connection"
        )
    return fault, times, prefix


def _integer(value: Mapping[str, Any], key: str, default: int, *, minimum: int, maximum: int) -> int:
    given = value.get(key, default)
    if isinstance(given, bool) or not isinstance(given, int) or not minimum <= given <= maximum:
        raise ControlRequestError(
            400, f"`{key}` must be an integer from {minimum} to {maximum:,}, got {quoted(given)}"
        )
    return given


def _optional_integer(value: Mapping[str, Any], key: str, *, maximum: int) -> int | None:
    if value.get(key) is None:
        return None
    return _integer(value, key, 0, minimum=0, maximum=maximum)


def _boolean(value: Mapping[str, Any], key: str) -> bool:
    given = value.get(key, False)
    if not isinstance(given, bool):
        raise ControlRequestError(400, f"`{key}` must be true or false, got {quoted(given)}")
    return given
