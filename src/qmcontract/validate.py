"""validate_query_model and validate_query_llm: documents against every document rule of the contract.

Schema failures come first and are attributed to the most specific rule that owns them
(``/models`` too long is ``llm-count``, a logit-bias value out of range is ``llm-params``),
then one small function per rule checks what a schema cannot say. The rules about one LLM are
written once, for an LLM at a JSON pointer, and serve both a Query Model's ``models`` and a
lone entry as ``GET /query_llms/{name}`` answers it. Every check reads defensively and skips what
the schema already reported as malformed, so one broken rule is reported under its own id
instead of a cascade. Nothing here raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from qmcontract.canonical import PROVIDER_LIST_KEYS, is_number, normalise_llm
from qmcontract.errors import Violation
from qmcontract.names import (
    entry_names_of_normalised_llm,
    is_name,
    model_training_table_name,
    query_model_name,
)
from qmcontract.rules import METADATA_FIELDS
from qmcontract.schema_check import JsonPath, SchemaError, schema_errors

#: An LLM at a JSON pointer, with the names its content hashes to (table name: training tables only).
LlmAt = tuple[str, dict[str, Any], tuple[str, str | None]]
LlmCheck = Callable[[LlmAt], Iterator[Violation]]
DocumentCheck = Callable[[dict[str, Any], list[LlmAt]], Iterator[Violation]]


def pointer(path: JsonPath) -> str:
    """RFC 6901 JSON pointer of a path (the root is ``""``)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def validate_query_model(document: Any, *, metadata: bool | None = None) -> list[Violation]:
    """Every rule the document breaks, sorted by path; empty when it honours the contract.

    ``metadata=True``/``False`` says whether the request asked for metadata and checks
    ``metadata-presence`` accordingly; ``None`` skips that rule. Never raises.
    """
    return document_violations(document, metadata=metadata, check_hashes=True)


def validate_query_llm(entry: Any, *, metadata: bool | None = None) -> list[Violation]:
    """Every rule one LLM entry breaks, as ``GET``/``POST /query_llms`` answer it (no indexes).

    The rules that apply to one entry: ``schema``, ``llm-name``, ``llm-params``,
    ``weight-values``, ``training-table-presence`` and ``training-table-name`` (and
    ``metadata-presence``/``metadata-values`` with ``metadata``). Never raises.
    """
    found = _collect(_schema_violations(entry, kind="llm"))
    if isinstance(entry, dict):
        llm = ("", entry, entry_names_of_normalised_llm(normalise_llm(entry)))
        for check in (*_LLM_STRUCTURAL_CHECKS, *_LLM_HASH_CHECKS):
            _merge(found, check(llm))
        _merge(found, _metadata_checks(entry, metadata))
    return _sorted(found)


def document_violations(document: Any, *, metadata: bool | None, check_hashes: bool) -> list[Violation]:
    """The validator proper; ``check_hashes=False`` skips what is true by construction."""
    found = _collect(_schema_violations(document, kind="document"))
    if isinstance(document, dict):
        llms = _llms_of(document)
        llm_checks = (*_LLM_STRUCTURAL_CHECKS, *(_LLM_HASH_CHECKS if check_hashes else ()))
        for llm in llms:
            for llm_check in llm_checks:
                _merge(found, llm_check(llm))
        for check in (*_DOCUMENT_CHECKS, *(_DOCUMENT_HASH_CHECKS if check_hashes else ())):
            _merge(found, check(document, llms))
        _merge(found, _metadata_checks(document, metadata))
    return _sorted(found)


Found = dict[tuple[str, str], Violation]


def _collect(violations: Iterator[Violation]) -> Found:
    found: Found = {}
    _merge(found, violations)
    return found


def _merge(found: Found, violations: Iterator[Violation]) -> None:
    for violation in violations:
        found.setdefault((violation.rule, violation.path), violation)


def _sorted(found: Found) -> list[Violation]:
    return sorted(found.values(), key=lambda v: (v.path, v.rule))


