"""Schema validation of a document against openapi.yaml, as a flat list of plain errors.

``jsonschema-rs`` does the work: measured here it checks this schema ~200x faster than
the ``jsonschema`` package, which matters because schemathesis, the respx mock and the
server all validate on hot paths. Values ``jsonschema-rs`` cannot take (Python objects
that are not JSON) fall back to ``jsonschema``, so checking never raises. Non-finite numbers
and integers beyond 64 bits, which JSON Schema tools disagree on, are reported here before the
schema runs. ``oneOf`` failures are replaced by the errors of the branch the instance meant (the
one whose ``type`` it matches), so a bad weight reports the bad field, not "no branch".
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema_rs

from qmcontract.limits import MAX_INTEGER, MAX_QUOTED, quoted
from qmcontract.spec import document_schema, llm_entry_schema

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SchemaError:
    """One schema failure: where, which keyword, the offending value, and the message."""

    path: JsonPath
    keyword: str
    instance: Any
    message: str


def _keyword_of(kind_name: str) -> str:
    return kind_name[0].lower() + kind_name[1:]


def enum_message(instance: Any, options: Any) -> str:
    """An enum failure naming every allowed value (the validators' own messages list two or three)."""
    allowed = [json.dumps(option, ensure_ascii=False) for option in options]
    listed = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
    try:
        shown = json.dumps(instance, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = repr(instance)
    if len(shown) > MAX_QUOTED:
        shown = f"{shown[: MAX_QUOTED - 1]}… ({len(shown)} characters)"
    return f"{shown} is not one of {listed}"


class _RustChecker:
    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)

    def is_valid(self, document: Any) -> bool:
        return bool(self._validator.is_valid(document))

    def errors(self, document: Any) -> Iterator[SchemaError]:
        for error in self._validator.iter_errors(document):
            for flat in _flatten_rust(error):
                yield SchemaError(
                    _object_keys_as_given(document, flat.path),
                    flat.keyword,
                    flat.instance,
                    flat.message,
                )


def _object_keys_as_given(document: Any, path: JsonPath) -> JsonPath:
    """jsonschema-rs reports an object key such as "01" as the integer 1: restore the key."""
    fixed: list[str | int] = []
    node = document
    for reported in path:
        part = _key_in(node, reported) if isinstance(node, dict) else reported
        fixed.append(part)
        node = _child(node, part)
    return tuple(fixed)


def _key_in(node: dict[str, Any], reported: str | int) -> str:
    if isinstance(reported, str) or str(reported) in node:
        return str(reported)
    return next((k for k in node if k.isdigit() and int(k) == reported), str(reported))


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def short_message(message: str) -> str:
    """A tool's message, with the huge value it may quote cut to ``MAX_QUOTED`` characters (its end kept)."""
    if len(message) <= MAX_QUOTED + 100:
        return message
    return f"{message[:MAX_QUOTED]}…({len(message) - MAX_QUOTED - 80} characters)…{message[-80:]}"


def _flatten_rust(error: Any) -> Iterator[SchemaError]:
    kind = type(error.kind).__name__
    path = tuple(error.instance_path)
    if kind == "OneOfNotValid":
        branches = [list(b) for b in error.kind.context]
        branch = _intended_branch(path, branches, _rust_miss)
        if branch is not None:
            for sub in branch:
                yield from _flatten_rust(sub)
            return
        types = [_rust_type_const(b, path) for b in branches]
        unknown = _unknown_type(path, error.instance, types)
        if unknown is not None:
            yield unknown
            return
    if kind in ("UnevaluatedProperties", "AdditionalProperties"):
        for key in error.kind.unexpected:
            yield SchemaError((*path, key), "additionalProperties", None, f"unknown field {quoted(key)}")
        return
    message = enum_message(error.instance, error.kind.options) if kind == "Enum" else error.message
    yield SchemaError(path, _keyword_of(kind), error.instance, short_message(message))


def _rust_miss(error: Any, path: JsonPath) -> bool:
    kind = type(error.kind).__name__
    at = tuple(error.instance_path)
    return (kind == "Type" and at == path) or (kind == "Constant" and at == (*path, "type"))


def _rust_type_const(branch: list[Any], path: JsonPath) -> Any:
    """The ``type`` a ``oneOf`` branch requires, when the instance missed exactly that (else None)."""
    for error in branch:
        if type(error.kind).__name__ == "Constant" and tuple(error.instance_path) == (*path, "type"):
            return error.kind.expected_value
    return None


def _unknown_type(path: JsonPath, instance: Any, types: list[Any]) -> SchemaError | None:
    """An object whose ``type`` matches no ``oneOf`` branch: name every allowed type."""
    if not isinstance(instance, dict) or "type" not in instance or any(t is None for t in types) or not types:
        return None
    return SchemaError(path, "enum", instance, f"type: {enum_message(instance['type'], types)}")


def _intended_branch(path: JsonPath, branches: list[list[Any]], missed: Any) -> list[Any] | None:
    """The one ``oneOf`` branch whose type/discriminator the instance matches, if unique."""
    candidates = [b for b in branches if not any(missed(error, path) for error in b)]
    return candidates[0] if len(candidates) == 1 else None


class _PythonChecker:
    """The fallback for values jsonschema-rs cannot take (imported only when needed)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        import jsonschema  # noqa: PLC0415

        cls = jsonschema.Draft202012Validator
        self._validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def errors(self, document: Any) -> Iterator[SchemaError]:
        for error in self._validator.iter_errors(document):
            yield from _flatten_python(error, ())


def _flatten_python(error: Any, base: JsonPath) -> Iterator[SchemaError]:
    path = (*base, *error.absolute_path) if not base else (*base, *error.path)
    if error.validator == "oneOf" and error.context:
        branches: dict[int, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        chosen = _intended_branch((), list(branches.values()), _python_miss)
        if chosen is not None:
            for sub in chosen:
                yield from _flatten_python(sub, path)
            return
        types = [_python_type_const(branch) for branch in branches.values()]
        unknown = _unknown_type(path, error.instance, types)
        if unknown is not None:
            yield unknown
            return
    if error.validator in ("unevaluatedProperties", "additionalProperties"):
        schema = error.schema if isinstance(error.schema, dict) else {}
        instance = error.instance if isinstance(error.instance, dict) else {}
        extra = sorted(set(instance) - set(schema.get("properties", {})))
        for key in extra or ["?"]:
            yield SchemaError((*path, key), "additionalProperties", None, f"unknown field {quoted(key)}")
        return
    message = error.message
    if error.validator == "enum" and isinstance(error.validator_value, list):
        message = enum_message(error.instance, error.validator_value)
    yield SchemaError(path, str(error.validator), error.instance, short_message(message))


def _python_type_const(branch: list[Any]) -> Any:
    for error in branch:
        if error.validator == "const" and tuple(error.path) == ("type",):
            return error.validator_value
    return None


def _python_miss(error: Any, _path: JsonPath) -> bool:
    at = tuple(error.path)
    return (error.validator == "type" and at == ()) or (error.validator == "const" and at == ("type",))


@functools.cache
def _checkers(kind: str) -> tuple[_RustChecker, _PythonChecker]:
    schema = document_schema() if kind == "document" else llm_entry_schema()
    return _RustChecker(schema), _PythonChecker(schema)


def _unrepresentable(value: Any, path: JsonPath = ()) -> Iterator[SchemaError]:
    """Numbers that JSON Schema tools disagree on: non-finite floats and integers beyond 64 bits."""
    if isinstance(value, float) and not math.isfinite(value):
        yield SchemaError(path, "finite", value, f"{value} is not a finite number")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        yield SchemaError(path, "maximum", value, "an integer beyond 64 bits")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unrepresentable(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unrepresentable(item, (*path, index))


_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _may_be_unrepresentable(document: Any) -> bool:
    """A fast test (the C encoder) that rules out non-finite numbers and huge integers in most documents."""
    try:
        text = json.dumps(document, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return True
    return _LONG_DIGITS.search(text) is not None


def schema_errors(document: Any, *, kind: str = "document") -> list[SchemaError]:
    """Every schema failure of a response document (metadata fields optional), or of one LLM entry
    (``kind="llm"``, as ``GET /query_llms/{name}`` answers it)."""
    rust, python = _checkers(kind)
    try:
        odd = list(_unrepresentable(document)) if _may_be_unrepresentable(document) else []
        if not odd and rust.is_valid(document):
            return []
        odd_paths = {error.path for error in odd}
        return odd + [error for error in rust.errors(document) if error.path not in odd_paths]
    except (ValueError, TypeError, OverflowError, RecursionError):
        pass
    try:
        return list(python.errors(document))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        return [SchemaError((), "type", None, f"not a JSON value: {exc}")]
