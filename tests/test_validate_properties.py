"""Properties of the validator: it never raises, speaks only contract rule ids and JSON pointers,
and a definition's document does not depend on the order its LLMs are written in.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from qmcontract import Violation, build_query_model, validate_query_model
from qmcontract.catalog import definition_files
from qmcontract.inputs import load_json_or_yaml
from qmcontract.resources import mocks_path
from qmcontract.rules import DOCUMENT_RULES, METADATA_FIELDS

VECTORS = Path(__file__).parent / "data" / "worked-examples.json"
POINTER = re.compile(r"(/([^~/]|~[01])*)*")

# Integers stay within what JSON parsers interoperate on; huge ones have their own test in
# test_validate_rules.py (they currently make the validator raise: a reported core bug).
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
metadata_modes = st.sampled_from([None, True, False])


def _vector_documents() -> list[dict[str, Any]]:
    return [vector["document"] for vector in json.loads(VECTORS.read_text(encoding="utf-8"))]


def _mock_definitions() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, load_json_or_yaml(path)) for path in definition_files(mocks_path())]


MOCKS = _mock_definitions()
SMALL_MOCKS = [(name, definition) for name, definition in MOCKS if len(definition["models"]) <= 10]
BASE_DOCUMENTS = _vector_documents() + [build_query_model(definition) for _, definition in SMALL_MOCKS]


def _assert_well_formed(violations: object) -> None:
    assert isinstance(violations, list)
    for violation in violations:
        assert isinstance(violation, Violation)
        assert violation.rule in DOCUMENT_RULES
        assert isinstance(violation.path, str)
        assert POINTER.fullmatch(violation.path), violation.path
        assert isinstance(violation.message, str)
        assert violation.message
    assert violations == sorted(violations, key=lambda v: (v.path, v.rule))


def _locations(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every place in a document where a value sits (the root excluded)."""
    children: Any = (
        node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    )
    for key, child in children:
        yield (*path, key)
        yield from _locations(child, (*path, key))


def _replaced(document: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    owner: Any = changed
    for part in path[:-1]:
        owner = owner[part]
    owner[path[-1]] = value
    return changed


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(value=json_values, metadata=metadata_modes)
def test_any_json_value_gives_a_list_of_violations(value: Any, metadata: bool | None) -> None:
    _assert_well_formed(validate_query_model(value, metadata=metadata))


@st.composite
def _documents_with_one_value_replaced(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(st.sampled_from(BASE_DOCUMENTS))
    path = draw(st.sampled_from(list(_locations(document))))
    return _replaced(document, path, draw(json_values))


@st.composite
def _documents_with_one_key_added(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(draw(st.sampled_from(BASE_DOCUMENTS)))
    objects = [document] + [
        node for path in _locations(document) if isinstance(node := _value_at(document, path), dict)
    ]
    owner = draw(st.sampled_from(objects))
    key = draw(st.sampled_from([*METADATA_FIELDS, "name", "index", "weight", "models"]) | st.text(max_size=8))
    owner[key] = draw(json_values)
    return document


def _value_at(document: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(document=_documents_with_one_value_replaced(), metadata=metadata_modes)
def test_a_valid_document_with_one_value_replaced(document: dict[str, Any], metadata: bool | None) -> None:
    _assert_well_formed(validate_query_model(document, metadata=metadata))


@st.composite
def _documents_with_one_scalar_replaced(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(st.sampled_from(BASE_DOCUMENTS))
    path = draw(st.sampled_from(list(_locations(document))))
    return _replaced(document, path, draw(json_scalars))


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(document=_documents_with_one_scalar_replaced(), metadata=metadata_modes)
def test_a_valid_document_with_one_scalar_replaced(document: dict[str, Any], metadata: bool | None) -> None:
    """Runs clean while the list-valued training_table_name bug above is open."""
    _assert_well_formed(validate_query_model(document, metadata=metadata))


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(document=_documents_with_one_key_added(), metadata=metadata_modes)
def test_a_valid_document_with_one_key_added(document: dict[str, Any], metadata: bool | None) -> None:
    _assert_well_formed(validate_query_model(document, metadata=metadata))


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(document=_documents_with_one_value_replaced())
def test_validation_does_not_mutate_its_input(document: dict[str, Any]) -> None:
    before = copy.deepcopy(document)
    validate_query_model(document)
    assert document == before


@st.composite
def _shuffled_definitions(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    _, definition = draw(st.sampled_from(MOCKS))
    models = draw(st.permutations(definition["models"]))
    return definition, {**definition, "models": list(models)}


def _names(document: dict[str, Any]) -> list[Any]:
    return [
        document["name"],
        document.get("training_table_name"),
        [
            (llm["name"], llm["index"], llm.get("training_table_name"), llm.get("training_table_index"))
            for llm in document["models"]
        ],
    ]


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(pair=_shuffled_definitions())
def test_shuffling_the_llms_of_a_definition_changes_nothing(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    definition, shuffled = pair
    document = build_query_model(shuffled)
    assert validate_query_model(document, metadata=False) == []
    assert _names(document) == _names(build_query_model(definition))
    assert json.dumps(document) == json.dumps(build_query_model(definition))


def test_messages_quote_at_most_a_bounded_part_of_a_huge_value():
    document = build_query_model(
        {
            "weight": {"type": "static"},
            "models": [{"id": "a/b", "mode": "generate", "weight": {"type": "static", "weight": 1}}],
        }
    )
    document["models"][0]["id"] = "x" * 10_000
    document["extra_" + "k" * 5_000] = 1
    violations = validate_query_model(document)
    assert {v.rule for v in violations} >= {"schema"}
    assert all(len(v.message) < 400 for v in violations)
