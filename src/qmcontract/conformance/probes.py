"""Probes: deterministic requests that make every sub-check of every rule apply on every run.

Random cases rarely hit a served name with a valid window, ``me=true`` with a token, or the
corner of a grammar. The probes do, family by family: the documents and LLM entries of the
served names, the list and its sorts, authorization, every parameter's boundaries on every route
(the corners of the boundary table in ``shared/contract.md``), ignored parameters, unknown and
malformed names, the POST routes, the request shapes of the official SDK, and inputs meant to
trip a server up. Each probe only sends a request; every check judges every answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from qmcontract.conformance import exchange as build
from qmcontract.conformance.checks import Context
from qmcontract.names import hash_name
from qmcontract.routes import LLMS_PATH, METADATA_PATH, MODELS_PATH
from qmcontract.wire import Request

Params = tuple[tuple[str, str], ...]
TRUE: Final = ("metadata", "true")
SORTS: Final = ("created", "tokens", "completion_tokens", "prompt_tokens", "cost", "requests")
#: A window over the API's first months, and narrower ones inside it.
WINDOWS: Final[tuple[Params, ...]] = (
    (("from", "2025-10-01T00:00:00Z"), ("to", "2025-10-08T00:00:00Z")),
    (("from", "2025-10-01T00:00:00Z"), ("to", "2025-11-01T00:00:00Z")),
    (("from", "2025-10-10T00:00:00.5Z"), ("to", "2025-10-10T23:59:59Z")),
    (("from", "2025-10-15T12:00:00+02:00"),),
    (("to", "2025-10-20T00:00:00Z"),),
)
#: Date-times the boundary table accepts (200).
ACCEPTED_INSTANTS: Final = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00-23:59",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59+23:59",
    "2025-12-31T23:59:60Z",
    "2025-10-01T00:00:00.1Z",
    "2025-10-01T00:00:00.123456789Z",
    "2025-10-01t00:00:00z",
    "2025-10-01T00:00:00+23:59",
    "2025-10-01T00:00:00-23:59",
    "2024-02-29T12:00:00Z",
)
#: Date-times the boundary table refuses (400).
REFUSED_INSTANTS: Final = (
    "0000-01-01T00:00:00Z",
    "2025-10-01 00:00:00Z",
    "2025-10-01T00:00:00",
    "2025-10-01",
    "2025-13-01T00:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-10-01T24:00:00Z",
    "2025-10-01T23:60:00Z",
    "2025-10-01T23:59:61Z",
    "2025-10-01T00:00:00+24:00",
    "2025-10-01T00:00:00+01:60",
    "2025-10-01T00:00:00.Z",
    "25-10-01T00:00:00Z",
    "2025-10-01T00:00:00Z ",
    "٢٠٢٥-10-01T00:00:00Z",
    "yesterday",
)
#: Window pairs: zero width (200), inverted (400), and inverted by less than a microsecond (400).
WINDOW_PAIRS: Final[tuple[Params, ...]] = (
    (("from", "2025-10-05T00:00:00Z"), ("to", "2025-10-05T00:00:00Z")),
    (("from", "2025-10-05T00:00:00Z"), ("to", "2025-10-05T02:00:00+02:00")),
    (("from", "2025-11-01T00:00:00Z"), ("to", "2025-10-01T00:00:00Z")),
    (("from", "2025-10-01T00:00:00.0000001Z"), ("to", "2025-10-01T00:00:00Z")),
)
#: ``true``/``false`` spellings: only the exact lower-case words are booleans.
BOOLEAN_SPELLINGS: Final = ("true", "false", "True", "TRUE", "1", "0", "yes", "null", "")
#: ``count`` and ``offset`` values: the boundary table decides each.
NUMBER_SPELLINGS: Final = (
    "0",
    "1000",
    "1001",
    "0001000",
    "1234567890",
    "99999999999999999999999",
    "+1",
    "-1",
    " 1",
    "1e3",
    "²",
    "٣",
    "1.0",
)
SORT_SPELLINGS: Final = (*SORTS, "Cost", "COST", "name", "-cost")
#: Headers the contract says change nothing (the official SDK sends some of them).
ODD_HEADERS: Final[tuple[dict[str, str], ...]] = (
    {"content-type": "application/json"},
    {"accept": "text/html"},
    {"accept": "application/xml;q=0.9, */*;q=0"},
    {"user-agent": "OpenAI/JS 4.104.0", "x-stainless-lang": "js", "x-stainless-retry-count": "0"},
)
PROBE_TOKEN: Final = "qmcontract-probe-token"
#: Per-name families use at most this many of the known names.
NAMES_PER_FAMILY: Final = 4


@dataclass(frozen=True)
class Plan:
    """What the probes are built from: the names known to exist and the token to send."""

    names: tuple[str, ...]
    token: str | None

    @property
    def first(self) -> str:
        """The first known name; an unknown one when none is known (parameters are judged first)."""
        return self.names[0] if self.names else unknown_names(1)[0]


@dataclass(frozen=True)
class Probe:
    """One deterministic request and the family it belongs to."""

    family: str
    request: Request


def unknown_names(count: int = 2) -> list[str]:
    """Well-formed names no server holds (hashes of text that is no definition)."""
    return [hash_name(f"qmcontract conformance: unknown {seed}") for seed in range(count)]


def malformed_names(known: str) -> list[str]:
    """Names that are not names at all (21 and 23 characters, not base62, long, control characters)."""
    return [known[:-1], known + "0", "not_a-name-00000000000", "ñ" * 22, "a b", "a" * 2000, "\x00" * 22]


def _authorized(plan: Plan) -> str:
    return plan.token or PROBE_TOKEN


# --- the families ---------------------------------------------------------------------------------------


def documents(plan: Plan, _context: Context) -> Iterator[Request]:
    """Every known name with and without metadata (documents, llm-lookup and validate-echo follow)."""
    for name in plan.names:
        yield build.model(name)
        yield build.model(name, [TRUE])
    for name in plan.names[:NAMES_PER_FAMILY]:
        yield build.model(name, [("metadata", "false")])
        yield build.model(name, [("metadata", "")])
        yield build.model(name, [TRUE, ("me", ""), ("from", ""), ("to", "")])


def _llm_names(plan: Plan, context: Context) -> list[str]:
    names: list[str] = []
    for model in plan.names[:NAMES_PER_FAMILY]:
        answer = context.fetch(build.model(model))
        document = answer.document() if answer is not None else None
        for entry in document.get("models", []) if document is not None else []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"] not in names:
                names.append(entry["name"])
    return names[: NAMES_PER_FAMILY * 2]


def llms(plan: Plan, context: Context) -> Iterator[Request]:
    """LLM entries of the first served models, with and without metadata and windows."""
    for name in _llm_names(plan, context):
        yield build.llm(name)
        yield build.llm(name, [TRUE])
        yield build.llm(name, [TRUE, *WINDOWS[0]])
        yield build.llm(name, [TRUE, ("me", "true"), *WINDOWS[1]], authorization=_authorized(plan))


def listing(plan: Plan, _context: Context) -> Iterator[Request]:
    """The list with every sort, window, page and ``me``; the count; the global totals."""
    yield build.listing()
    yield build.listing([("count", "1000")])
    yield build.count()
    yield build.global_metadata()
    yield build.listing([("count", "2"), ("offset", "1")])
    yield build.listing([("offset", "1000000")])
    for sort in SORTS:
        yield build.listing([("sort", sort), ("count", "1000")])
        yield build.listing([("sort", sort), *WINDOWS[1]])
    token = _authorized(plan)
    yield build.listing([("me", "true"), ("count", "1000")], authorization=token)
    yield build.listing([("me", "true"), ("sort", "requests"), *WINDOWS[1]], authorization=token)
    yield build.listing([("me", "true"), ("sort", "cost")], authorization=token)


def auth(plan: Plan, _context: Context) -> Iterator[Request]:
    """``me=true`` without authorization on every route that reads it, and with it."""
    token = _authorized(plan)
    for name in [*plan.names[:NAMES_PER_FAMILY], *unknown_names(1)]:
        yield build.model(name, [TRUE, ("me", "true")])
        yield build.model(name, [TRUE, ("me", "true")], authorization=token)
        yield build.model(name, [TRUE, ("me", "true"), *WINDOWS[1]], authorization=token)
        yield build.model(name, [TRUE, ("me", "false")])
    yield build.llm(unknown_names(1)[0], [TRUE, ("me", "true")])
    yield build.listing([("me", "true")])
    yield build.listing([("me", "true"), ("sort", "cost")])
    for header in ("Bearer " + token, "bearer " + token, "BEARER " + token, "x" * 4096):
        yield build.model(plan.first, [TRUE, ("me", "true")], authorization=header)


def windows(plan: Plan, _context: Context) -> Iterator[Request]:
    """Windows of several widths, nested and open-ended (``metadata-window`` asks again around each)."""
    token = _authorized(plan)
    for name in plan.names[: NAMES_PER_FAMILY * 2]:
        for window in WINDOWS:
            yield build.model(name, [TRUE, *window])
        yield build.model(name, [TRUE, ("me", "true"), *WINDOWS[1]], authorization=token)


def boundaries(plan: Plan, context: Context) -> Iterator[Request]:
    """Every parameter's corners on every route that reads it (the boundary table)."""
    name = plan.first
    llm_names = _llm_names(plan, context)
    for key in ("from", "to"):
        for value in (*ACCEPTED_INSTANTS, *REFUSED_INSTANTS):
            yield build.model(name, [TRUE, (key, value)])
            yield build.listing([(key, value)])
        for value in (ACCEPTED_INSTANTS[6], REFUSED_INSTANTS[0]):
            if llm_names:
                yield build.llm(llm_names[0], [TRUE, (key, value)])
    for pair in WINDOW_PAIRS:
        yield build.model(name, [TRUE, *pair])
        yield build.listing(pair)
    for value in BOOLEAN_SPELLINGS:
        yield build.model(name, [("metadata", value)])
        yield build.model(name, [TRUE, ("me", value)], authorization=_authorized(plan))
        yield build.listing([("me", value)], authorization=_authorized(plan))
    for value in NUMBER_SPELLINGS:
        yield build.listing([("count", value)])
        yield build.listing([("offset", value)])
    for value in SORT_SPELLINGS:
        yield build.listing([("sort", value)])
    yield from _repeated(name)


