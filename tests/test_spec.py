"""openapi.yaml is a valid OpenAPI 3.1 document for the whole API family, its examples honour the
contract it states, and its schemas are written so that every tool reads them alike."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openapi_spec_validator import validate

from qmcontract import build_query_model, validate_query_llm, validate_query_model
from qmcontract.canonical import INDEX_FIELDS
from qmcontract.catalog import load_catalog
from qmcontract.errors import InvalidDefinition, SpecError
from qmcontract.limits import MAX_INTEGER, MAX_STRING_LENGTH
from qmcontract.model import model_without_computed
from qmcontract.names import is_name
from qmcontract.resources import shipped_path, spec_path
from qmcontract.rules import GLOBAL_METADATA_FIELDS, METADATA_FIELDS
from qmcontract.spec import (
    component_schema,
    document_schema,
    llm_entry_schema,
    load_spec,
    response_schema,
)

VECTORS = Path(__file__).parent / "data" / "worked-examples.json"
RETRIEVE = ("/query_models/{slug}", "get")
#: Every route of the family, as the October 2025 JS SDK calls it, with the statuses it documents.
FAMILY: dict[tuple[str, str], set[str]] = {
    ("/query_models", "get"): {"200", "400", "401"},
    ("/query_models", "post"): {"200", "400", "401", "404", "413"},
    ("/query_models/count", "get"): {"200"},
    ("/query_models/{slug}", "get"): {"200", "400", "401", "404"},
    ("/query_llms", "post"): {"200", "400", "401", "404", "413"},
    ("/query_llms/{name}", "get"): {"200", "400", "401", "404"},
    ("/metadata", "get"): {"200"},
}
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
#: Keywords draft-07 does not know, or reads differently: a tool reading 3.1 schemas as draft-07 (Prism)
#: would skip them silently.
NOT_IN_DRAFT_07 = frozenset(
    {
        "unevaluatedProperties",
        "unevaluatedItems",
        "prefixItems",
        "dependentRequired",
        "dependentSchemas",
        "$defs",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "minContains",
        "maxContains",
    }
)
#: What may stand beside a ``$ref``: draft-07 ignores anything there, so only annotations.
ANNOTATIONS = frozenset({"description", "summary", "title", "examples", "deprecated"})


def _resolve(node: Any) -> Any:
    """Follow a ``$ref`` to a component (responses, examples, parameters)."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = load_spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _operation(path: str = RETRIEVE[0], method: str = RETRIEVE[1]) -> dict[str, Any]:
    operation: dict[str, Any] = load_spec()["paths"][path][method]
    return operation


def _response_examples(status: str, path: str = RETRIEVE[0], method: str = RETRIEVE[1]) -> dict[str, Any]:
    content = _resolve(_operation(path, method)["responses"][status])["content"]["application/json"]
    if "examples" in content:
        return {name: _resolve(example)["value"] for name, example in content["examples"].items()}
    return {"example": content["example"]}


def _checker(name: str) -> jsonschema.Draft202012Validator:
    cls = jsonschema.Draft202012Validator
    return cls(component_schema(name), format_checker=cls.FORMAT_CHECKER)


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = load_spec()["components"]["schemas"]
    return schemas


