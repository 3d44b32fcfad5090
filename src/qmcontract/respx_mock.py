"""An in-process mock of ObjectiveAI's Query Model API family for httpx clients, on respx's public API.

``mock_query_models()`` returns a :class:`QueryModelsMock`. While it is active, every request for a
path of the API family under its base URL (``/query_models``, ``/query_models/count``,
``/query_models/{name}``, ``/query_llms``, ``/query_llms/{name}``, ``/metadata``), whatever its method,
is answered by :meth:`qmcontract.engine.Engine.handle`, as ``qmcontract serve`` answers it: GET and
HEAD on every route, POST on ``/query_models`` and ``/query_llms``, and the engine's 405 for a method a
route does not allow. :func:`qmcontract.routes.route_of` alone decides which route a path names; the
mock only takes the base URL's path off the front. Any other request follows respx's rules: it raises
``respx.models.AllMockedAssertionError`` unless another active respx router takes it (for example
:attr:`QueryModelsMock.router`). Sync and async httpx clients are both served.

How it sits on respx, public API only, so that any ``respx>=0.22,<1`` works:

- a private ``respx.MockRouter`` holds one route without patterns, ``route().mock(side_effect=...)``:
  the side effect answers the family's requests and returns None for any other, which respx treats as
  "this route does not match". That router's own call log is emptied on every request, because it
  would hold every request in clear (``authorization`` included); the mock keeps its own record,
  secrets redacted, in :attr:`QueryModelsMock.calls`;
- :attr:`QueryModelsMock.router` is a second ``respx.MockRouter``, started after the private one, for
  the routes a test adds itself (``mock.router.get(url).respond(...)``); the family's paths are the
  mock's, everything else is the test's.

Latency without knowing who waits. respx calls a side effect in the same way for a sync and an async
client, so the side effect cannot tell them apart: ``time.sleep`` would block an event loop, and
``anyio.sleep`` needs one. A delayed answer is therefore a subclass of ``httpx.Response`` that is also
awaitable:

- respx's async resolver awaits any awaitable a side effect returns (it is how respx runs
  ``async def`` side effects). Awaiting the delayed answer sleeps with ``anyio.sleep`` (asyncio or
  trio) and then gives back the answer itself, so an async client waits without blocking its loop;
- respx's sync resolver takes the answer as it is, an ``httpx.Response``. Its body stream sleeps with
  ``time.sleep`` on the first read, which ``httpx.Client`` does before ``send`` returns (with
  ``client.stream(...)`` the wait comes when the body is read).

A transport fault with latency raises its ``httpx`` error at that same point, once the delay is over;
without latency the side effect raises it, and respx re-raises it into the client.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar, cast
from urllib.parse import parse_qs

import anyio
import httpx
import respx

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.engine import Engine
from qmcontract.errors import MockAssertionError
from qmcontract.faults import Fault, FaultPlan, TransportFault
from qmcontract.inputs import load_json_or_yaml
from qmcontract.limits import MAX_LATENCY_MS
from qmcontract.redact import REDACTED, redact_headers, redact_query
from qmcontract.replay import Replay, load_replay
from qmcontract.routes import MODELS_PATH, ROUTE_KINDS, Route, RouteKind, route_of
from qmcontract.wire import Request, Response

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "REDACTED",
    "MockAssertionError",
    "QueryModelsMock",
    "RecordedCall",
    "check_base_url",
    "default_base_url",
    "mock_query_models",
]

DEFAULT_BASE_URL: Final = "https://api.objective-ai.io"
BASE_URL_ENV: Final = "OBJECTIVEAI_API_BASE"
DEFAULT_RETRY_AFTER: Final = 1
MOCK_ARGUMENT: Final = "query_models_mock"

F = TypeVar("F", bound=Callable[..., Any])
Definition = Mapping[str, Any] | str | os.PathLike[str]


def default_base_url() -> str:
    """The API base the official SDKs use: ``$OBJECTIVEAI_API_BASE``, else the production API."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def check_base_url(base_url: str) -> str:
    """``base_url`` without query, fragment and trailing slash; ValueError unless it is absolute http(s)."""
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    return str(url.copy_with(query=None, fragment=None)).rstrip("/")