def _repeated(name: str) -> Iterator[Request]:
    yield build.model(name, [TRUE, TRUE])
    yield build.model(name, [TRUE, ("metadata", "")])
    yield build.model(name, [TRUE, ("from", "2025-10-01T00:00:00Z"), ("from", "2025-10-02T00:00:00Z")])
    yield build.listing([("count", "1"), ("count", "2")])
    yield build.listing([("sort", "cost"), ("sort", "")])


def names(plan: Plan, context: Context) -> Iterator[Request]:
    """Unknown, malformed and odd names on the model and LLM routes."""
    known = plan.first
    for name in [*unknown_names(), *malformed_names(known)]:
        yield build.model(name)
        yield build.llm(name)
    for name in unknown_names():
        yield build.model(name, [TRUE, ("from", "2025-10-01T00:00:00Z")])
    encoded = "".join(f"%{ord(char):02X}" for char in known)
    yield Request("GET", f"{MODELS_PATH}/{encoded}")
    yield Request("GET", f"{MODELS_PATH}/{known}/extra")
    yield Request("GET", f"{MODELS_PATH}/%00")
    yield Request("GET", f"{MODELS_PATH}/count")
    llm_names = _llm_names(plan, context)
    if llm_names:
        yield Request("GET", f"{LLMS_PATH}/{llm_names[0]}/extra")