def _subschemas(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in the spec's schemas, parameters and media types, with where it is."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key in ("properties", "$defs", "mapping"):
                for name, sub in value.items() if isinstance(value, dict) else ():
                    yield from _subschemas(sub, f"{where}/{key}/{name}")
            elif key in ("items", "additionalProperties", "propertyNames", "not"):
                yield from _subschemas(value, f"{where}/{key}")
            elif key in ("oneOf", "anyOf", "allOf"):
                for i, sub in enumerate(value):
                    yield from _subschemas(sub, f"{where}/{key}/{i}")


def _every_schema() -> Iterator[tuple[str, dict[str, Any]]]:
    spec = load_spec()
    for name, schema in _schemas().items():
        yield from _subschemas(schema, f"#/components/schemas/{name}")
    for name, parameter in spec["components"]["parameters"].items():
        yield from _subschemas(parameter["schema"], f"#/components/parameters/{name}")
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    yield from _subschemas(parameter["schema"], f"{path} {method} {parameter['name']}")
            for status, response in operation["responses"].items():
                media = response.get("content", {}).get("application/json", {})
                if "schema" in media:
                    yield from _subschemas(media["schema"], f"{path} {method} {status}")


# --- the document --------------------------------------------------------------------------------


def test_the_spec_is_valid_openapi() -> None:
    validate(yaml.safe_load(spec_path().read_text(encoding="utf-8")))


def test_the_cached_spec_is_the_file() -> None:
    assert load_spec() == yaml.safe_load(spec_path().read_text(encoding="utf-8"))
    validate(copy.deepcopy(load_spec()))


def test_every_route_of_the_family_is_documented_with_its_statuses() -> None:
    documented = {
        (path, method): set(operation["responses"])
        for path, item in load_spec()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    assert documented == FAMILY


def test_every_error_answer_is_the_error_schema() -> None:
    for (path, method), statuses in FAMILY.items():
        for status in statuses - {"200"}:
            response = _resolve(_operation(path, method)["responses"][status])
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)


def test_no_answer_has_the_single_type_object_at_its_root() -> None:
    """openapi-core casts values under a ``type: object`` root before validating ("13" passes as 13):
    every answer is a ``oneOf``, or an object whose type is written as the list ``[object]``."""
    for (path, method), statuses in FAMILY.items():
        for status in statuses:
            response = _resolve(_operation(path, method)["responses"][status])
            schema = _resolve(response["content"]["application/json"]["schema"])
            assert "oneOf" in schema or schema["type"] == ["object"], (path, method, status)


def test_the_control_spec_keeps_only_the_mock_servers_own_routes() -> None:
    control = yaml.safe_load(shipped_path("openapi-control.yaml").read_text(encoding="utf-8"))
    validate(control)
    own = ("/healthz", "/openapi.yaml")
    assert all(path.startswith("/__qmcontract/") or path in own for path in control["paths"])


def test_the_decisions_and_the_boundary_table_are_written_in_the_spec() -> None:
    text = json.dumps(load_spec())
    for phrase in (
        "400 (malformed parameters",
        "An empty value",
        "given twice",
        "second `60`",
        "clamped",
        "zero-width window",
        "`True`, `TRUE`, `1`, `yes`",
        "ASCII digits only",
        "past the end gives an empty list",
        "percent-decoding",
        "1 MiB",
        "405",
        "Allow: POST",
        "<rule> at <JSON pointer>: <what is wrong>",
        "Query LLM not found",
        "JSON integer",
    ):
        assert phrase in text, phrase


# --- schemas every tool reads alike ---------------------------------------------------------------


def test_no_schema_needs_a_keyword_draft_07_lacks() -> None:
    for where, schema in _every_schema():
        assert not (NOT_IN_DRAFT_07 & set(schema)), where
        if "$ref" in schema:
            assert set(schema) - {"$ref"} <= ANNOTATIONS, where


def test_every_string_and_integer_is_bounded() -> None:
    for where, schema in _every_schema():
        types = schema.get("type")
        types = set(types) if isinstance(types, list) else {types}
        unbounded = {"enum", "const", "pattern"} & set(schema) or where.endswith("Error/properties/message")
        if "string" in types and not unbounded and "parameters" not in where:
            assert schema.get("maxLength", MAX_STRING_LENGTH + 1) <= MAX_STRING_LENGTH, where
        if "integer" in types and "ListOffset" not in where:
            assert schema.get("minimum", -(2**64)) >= -MAX_INTEGER - 1, where
            assert schema.get("maximum", 2**64) <= MAX_INTEGER, where
    assert _schemas()["Counter"]["maximum"] == MAX_INTEGER == 9223372036854775807


def test_the_error_message_alone_is_unbounded() -> None:
    """A 400's message lists every violation of a body of up to 1 MiB: it may be longer than 4,096."""
    assert "maxLength" not in _schemas()["Error"]["properties"]["message"]


def _properties(name: str) -> dict[str, Any]:
    properties: dict[str, Any] = _schemas()[name]["properties"]
    return properties


def test_the_flat_answer_objects_are_closed() -> None:
    for name in (
        "QueryModel",
        "QueryModelWithMetadata",
        "QueryLlm",
        "QueryLlmEntry",
        "QueryLlmEntryWithMetadata",
        "QueryModelList",
        "QueryModelCount",
        "GlobalMetadata",
        "Error",
        "QueryModelDefinition",
        "QueryLlmDefinition",
    ):
        schema = _schemas()[name]
        assert schema["type"] in ("object", ["object"]), name
        assert schema["additionalProperties"] is False, name
        assert set(schema["required"]) <= set(schema["properties"]), name
        assert not {"allOf", "oneOf", "anyOf"} & set(schema), name


def _without(properties: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in properties.items() if key not in fields}


@pytest.mark.parametrize(
    ("flat", "base", "extra"),
    [
        ("QueryModelWithMetadata", "QueryModel", METADATA_FIELDS),
        ("QueryLlmEntryWithMetadata", "QueryLlmEntry", METADATA_FIELDS),
        ("QueryLlm", "QueryLlmEntry", INDEX_FIELDS),
    ],
)
def test_the_flat_copies_say_the_same_thing(flat: str, base: str, extra: tuple[str, ...]) -> None:
    """Written out flat for the tools, but one shape: the copies differ only in the extra fields."""
    assert _without(_properties(flat), extra) == _properties(base)
    assert set(_properties(flat)) - set(_properties(base)) == set(extra)
    flat_required = [field for field in _schemas()[flat]["required"] if field not in extra]
    assert flat_required == _schemas()[base]["required"]


def test_the_metadata_fields_are_the_same_in_every_answer() -> None:
    model = {key: _properties("QueryModelWithMetadata")[key] for key in METADATA_FIELDS}
    llm = {key: _properties("QueryLlmEntryWithMetadata")[key] for key in METADATA_FIELDS}
    assert {key: value["$ref"] for key, value in model.items()} == {
        key: value["$ref"] for key, value in llm.items()
    }
    assert tuple(_properties("GlobalMetadata")) == GLOBAL_METADATA_FIELDS


def test_the_validators_schemas_make_only_the_metadata_optional() -> None:
    document, entry = document_schema(), llm_entry_schema()
    assert document["properties"] == _rewritten(_properties("QueryModelWithMetadata"))
    assert document["required"] == _schemas()["QueryModel"]["required"]
    assert entry["properties"] == _rewritten(_properties("QueryLlmEntryWithMetadata"))
    assert entry["required"] == _schemas()["QueryLlmEntry"]["required"]
    for schema in (document, entry):
        assert schema["additionalProperties"] is False
        assert set(schema["$defs"]) == set(_schemas())


def test_response_schema_is_the_documented_answer() -> None:
    errors = jsonschema.Draft202012Validator(response_schema("/query_llms/{name}", "get", 404))
    assert errors.is_valid({"code": 404, "message": {"kind": "query_llm", "error": "Query LLM not found"}})
    assert not errors.is_valid({"code": 404})
    count = jsonschema.Draft202012Validator(response_schema("/query_models/count", "GET"))
    assert count.is_valid({"count": 13})
    assert not count.is_valid({"count": -1})
    with pytest.raises(SpecError, match="documents no JSON 404 answer for GET /metadata"):
        response_schema("/metadata", "get", 404)


# --- examples ----------------------------------------------------------------------------------------


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


def test_the_llm_examples_are_served_entries() -> None:
    catalog = load_catalog()
    examples = _response_examples("200", "/query_llms/{name}", "get")
    for name, metadata in (("queryLlmEntry", False), ("queryLlmEntryWithMetadata", True)):
        entry = examples[name]
        assert validate_query_llm(entry, metadata=metadata) == [], name
        assert catalog.llm(entry["name"]) == _without(entry, METADATA_FIELDS), name
    built = _response_examples("200", "/query_llms", "post")["example"]
    assert catalog.llm(built["name"]) == built


def test_the_post_example_builds_to_the_documented_answer() -> None:
    content = _operation("/query_models", "post")["requestBody"]["content"]["application/json"]
    definition = content["examples"]["definition"]["value"]
    answer = _response_examples("200", "/query_models", "post")["queryModel"]
    assert build_query_model(copy.deepcopy(definition)) == answer


@pytest.mark.parametrize("path", sorted({path for path, _ in FAMILY}))
def test_every_media_type_example_matches_its_schema(path: str) -> None:
    for method, operation in load_spec()["paths"][path].items():
        if method not in HTTP_METHODS:
            continue
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, _resolve(response)) for status, response in operation["responses"].items()]
        for status, container in bodies:
            media = container.get("content", {}).get("application/json")
            if media is None:
                continue
            schema = {"$defs": component_schema("Error")["$defs"], **_rewritten(media["schema"])}
            cls = jsonschema.Draft202012Validator
            checker = cls(schema, format_checker=cls.FORMAT_CHECKER)
            examples = [_resolve(example)["value"] for example in media.get("examples", {}).values()]
            examples += [media["example"]] if "example" in media else []
            assert examples, (path, method, status)
            for example in examples:
                assert list(checker.iter_errors(example)) == [], (path, method, status)
                if status not in ("200", "request"):
                    assert example["code"] == int(status)


