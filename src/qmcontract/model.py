"""From what a user writes to the exact response documents: build_query_model and build_query_llm.

A definition is ``{"models": [LLM params + weight, ...], "weight": {...}}`` with defaults,
unsorted lists and ``null`` options allowed. Building normalises every LLM, names it, sorts
``models`` by name, numbers it, adds training-table names and indexes, names the model, then
validates the result with the same validator users run on server responses, so a definition is
valid exactly when the document it builds is. Violations point into the definition as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from qmcontract.canonical import COMPUTED_LLM_KEYS, normalise_llm, normalise_model_weight
from qmcontract.errors import InvalidDefinition, Violation
from qmcontract.names import entry_names_of_normalised_llm, model_training_table_name, query_model_name
from qmcontract.rules import METADATA_FIELDS
from qmcontract.validate import document_violations, validate_query_llm

DEFINITION_KEYS: Final = ("weight", "models")
#: Fields of a document that are derived from the rest: a definition never needs them.
COMPUTED_MODEL_KEYS: Final = ("name", "training_table_name", *METADATA_FIELDS)
_COMPUTED_LLM_FIELDS: Final = frozenset((*COMPUTED_LLM_KEYS, *METADATA_FIELDS))
_COMPUTED_PATH: Final = re.compile(
    r"^(/name|/training_table_name|/models/\d+/(name|index|training_table_name|training_table_index))$"
)


def build_query_model(definition: Any) -> dict[str, Any]:
    """The response document (without metadata) that a definition builds to.

    Raises :class:`InvalidDefinition` carrying every violation, with JSON pointers into
    the *definition* (input positions, not sorted positions).
    """
    _raise_if_any(_shape_violations(definition))
    llms = [normalise_llm(llm) for llm in definition["models"]]
    document, input_positions = assemble(definition["weight"], llms)
    violations = document_violations(document, metadata=False, check_hashes=False)
    _raise_if_any([_to_definition_path(v, input_positions) for v in violations if not _is_computed(v)])
    return document


def build_query_llm(definition: Any) -> dict[str, Any]:
    """One LLM as ``POST /query_llms`` answers it: normalised, named, without indexes.

    ``training_table_name`` is added when its weight is a training table. Raises
    :class:`InvalidDefinition` with pointers into the definition.
    """
    if not isinstance(definition, dict):
        _raise_if_any([Violation("schema", "", f"an LLM is an object, got {type(definition).__name__}")])
    _raise_if_any(_llm_shape_violations(definition, ""))
    entry = assemble_llm(normalise_llm(definition))
    _raise_if_any([v for v in validate_query_llm(entry, metadata=False) if not v.path.startswith("/name")])
    return entry


def assemble_llm(llm: Mapping[str, Any]) -> dict[str, Any]:
    """The entry ``GET``/``POST /query_llms`` answer for a normalised LLM; validates nothing.

    ``name`` first, then ``training_table_name`` when its weight is a training table, then the
    LLM as given. Strategies use this to build entries that break chosen rules.
    """
    name, table_name = entry_names_of_normalised_llm(llm)
    entry: dict[str, Any] = {"name": name}
    if table_name is not None:
        entry["training_table_name"] = table_name
    entry.update(llm)
    return entry


def model_without_computed(value: Any) -> Any:
    """A retrieved Query Model with its computed fields removed, ready to build again.

    Names, indexes, training-table names and metadata go; everything else stays, so an unknown
    field is still reported. A value that is not an object is returned as it is.
    """
    if not isinstance(value, Mapping):
        return value
    stripped = {key: item for key, item in value.items() if key not in COMPUTED_MODEL_KEYS}
    if isinstance(stripped.get("models"), list):
        stripped["models"] = [llm_without_computed(llm) for llm in stripped["models"]]
    return stripped


def llm_without_computed(value: Any) -> Any:
    """A retrieved LLM entry with its computed fields (names, indexes, metadata) removed."""
    if not isinstance(value, Mapping):
        return value
    return {key: item for key, item in value.items() if key not in _COMPUTED_LLM_FIELDS}


def assemble(weight: dict[str, Any], llms: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[int]]:
    """Derive every computed field from normalised LLMs; validates nothing.

    Returns the document and, for each position in its ``models``, the input position
    it came from. Strategies use this to build documents that break chosen rules.
    """
    named = [entry_names_of_normalised_llm(llm) for llm in llms]
    names = [name for name, _ in named]
    order = sorted(range(len(llms)), key=lambda i: (names[i], i))
    table_names = {i: table for i, (_, table) in enumerate(named) if table is not None}
    table_index = {name: k for k, name in enumerate(sorted(set(table_names.values())))}
    entries = [
        _entry(names[i], position, table_names.get(i), table_index, llms[i])
        for position, i in enumerate(order)
    ]
    document: dict[str, Any] = {"name": query_model_name(weight, names)}
    if _is_training_table({"weight": weight}) and isinstance(weight.get("embeddings_model"), str):
        tables = [table_names[i] for i in order if i in table_names]
        document["training_table_name"] = model_training_table_name(weight["embeddings_model"], tables)
    document["models"] = entries
    document["weight"] = normalise_model_weight(weight)
    return document, order


def _entry(
    name: str, index: int, table_name: str | None, table_index: dict[str, int], llm: dict[str, Any]
) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "index": index}
    if table_name is not None:
        entry["training_table_name"] = table_name
        entry["training_table_index"] = table_index[table_name]
    entry.update(llm)
    return entry


def _is_training_table(owner: dict[str, Any]) -> bool:
    weight = owner.get("weight")
    return isinstance(weight, dict) and weight.get("type") == "training_table"


def _is_computed(violation: Violation) -> bool:
    """A violation at a field the definition never holds is a consequence of another one."""
    return _COMPUTED_PATH.match(violation.path) is not None


def _raise_if_any(violations: Sequence[Violation]) -> None:
    if violations:
        raise InvalidDefinition(sorted(violations, key=lambda v: (v.path, v.rule)))


def _shape_violations(definition: Any) -> list[Violation]:
    """What stops a definition from being assembled at all, or would be silently lost."""
    if not isinstance(definition, dict):
        return [Violation("schema", "", f"a definition is an object, got {type(definition).__name__}")]
    found = [
        Violation("schema", f"/{key}", _unknown_key_message(key))
        for key in definition
        if key not in DEFINITION_KEYS
    ]
    found += [Violation("schema", f"/{key}", "required") for key in DEFINITION_KEYS if key not in definition]
    weight = definition.get("weight")
    if "weight" in definition and not isinstance(weight, dict):
        found.append(Violation("schema", "/weight", f"must be an object, got {type(weight).__name__}"))
    models = definition.get("models")
    if "models" in definition and not isinstance(models, list):
        found.append(Violation("schema", "/models", f"must be an array, got {type(models).__name__}"))
    for i, llm in enumerate(models if isinstance(models, list) else []):
        found += _llm_shape_violations(llm, f"/models/{i}")
    return found


def _llm_shape_violations(llm: Any, at: str) -> list[Violation]:
    if not isinstance(llm, dict):
        return [Violation("schema", at, f"an LLM is an object, got {type(llm).__name__}")]
    return [
        Violation("schema", f"{at}/{key}", _unknown_key_message(key))
        for key in llm
        if key in _COMPUTED_LLM_FIELDS
    ]


def _unknown_key_message(key: str) -> str:
    if key in COMPUTED_MODEL_KEYS or key in COMPUTED_LLM_KEYS:
        return f"{key!r} is computed from the definition; remove it"
    return f"unknown field {key!r} in a definition"


_LLM_PATH = re.compile(r"^/models/(\d+)(?=/|$)")


def _to_definition_path(violation: Violation, input_positions: list[int]) -> Violation:
    """Re-point a violation from the sorted document to the LLM's position in the input."""
    match = _LLM_PATH.match(violation.path)
    if not match:
        return violation
    position = int(match.group(1))
    if position >= len(input_positions):
        return violation
    path = f"/models/{input_positions[position]}" + violation.path[match.end() :]
    return Violation(violation.rule, path, violation.message)
