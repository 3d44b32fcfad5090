"""The API family's behaviour: (catalogue, request) -> response. The only implementation.

The respx mock, the ASGI server, the proxy's reference and the mutations all call
:meth:`Engine.handle`. It answers every route of :mod:`qmcontract.routes` per the contract:
parameters read as the boundary table says (:mod:`qmcontract.params`), 400 > 401 > 404 in that
order of precedence, ``{code, message}`` error bodies as ``application/json``, and deterministic
usage figures per name and UTC day (:mod:`qmcontract.metadata`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Any, Final

from qmcontract.catalog import Catalog, Stored
from qmcontract.errors import InputError, InvalidDefinition, Violation, shown_pointer
from qmcontract.inputs import decode_utf8, parse_json
from qmcontract.limits import MAX_BODY_BYTES
from qmcontract.metadata import Clock, Subject, caller_of, global_totals, usage_fields, utc_now
from qmcontract.model import build_query_llm, build_query_model, llm_without_computed, model_without_computed
from qmcontract.params import BadParameter, ListParams, StatsParams, parse_list_params, parse_stats_params
from qmcontract.routes import Route, RouteKind, route_of
from qmcontract.wire import Request, Response, encode_json, error_response, json_response, method_not_allowed

MODEL_NOT_FOUND: Final = {"kind": "query_model", "error": "Query Model not found"}
LLM_NOT_FOUND: Final = {"kind": "query_llm", "error": "Query LLM not found"}
AUTH_MESSAGE: Final = "authorization is required with me=true"
REFUSED_TOKEN_MESSAGE: Final = "the authorization token is not one this server accepts"

#: A hook that rewrites a response; tests use it to build deliberately broken servers.
ResponseHook = Callable[[Request, Response], Response]
Handler = Callable[[Request, Route], Response]


class Engine:
    """Answers requests from a catalogue. Stateless apart from caches; thread-safe.

    ``tokens``: when given, only these ``authorization`` values (a ``Bearer`` prefix in any case
    is ignored) count as authorization; without them any non-empty value does.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        clock: Clock = utc_now,
        hook: ResponseHook | None = None,
        tokens: Collection[str] = (),
    ) -> None:
        self.catalog = catalog
        self._clock = clock
        self._hook = hook
        self._tokens = frozenset(_bare(token) for token in tokens)
        self._global: tuple[tuple[date, int], bytes] | None = None
        self._handlers: dict[RouteKind, Handler] = {
            "model": self._model,
            "model-list": self._list,
            "model-count": self._count,
            "model-validate": self._validate_model,
            "llm": self._llm,
            "llm-validate": self._validate_llm,
            "metadata": self._metadata,
        }

    def handle(self, request: Request) -> Response:
        """The response the API gives to this request."""
        response = self._route(request)
        return self._hook(request, response) if self._hook is not None else response

    def _route(self, request: Request) -> Response:
        route = route_of(request.path)
        if not route.exists:
            return error_response(404, f"no route for {request.path[:200]}")
        kind = route.kind(request.method)
        if kind is None:
            return method_not_allowed(request.method, request.path[:200], route.methods)
        if len(request.body) > MAX_BODY_BYTES:
            return error_response(413, f"the request body is larger than {MAX_BODY_BYTES:,} bytes")
        return self._handlers[kind](request, route)

    # --- who is asking -------------------------------------------------------------------------

    def caller(self, request: Request) -> int | None:
        """The caller's identity for ``me`` figures (a hash of an accepted token), or None."""
        token = request.authorization
        if token is None or (self._tokens and _bare(token) not in self._tokens):
            return None
        return caller_of(_bare(token))

    def _unauthorized(self, request: Request) -> Response:
        refused = request.authorization is not None
        return error_response(401, REFUSED_TOKEN_MESSAGE if refused else AUTH_MESSAGE)

    def _today(self) -> date:
        return self._clock().date()

    # --- Query Models and Query LLMs --------------------------------------------------------------

    def _model(self, request: Request, route: Route) -> Response:
        return self._stored_answer(request, "model", self.catalog.stored(route.name or ""))

    def _llm(self, request: Request, route: Route) -> Response:
        return self._stored_answer(request, "llm", self.catalog.stored_llm(route.name or ""))

    def _stored_answer(self, request: Request, kind: str, stored: Stored | None) -> Response:
        """400, then 401, then 404, else the stored document (with its metadata when asked)."""
        try:
            params = parse_stats_params(request.query)
        except BadParameter as exc:
            return error_response(400, str(exc))
        return self._answer(request, params, kind, stored)

    def _answer(self, request: Request, params: StatsParams, kind: str, stored: Stored | None) -> Response:
        caller = self.caller(request)
        if params.me and caller is None:
            return self._unauthorized(request)
        if stored is None:
            return error_response(404, MODEL_NOT_FOUND if kind == "model" else LLM_NOT_FOUND)
        if not params.metadata:
            return json_response(200, stored.encoded)
        subject = Subject("model" if kind == "model" else "llm", stored.document["name"], stored.embeddings)
        fields = usage_fields(subject, params.window, self._today(), caller if params.me else None)
        # The metadata fields follow the document's own: append them to its encoded bytes.
        return json_response(200, stored.encoded[:-1] + b"," + encode_json(fields)[1:])

    def _validate_model(self, request: Request, _route: Route) -> Response:
        return self._validate(request, "model")

    def _validate_llm(self, request: Request, _route: Route) -> Response:
        return self._validate(request, "llm")

    def _validate(self, request: Request, kind: str) -> Response:
        """POST: 400 for bad parameters or a bad body, then 401, then 404 (metadata of an unserved name)."""
        try:
            params = parse_stats_params(request.query)
        except BadParameter as exc:
            return error_response(400, str(exc))
        try:
            document = _build(kind, request.body)
        except _BadBody as exc:
            return error_response(400, str(exc))
        name = document["name"]
        stored = self.catalog.stored(name) if kind == "model" else self.catalog.stored_llm(name)
        if not params.metadata:
            return json_response(200, encode_json(document))
        return self._answer(request, params, kind, stored)

    # --- the list, the count and the global totals ---------------------------------------------

    def _count(self, _request: Request, _route: Route) -> Response:
        return json_response(200, encode_json({"count": len(self.catalog)}))

    def _list(self, request: Request, _route: Route) -> Response:
        try:
            params = parse_list_params(request.query)
        except BadParameter as exc:
            return error_response(400, str(exc))
        caller = self.caller(request)
        if params.me and caller is None:
            return self._unauthorized(request)
        names = self._listed(params, caller)
        page = names[params.offset : params.offset + params.count]
        return json_response(200, encode_json({"data": page}))

    def _listed(self, params: ListParams, caller: int | None) -> list[str]:
        """Names in list order: by the ``sort`` figure (largest or newest first), ties by name."""
        names = self.catalog.names()
        if params.sort is None and not params.me:
            return names
        who = caller if params.me else None
        figures = {name: self._figures(name, params, who) for name in names}
        if params.me:
            names = [name for name in names if figures[name]["requests"] > 0]
        if params.sort is None:
            return names
        key = params.sort
        return sorted(names, key=lambda name: (-sort_figure(key, figures[name]), name))

    def _figures(self, name: str, params: ListParams, caller: int | None) -> dict[str, Any]:
        stored = self.catalog.stored(name)
        embeddings = stored is not None and stored.embeddings
        return usage_fields(Subject("model", name, embeddings), params.window, self._today(), caller)

    def _metadata(self, _request: Request, _route: Route) -> Response:
        today = self._today()
        key = (today, self.catalog.generation)
        cached = self._global
        if cached is None or cached[0] != key:
            models = [
                (Subject("model", name, stored.embeddings), stored.llm_count)
                for name in self.catalog.names()
                if (stored := self.catalog.stored(name)) is not None
            ]
            cached = self._global = (key, encode_json(global_totals(models, today)))
        return json_response(200, cached[1])


