"""The endpoint's behaviour: (catalogue, request) -> response. The only implementation.

The respx mock, the ASGI server and the conformance suite's reference all call
:meth:`Engine.handle`. It answers ``GET /query_models/{slug}`` per the contract (200 with
the stored document, 400 > 401 > 404 in that order of precedence, ``{code, message}``
error bodies), and the sibling read routes clients use to find names:
``GET /query_models`` (``{"data": [names]}``, ``count``/``offset``) and
``GET /query_models/count``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from qmcontract.catalog import Catalog
from qmcontract.http import (
    Request,
    Response,
    encode_json,
    error_response,
    json_response,
    method_not_allowed,
)
from qmcontract.metadata import Clock, Window, metadata_fields, utc_now
from qmcontract.params import BadParameter, parse_count, parse_retrieve_params, query_values

ROUTE_PREFIX: Final = "/query_models"
LIST_MAX_COUNT: Final = 1000
NOT_FOUND_MESSAGE: Final = {"kind": "query_model", "error": "Query Model not found"}
AUTH_MESSAGE: Final = "authorization is required when metadata=true and me=true"

#: A hook that rewrites a response; tests use it to build deliberately broken servers.
ResponseHook = Callable[[Request, Response], Response]


class Engine:
    """Answers requests from a catalogue. Stateless apart from caches; thread-safe."""

    def __init__(self, catalog: Catalog, *, clock: Clock = utc_now, hook: ResponseHook | None = None) -> None:
        self.catalog = catalog
        self._clock = clock
        self._hook = hook
        self._encoded: dict[str, bytes] = {}

    def handle(self, request: Request) -> Response:
        """The response the real API gives to this request."""
        response = self._route(request)
        return self._hook(request, response) if self._hook is not None else response

    def _route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path != ROUTE_PREFIX and not path.startswith(ROUTE_PREFIX + "/"):
            return error_response(404, f"no route for {request.path}")
        if request.method not in ("GET", "HEAD"):
            return method_not_allowed(request.method, request.path)
        rest = path[len(ROUTE_PREFIX) + 1 :]
        if path == ROUTE_PREFIX:
            return self._list(request)
        if rest == "count":
            return json_response(200, encode_json({"count": len(self.catalog)}))
        if "/" in rest:
            return error_response(404, f"no route for {request.path}")
        return self.retrieve(rest, request)

    def retrieve(self, slug: str, request: Request) -> Response:
        """``GET /query_models/{slug}``: 400, then 401, then 404, else the document."""
        try:
            params = parse_retrieve_params(request.query)
        except BadParameter as exc:
            return error_response(400, str(exc))
        token = request.header("authorization")
        if params.me and token is None:
            return error_response(401, AUTH_MESSAGE)
        document = self.catalog.get(slug)
        if document is None:
            return error_response(404, NOT_FOUND_MESSAGE)
        if not params.metadata:
            return json_response(200, self._encode(slug, document))
        window = Window(params.start, params.end)
        fields = self._metadata_fields(document, window, token if params.me else None)
        # The metadata fields follow the document's own: append them to its cached bytes.
        return json_response(200, self._encode(slug, document)[:-1] + b"," + encode_json(fields)[1:])

    def _encode(self, name: str, document: dict[str, Any]) -> bytes:
        encoded = self._encoded.get(name)
        if encoded is None:
            encoded = self._encoded[name] = encode_json(document)
        return encoded

    def _metadata_fields(self, document: dict[str, Any], window: Window, token: str | None) -> dict[str, Any]:
        embeddings = document["weight"].get("type") == "training_table"
        now = self._clock()
        return metadata_fields(document["name"], embeddings=embeddings, window=window, now=now, token=token)

    def _list(self, request: Request) -> Response:
        values = query_values(request.query)
        try:
            count = parse_count(_first(values, "count"), "count", default=100, maximum=LIST_MAX_COUNT)
            offset = parse_count(_first(values, "offset"), "offset", default=0, maximum=2**31 - 1)
        except BadParameter as exc:
            return error_response(400, str(exc))
        names = self.catalog.names()[offset : offset + count]
        return json_response(200, encode_json({"data": names}))


def _first(values: dict[str, list[str]], key: str) -> str | None:
    given = values.get(key)
    return given[0] if given else None
