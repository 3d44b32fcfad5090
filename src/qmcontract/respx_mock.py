"""An in-process mock of the ObjectiveAI Query Model routes for httpx clients, built on respx.

``mock_query_models()`` returns a :class:`QueryModelsMock`: a respx router with one route,
``GET``/``HEAD`` ``{base_url}/query_models[/...]``, which hands the request to
:meth:`qmcontract.engine.Engine.handle` and turns the engine's answer into an
``httpx.Response``. Every other request follows respx's normal behaviour: unmatched requests
raise ``respx.models.AllMockedAssertionError`` unless another active respx router takes them.
Sync and async httpx clients are both served.

Faults are scheduled with :meth:`QueryModelsMock.fail_next` (a :class:`~qmcontract.faults.FaultPlan`
underneath). Latency is acted out with ``anyio.sleep`` when the request comes from an async
client (respx awaits the route's answer there) and with ``time.sleep`` from a sync client.

Every request that reaches the route is recorded in :attr:`QueryModelsMock.calls` as a
frozen :class:`RecordedCall`; the ``authorization`` header is stored redacted, never in clear.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar, cast
from urllib.parse import parse_qs

import anyio
import httpx
import respx
from respx.models import SideEffectError

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.engine import Engine
from qmcontract.errors import MockAssertionError
from qmcontract.faults import Fault, FaultPlan, TransportFault
from qmcontract.inputs import load_json_or_yaml
from qmcontract.routes import MODELS_PATH as ROUTE_PREFIX
from qmcontract.wire import Request, Response, header_pairs

DEFAULT_BASE_URL: Final = "https://api.objective-ai.io"
BASE_URL_ENV: Final = "OBJECTIVEAI_API_BASE"
REDACTED: Final = "[redacted]"
SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})
DEFAULT_RETRY_AFTER: Final = 1
MOCK_ARGUMENT: Final = "query_models_mock"
_METHODS: Final = frozenset({"GET", "HEAD"})

#: True while respx resolves a request for an async client: the side effect may then return an awaitable.
_ASYNC_CALLER: Final[contextvars.ContextVar[bool]] = contextvars.ContextVar(
    "qmcontract_async_caller", default=False
)

F = TypeVar("F", bound=Callable[..., Any])
RouteResult = httpx.Response | Awaitable[httpx.Response]
Definition = Mapping[str, Any] | str | os.PathLike[str]


def default_base_url() -> str:
    """The API base the official SDKs use: ``$OBJECTIVEAI_API_BASE``, else the production API."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


@dataclass(frozen=True)
class RecordedCall:
    """One request that reached the mocked routes, and what it got (``status`` None: transport fault).

    ``path`` is relative to the base URL. Secret headers are stored as ``[redacted]``.
    """

    method: str
    url: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    status: int | None
    fault: Fault | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string parsed: every value of every parameter, blanks kept."""
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def slug(self) -> str | None:
        """The ``{slug}`` of a ``/query_models/{slug}`` request, else None."""
        head, _, slug = self.path.rpartition("/")
        return slug if head == ROUTE_PREFIX and slug and slug != "count" else None

    def header(self, name: str) -> str | None:
        """A header's stored value (``[redacted]`` for secrets), case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def __str__(self) -> str:
        query = f"?{self.query_string}" if self.query_string else ""
        outcome = self.status if self.fault is None or self.fault.transport is None else self.fault.transport
        return f"{self.method} {self.path}{query} -> {outcome}"


class _Router(respx.MockRouter):
    """A respx router that marks async resolution, so the engine route knows it may be awaited.

    Calls to the engine route stay out of respx's own call log: the mock keeps a redacted
    record of them, and respx's would hold every request (authorization included) and response.
    """

    def record(
        self,
        request: httpx.Request,
        *,
        response: httpx.Response | None = None,
        route: respx.Route | None = None,
    ) -> None:
        if not isinstance(route, _EngineRoute):
            super().record(request, response=response, route=route)

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        token = _ASYNC_CALLER.set(True)
        try:
            return await super().async_handler(request)
        finally:
            _ASYNC_CALLER.reset(token)


class _EngineRoute(respx.Route):
    """A respx route that decides and answers in one call, skipping respx's pattern machinery.

    ``responder`` returns None for requests that are not its own (respx then tries the next
    route, as for a side effect returning None), a response, or an awaitable of one (awaited by
    respx for async clients). Exceptions leave as respx side-effect errors do: the router
    re-raises the original exception. Equality is identity, so a user's route never replaces
    this one.
    """

    def __init__(self, responder: Callable[[httpx.Request], RouteResult | None]) -> None:
        super().__init__()
        self._responder = responder

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    def match(self, request: httpx.Request) -> RouteResult | None:
        try:
            return self._responder(request)
        except Exception as exc:
            raise SideEffectError(self, origin=exc) from exc