#: What each ``sort`` value orders by, from the nine metadata fields a model reports.
SORT_FIGURES: Final[dict[str, Callable[[dict[str, Any]], float]]] = {
    "created": lambda fields: _timestamp(fields["created"]),
    "requests": lambda fields: fields["requests"],
    "tokens": lambda fields: (
        fields["chat_completion_tokens"]
        + fields["chat_prompt_tokens"]
        + fields["embedding_completion_tokens"]
        + fields["embedding_prompt_tokens"]
    ),
    "completion_tokens": lambda fields: (
        fields["chat_completion_tokens"] + fields["embedding_completion_tokens"]
    ),
    "prompt_tokens": lambda fields: fields["chat_prompt_tokens"] + fields["embedding_prompt_tokens"],
    "cost": lambda fields: fields["chat_cost"] + fields["embedding_cost"],
}


def sort_figure(key: str, fields: dict[str, Any]) -> float:
    """The figure a list sorted by ``key`` orders a model by (largest first)."""
    return SORT_FIGURES[key](fields)


def _timestamp(created: str) -> float:
    return datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()


class _BadBody(ValueError):
    """A POST body that cannot be built: the message has one line per violation."""


def _build(kind: str, body: bytes) -> dict[str, Any]:
    """The document a POST body builds to, computed fields ignored; _BadBody when it cannot be built."""
    try:
        value = parse_json(decode_utf8(body, source="body"), source="body")
    except InputError as exc:
        raise _BadBody(f"schema at (root): {exc}") from None
    try:
        if kind == "model":
            return build_query_model(model_without_computed(value))
        return build_query_llm(llm_without_computed(value))
    except InvalidDefinition as exc:
        raise _BadBody(violation_lines(exc.violations)) from None


def violation_lines(violations: Collection[Violation]) -> str:
    """One ``<rule> at <JSON pointer>: <what is wrong>`` line per violation."""
    return "\n".join(f"{v.rule} at {shown_pointer(v.path)}: {v.message}" for v in violations)


def _bare(token: str) -> str:
    """A token without its ``Bearer`` prefix (any case) and surrounding spaces."""
    stripped = token.strip()
    if stripped[:7].lower() == "bearer ":
        return stripped[7:].strip()
    return stripped