def _llms_of(document: dict[str, Any]) -> list[LlmAt]:
    """The LLM entries that are objects, at their pointers, with the names they hash to."""
    models = document.get("models")
    if not isinstance(models, list):
        return []
    return [
        (f"/models/{i}", llm, entry_names_of_normalised_llm(normalise_llm(llm)))
        for i, llm in enumerate(models)
        if isinstance(llm, dict)
    ]


# --- schema failures and the rules that own them ----------------------------------------

_COUNT_KEYWORDS = frozenset({"minItems", "maxItems"})
_LIST_KEYWORDS = frozenset({"uniqueItems", "minLength", "minItems"})


def _schema_violations(value: Any, *, kind: str) -> Iterator[Violation]:
    errors = schema_errors(value, kind=kind)
    too_many = any(e.path == ("models",) and e.keyword == "maxItems" for e in errors)
    rule_of = _rule_of if kind == "document" else _entry_rule_of
    for error in errors:
        if too_many and _is_index_bound(error):
            continue  # a 129th LLM's index is out of range only because the list is too long
        yield Violation(rule_of(error), pointer(error.path), _describe(error))


def _is_index_bound(error: SchemaError) -> bool:
    return error.keyword == "maximum" and error.path[-1:] in (("index",), ("training_table_index",))


def _describe(error: SchemaError) -> str:
    if error.path == ("models",) and error.keyword in _COUNT_KEYWORDS and isinstance(error.instance, list):
        return f"expected 1 to 128 LLMs, got {len(error.instance)}"
    return f"{error.keyword}: {error.message}"


def _rule_of(error: SchemaError) -> str:
    """The contract rule a schema failure of a document belongs to; ``schema`` unless a rule owns it."""
    path, keyword = error.path, error.keyword
    if path == ("models",) and keyword in _COUNT_KEYWORDS:
        return "llm-count"
    if path and path[0] in METADATA_FIELDS:
        return "metadata-values"
    if path == ("weight", "top") and keyword in ("minimum", "maximum"):
        return "weight-values"
    if path and path[-1] in ("training_table_name", "training_table_index") and error.instance is None:
        return "training-table-presence"
    if len(path) >= 3 and path[0] == "models":
        return _llm_rule_of(path[2:], keyword)
    return "schema"


def _entry_rule_of(error: SchemaError) -> str:
    """The same attribution for a lone LLM entry, whose paths start at the LLM."""
    path = error.path
    if path and path[0] in METADATA_FIELDS:
        return "metadata-values"
    if path and path[-1] == "training_table_name" and error.instance is None:
        return "training-table-presence"
    return _llm_rule_of(path, error.keyword) if path else "schema"


def _llm_rule_of(path: JsonPath, keyword: str) -> str:
    field = path[0]
    if field == "logit_bias" and (len(path) > 1 or keyword == "propertyNames"):
        return "llm-params"
    if field in ("stop", "models") and keyword in _LIST_KEYWORDS:
        return "llm-params"
    if field == "provider" and len(path) > 1 and path[1] in PROVIDER_LIST_KEYS:
        return "llm-params" if keyword in _LIST_KEYWORDS else "schema"
    if field == "weight" and keyword in ("exclusiveMinimum", "finite"):
        return "weight-values"
    return "schema"


# --- helpers that read defensively ---------------------------------------------------------


def _weight_type(owner: Mapping[str, Any]) -> object:
    weight = owner.get("weight")
    return weight.get("type") if isinstance(weight, dict) else None


def _is_training_table(owner: Mapping[str, Any]) -> bool:
    return _weight_type(owner) == "training_table"


def _all_llm_names(document: dict[str, Any]) -> list[str] | None:
    """The LLM names when every entry has a well-formed one, else None."""
    models = document.get("models")
    if not isinstance(models, list):
        return None
    names = [llm.get("name") if isinstance(llm, dict) else None for llm in models]
    return names if all(is_name(name) for name in names) else None  # type: ignore[return-value]


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value > 0  # may exceed any float: math.isfinite would overflow
    return isinstance(value, float) and math.isfinite(value) and value > 0


_MISSING = object()


