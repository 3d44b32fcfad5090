"""The catalogue: the shipped mocks build and validate, and a broken directory is reported file by file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from qmcontract import CatalogError, InvalidDefinition, build_query_model, validate_query_model
from qmcontract.catalog import Catalog, definition_files, load_catalog
from qmcontract.engine import Engine
from qmcontract.inputs import load_json_or_yaml
from qmcontract.resources import mocks_path
from qmcontract.wire import Request

VECTORS = Path(__file__).parent / "data" / "worked-examples.json"
LINE = re.compile(r"^(?P<file>.+): (?P<pointer>(/[^:]*)?): (?P<rule>[a-z-]+): (?P<message>.+)$")

STATIC_DEFINITION = """\
weight:
  type: static
models:
  - id: openai/gpt-5-mini
    mode: generate
    weight: {type: static, weight: 1}
"""


def _vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))
    return vectors


def test_the_shipped_catalogue_has_at_least_eight_valid_documents() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 8
    for document in catalog:
        assert validate_query_model(document, metadata=False) == []


def test_every_shipped_definition_is_in_the_catalogue() -> None:
    catalog = load_catalog()
    for path in definition_files(mocks_path()):
        assert build_query_model(load_json_or_yaml(path))["name"] in catalog


def test_the_worked_examples_are_in_the_shipped_catalogue() -> None:
    catalog = load_catalog()
    for vector in _vectors():
        assert catalog.get(vector["document"]["name"]) == vector["document"]


def test_names_are_ascending_and_iteration_follows_them() -> None:
    catalog = load_catalog()
    assert catalog.names() == sorted(catalog.names())
    assert [document["name"] for document in catalog] == catalog.names()
    assert catalog.get("0" * 22) is None
    assert "0" * 22 not in catalog


def test_the_128_llm_mock_builds_128_entries() -> None:
    document = build_query_model(load_json_or_yaml(mocks_path() / "large-128-llms.yaml"))
    assert len(document["models"]) == 128
    assert [llm["index"] for llm in document["models"]] == list(range(128))
    assert document["name"] in load_catalog()


def test_a_directory_of_definitions_builds(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(STATIC_DEFINITION, encoding="utf-8")
    (tmp_path / "two.json").write_text(json.dumps(_vectors()[1]["definition"]), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a definition", encoding="utf-8")
    catalog = load_catalog(tmp_path)
    assert len(catalog) == 2
    assert _vectors()[1]["document"]["name"] in catalog


def _broken_directory(tmp_path: Path) -> dict[str, Path]:
    files = {
        "good": tmp_path / "a-good.yaml",
        "syntax": tmp_path / "b-broken.yaml",
        "rule": tmp_path / "c-rule.yaml",
    }
    files["good"].write_text(STATIC_DEFINITION, encoding="utf-8")
    files["syntax"].write_text("weight: [type: static\nmodels: {\n", encoding="utf-8")
    files["rule"].write_text(STATIC_DEFINITION.replace("weight: 1}", "weight: 0}"), encoding="utf-8")
    return files


def test_a_broken_directory_names_every_broken_file(tmp_path: Path) -> None:
    files = _broken_directory(tmp_path)
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    message = str(caught.value)
    assert str(files["good"]) not in message
    assert str(files["syntax"]) in message
    rule_lines = [match for line in message.splitlines() if (match := LINE.match(line))]
    assert [(m["file"], m["pointer"], m["rule"]) for m in rule_lines] == [
        (str(files["rule"]), "/models/0/weight/weight", "weight-values")
    ]


def test_a_definition_breaking_several_rules_gives_one_line_each(tmp_path: Path) -> None:
    definition = _vectors()[1]["definition"]
    definition["models"][0]["logit_bias"] = {"01": 1}
    definition["models"][2]["weight"]["min_weight"] = 2.0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(definition), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    lines = str(caught.value).splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert {(m["file"], m["pointer"], m["rule"]) for m in matches if m} == {
        (str(path), "/models/0/logit_bias", "llm-params"),
        (str(path), "/models/2/weight", "weight-values"),
    }


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("nothing here", encoding="utf-8")
    with pytest.raises(CatalogError, match="no definition files"):
        load_catalog(tmp_path)


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not a directory"):
        load_catalog(tmp_path / "absent")


def test_add_builds_a_definition() -> None:
    vector = _vectors()[0]
    catalog = Catalog()
    assert catalog.add(vector["definition"]) == vector["document"]
    assert catalog.get(vector["document"]["name"]) == vector["document"]
    assert len(catalog) == 1


def test_add_accepts_a_complete_document() -> None:
    vector = _vectors()[2]
    catalog = Catalog([vector["document"]])
    assert catalog.names() == [vector["document"]["name"]]
    assert catalog.add(vector["document"]) == vector["document"]
    assert len(catalog) == 1


def test_add_rejects_an_invalid_definition_and_document() -> None:
    vector = _vectors()[0]
    catalog = Catalog()
    broken_definition = {**vector["definition"], "weight": {"type": "training_table"}}
    with pytest.raises(InvalidDefinition) as caught:
        catalog.add(broken_definition)
    assert caught.value.violations
    broken_document = {**vector["document"], "name": "0" * 22}
    with pytest.raises(InvalidDefinition) as caught:
        catalog.add(broken_document)
    assert [(v.rule, v.path) for v in caught.value.violations] == [("model-name", "/name")]
    assert len(catalog) == 0


def test_copy_is_independent() -> None:
    catalog = Catalog([_vectors()[0]["document"]])
    clone = catalog.copy()
    clone.add(_vectors()[1]["definition"])
    assert len(catalog) == 1
    assert len(clone) == 2


def test_the_global_totals_follow_the_catalogue():
    catalog = load_catalog()
    engine = Engine(catalog)
    before = engine.handle(Request("GET", "/metadata")).json()
    catalog.add(
        {
            "weight": {"type": "static"},
            "models": [{"id": "a/b", "mode": "generate", "weight": {"type": "static", "weight": 1}}],
        }
    )
    after = engine.handle(Request("GET", "/metadata")).json()
    assert after["query_requests"] >= before["query_requests"]
    assert after != before