def ignored(plan: Plan, context: Context) -> Iterator[Request]:
    """``me``, ``from`` and ``to`` without ``metadata=true``, valid or not: they change nothing."""
    variants: tuple[Params, ...] = (
        (("me", "true"),),
        (("metadata", "false"), ("me", "maybe")),
        (("metadata", "false"), ("from", "not-a-date"), ("to", "2025-13-45")),
        (("from", "2025-11-01T00:00:00Z"), ("to", "2025-10-01T00:00:00Z")),
        (("metadata", "false"), ("me", "true"), ("from", "2025-10-01T00:00:00Z")),
    )
    llm_names = _llm_names(plan, context)[:1]
    for params in variants:
        for name in [*plan.names[:2], *unknown_names(1)]:
            yield build.model(name, params)
        for name in llm_names:
            yield build.llm(name, params)
    definition = _served_definition(plan, context)
    if definition is not None:
        yield build.post(MODELS_PATH, definition, variants[2])


def posts(plan: Plan, context: Context) -> Iterator[Request]:
    """The POST routes: served, fresh, computed fields kept, invalid bodies, and their parameters."""
    definition = _served_definition(plan, context)
    fresh_llm: dict[str, Any] = {
        "id": "qmcontract/probe-model",
        "mode": "generate",
        "weight": {"type": "static", "weight": 1},
    }
    fresh: dict[str, Any] = {"weight": {"type": "static"}, "models": [fresh_llm]}
    token = _authorized(plan)
    for body, path in ((fresh, MODELS_PATH), (fresh_llm, LLMS_PATH)):
        yield build.post(path, body)
        yield build.post(path, body, [TRUE])
        yield build.post(path, body, [TRUE, ("me", "true")])
        yield build.post(path, body, [("metadata", "maybe")])
    if definition is not None:
        answer = context.fetch(build.model(plan.first))
        document = answer.document() if answer is not None else None
        yield build.post(MODELS_PATH, definition, [TRUE])
        yield build.post(MODELS_PATH, definition, [TRUE, ("me", "true")], authorization=token)
        yield build.post(MODELS_PATH, definition, [TRUE, ("from", "2025-10-01T00:00:00Z")])
        if document is not None:
            yield build.post(MODELS_PATH, document)
    for path in (MODELS_PATH, LLMS_PATH):
        for raw in (b"{", b"[]", b"null", b'"text"', b"{}", b'{"weight": {"type": "static"}, "models": []}'):
            yield build.post(path, raw)
        yield build.post(path, {**fresh, "extra": True})


