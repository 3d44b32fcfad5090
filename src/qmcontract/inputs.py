"""Reading JSON or YAML from a file, standard input or a request body: bounded, and with one clear error.

Every reader here is safe on hostile input: a size bound (:data:`~qmcontract.limits.MAX_FILE_BYTES`
for files, the caller's for bodies), nesting at most :data:`~qmcontract.limits.MAX_DEPTH` deep,
integers of at most 4,300 digits (Python's own parse limit), strings that are valid Unicode
(no lone surrogates), no YAML aliases (a 349-byte alias bomb expands to gigabytes), and only
JSON values (YAML timestamps stay strings, mapping keys are the text written, binary and sets
are refused). Anything else is an :class:`~qmcontract.errors.InputError` naming the source.

Formats that need YAML aliases (VCR cassettes) ask for ``aliases=True``: the value is then
refused when it would expand to more than :data:`~qmcontract.limits.MAX_ALIAS_EXPANSION`
times the nodes written.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import IO, Any, Final

import yaml

from qmcontract.errors import InputError
from qmcontract.limits import MAX_ALIAS_EXPANSION, MAX_DEPTH, MAX_FILE_BYTES, MAX_INTEGER_DIGITS

STDIN: Final = "-"
_CLoader: Final[type[yaml.SafeLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_bytes(source: str | Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, or of standard input for ``-``, at most ``limit`` of them."""
    data = sys.stdin.buffer.read(limit + 1) if str(source) == STDIN else _read_file(Path(source), limit)
    if len(data) > limit:
        raise InputError(f"{_name(source)}: larger than {limit:,} bytes")
    return data


def _read_file(path: Path, limit: int) -> bytes:
    with open_regular(path, expected="a JSON or YAML file") as stream:
        try:
            return stream.read(limit + 1)
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def open_regular(path: Path, *, expected: str) -> IO[bytes]:
    """A regular file opened for reading, or one InputError (missing, a directory, a FIFO).

    A FIFO or device is refused before it is opened: reading one could block for ever.
    """
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a directory, expected {expected}")
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: not a regular file (a FIFO, socket or device is not read)")
        return path.open("rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def decode_utf8(data: bytes, *, source: str | Path) -> str:
    """Bytes as UTF-8 text (a leading byte-order mark dropped); InputError when they are not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{_name(source)}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_text(source: str | Path, *, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a file, or of standard input for ``-``."""
    return decode_utf8(read_bytes(source, limit=limit), source=source)


def load_json_or_yaml(source: str | Path, *, aliases: bool = False) -> Any:
    """Read and parse one JSON or YAML document from a path or ``-``."""
    text = read_text(source)
    if not text.strip():
        raise InputError(f"{_name(source)}: empty input, expected a JSON or YAML document")
    return parse_json_or_yaml(text, source=_name(source), aliases=aliases)


def parse_json(text: str, *, source: str | Path) -> Any:
    """Parse JSON text (only JSON); raises InputError naming the source and the line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except ValueError:
        raise InputError(f"{source}: an integer longer than {MAX_INTEGER_DIGITS:,} digits") from None
    except RecursionError:
        raise InputError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    check_json_value(value, source=source)
    return value


def parse_json_or_yaml(text: str, *, source: str | Path, aliases: bool = False, binary: bool = False) -> Any:
    """Parse JSON, or YAML when the text is not JSON.

    ``binary=True`` reads YAML ``!!binary`` values (VCR cassettes write undecodable bodies so) as
    :class:`Base64Text`, the base64 text as written; otherwise they are refused.
    """
    try:
        return parse_json(text, source=source)
    except InputError as exc:
        if not str(exc).startswith(f"{source}: not JSON:"):
            raise
    return _parse_yaml(text, source=source, aliases=aliases, binary=binary)


def check_json_value(value: Any, *, source: str | Path) -> None:
    """Raise InputError unless ``value`` nests at most MAX_DEPTH deep and its strings are valid Unicode."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_string(node, source)
        elif isinstance(node, (dict, list)):
            if depth >= MAX_DEPTH:
                raise InputError(f"{source}: nested deeper than {MAX_DEPTH} levels")
            if isinstance(node, dict):
                for key, item in node.items():
                    _check_string(key, source)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in node)


def _check_string(text: str, source: str | Path) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{source}: a string holds a lone surrogate (not valid Unicode)") from None


def _parse_yaml(text: str, *, source: str | Path, aliases: bool, binary: bool = False) -> Any:
    try:
        nodes = _scan_events(text, source=source, aliases=aliases)
        value = yaml.load(text, Loader=_BinaryLoader if binary else _JsonLikeLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise InputError(f"{source}: neither JSON nor YAML{line}: {problem}") from None
    except ValueError:
        raise InputError(f"{source}: an integer longer than {MAX_INTEGER_DIGITS:,} digits") from None
    if aliases:
        _check_expansion(value, MAX_ALIAS_EXPANSION * max(nodes, 1), source)
    else:
        check_json_value(value, source=source)
    return value


def _scan_events(text: str, *, source: str | Path, aliases: bool) -> int:
    """Check depth and aliases on the event stream, before anything is built; return the node count."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_CLoader):
        if isinstance(event, yaml.AliasEvent):
            if not aliases:
                raise InputError(f"{source}: YAML aliases (*name) are not accepted here")
            continue
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(f"{source}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            nodes += 1
    return nodes


def _check_expansion(value: Any, cap: int, source: str | Path) -> None:
    """Refuse a value that, with its aliases expanded, holds more than ``cap`` nodes."""
    seen = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > cap:
            raise InputError(f"{source}: YAML aliases expand it beyond {MAX_ALIAS_EXPANSION}x its size")
        if depth > MAX_DEPTH:
            raise InputError(f"{source}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((item, depth + 1) for item in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            _check_string(node, source)


def _name(source: str | Path) -> str:
    return "<stdin>" if str(source) == STDIN else str(source)


class _JsonLikeLoader(_CLoader):  # type: ignore[misc,valid-type]
    """A safe loader that builds only JSON values: timestamps stay strings, keys are the text written."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be strings", key_node.start_mark
            )
        mapping[key_node.value] = loader.construct_object(value_node, deep=True)
    return mapping


def _refuse(_loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(None, None, f"{node.tag} is not a JSON value", node.start_mark)


_JsonLikeLoader.add_constructor("tag:yaml.org,2002:map", _mapping)
for _tag in ("binary", "set", "omap", "pairs"):
    _JsonLikeLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)


class Base64Text(str):
    """A YAML ``!!binary`` value, kept as the base64 text written (whitespace removed)."""


class _BinaryLoader(_JsonLikeLoader):
    """The JSON-like loader that also reads ``!!binary`` values, as :class:`Base64Text`."""


def _binary(loader: yaml.SafeLoader, node: yaml.Node) -> Base64Text:
    text = loader.construct_scalar(node)  # type: ignore[arg-type]
    return Base64Text("".join(str(text).split()))


_BinaryLoader.add_constructor("tag:yaml.org,2002:binary", _binary)