@dataclass(frozen=True)
class RecordedCall:
    """One request for the API family, and what it got (``status`` None: a transport fault).

    ``path`` is relative to the base URL, as :func:`~qmcontract.routes.route_of` reads it; ``route``
    is the route kind the method reached (None for a 405) and ``name`` the decoded ``{name}``.
    Secrets never reach the record: secret headers (``authorization``, ``proxy-authorization``,
    ``cookie``, ``x-api-key``...), the values of secret-looking query parameters and the URL's
    user info are replaced by :data:`~qmcontract.redact.REDACTED` (``<redacted>``) or dropped.
    """

    method: str
    url: str
    path: str
    query_string: str
    headers: tuple[tuple[str, str], ...]
    status: int | None
    fault: Fault | None = None
    route: RouteKind | None = None
    name: str | None = None
    body: bytes = b""

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string parsed: every value of every parameter, blanks kept."""
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def slug(self) -> str | None:
        """The ``{name}`` of a ``GET``/``HEAD /query_models/{name}`` request, else None."""
        return self.name if self.route == "model" else None

    def header(self, name: str) -> str | None:
        """A header's recorded value (``<redacted>`` for secrets), case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def json(self) -> Any:
        """The request body parsed as JSON (what a POST sent)."""
        return json.loads(self.body)

    def __str__(self) -> str:
        query = f"?{self.query_string}" if self.query_string else ""
        outcome = self.status if self.fault is None or self.fault.transport is None else self.fault.transport
        return f"{self.method} {self.path}{query} -> {outcome}"


