"""Loads ``openapi.yaml`` once and hands out plain JSON Schemas derived from it.

The spec is the single source of the schema. JSON Schema tools do not understand
``#/components/schemas/...`` outside an OpenAPI document, so each schema handed out here
is self-contained: the components become ``$defs`` and every ``$ref`` is rewritten.

The spec writes each answer as a flat object with ``additionalProperties: false`` (the shapes
with and without metadata side by side), because some tools cannot follow ``allOf`` with
``unevaluatedProperties``. The validator needs one schema per kind of answer in which the
metadata fields are optional (whether they must be present depends on the request, which is
the ``metadata-presence`` rule), so :func:`document_schema` and :func:`llm_entry_schema` take
the flat shape *with* metadata and only relax its ``required`` list.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Final

import yaml

from qmcontract.errors import SpecError
from qmcontract.resources import spec_path
from qmcontract.rules import METADATA_FIELDS

_COMPONENT_PREFIX: Final = "#/components/schemas/"
_RESPONSE_PREFIX: Final = "#/components/responses/"
DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"
JSON_MEDIA_TYPE: Final = "application/json"
#: The flat answer schemas the validator's two schemas are derived from.
DOCUMENT_COMPONENT: Final = "QueryModelWithMetadata"
LLM_ENTRY_COMPONENT: Final = "QueryLlmEntryWithMetadata"


@functools.cache
def load_spec() -> dict[str, Any]:
    """The parsed OpenAPI document (cached: treat it as read-only)."""
    path = spec_path()
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot load the OpenAPI spec: {exc}") from exc
    if not isinstance(spec, dict) or "components" not in spec:
        raise SpecError(f"{path}: not an OpenAPI document with components")
    return spec


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                value.replace(_COMPONENT_PREFIX, "#/$defs/")
                if key == "$ref" and isinstance(value, str)
                else _rewrite_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _defs() -> dict[str, Any]:
    schemas = load_spec()["components"]["schemas"]
    return {name: _rewrite_refs(schema) for name, schema in schemas.items()}


def _self_contained(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DRAFT_2020_12, "$defs": defs, **schema}


def component_schema(name: str) -> dict[str, Any]:
    """A self-contained Draft 2020-12 schema for one component of the spec."""
    defs = _defs()
    if name not in defs:
        raise SpecError(f"openapi.yaml has no component schema {name!r}")
    return _self_contained({"$ref": f"#/$defs/{name}"}, defs)


def _metadata_optional(component: str) -> dict[str, Any]:
    """A flat answer schema with metadata, its nine metadata fields made optional."""
    defs = _defs()
    if component not in defs:
        raise SpecError(f"openapi.yaml has no component schema {component!r}")
    schema = copy.deepcopy(defs[component])
    missing = set(METADATA_FIELDS) - set(schema.get("properties", {}))
    if missing:
        raise SpecError(f"openapi.yaml: {component} lacks {sorted(missing)}")
    schema["required"] = [field for field in schema.get("required", []) if field not in METADATA_FIELDS]
    return _self_contained(schema, defs)


def document_schema() -> dict[str, Any]:
    """A Query Model answer with the nine metadata fields optional.

    Whether metadata must be present depends on the request, so the validator checks it
    as its own rule (``metadata-presence``) instead of failing a ``oneOf`` of both shapes.
    """
    return _metadata_optional(DOCUMENT_COMPONENT)


def llm_entry_schema() -> dict[str, Any]:
    """One Query LLM as ``GET /query_llms/{name}`` answers it: no indexes, metadata optional."""
    return _metadata_optional(LLM_ENTRY_COMPONENT)


def response_schema(path: str, method: str, status: int | str = 200) -> dict[str, Any]:
    """The self-contained schema of one documented JSON answer, e.g. ``("/metadata", "get", 200)``.

    What a JSON Schema tool checks an answer against when it has no OpenAPI support: the
    ``application/json`` schema of that operation's response (following a reference to a
    shared response). :class:`SpecError` when the spec documents no such answer.
    """
    spec = load_spec()
    try:
        response = spec["paths"][path][method.lower()]["responses"][str(status)]
        reference = response.get("$ref", "")
        if reference.startswith(_RESPONSE_PREFIX):
            response = spec["components"]["responses"][reference[len(_RESPONSE_PREFIX) :]]
        schema = response["content"][JSON_MEDIA_TYPE]["schema"]
    except (KeyError, TypeError, AttributeError):
        where = f"{method.upper()} {path}"
        raise SpecError(f"openapi.yaml documents no JSON {status} answer for {where}") from None
    return _self_contained(_rewrite_refs(schema), _defs())
