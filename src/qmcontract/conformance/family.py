"""The rules of the API family around the endpoint, as plain checks like those of :mod:`.checks`.

``list-names``, ``list-sort``, ``llm-lookup``, ``validate-echo`` and ``metadata-global`` all judge
one answer against others: the names a list holds against what retrieving them gives, a sorted
list against the figures each model reports, a served document against ``GET /query_llms`` and
``POST`` of itself, the global totals against the served models' own. The other answers come from
``context.fetch``, so however many exchanges trigger a check, each is asked for once per run.
The figures a sort orders by are computed here from the contract's definition, not by the engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Final

from qmcontract.conformance import exchange as build
from qmcontract.conformance.checks import Check, Context, first_difference
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.expect import instant
from qmcontract.conformance.subchecks import Outcome, broken, held, judged
from qmcontract.errors import Violation
from qmcontract.limits import quoted
from qmcontract.names import is_name
from qmcontract.routes import LLMS_PATH, MODELS_PATH, query_pairs
from qmcontract.rules import GLOBAL_METADATA_FIELDS, METADATA_FIELDS
from qmcontract.wire import Request

#: Most names of one list answer retrieved to check them (the rest are checked for form only).
MAX_RETRIEVED: Final = 200
_LLM_COMPUTED: Final = ("name", "index", "training_table_name", "training_table_index")
_MODEL_COMPUTED: Final = ("name", "training_table_name", *METADATA_FIELDS)
_TOLERANCE: Final = 1e-9

#: What each ``sort`` value orders by (contract, "The API family"): figures of ``metadata=true``.
SORT_FIGURES: Final[dict[str, tuple[str, ...]]] = {
    "requests": ("requests",),
    "tokens": (
        "chat_completion_tokens",
        "chat_prompt_tokens",
        "embedding_completion_tokens",
        "embedding_prompt_tokens",
    ),
    "completion_tokens": ("chat_completion_tokens", "embedding_completion_tokens"),
    "prompt_tokens": ("chat_prompt_tokens", "embedding_prompt_tokens"),
    "cost": ("chat_cost", "embedding_cost"),
}


# --- list-names --------------------------------------------------------------------------------------


def list_names(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``list-names``: well-formed, unique, retrievable names; the list agrees with the count."""
    if exchange.status != 200:
        return
    if exchange.kind == "model-count":
        yield from _count_answer(exchange, context)
        return
    if exchange.kind != "model-list":
        return
    data = exchange.parsed.get("data") if isinstance(exchange.parsed, dict) else None
    if not isinstance(data, list):
        yield broken(
            "list-names",
            "well-formed",
            "/data",
            f'expected {{"data": [names]}}, got {quoted(exchange.parsed)}',
        )
        return
    bad = [
        Violation("list-names", f"/data/{i}", f"not a Query Model name: {quoted(name)}")
        for i, name in enumerate(data)
        if not is_name(name)
    ]
    yield judged("list-names", "well-formed", bad)
    seen: dict[str, int] = {}
    repeats = []
    for i, name in enumerate(data):
        if isinstance(name, str) and name in seen:
            repeats.append(
                Violation("list-names", f"/data/{i}", f"{name} is listed again (first at /data/{seen[name]})")
            )
        seen.setdefault(name, i) if isinstance(name, str) else None
    yield judged("list-names", "unique", repeats)
    yield from _retrievable(data, context)
    yield from _length_agrees(exchange, len(data), context)


def _retrievable(data: list[Any], context: Context) -> Iterator[Outcome]:
    named = [(i, name) for i, name in enumerate(data) if is_name(name)][:MAX_RETRIEVED]
    if not named or context.send is None:
        return
    problems = []
    for i, name in named:
        answer = context.fetch(build.model(name))
        if answer is not None and answer.status != 200:
            problems.append(
                Violation("list-names", f"/data/{i}", f"GET {MODELS_PATH}/{name} answered {answer.status}")
            )
    yield judged("list-names", "retrievable", problems)


def _length_agrees(exchange: Exchange, length: int, context: Context) -> Iterator[Outcome]:
    params = dict(query_pairs(exchange.request.query))
    if params.get("me") == "true" or (params.get("offset") or "0").lstrip("0"):
        return
    total = _count_of(context.fetch(build.count()))
    wanted = params.get("count") or "100"
    if total is None or not wanted.isascii() or not wanted.isdigit():
        return
    expected = min(int(wanted), total)
    if length == expected:
        yield held("list-names", "count")
    else:
        yield broken(
            "list-names",
            "count",
            "/data",
            f"{length} names, but /query_models/count says {total} (asked for {wanted})",
        )