class QueryModelsMock:
    """The API family of one base URL, answered by the engine from a catalogue.

    Use it as a context manager (sync or async) or a decorator; see :func:`mock_query_models`.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        base_url: str,
        assert_all_called: bool = False,
        assert_all_faults_used: bool = True,
        replay: Replay | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.replay = replay
        url = httpx.URL(self.base_url)
        self.catalog = catalog
        self.engine = Engine(catalog)
        self.faults = FaultPlan()
        self.assert_all_called = assert_all_called
        self.assert_all_faults_used = assert_all_faults_used
        self._origin = (url.scheme, url.host, url.port)
        self._base_path = url.raw_path.decode("ascii").rstrip("/")
        self._calls: list[RecordedCall] = []
        self._family = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)
        self._family.route(name="qmcontract-api-family").mock(side_effect=_side_effect(self._respond))
        #: A respx router for the test's own routes, active with the mock; the family's paths come first.
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=True)

    # --- URLs and the catalogue ----------------------------------------------------------------

    def url(self, slug: str = "") -> str:
        """Absolute URL of ``/query_models/{slug}`` (of ``/query_models`` when no slug is given)."""
        return self.url_for(f"{MODELS_PATH}/{slug}" if slug else MODELS_PATH)

    def url_for(self, path: str) -> str:
        """Absolute URL of a path relative to the API root (``/query_llms/{name}``, ``/metadata``...)."""
        return f"{self.base_url}{path}"

    def add(self, definition: Definition) -> dict[str, Any]:
        """Add a definition or complete document (or a JSON/YAML file of one); return the document.

        Raises :class:`~qmcontract.errors.InvalidDefinition` when it breaks the contract.
        """
        value = (
            load_json_or_yaml(Path(definition)) if isinstance(definition, (str, os.PathLike)) else definition
        )
        document = self.catalog.add(value)
        # A fresh engine: the global totals of /metadata are kept per day for a fixed catalogue.
        self.engine = Engine(self.catalog)
        return document

    # --- faults --------------------------------------------------------------------------------

    def fail_next(
        self,
        status: int | None = None,
        *,
        times: int = 1,
        retry_after: int | None = None,
        latency_ms: int = 0,
        malformed_body: bool = False,
        transport: TransportFault | None = None,
        route: RouteKind | None = None,
        slug: str | None = None,
        path_prefix: str = "/",
    ) -> Fault:
        """Make the next ``times`` matching requests go wrong; return the scheduled fault.

        ``status`` answers with that status and a contract error body (a 429 carries
        ``Retry-After``, 1 s unless ``retry_after`` says otherwise); ``latency_ms`` delays the
        answer; ``malformed_body`` sends invalid JSON; ``transport`` raises ``httpx.ConnectError``
        (``"connect_error"``), ``httpx.ReadTimeout`` (``"read_timeout"``) or
        ``httpx.RemoteProtocolError`` (``"drop_connection"``).

        Which requests: those of ``route`` (a route kind: ``model``, ``model-list``, ``model-count``,
        ``model-validate``, ``llm``, ``llm-validate``, ``metadata``), for the ``{name}`` ``slug``
        (of a Query Model or a Query LLM), and whose path relative to the base URL starts with
        ``path_prefix``; each left out matches any. Unless the mock was made with
        ``assert_all_faults_used=False``, a fault still unused when the mock stops fails the test.
        """
        if route is not None and route not in ROUTE_KINDS:
            raise ValueError(f"route must be one of {', '.join(ROUTE_KINDS)}; got {route!r}")
        if not 0 <= latency_ms <= MAX_LATENCY_MS:
            raise ValueError(f"latency_ms must be 0 to {MAX_LATENCY_MS:,}; got {latency_ms!r}")
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
        self.faults.schedule(fault, times=times, path_prefix=path_prefix, route=route, name=slug)
        return fault

    def assert_faults_used(self) -> None:
        """Check that every scheduled fault was used; the error lists the others, which are forgotten."""
        unused = self.faults.unused()
        if unused:
            self.faults.clear()
            listing = "\n".join(f"  {line}" for line in unused)
            raise MockAssertionError(
                f"{len(unused)} scheduled fault(s) never used (pass assert_all_faults_used=False "
                f"to allow it):\n{listing}"
            )

    # --- recorded calls and checks -------------------------------------------------------------

    @property
    def calls(self) -> list[RecordedCall]:
        """Every request for the API family since the mock was entered, in order (a copy)."""
        return list(self._calls)

    @property
    def last_call(self) -> RecordedCall:
        """The latest recorded call; raises :class:`MockAssertionError` when there is none."""
        if not self._calls:
            raise MockAssertionError(f"no request reached {self.base_url} yet")
        return self._calls[-1]

    def reset(self) -> None:
        """Forget the recorded calls and every scheduled fault."""
        self._calls.clear()
        self.faults.clear()

    def assert_called(
        self, slug: str | None = None, *, times: int | None = None, route: RouteKind | None = None
    ) -> None:
        """Check that requests for ``slug`` (a Query Model's name) and of ``route`` (each None: any)
        came ``times`` times, or at least once when ``times`` is None; the error lists every call."""
        matching = [
            call
            for call in self._calls
            if (slug is None or call.slug == slug) and (route is None or call.route == route)
        ]
        if (times is None and matching) or len(matching) == times:
            return
        expected = "at least once" if times is None else f"{times} time(s)"
        what = self.url(slug or "") + (f" (route {route})" if route is not None else "")
        listing = "\n".join(f"  {call}" for call in self._calls) or "  (none)"
        raise MockAssertionError(
            f"expected {what} to be requested {expected}, got {len(matching)}; recorded calls:\n{listing}"
        )

    def assert_not_called(self, slug: str | None = None, *, route: RouteKind | None = None) -> None:
        """Check that no request for ``slug`` and of ``route`` (each None: any) came."""
        self.assert_called(slug, times=0, route=route)

    # --- activation ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start intercepting httpx requests (recorded calls are cleared, faults kept)."""
        self._calls.clear()
        self._family.start()
        self.router.start()

    def stop(self, *, quiet: bool = False) -> None:
        """Stop intercepting; unless ``quiet``, check unused faults and ``assert_all_called``."""
        try:
            self.router.stop(quiet=True)
        finally:
            self._family.stop(quiet=True)
        if quiet:
            return
        if self.assert_all_faults_used:
            self.assert_faults_used()
        if self.assert_all_called and not self._calls:
            raise MockAssertionError(f"no request reached {self.base_url} while the mock was active")

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

    # --- answering -----------------------------------------------------------------------------

    def _respond(self, request: httpx.Request) -> httpx.Response | None:
        """respx's side effect: the answer to a request for the API family; None for any other."""
        self._family.reset()  # respx's log of this router would keep every request in clear
        exchange = self._exchange(request)
        route = route_of(exchange.path) if exchange is not None else None
        if exchange is None or route is None or not route.exists:
            return None
        fault = self.faults.take(exchange.path, route=route.kind(exchange.method), name=route.name)
        if fault is not None and fault.transport is not None:
            return self._break(request, exchange, route, fault, fault.transport)
        recorded = self.replay.answer(exchange) if self.replay is not None else None
        answer = recorded if recorded is not None else self.engine.handle(exchange)
        if fault is not None:
            answer = fault.apply(answer)
        self._record(exchange, route, status=answer.status, fault=fault)
        if fault is not None and fault.latency_ms:
            return _DelayedResponse(request, answer, fault.latency_ms, None)
        return httpx.Response(
            answer.status,
            headers=_headers(answer),
            stream=httpx.ByteStream(b"" if request.method == "HEAD" else answer.body),
            request=request,
        )

    def _break(
        self, request: httpx.Request, exchange: Request, route: Route, fault: Fault, transport: TransportFault
    ) -> httpx.Response:
        """A transport fault: its error raised now, or by the delayed answer once the latency is over."""
        error = _transport_error(transport, request)
        self._record(exchange, route, status=None, fault=fault)
        if not fault.latency_ms:
            raise error
        return _DelayedResponse(request, _NOTHING, fault.latency_ms, error)

    def _exchange(self, request: httpx.Request) -> Request | None:
        """The request relative to the API root, or None when it is for another origin or base path."""
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            return None
        path = url.raw_path.decode("ascii", "replace").partition("?")[0]
        if not path.startswith(self._base_path):
            return None
        return Request(
            request.method,
            path[len(self._base_path) :],
            url.query.decode("ascii", "replace"),
            tuple(request.headers.multi_items()),  # names already lower-case, as wire.Request wants
            _body(request),
        )

    def _record(
        self,
        exchange: Request,
        route: Route,
        *,
        status: int | None,
        fault: Fault | None,
    ) -> None:
        query = redact_query(exchange.query)
        self._calls.append(
            RecordedCall(
                method=exchange.method,
                # The request's origin is the base URL's (checked), so no user info can reach the record.
                url=self.base_url + exchange.path + (f"?{query}" if query else ""),
                path=exchange.path,
                query_string=query,
                headers=redact_headers(exchange.headers),
                status=status,
                fault=fault,
                route=route.kind(exchange.method),
                name=route.name,
                body=exchange.body,
            )
        )


#: What a transport fault "answers" before its error (seen only by a sync ``client.stream(...)``).
_NOTHING: Final = Response(200, (), b"")


class _DelayedResponse(httpx.Response):
    """An answer that arrives ``latency_ms`` late, however the client waits (see the module docstring).

    ``await``: ``anyio.sleep``, then the answer itself (or its transport ``error`` raised). A sync
    read of the body: ``time.sleep`` on the first read, then the body (or the error).
    """

    def __init__(
        self, request: httpx.Request, answer: Response, latency_ms: int, error: httpx.TransportError | None
    ) -> None:
        self._delayed_body = _DelayedBody(
            b"" if request.method == "HEAD" else answer.body, latency_ms / 1000, error
        )
        super().__init__(answer.status, headers=_headers(answer), stream=self._delayed_body, request=request)

    def __await__(self) -> Generator[Any, None, httpx.Response]:
        return self._arrive().__await__()

    async def _arrive(self) -> httpx.Response:
        await self._delayed_body.wait()
        return self


class _DelayedBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that waits before its first byte: asleep for a sync reader, awaited once for async."""

    def __init__(self, body: bytes, delay: float, error: httpx.TransportError | None) -> None:
        self._body = body
        self._delay = delay
        self._error = error
        self._waited = False

    async def wait(self) -> None:
        """The async client's wait (awaited by respx before the response is handed over)."""
        if not self._waited:
            self._waited = True
            await anyio.sleep(self._delay)
        self._raise()

    def __iter__(self) -> Iterator[bytes]:
        if not self._waited:
            self._waited = True
            time.sleep(self._delay)
        self._raise()
        yield self._body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await self.wait()
        yield self._body

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error


def _side_effect(answer: Callable[[httpx.Request], httpx.Response | None]) -> Callable[..., Any]:
    """``answer`` as a plain function whose signature is known in advance.

    respx reads a side effect's signature on every request (to pass ``route`` to those that ask for
    it); a function that carries its ``__signature__`` answers that at once, a bound method does not.
    """

    def side_effect(request: httpx.Request) -> httpx.Response | None:
        return answer(request)

    side_effect.__signature__ = inspect.signature(side_effect)  # type: ignore[attr-defined]
    return side_effect


def _headers(answer: Response) -> list[tuple[str, str]]:
    """The engine's headers and the body's length (a HEAD answer gets the length the GET would have)."""
    return [*answer.headers, ("content-length", str(len(answer.body)))]


def _body(request: httpx.Request) -> bytes:
    """The request body (respx reads it before routing); empty when a stream was never read."""
    try:
        return request.content
    except httpx.RequestNotRead:
        return b""


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
    recording: str | os.PathLike[str] | Replay | None = None,
    assert_all_called: bool = False,
    assert_all_faults_used: bool = True,
) -> QueryModelsMock:
    """A mock of the API family, to use as ``with``/``async with`` block or decorator.

    ``catalog`` is the :class:`~qmcontract.catalog.Catalog` to serve (used as is, so
    :meth:`QueryModelsMock.add` adds to it), a directory of definitions, or None for the
    shipped catalogue. ``recording`` replays recorded traffic (the proxy's JSON lines, a HAR file
    or a VCR cassette, or a :class:`~qmcontract.replay.Replay` already loaded): recorded requests
    get their recorded answers, and the engine answers the others from ``catalog``, by default the
    recorded Query Models; a recording that breaks a rule raises
    :class:`~qmcontract.replay.ReplayError`. ``base_url`` defaults to ``$OBJECTIVEAI_API_BASE`` or
    ``https://api.objective-ai.io``, as the official SDKs do. Leaving the block fails
    (:class:`~qmcontract.errors.MockAssertionError`) when a scheduled fault was never used,
    unless ``assert_all_faults_used=False``, and, with ``assert_all_called``, when no request came.
    """
    replay = None
    if recording is not None:
        replay = recording if isinstance(recording, Replay) else load_replay(recording)
        catalog = replay.catalog.copy() if catalog is None else catalog
    if not isinstance(catalog, Catalog):
        catalog = load_catalog(None if catalog is None else Path(catalog))
    return QueryModelsMock(
        catalog,
        base_url=base_url or default_base_url(),
        assert_all_called=assert_all_called,
        assert_all_faults_used=assert_all_faults_used,
        replay=replay,
    )
