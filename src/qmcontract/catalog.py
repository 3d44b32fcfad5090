"""Catalog: the Query Model documents a mock serves, keyed by name.

Built from a directory of definitions (the shipped ``mocks/`` by default), or from
definitions and documents added at run time. Every document in a catalogue is valid:
definitions are built by the core, documents are validated before they are accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from qmcontract.errors import CatalogError, InvalidDefinition, QmContractError, format_violations
from qmcontract.inputs import load_json_or_yaml
from qmcontract.model import build_query_model
from qmcontract.resources import mocks_path
from qmcontract.validate import validate_query_model

DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")


class Catalog:
    """Query Model documents by name. Safe to share between threads."""

    def __init__(self, documents: Iterable[Mapping[str, Any]] = ()) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        for document in documents:
            self.add(document)

    def add(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Add a definition (built here) or a complete document (validated); return the document.

        Raises :class:`InvalidDefinition` when it breaks the contract.
        """
        document = _as_document(definition)
        with self._lock:
            self._documents[document["name"]] = document
        return document

    def get(self, name: str) -> dict[str, Any] | None:
        """The document of that name, or None."""
        return self._documents.get(name)

    def names(self) -> list[str]:
        """Every name, ascending (the order the list endpoint uses)."""
        return sorted(self._documents)

    def __contains__(self, name: object) -> bool:
        return name in self._documents

    def __len__(self) -> int:
        return len(self._documents)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter([self._documents[name] for name in self.names()])

    def copy(self) -> Catalog:
        """An independent catalogue with the same documents (documents are not mutated)."""
        clone = Catalog()
        clone._documents = dict(self._documents)
        return clone


def _as_document(value: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping) and "name" in value:
        document = dict(value)
        violations = validate_query_model(document, metadata=False)
        if violations:
            raise InvalidDefinition(violations)
        return document
    return build_query_model(value)


def definition_files(directory: Path) -> list[Path]:
    """The definition files of a catalogue directory, in name order."""
    return sorted(p for p in directory.iterdir() if p.suffix in DEFINITION_SUFFIXES and p.is_file())


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Build every definition in a directory (default: the shipped ``mocks/``).

    Raises :class:`CatalogError` naming every broken file as ``file: /pointer: rule: message``.
    """
    directory = Path(path) if path is not None else mocks_path()
    if not directory.is_dir():
        raise CatalogError(f"{directory}: not a directory of Query Model definitions")
    catalog, problems = Catalog(), []
    for file in definition_files(directory):
        try:
            catalog.add(load_json_or_yaml(file))
        except InvalidDefinition as exc:
            problems.append(format_violations(exc.violations, prefix=f"{file}: "))
        except QmContractError as exc:
            problems.append(str(exc))
    if problems:
        raise CatalogError("\n".join(problems))
    if not len(catalog):
        raise CatalogError(f"{directory}: no definition files ({', '.join(DEFINITION_SUFFIXES)})")
    return catalog