def _presence(owner: Mapping[str, Any], keys: tuple[str, ...], at: str) -> Iterator[Violation]:
    expected = _is_training_table(owner)
    for key in keys:
        value = owner.get(key, _MISSING)
        if expected and value is _MISSING:
            yield Violation("training-table-presence", f"{at}/{key}", "missing with a training_table weight")
        elif not expected and value is not _MISSING:
            yield Violation(
                "training-table-presence", f"{at}/{key}", "present without a training_table weight"
            )
        elif value is None:
            yield Violation("training-table-presence", f"{at}/{key}", "null; absent means omitted")


# --- the rules about one LLM -----------------------------------------------------------------


def _llm_name(llm: LlmAt) -> Iterator[Violation]:
    at, entry, (expected, _) = llm
    claimed = entry.get("name")
    if is_name(claimed) and claimed != expected:
        yield Violation("llm-name", f"{at}/name", f"expected {expected}, got {claimed}")


def _llm_table_name(llm: LlmAt) -> Iterator[Violation]:
    at, entry, (_, expected) = llm
    claimed = entry.get("training_table_name")
    if _is_training_table(entry) and is_name(claimed) and claimed != expected:
        yield Violation(
            "training-table-name", f"{at}/training_table_name", f"expected {expected}, got {claimed}"
        )


def _llm_weight_values(llm: LlmAt) -> Iterator[Violation]:
    at, entry, _ = llm
    weight = entry.get("weight")
    if not isinstance(weight, dict):
        return
    if weight.get("type") == "static":
        value = weight.get("weight")
        if is_number(value) and not _positive(value):
            yield Violation("weight-values", f"{at}/weight/weight", f"must be finite and > 0, got {value}")
        return
    if weight.get("type") != "training_table":
        return
    keys = ("min_weight", "base_weight", "max_weight")
    values = [weight.get(key) for key in keys]
    if not all(is_number(value) for value in values):
        return
    for key, value in zip(keys, values, strict=True):
        if not _positive(value):
            yield Violation("weight-values", f"{at}/weight/{key}", f"must be finite and > 0, got {value}")
    low, base, high = values
    if not low <= base <= high:  # type: ignore[operator]
        yield Violation(
            "weight-values",
            f"{at}/weight",
            f"needs min_weight <= base_weight <= max_weight, got {low}, {base}, {high}",
        )


def _llm_presence(llm: LlmAt) -> Iterator[Violation]:
    at, entry, _ = llm
    keys = ("training_table_name", "training_table_index") if at else ("training_table_name",)
    yield from _presence(entry, keys, at)


def _llm_params(llm: LlmAt) -> Iterator[Violation]:
    at, entry, _ = llm
    yield from _reasoning_params(entry.get("reasoning"), f"{at}/reasoning")
    fallbacks = entry.get("models")
    if isinstance(fallbacks, list):
        for j, fallback in enumerate(fallbacks):
            if fallback == entry.get("id"):
                yield Violation(
                    "llm-params", f"{at}/models/{j}", f"fallback repeats the primary id {fallback!r}"
                )


def _reasoning_params(reasoning: object, at: str) -> Iterator[Violation]:
    if not isinstance(reasoning, dict):
        return
    budget, effort = reasoning.get("max_tokens") is not None, reasoning.get("effort") is not None
    if budget and effort:
        yield Violation("llm-params", at, "max_tokens and effort are mutually exclusive")
    if reasoning.get("enabled") is False and (budget or effort):
        yield Violation("llm-params", f"{at}/enabled", "enabled: false conflicts with max_tokens or effort")


# --- the rules about a whole Query Model --------------------------------------------------------


def _model_name(document: dict[str, Any], _llms: list[LlmAt]) -> Iterator[Violation]:
    claimed, weight, names = document.get("name"), document.get("weight"), _all_llm_names(document)
    if is_name(claimed) and isinstance(weight, dict) and names is not None:
        expected = query_model_name(weight, names)
        if claimed != expected:
            yield Violation("model-name", "/name", f"expected {expected}, got {claimed}")