def _count_of(answer: Exchange | None) -> int | None:
    body = answer.document() if answer is not None else None
    value = body.get("count") if body is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _count_answer(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    total = _count_of(exchange)
    if total is None:
        yield broken(
            "list-names",
            "count",
            "/count",
            f'expected {{"count": n}} with n >= 0, got {quoted(exchange.parsed)}',
        )
        return
    if total > 1000:
        yield held("list-names", "count")
        return
    listed = context.fetch(build.listing([("count", "1000")]))
    data = listed.parsed.get("data") if listed is not None and isinstance(listed.parsed, dict) else None
    if not isinstance(data, list):
        return
    if len(data) == total:
        yield held("list-names", "count")
    else:
        yield broken(
            "list-names", "count", "/count", f"{total}, but GET /query_models?count=1000 lists {len(data)}"
        )


# --- list-sort ------------------------------------------------------------------------------------------


def list_sort(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``list-sort``: a sorted list follows the figures each model reports for the same window and
    ``me``; a ``me=true`` list holds exactly the models the caller used."""
    if exchange.kind != "model-list" or exchange.status != 200 or context.send is None:
        return
    data = exchange.parsed.get("data") if isinstance(exchange.parsed, dict) else None
    if not isinstance(data, list) or not all(is_name(name) for name in data):
        return  # list-names reports it
    params = list(query_pairs(exchange.request.query))
    values = dict(params)
    me = values.get("me") == "true"
    sort = values.get("sort")
    if sort is None and not me:
        return
    read = {name: _figures(name, params, exchange.request, context) for name in data[:MAX_RETRIEVED]}
    figures = {name: fields for name, fields in read.items() if fields is not None}
    names = [name for name in data[:MAX_RETRIEVED] if name in figures]
    if len(names) < len(read) / 2:
        return  # too few figures stood still to judge the list
    if sort in (*SORT_FIGURES, "created"):
        yield judged("list-sort", sort, list(_out_of_order(names, figures, sort)))
    if me:
        yield judged("list-sort", "me", list(_unused_listed(names, figures)))


def _figures(
    name: str, params: list[tuple[str, str]], request: Request, context: Context
) -> dict[str, Any] | None:
    """A model's figures for the list's window and caller, when two reads agree on them.

    Only figures that stand still can judge an order: a server whose counters move between reads
    (or whose ``created`` does, which ``stable`` reports) leaves that model out of the comparison.
    """
    window = [(key, value) for key, value in params if key in ("from", "to", "me")]
    read = build.model(name, [("metadata", "true"), *window], authorization=request.authorization)
    first, second = context.fetch(read), context.fetch(read, read=2)
    documents = [answer.document() if answer is not None else None for answer in (first, second)]
    if documents[0] is None or documents[0] != documents[1] or documents[0].get("name") != name:
        return None
    return documents[0]


def _sort_value(sort: str, fields: dict[str, Any]) -> float | None:
    if sort == "created":
        created = fields.get("created")
        moment = instant(created) if isinstance(created, str) else None
        return None if moment is None else moment[0] + float(moment[1])
    total = 0.0
    for key in SORT_FIGURES[sort]:
        value = fields.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        total = total + value
    return total


def _out_of_order(names: list[str], figures: dict[str, dict[str, Any]], sort: str) -> Iterator[Violation]:
    values = [_sort_value(sort, figures[name]) for name in names]
    for i in range(1, len(names)):
        before, after = values[i - 1], values[i]
        if before is None or after is None:
            continue
        if after > before or (after == before and names[i] < names[i - 1]):
            yield Violation(
                "list-sort",
                f"/data/{i}",
                f"{names[i]} ({sort} {after}) is listed after {names[i - 1]} ({sort} {before}); "
                "expected largest first, ties by name",
            )


def _unused_listed(names: list[str], figures: dict[str, dict[str, Any]]) -> Iterator[Violation]:
    for i, name in enumerate(names):
        requests = figures[name].get("requests")
        if requests == 0:
            yield Violation(
                "list-sort", f"/data/{i}", f"{name} is listed with me=true but the caller made 0 requests"
            )


# --- llm-lookup and validate-echo -------------------------------------------------------------------------


def _entries(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's LLM entries by name, without indexes; entries sharing a name but not content
    (possible when only ``reasoning.effort`` differs, which no name hashes) are left out."""
    models = document.get("models")
    found: dict[str, dict[str, Any]] = {}
    clashes: set[str] = set()
    for entry in models if isinstance(models, list) else []:
        if not isinstance(entry, dict) or not is_name(entry.get("name")):
            continue
        bare = {key: value for key, value in entry.items() if key not in ("index", "training_table_index")}
        if entry["name"] in found and found[entry["name"]] != bare:
            clashes.add(entry["name"])
        found.setdefault(entry["name"], bare)
    return {name: entry for name, entry in found.items() if name not in clashes}


def _valid_document(exchange: Exchange, context: Context) -> dict[str, Any] | None:
    """A 200 Query Model that breaks no document rule: only such a document is the reference of
    another route (a broken one is the document rules' concern, not the family's)."""
    document = exchange.document()
    if exchange.kind != "model" or document is None or context.document_violations(exchange):
        return None
    return document


def llm_lookup(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``llm-lookup``: each LLM entry is answered by ``GET /query_llms/{name}``, equal to it but indexes."""
    document = _valid_document(exchange, context)
    if document is None or context.send is None or not context.first_time("llm-lookup", document["name"]):
        return
    problems = []
    for name, entry in _entries(document).items():
        answer = context.fetch(build.llm(name))
        if answer is None:
            continue
        if answer.status != 200:
            problems.append(
                Violation("llm-lookup", f"/models/{name}", f"GET {LLMS_PATH}/{name} answered {answer.status}")
            )
            continue
        where = first_difference(entry, _without(answer.parsed, METADATA_FIELDS))
        if where is not None:
            problems.append(
                Violation(
                    "llm-lookup",
                    where,
                    f"GET {LLMS_PATH}/{name} differs from the entry at {where or '(root)'}",
                )
            )
    yield judged("llm-lookup", "entry", problems)


def validate_echo(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``validate-echo``: POST of a served document (computed fields removed) returns it; so does
    POST of each of its LLMs, without indexes."""
    document = _valid_document(exchange, context)
    if document is None or context.send is None or not context.first_time("validate-echo", document["name"]):
        return
    plain = _without(document, METADATA_FIELDS)
    definition = {**_without(plain, _MODEL_COMPUTED)}
    if isinstance(definition.get("models"), list):
        definition["models"] = [_without(entry, _LLM_COMPUTED) for entry in definition["models"]]
    yield _echoed("query_models", build.post(MODELS_PATH, definition), plain, context)
    for entry in _entries(document).values():
        yield _echoed("query_llms", build.post(LLMS_PATH, _without(entry, _LLM_COMPUTED)), entry, context)


def _echoed(subcheck: str, request: Request, expected: dict[str, Any], context: Context) -> Outcome:
    answer = context.fetch(request)
    if answer is None or answer.status != 200:
        status = "no answer" if answer is None else answer.status
        return broken(
            "validate-echo", subcheck, "", f"POST {request.path} of a served definition answered {status}"
        )
    where = first_difference(expected, answer.parsed)
    if where is None:
        return held("validate-echo", subcheck)
    return broken(
        "validate-echo", subcheck, where, f"POST {request.path} does not return the served document"
    )


def _without(value: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if key not in keys}


# --- metadata-global -----------------------------------------------------------------------------------

#: Global total -> the per-model field it must be at least the sum of.
_SUMS: Final = {
    "query_requests": "requests",
    "chat_completion_tokens": "chat_completion_tokens",
    "chat_prompt_tokens": "chat_prompt_tokens",
    "chat_cost": "chat_cost",
    "embedding_completion_tokens": "embedding_completion_tokens",
    "embedding_prompt_tokens": "embedding_prompt_tokens",
    "embedding_cost": "embedding_cost",
}


def metadata_global(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``metadata-global``: the eleven totals are non-negative and at least the served models' sums."""
    totals = exchange.document()
    if exchange.kind != "metadata" or totals is None:
        return
    problems = [
        Violation(
            "metadata-global", f"/{key}", f"expected a non-negative number, got {quoted(totals.get(key))}"
        )
        for key in GLOBAL_METADATA_FIELDS
        if not _non_negative(totals.get(key))
    ]
    yield judged("metadata-global", "non-negative", problems)
    if problems or not context.served or context.send is None:
        return
    documents = [context.fetch(build.model(name, [("metadata", "true")])) for name in context.served]
    fields = [answer.document() for answer in documents if answer is not None]
    if len(fields) != len(documents) or any(document is None for document in fields):
        return
    yield judged("metadata-global", "sums", list(_below_sums(totals, fields)))  # type: ignore[arg-type]


def _non_negative(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _below_sums(totals: dict[str, Any], models: list[dict[str, Any]]) -> Iterator[Violation]:
    for total, field in _SUMS.items():
        summed = sum(float(model.get(field) or 0) for model in models)
        if totals[total] < summed * (1 - _TOLERANCE) - 1e-9:
            yield Violation(
                "metadata-global",
                f"/{total}",
                f"{totals[total]} is less than {summed}, the sum of `{field}` over the served models",
            )


#: The family's checks.
FAMILY_CHECKS: Final[tuple[Check, ...]] = (list_names, list_sort, llm_lookup, validate_echo, metadata_global)