class QueryModelsMock:
    """The Query Model routes of one API base, answered by the engine from a catalogue.

    Use it as a context manager (sync or async) or a decorator; see :func:`mock_query_models`.
    """

    def __init__(self, catalog: Catalog, *, base_url: str, assert_all_called: bool = False) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self.catalog = catalog
        self.engine = Engine(catalog)
        self.faults = FaultPlan()
        self.base_url = str(url.copy_with(query=None, fragment=None)).rstrip("/")
        self.assert_all_called = assert_all_called
        self._base_path = url.path.rstrip("/")
        self._origin = (url.scheme, url.host, url.port)
        self._prefix = self._base_path + ROUTE_PREFIX
        self._calls: list[RecordedCall] = []
        self.router = _Router(assert_all_called=False, assert_all_mocked=True)
        self.route = self.router.add(_EngineRoute(self._respond), name="qmcontract-query-models")

    def url(self, slug: str = "") -> str:
        """Absolute URL of ``/query_models/{slug}`` (of ``/query_models`` when no slug is given)."""
        return f"{self.base_url}{ROUTE_PREFIX}/{slug}" if slug else f"{self.base_url}{ROUTE_PREFIX}"

    def add(self, definition: Definition) -> dict[str, Any]:
        """Add a definition or complete document (or a JSON/YAML file of one); return the document.

        Raises :class:`~qmcontract.errors.InvalidDefinition` when it breaks the contract.
        """
        if isinstance(definition, (str, os.PathLike)):
            return self.catalog.add(load_json_or_yaml(Path(definition)))
        return self.catalog.add(definition)

    def fail_next(
        self,
        status: int | None = None,
        *,
        times: int = 1,
        retry_after: int | None = None,
        latency_ms: int = 0,
        malformed_body: bool = False,
        transport: TransportFault | None = None,
        slug: str | None = None,
        path_prefix: str = "/",
    ) -> Fault:
        """Make the next ``times`` matching requests go wrong; return the scheduled fault.

        ``status`` answers with that status and a contract error body (a 429 carries
        ``Retry-After``, 1 s unless ``retry_after`` says otherwise); ``latency_ms`` delays the
        answer; ``malformed_body`` sends invalid JSON; ``transport`` raises ``httpx.ConnectError``
        (``"connect_error"``), ``httpx.ReadTimeout`` (``"read_timeout"``) or
        ``httpx.RemoteProtocolError`` (``"drop_connection"``). Only requests for ``slug``, or
        whose path (relative to the base URL) starts with ``path_prefix``, are affected.
        """
        if status == 429 and retry_after is None:
            retry_after = DEFAULT_RETRY_AFTER
        fault = Fault(
            status=status,
            retry_after=retry_after,
            latency_ms=latency_ms,
            malformed_body=malformed_body,
            transport=transport,
        )
        if fault == Fault():
            raise ValueError("fail_next needs a fault: status, latency_ms, malformed_body or transport")
        prefix = f"{ROUTE_PREFIX}/{slug}" if slug is not None else path_prefix
        self.faults.schedule(fault, times=times, path_prefix=prefix)
        return fault

    @property
    def calls(self) -> list[RecordedCall]:
        """Every request that reached the mocked routes since the mock was entered, in order."""
        return list(self._calls)

    @property
    def last_call(self) -> RecordedCall:
        """The latest recorded call; raises :class:`MockAssertionError` when there is none."""
        if not self._calls:
            raise MockAssertionError(f"no request reached {self.url()} yet")
        return self._calls[-1]

    def reset(self) -> None:
        """Forget the recorded calls and every scheduled fault."""
        self._calls.clear()
        self.faults.clear()

    def assert_called(self, slug: str | None = None, *, times: int | None = None) -> None:
        """Check that ``slug`` (any Query Model route when None) was requested ``times`` times,
        or at least once when ``times`` is None; the error lists every recorded call."""
        matching = [call for call in self._calls if slug is None or call.slug == slug]
        if (times is None and matching) or len(matching) == times:
            return
        expected = "at least once" if times is None else f"{times} time(s)"
        listing = "\n".join(f"  {call}" for call in self._calls) or "  (none)"
        raise MockAssertionError(
            f"expected {self.url(slug or '')} to be requested {expected}, got {len(matching)}; "
            f"recorded calls:\n{listing}"
        )

    def assert_not_called(self, slug: str | None = None) -> None:
        """Check that ``slug`` (any Query Model route when None) was never requested."""
        self.assert_called(slug, times=0)

    def start(self) -> None:
        """Start intercepting httpx requests (recorded calls are cleared, faults kept)."""
        self._calls.clear()
        self.router.start()

    def stop(self, *, quiet: bool = False) -> None:
        """Stop intercepting; unless ``quiet``, check ``assert_all_called``."""
        self.router.stop(quiet=True)
        if self.assert_all_called and not quiet and not self._calls:
            raise MockAssertionError(f"no request reached {self.url()} while the mock was active")

    def __enter__(self) -> QueryModelsMock:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(quiet=exc_type is not None)

    async def __aenter__(self) -> QueryModelsMock:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Decorate a sync or async function: the mock is active while it runs.

        A function with a ``query_models_mock`` parameter receives the mock there; the
        parameter is hidden from the wrapper's signature, so pytest does not inject its fixture.
        """
        signature = inspect.signature(func)
        wants_mock = MOCK_ARGUMENT in signature.parameters
        extra = {MOCK_ARGUMENT: self} if wants_mock else {}
        if inspect.iscoroutinefunction(func):

            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with self:
                    return await func(*args, **kwargs, **extra)

            wrapper: Callable[..., Any] = async_wrapper
        else:

            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return func(*args, **kwargs, **extra)

            wrapper = sync_wrapper
        functools.update_wrapper(wrapper, func)
        if wants_mock:
            params = [p for name, p in signature.parameters.items() if name != MOCK_ARGUMENT]
            wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return cast(F, wrapper)

    def _respond(self, request: httpx.Request) -> RouteResult | None:
        """The answer to a request for GET/HEAD ``{base}/query_models[/...]``; None for any other."""
        url = request.url
        path = url.path
        if (
            request.method not in _METHODS
            or (url.scheme, url.host, url.port) != self._origin
            or not path.startswith(self._prefix)
            or path[len(self._prefix) : len(self._prefix) + 1] not in ("", "/")
        ):
            return None
        raw_path = url.raw_path.decode("ascii").partition("?")[0]
        exchange = Request(
            request.method,
            raw_path[len(self._base_path) :],
            url.query.decode("ascii"),
            header_pairs(request.headers.multi_items()),
            request.read(),
        )
        fault = self.faults.take(exchange.path)
        if fault is None:
            return self._answer(request, exchange, self.engine.handle(exchange), None)
        if fault.latency_ms and _ASYNC_CALLER.get():
            return self._answer_later(request, exchange, fault)
        if fault.latency_ms:
            time.sleep(fault.latency_ms / 1000)
        return self._answer_faulty(request, exchange, fault)

    async def _answer_later(self, request: httpx.Request, exchange: Request, fault: Fault) -> httpx.Response:
        await anyio.sleep(fault.latency_ms / 1000)
        return self._answer_faulty(request, exchange, fault)

    def _answer_faulty(self, request: httpx.Request, exchange: Request, fault: Fault) -> httpx.Response:
        if fault.transport is not None:
            self._record(request, exchange, None, fault)
            raise _transport_error(fault.transport, request)
        return self._answer(request, exchange, fault.apply(self.engine.handle(exchange)), fault)

    def _answer(
        self, request: httpx.Request, exchange: Request, response: Response, fault: Fault | None
    ) -> httpx.Response:
        self._record(request, exchange, response.status, fault)
        headers = (*response.headers, ("content-length", str(len(response.body))))
        body = b"" if request.method == "HEAD" else response.body
        return httpx.Response(
            response.status, headers=headers, stream=httpx.ByteStream(body), request=request
        )

    def _record(
        self, request: httpx.Request, exchange: Request, status: int | None, fault: Fault | None
    ) -> None:
        headers = tuple(
            [
                (key, REDACTED if key in SECRET_HEADERS else value)
                for key, value in request.headers.multi_items()
            ]
        )
        url = request.url.copy_with(userinfo=b"") if request.url.userinfo else request.url
        self._calls.append(
            RecordedCall(request.method, str(url), exchange.path, exchange.query, headers, status, fault)
        )


def _transport_error(kind: TransportFault, request: httpx.Request) -> httpx.TransportError:
    if kind == "connect_error":
        return httpx.ConnectError("qmcontract: injected fault: connection refused", request=request)
    if kind == "read_timeout":
        return httpx.ReadTimeout("qmcontract: injected fault: read timed out", request=request)
    return httpx.RemoteProtocolError(
        "qmcontract: injected fault: server disconnected without sending a response", request=request
    )


def mock_query_models(
    catalog: Catalog | str | os.PathLike[str] | None = None,
    *,
    base_url: str | None = None,
    assert_all_called: bool = False,
) -> QueryModelsMock:
    """A mock of the Query Model routes, to use as ``with``/``async with`` block or decorator.

    ``catalog`` is the :class:`~qmcontract.catalog.Catalog` to serve (used as is, so
    :meth:`QueryModelsMock.add` adds to it), a directory of definitions, or None for the
    shipped catalogue. ``base_url`` defaults to ``$OBJECTIVEAI_API_BASE`` or
    ``https://api.objective-ai.io``, as the official SDKs do. With ``assert_all_called``,
    leaving the block without any request to the routes fails.
    """
    if not isinstance(catalog, Catalog):
        catalog = load_catalog(None if catalog is None else Path(catalog))
    return QueryModelsMock(
        catalog, base_url=base_url or default_base_url(), assert_all_called=assert_all_called
    )
