"""validate_query_model: one response document against every document rule of the contract.

Schema failures come first and are attributed to the most specific rule that owns them
(``/models`` too long is ``llm-count``, a logit-bias value out of range is ``llm-params``),
then one small function per rule checks what a schema cannot say. Every check reads the
document defensively and skips what the schema already reported as malformed, so one
broken rule is reported under its own id instead of a cascade. Nothing here raises.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
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


class _Subject:
    """A document being validated, with what several checks derive from it computed once."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    @functools.cached_property
    def llms(self) -> list[tuple[int, dict[str, Any]]]:
        """The LLM entries that are objects, with their positions."""
        models = self.document.get("models")
        if not isinstance(models, list):
            return []
        return [(i, llm) for i, llm in enumerate(models) if isinstance(llm, dict)]

    @functools.cached_property
    def expected_names(self) -> dict[int, tuple[str, str | None]]:
        """Per LLM position: the names its content hashes to (table name: training tables only)."""
        expected = {}
        for i, llm in self.llms:
            expected[i] = entry_names_of_normalised_llm(normalise_llm(llm))
        return expected


Check = Callable[[_Subject], Iterator[Violation]]


def pointer(path: JsonPath) -> str:
    """RFC 6901 JSON pointer of a path."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def validate_query_model(document: Any, *, metadata: bool | None = None) -> list[Violation]:
    """Every rule the document breaks, sorted by path; empty when it honours the contract.

    ``metadata=True``/``False`` says whether the request asked for metadata and checks
    ``metadata-presence`` accordingly; ``None`` skips that rule. Never raises.
    """
    return document_violations(document, metadata=metadata, check_hashes=True)


def document_violations(document: Any, *, metadata: bool | None, check_hashes: bool) -> list[Violation]:
    """The validator proper; ``check_hashes=False`` skips what is true by construction."""
    found = {(v.rule, v.path): v for v in _schema_violations(document)}
    if isinstance(document, dict):
        subject = _Subject(document)
        checks = [*_STRUCTURAL_CHECKS, *(_HASH_CHECKS if check_hashes else ())]
        for check in checks:
            for violation in check(subject):
                found.setdefault((violation.rule, violation.path), violation)
        if metadata is not None:
            for violation in _metadata_presence(document, expected=metadata):
                found.setdefault((violation.rule, violation.path), violation)
    return sorted(found.values(), key=lambda v: (v.path, v.rule))


# --- schema failures and the rules that own them ----------------------------------------

_COUNT_KEYWORDS = frozenset({"minItems", "maxItems"})
_LIST_KEYWORDS = frozenset({"uniqueItems", "minLength", "minItems"})


def _schema_violations(document: Any) -> Iterator[Violation]:
    errors = schema_errors(document)
    too_many = any(e.path == ("models",) and e.keyword == "maxItems" for e in errors)
    for error in errors:
        if too_many and _is_index_bound(error):
            continue  # a 129th LLM's index is out of range only because the list is too long
        yield Violation(_rule_of(error), pointer(error.path), _describe(error))


def _is_index_bound(error: SchemaError) -> bool:
    return error.keyword == "maximum" and error.path[-1:] in (("index",), ("training_table_index",))


def _describe(error: SchemaError) -> str:
    if error.path == ("models",) and error.keyword in _COUNT_KEYWORDS and isinstance(error.instance, list):
        return f"expected 1 to 128 LLMs, got {len(error.instance)}"
    return f"{error.keyword}: {error.message}"


def _rule_of(error: SchemaError) -> str:
    """The contract rule a schema failure belongs to; ``schema`` unless a rule owns it."""
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


def _llm_rule_of(path: JsonPath, keyword: str) -> str:
    field = path[0]
    if field == "logit_bias" and (len(path) > 1 or keyword == "propertyNames"):
        return "llm-params"
    if field in ("stop", "models") and keyword in _LIST_KEYWORDS:
        return "llm-params"
    if field == "provider" and len(path) > 1 and path[1] in PROVIDER_LIST_KEYS:
        return "llm-params" if keyword in _LIST_KEYWORDS else "schema"
    if field == "weight" and keyword == "exclusiveMinimum":
        return "weight-values"
    return "schema"


# --- helpers that read a document defensively --------------------------------------------


def _weight_type(owner: dict[str, Any]) -> object:
    weight = owner.get("weight")
    return weight.get("type") if isinstance(weight, dict) else None


def _is_training_table(owner: dict[str, Any]) -> bool:
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


# --- one function per document rule -------------------------------------------------------


def _llm_name(subject: _Subject) -> Iterator[Violation]:
    for i, llm in subject.llms:
        claimed = llm.get("name")
        if is_name(claimed):
            expected = subject.expected_names[i][0]
            if claimed != expected:
                yield Violation("llm-name", f"/models/{i}/name", f"expected {expected}, got {claimed}")


def _model_name(subject: _Subject) -> Iterator[Violation]:
    document = subject.document
    claimed, weight, names = document.get("name"), document.get("weight"), _all_llm_names(document)
    if is_name(claimed) and isinstance(weight, dict) and names is not None:
        expected = query_model_name(weight, names)
        if claimed != expected:
            yield Violation("model-name", "/name", f"expected {expected}, got {claimed}")


def _order_index(subject: _Subject) -> Iterator[Violation]:
    previous: str | None = None
    for i, llm in subject.llms:
        index, name = llm.get("index"), llm.get("name")
        if _is_index(index) and index != i:
            yield Violation("order-index", f"/models/{i}/index", f"expected {i}, got {index}")
        if isinstance(name, str):
            if previous is not None and name < previous:
                yield Violation(
                    "order-index",
                    f"/models/{i}/name",
                    f"{name} sorts before the previous {previous}",
                )
            previous = name


def _weight_match(subject: _Subject) -> Iterator[Violation]:
    document = subject.document
    expected = _weight_type(document)
    if expected not in ("static", "training_table"):
        return
    for i, llm in subject.llms:
        found = _weight_type(llm)
        if found in ("static", "training_table") and found != expected:
            yield Violation(
                "weight-match", f"/models/{i}/weight/type", f"expected {expected!r}, got {found!r}"
            )


def _positive(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return value > 0  # may exceed any float: math.isfinite would overflow
    return isinstance(value, float) and math.isfinite(value) and value > 0


def _weight_values(subject: _Subject) -> Iterator[Violation]:
    document = subject.document
    for i, llm in subject.llms:
        weight = llm.get("weight")
        if isinstance(weight, dict):
            yield from _llm_weight_values(weight, f"/models/{i}/weight")
    top = document.get("weight", {}).get("top") if isinstance(document.get("weight"), dict) else None
    if _is_training_table(document) and _is_index(top) and top < 1:  # type: ignore[operator]
        yield Violation("weight-values", "/weight/top", f"must be at least 1, got {top}")


def _llm_weight_values(weight: dict[str, Any], at: str) -> Iterator[Violation]:
    if weight.get("type") == "static":
        value = weight.get("weight")
        if is_number(value) and not _positive(value):
            yield Violation("weight-values", f"{at}/weight", f"must be finite and > 0, got {value}")
        return
    if weight.get("type") != "training_table":
        return
    values = [weight.get(key) for key in ("min_weight", "base_weight", "max_weight")]
    if not all(is_number(value) for value in values):
        return
    for key, value in zip(("min_weight", "base_weight", "max_weight"), values, strict=False):
        if not _positive(value):
            yield Violation("weight-values", f"{at}/{key}", f"must be finite and > 0, got {value}")
    low, base, high = values
    if not low <= base <= high:  # type: ignore[operator]
        yield Violation(
            "weight-values",
            at,
            f"needs min_weight <= base_weight <= max_weight, got {low}, {base}, {high}",
        )


def _presence(owner: dict[str, Any], keys: tuple[str, ...], at: str) -> Iterator[Violation]:
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


_MISSING = object()


def _training_table_presence(subject: _Subject) -> Iterator[Violation]:
    document = subject.document
    yield from _presence(document, ("training_table_name",), "")
    for i, llm in subject.llms:
        yield from _presence(llm, ("training_table_name", "training_table_index"), f"/models/{i}")


def _training_table_name(subject: _Subject) -> Iterator[Violation]:
    for i, llm in subject.llms:
        claimed = llm.get("training_table_name")
        if _is_training_table(llm) and is_name(claimed):
            expected = subject.expected_names[i][1]
            if claimed != expected:
                yield Violation(
                    "training-table-name",
                    f"/models/{i}/training_table_name",
                    f"expected {expected}, got {claimed}",
                )
    yield from _model_training_table_name(subject)


def _model_training_table_name(subject: _Subject) -> Iterator[Violation]:
    document = subject.document
    claimed, weight = document.get("training_table_name"), document.get("weight")
    if not (is_name(claimed) and isinstance(weight, dict) and _is_training_table(document)):
        return
    embeddings_model, names = weight.get("embeddings_model"), _all_llm_names(document)
    llms = [llm for _, llm in subject.llms if _is_training_table(llm)]
    table_names = [
        llm.get("training_table_name") for llm in sorted(llms, key=lambda entry: str(entry.get("name")))
    ]
    if isinstance(embeddings_model, str) and names is not None and all(is_name(n) for n in table_names):
        expected = model_training_table_name(embeddings_model, table_names)  # type: ignore[arg-type]
        if claimed != expected:
            yield Violation(
                "training-table-name", "/training_table_name", f"expected {expected}, got {claimed}"
            )


def _training_table_index(subject: _Subject) -> Iterator[Violation]:
    entries = [(i, llm) for i, llm in subject.llms if _is_training_table(llm)]
    claimed: list[str] = [llm.get("training_table_name") for _, llm in entries]  # type: ignore[misc]
    if not all(is_name(name) for name in claimed):
        return  # positions are only defined once every table name is; presence/schema report the rest
    names = sorted(set(claimed))
    position = {name: index for index, name in enumerate(names)}
    for (i, llm), name in zip(entries, claimed, strict=True):
        index = llm.get("training_table_index")
        if _is_index(index) and index != position[name]:
            yield Violation(
                "training-table-index",
                f"/models/{i}/training_table_index",
                f"expected {position[name]} (position of {name} among {len(names)} table names), got {index}",
            )


def _llm_params(subject: _Subject) -> Iterator[Violation]:
    for i, llm in subject.llms:
        yield from _reasoning_params(llm.get("reasoning"), f"/models/{i}/reasoning")
        fallbacks = llm.get("models")
        if isinstance(fallbacks, list):
            for j, fallback in enumerate(fallbacks):
                if fallback == llm.get("id"):
                    yield Violation(
                        "llm-params",
                        f"/models/{i}/models/{j}",
                        f"fallback repeats the primary id {fallback!r}",
                    )


def _reasoning_params(reasoning: object, at: str) -> Iterator[Violation]:
    if not isinstance(reasoning, dict):
        return
    budget, effort = reasoning.get("max_tokens") is not None, reasoning.get("effort") is not None
    if budget and effort:
        yield Violation("llm-params", at, "max_tokens and effort are mutually exclusive")
    if reasoning.get("enabled") is False and (budget or effort):
        yield Violation("llm-params", f"{at}/enabled", "enabled: false conflicts with max_tokens or effort")


def _metadata_values(subject: _Subject) -> Iterator[Violation]:
    document = subject.document
    for key in ("chat_cost", "embedding_cost"):
        value = document.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            yield Violation("metadata-values", f"/{key}", f"must be a finite number, got {value}")


def _metadata_presence(document: dict[str, Any], *, expected: bool) -> Iterator[Violation]:
    for key in METADATA_FIELDS:
        if expected and key not in document:
            yield Violation("metadata-presence", f"/{key}", "missing although metadata=true was requested")
        elif not expected and key in document:
            yield Violation("metadata-presence", f"/{key}", "present although metadata was not requested")


_STRUCTURAL_CHECKS: tuple[Check, ...] = (
    _weight_match,
    _weight_values,
    _training_table_presence,
    _training_table_index,
    _llm_params,
    _metadata_values,
)
_HASH_CHECKS: tuple[Check, ...] = (_llm_name, _model_name, _order_index, _training_table_name)
