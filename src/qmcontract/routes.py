"""The routes of the Query Model API family, and the one place a request path is read.

Every face (the engine, the respx mock, the server, the mutations, and the conformance checks
when they need to tell the route and the name) calls :func:`route_of` on the path as it went
over the wire: percent-encoded and relative to the API root. A ``{name}`` is compared after
percent-decoding, and everything after the route's prefix belongs to it, so ``/query_models/a/b``
asks for the model named ``a/b`` (unknown: 404) rather than for no route at all.

::

    GET  /query_models                 model-list       {"data": [names]}
    GET  /query_models/count           model-count      {"count": n}
    GET  /query_models/{name}          model            the Query Model
    POST /query_models                 model-validate   the document a definition builds to
    GET  /query_llms/{name}            llm              a served LLM entry, without indexes
    POST /query_llms                   llm-validate     one LLM definition, normalised and named
    GET  /metadata                     metadata         the global usage totals
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qsl, unquote

RouteKind = Literal["model", "model-list", "model-count", "model-validate", "llm", "llm-validate", "metadata"]

MODELS_PATH: Final = "/query_models"
LLMS_PATH: Final = "/query_llms"
METADATA_PATH: Final = "/metadata"
COUNT_SEGMENT: Final = "count"
READ_METHODS: Final = ("GET", "HEAD")
#: Every route kind, in the order the API family is documented.
ROUTE_KINDS: Final[tuple[RouteKind, ...]] = (
    "model",
    "model-list",
    "model-count",
    "model-validate",
    "llm",
    "llm-validate",
    "metadata",
)


@dataclass(frozen=True)
class Route:
    """What a path names: the route kinds by method, and the decoded ``{name}`` when it has one.

    ``kinds`` maps each allowed method to the route it reaches; an empty mapping means the path
    is not part of the API (404), a method outside it gets 405.
    """

    kinds: tuple[tuple[str, RouteKind], ...]
    name: str | None = None

    @property
    def exists(self) -> bool:
        """True when the path belongs to the API."""
        return bool(self.kinds)

    @property
    def methods(self) -> tuple[str, ...]:
        """The methods the path allows."""
        return tuple(method for method, _ in self.kinds)

    def kind(self, method: str) -> RouteKind | None:
        """The route a method reaches on this path, or None (405 when the path exists)."""
        return next((kind for allowed, kind in self.kinds if allowed == method), None)


def _route(read: RouteKind | None = None, post: RouteKind | None = None, name: str | None = None) -> Route:
    kinds: list[tuple[str, RouteKind]] = []
    if read is not None:
        kinds += [(method, read) for method in READ_METHODS]
    if post is not None:
        kinds.append(("POST", post))
    return Route(tuple(kinds), name)


_NO_ROUTE: Final = Route(())
#: Paths without a ``{name}``.
_COLLECTIONS: Final[dict[str, Route]] = {
    MODELS_PATH: _route("model-list", "model-validate"),
    f"{MODELS_PATH}/{COUNT_SEGMENT}": _route("model-count"),
    LLMS_PATH: _route(post="llm-validate"),
    METADATA_PATH: _route("metadata"),
}
#: Prefixes followed by a ``{name}``.
_NAMED: Final[dict[str, RouteKind]] = {MODELS_PATH: "model", LLMS_PATH: "llm"}


def route_of(path: str) -> Route:
    """The route of a percent-encoded path relative to the API root."""
    collection = _COLLECTIONS.get(path)
    if collection is not None:
        return collection
    for prefix, kind in _NAMED.items():
        if path.startswith(prefix + "/"):
            return _route(kind, name=unquote(path[len(prefix) + 1 :]))
    return _NO_ROUTE


def query_pairs(query: str) -> tuple[tuple[str, str], ...]:
    """Every ``(name, value)`` of a query string in order, blank values kept.

    A short query is decoded once and kept; a long one is decoded each time, so that hostile
    queries cannot fill the cache (4,096 kept queries of at most 1 KiB: a few MiB at most).
    """
    if len(query) > _KEPT_QUERY_CHARS:
        return tuple(parse_qsl(query, keep_blank_values=True))
    return _kept_query_pairs(query)


_KEPT_QUERY_CHARS: Final = 1024


@functools.lru_cache(maxsize=4096)
def _kept_query_pairs(query: str) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(query, keep_blank_values=True))


def query_values(query: str) -> dict[str, list[str]]:
    """Each parameter's non-empty values, in order: an empty value means the parameter is absent.

    ``+`` reads as a space and percent-escapes are decoded, as every form decoder does; the
    official SDK percent-encodes ``:`` and ``+`` in date-times.
    """
    values: dict[str, list[str]] = {}
    for key, value in query_pairs(query):
        if value != "":
            values.setdefault(key, []).append(value)
    return values
