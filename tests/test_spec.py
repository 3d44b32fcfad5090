"""openapi.yaml is a valid OpenAPI 3.1 document, and its examples honour the contract it states."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from qmcontract import validate_query_model
from qmcontract.catalog import load_catalog
from qmcontract.names import is_name
from qmcontract.resources import spec_path
from qmcontract.rules import METADATA_FIELDS
from qmcontract.spec import component_schema, document_schema, load_spec

VECTORS = Path(__file__).parent / "data" / "worked-examples.json"
OPERATION = ("paths", "/query_models/{slug}", "get")


def _operation() -> dict[str, Any]:
    node: Any = load_spec()
    for key in OPERATION:
        node = node[key]
    operation: dict[str, Any] = node
    return operation


def _response_examples(status: str) -> dict[str, Any]:
    content = _operation()["responses"][status]["content"]["application/json"]
    if "examples" in content:
        return {name: example["value"] for name, example in content["examples"].items()}
    return {"example": content["example"]}


def _checker(name: str) -> jsonschema.Draft202012Validator:
    cls = jsonschema.Draft202012Validator
    return cls(component_schema(name), format_checker=cls.FORMAT_CHECKER)


def test_the_spec_is_valid_openapi() -> None:
    validate(yaml.safe_load(spec_path().read_text(encoding="utf-8")))


def test_the_cached_spec_is_the_file() -> None:
    assert load_spec() == yaml.safe_load(spec_path().read_text(encoding="utf-8"))
    validate(copy.deepcopy(load_spec()))


@pytest.mark.parametrize(("example", "metadata"), [("queryModel", False), ("queryModelWithMetadata", True)])
def test_the_200_examples_validate(example: str, metadata: bool) -> None:
    document = _response_examples("200")[example]
    assert validate_query_model(document, metadata=metadata) == []
    assert validate_query_model(document) == []


def test_the_200_examples_are_worked_example_1_and_in_the_catalogue() -> None:
    examples = _response_examples("200")
    plain = examples["queryModel"]
    vector = json.loads(VECTORS.read_text(encoding="utf-8"))[0]["document"]
    assert json.dumps(plain) == json.dumps(vector)
    assert load_catalog().get(plain["name"]) == plain
    with_metadata = examples["queryModelWithMetadata"]
    assert {key: value for key, value in with_metadata.items() if key not in METADATA_FIELDS} == plain


@pytest.mark.parametrize(
    ("example", "component"),
    [("queryModel", "QueryModel"), ("queryModelWithMetadata", "QueryModelWithMetadata")],
)
def test_each_200_example_matches_exactly_one_branch_of_the_response_schema(
    example: str, component: str
) -> None:
    document = _response_examples("200")[example]
    matching = {
        name for name in ("QueryModel", "QueryModelWithMetadata") if _checker(name).is_valid(document)
    }
    assert matching == {component}
    assert jsonschema.Draft202012Validator(document_schema()).is_valid(document)


@pytest.mark.parametrize("status", ["400", "401", "404"])
def test_the_error_examples_match_the_error_schema(status: str) -> None:
    (body,) = _response_examples(status).values()
    assert _checker("Error").is_valid(body)
    assert body["code"] == int(status)


def test_the_parameter_examples() -> None:
    parameters = {parameter["name"]: parameter for parameter in _operation()["parameters"]}
    slug = parameters["slug"]["example"]
    assert is_name(slug)
    assert slug in load_catalog()
    start = datetime.fromisoformat(parameters["from"]["example"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(parameters["to"]["example"].replace("Z", "+00:00"))
    assert start < end


def test_the_name_schema_examples_are_names() -> None:
    for example in load_spec()["components"]["schemas"]["Name"]["examples"]:
        assert is_name(example)
        assert _checker("Name").is_valid(example)


def test_the_worked_examples_match_the_query_model_schema() -> None:
    checker = _checker("QueryModel")
    for vector in json.loads(VECTORS.read_text(encoding="utf-8")):
        assert list(checker.iter_errors(vector["document"])) == []