def _order_index(document: dict[str, Any], _llms: list[LlmAt]) -> Iterator[Violation]:
    models = document.get("models")
    previous: str | None = None
    for i, entry in enumerate(models if isinstance(models, list) else []):
        if not isinstance(entry, dict):
            continue
        index, name = entry.get("index"), entry.get("name")
        if _is_index(index) and index != i:
            yield Violation("order-index", f"/models/{i}/index", f"expected {i}, got {index}")
        if isinstance(name, str):
            if previous is not None and name < previous:
                yield Violation(
                    "order-index", f"/models/{i}/name", f"{name} sorts before the previous {previous}"
                )
            previous = name


def _weight_match(document: dict[str, Any], llms: list[LlmAt]) -> Iterator[Violation]:
    expected = _weight_type(document)
    if expected not in ("static", "training_table"):
        return
    for at, entry, _ in llms:
        found = _weight_type(entry)
        if found in ("static", "training_table") and found != expected:
            yield Violation("weight-match", f"{at}/weight/type", f"expected {expected!r}, got {found!r}")


def _top_value(document: dict[str, Any], _llms: list[LlmAt]) -> Iterator[Violation]:
    weight = document.get("weight")
    top = weight.get("top") if isinstance(weight, dict) else None
    if _is_training_table(document) and _is_index(top) and top < 1:  # type: ignore[operator]
        yield Violation("weight-values", "/weight/top", f"must be at least 1, got {top}")


def _model_presence(document: dict[str, Any], _llms: list[LlmAt]) -> Iterator[Violation]:
    yield from _presence(document, ("training_table_name",), "")


def _model_table_name(document: dict[str, Any], llms: list[LlmAt]) -> Iterator[Violation]:
    claimed, weight = document.get("training_table_name"), document.get("weight")
    if not (is_name(claimed) and isinstance(weight, dict) and _is_training_table(document)):
        return
    embeddings_model, names = weight.get("embeddings_model"), _all_llm_names(document)
    tables = [entry for _, entry, _ in llms if _is_training_table(entry)]
    table_names = [
        entry.get("training_table_name") for entry in sorted(tables, key=lambda e: str(e.get("name")))
    ]
    if isinstance(embeddings_model, str) and names is not None and all(is_name(n) for n in table_names):
        expected = model_training_table_name(embeddings_model, table_names)  # type: ignore[arg-type]
        if claimed != expected:
            yield Violation(
                "training-table-name", "/training_table_name", f"expected {expected}, got {claimed}"
            )


def _training_table_index(_document: dict[str, Any], llms: list[LlmAt]) -> Iterator[Violation]:
    entries = [(at, entry) for at, entry, _ in llms if _is_training_table(entry)]
    claimed: list[str] = [entry.get("training_table_name") for _, entry in entries]  # type: ignore[misc]
    if not all(is_name(name) for name in claimed):
        return  # positions are only defined once every table name is; presence/schema report the rest
    names = sorted(set(claimed))
    position = {name: index for index, name in enumerate(names)}
    for (at, entry), name in zip(entries, claimed, strict=True):
        index = entry.get("training_table_index")
        if _is_index(index) and index != position[name]:
            yield Violation(
                "training-table-index",
                f"{at}/training_table_index",
                f"expected {position[name]} (position of {name} among {len(names)} table names), got {index}",
            )


def _metadata_checks(owner: dict[str, Any], metadata: bool | None) -> Iterator[Violation]:
    for key in ("chat_cost", "embedding_cost"):
        value = owner.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            yield Violation("metadata-values", f"/{key}", f"must be a finite number, got {value}")
    if metadata is None:
        return
    for key in METADATA_FIELDS:
        if metadata and key not in owner:
            yield Violation("metadata-presence", f"/{key}", "missing although metadata=true was requested")
        elif not metadata and key in owner:
            yield Violation("metadata-presence", f"/{key}", "present although metadata was not requested")


_LLM_STRUCTURAL_CHECKS: tuple[LlmCheck, ...] = (_llm_weight_values, _llm_presence, _llm_params)
_LLM_HASH_CHECKS: tuple[LlmCheck, ...] = (_llm_name, _llm_table_name)
_DOCUMENT_CHECKS: tuple[DocumentCheck, ...] = (
    _weight_match,
    _top_value,
    _model_presence,
    _training_table_index,
)
_DOCUMENT_HASH_CHECKS: tuple[DocumentCheck, ...] = (_model_name, _order_index, _model_table_name)
