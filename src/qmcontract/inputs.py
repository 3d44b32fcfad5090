"""Reading JSON or YAML from a file or standard input, with one clear error when it fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from qmcontract.errors import InputError

STDIN = "-"


def read_text(source: str | Path) -> str:
    """The text of a file, or of standard input for ``-``."""
    if str(source) == STDIN:
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a directory, expected a JSON or YAML file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from None


def parse_json_or_yaml(text: str, *, source: str | Path) -> Any:
    """Parse JSON, or YAML when the text is not JSON. YAML dates stay strings."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.load(text, Loader=_JsonLikeLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or "invalid syntax"
        raise InputError(f"{source}: neither JSON nor YAML{line}: {problem}") from None


def load_json_or_yaml(source: str | Path) -> Any:
    """Read and parse one JSON or YAML document from a path or ``-``."""
    name = "<stdin>" if str(source) == STDIN else source
    text = read_text(source)
    if not text.strip():
        raise InputError(f"{name}: empty input, expected a JSON or YAML document")
    return parse_json_or_yaml(text, source=name)


class _JsonLikeLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, so every value is plain JSON."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
