"""Loads ``openapi.yaml`` once and hands out plain JSON Schemas derived from it.

The spec is the single source of the schema. JSON Schema tools do not understand
``#/components/schemas/...`` outside an OpenAPI document, so each schema handed out here
is self-contained: the components become ``$defs`` and every ``$ref`` is rewritten.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Final

import yaml

from qmcontract.canonical import INDEX_FIELDS
from qmcontract.errors import SpecError
from qmcontract.resources import spec_path
from qmcontract.rules import METADATA_FIELDS

_COMPONENT_PREFIX: Final = "#/components/schemas/"
DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"


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


def component_schema(name: str) -> dict[str, Any]:
    """A self-contained Draft 2020-12 schema for one component of the spec."""
    defs = _defs()
    if name not in defs:
        raise SpecError(f"openapi.yaml has no component schema {name!r}")
    return {"$schema": DRAFT_2020_12, "$defs": defs, "$ref": f"#/$defs/{name}"}


def document_schema() -> dict[str, Any]:
    """The response schema with the nine metadata fields optional.

    Whether metadata must be present depends on the request, so the validator checks it
    as its own rule (``metadata-presence``) instead of failing a ``oneOf`` of both shapes.
    """
    defs = _defs()
    metadata = copy.deepcopy(defs["QueryModelMetadata"]["properties"])
    missing = set(METADATA_FIELDS) - set(metadata)
    if missing:
        raise SpecError(f"openapi.yaml: QueryModelMetadata lacks {sorted(missing)}")
    fields: dict[str, Any] = dict.fromkeys(defs["QueryModelFields"]["properties"], True)
    # additionalProperties, unlike unevaluatedProperties, does not also fail every known
    # field at the root whenever something nested fails.
    return {
        "$schema": DRAFT_2020_12,
        "$defs": defs,
        "$ref": "#/$defs/QueryModelFields",
        "properties": {**fields, **metadata},
        "additionalProperties": False,
    }


def llm_entry_schema() -> dict[str, Any]:
    """One Query LLM as ``GET /query_llms/{name}`` answers it: no indexes, metadata optional."""
    defs = _defs()
    llm = copy.deepcopy(defs["QueryLlm"])
    for field in INDEX_FIELDS:
        llm["properties"].pop(field, None)
    llm["required"] = [field for field in llm["required"] if field not in INDEX_FIELDS]
    llm["properties"].update(copy.deepcopy(defs["QueryModelMetadata"]["properties"]))
    return {"$schema": DRAFT_2020_12, "$defs": defs, **llm}