def _served_definition(plan: Plan, context: Context) -> dict[str, Any] | None:
    answer = context.fetch(build.model(plan.first))
    document = answer.document() if answer is not None else None
    if document is None or not isinstance(document.get("models"), list):
        return None
    computed = ("name", "index", "training_table_name", "training_table_index")
    models = [
        {k: v for k, v in entry.items() if k not in computed}
        for entry in document["models"]
        if isinstance(entry, dict)
    ]
    return {"weight": document.get("weight"), "models": models}


def sdk(plan: Plan, context: Context) -> Iterator[Request]:
    """Every route as the official JS SDK sends it: JSON content type on GETs, ``x-stainless-*``
    headers, empty values for ``null`` options, ``:`` and ``+`` percent-encoded, Bearer tokens."""
    token = "Bearer " + _authorized(plan)
    headers: dict[str, str] = {
        "content-type": "application/json",
        "accept": "application/json",
        "x-stainless-lang": "js",
        "x-stainless-package-version": "1.0.0",
        "x-stainless-retry-count": "0",
        "authorization": token,
    }
    name = plan.first
    nulls = [("me", ""), ("from", ""), ("to", "")]
    shaped = [
        build.model(name, [("metadata", "true"), *nulls]),
        build.model(
            name,
            [("metadata", "true"), ("from", "2025-10-01T00:00:00+02:00"), ("to", "2025-11-01T00:00:00Z")],
        ),
        build.listing([("count", ""), ("offset", ""), ("sort", ""), *nulls]),
        build.count(),
        build.global_metadata(),
    ]
    llm_names = _llm_names(plan, context)
    if llm_names:
        shaped.append(build.llm(llm_names[0], [("metadata", ""), *nulls]))
    definition = _served_definition(plan, context)
    if definition is not None:
        shaped.append(build.post(MODELS_PATH, definition, [("metadata", ""), *nulls]))
        shaped.append(build.post(LLMS_PATH, definition["models"][0]))
    for request in shaped:
        yield build.with_headers(request, headers)
    for header in ODD_HEADERS:
        yield build.with_headers(build.model(name), header)


def robustness(plan: Plan, _context: Context) -> Iterator[Request]:
    """Inputs meant to trip a server up: huge, long, control characters, unknown parameters."""
    name = plan.first
    odd: tuple[Params, ...] = (
        (TRUE, ("from", "9" * 300)),
        (TRUE, ("from", "99999-01-01T00:00:00Z")),
        (TRUE, ("from", "2025-10-01T00:00:00." + "1" * 5000 + "Z")),
        (TRUE, ("from", "2025-10-01T00:00:00Z\x00")),
        (TRUE, ("to", "2025-10-01T00:00:00\n10:00Z")),
        (("foo", "bar"), ("metadata", "false")),
        (("metadata", "t" * 5000),),
    )
    for params in odd:
        yield build.model(name, params)
        yield build.model(unknown_names(1)[0], params)
    yield build.listing([("count", "9" * 5000)])
    yield build.listing([("offset", "9" * 5000)])
    yield Request("HEAD", f"{MODELS_PATH}/{name}")
    yield Request("GET", METADATA_PATH, "metadata=true&me=true")


Family = Callable[[Plan, Context], Iterator[Request]]
#: The families, in the order they run (documents first: later families read their answers).
FAMILIES: Final[dict[str, Family]] = {
    "documents": documents,
    "llms": llms,
    "list": listing,
    "auth": auth,
    "windows": windows,
    "boundaries": boundaries,
    "names": names,
    "ignored": ignored,
    "posts": posts,
    "sdk": sdk,
    "robustness": robustness,
}


def probes(family: str, plan: Plan, context: Context) -> Sequence[Probe]:
    """The probes of one family for this plan."""
    return [Probe(family, request) for request in FAMILIES[family](plan, context)]