def _rewritten(schema: dict[str, Any]) -> dict[str, Any]:
    rewritten: dict[str, Any] = json.loads(json.dumps(schema).replace("#/components/schemas/", "#/$defs/"))
    return rewritten


def test_the_parameter_examples() -> None:
    resolved = [_resolve(parameter) for parameter in _operation()["parameters"]]
    parameters = {parameter["name"]: parameter for parameter in resolved}
    slug = parameters["slug"]["example"]
    assert is_name(slug)
    assert slug in load_catalog()
    start = datetime.fromisoformat(parameters["from"]["example"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(parameters["to"]["example"].replace("Z", "+00:00"))
    assert start < end
    llm = _operation("/query_llms/{name}", "get")["parameters"][0]["example"]
    assert load_catalog().llm(llm) is not None


def test_the_name_schema_examples_are_names() -> None:
    for example in _schemas()["Name"]["examples"]:
        assert is_name(example)
        assert _checker("Name").is_valid(example)


def test_the_worked_examples_match_the_query_model_schema() -> None:
    checker = _checker("QueryModel")
    for vector in json.loads(VECTORS.read_text(encoding="utf-8")):
        assert list(checker.iter_errors(vector["document"])) == []


# --- definitions: what users write, and what they post back ----------------------------------------------


def test_served_documents_and_entries_are_valid_definitions() -> None:
    """A retrieved document or entry can be posted back as it is, metadata included."""
    model, llm = _checker("QueryModelDefinition"), _checker("QueryLlmDefinition")
    metadata = _response_examples("200")["queryModelWithMetadata"]
    extra = {key: metadata[key] for key in METADATA_FIELDS}
    catalog = load_catalog()
    for document in catalog:
        assert list(model.iter_errors(document)) == []
        assert list(model.iter_errors({**document, **extra})) == []
        for entry in document["models"]:
            assert list(llm.iter_errors({**entry, **extra})) == []


def test_definitions_as_users_write_them_are_valid() -> None:
    checker = _checker("QueryModelDefinition")
    for vector in json.loads(VECTORS.read_text(encoding="utf-8")):
        assert list(checker.iter_errors(vector["definition"])) == []
    written = {
        "weight": {"type": "static"},
        "models": [
            {
                "id": "openai/gpt-5-nano",
                "mode": "select_thinking_logprobs",
                "select_top_logprobs": 20,
                "temperature": 1,
                "top_p": None,
                "stop": [],
                "logit_bias": {},
                "models": [],
                "verbosity": "medium",
                "provider": {"order": [], "allow_fallbacks": True, "only": ["b", "a"], "sort": None},
                "reasoning": {"max_tokens": 0, "enabled": True, "effort": None},
                "weight": {"type": "static", "weight": 1},
            }
        ],
    }
    assert list(checker.iter_errors(written)) == []
    build_query_model(written)


LLM: dict[str, Any] = {"id": "a", "mode": "generate", "weight": {"type": "static", "weight": 1}}


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"weight": None},
        {"models": []},
        {"models": [{**LLM, "extra": 1}]},
        {"models": [{**LLM, "weight": {"type": "static", "weight": 0}}]},
        {"models": [{**LLM, "stop": ["x", "x"]}]},
        {"models": [{**LLM, "id": None}]},
    ],
)
def test_definitions_the_post_routes_refuse_are_invalid(change: dict[str, Any]) -> None:
    definition = {**json.loads(VECTORS.read_text(encoding="utf-8"))[0]["definition"], **change}
    assert not _checker("QueryModelDefinition").is_valid(definition)
    with pytest.raises(InvalidDefinition):
        build_query_model(model_without_computed(definition))
