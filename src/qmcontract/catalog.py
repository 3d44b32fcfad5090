"""Catalog: the Query Model documents a mock serves, keyed by name, and their LLMs by name.

Built from a directory of definitions (the shipped ``mocks/`` by default), or from definitions
and documents added at run time. Every document in a catalogue is valid: definitions are built
by the core, documents are validated before they are accepted.

The catalogue owns what it stores: a definition is copied on the way in and a document on the
way out, so a caller's later change never reaches a stored document. Each document is encoded
once, when added, which is what the engine sends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from qmcontract.canonical import INDEX_FIELDS, copy_json
from qmcontract.errors import CatalogError, InvalidDefinition, QmContractError, format_violations
from qmcontract.inputs import load_json_or_yaml
from qmcontract.model import build_query_model
from qmcontract.resources import mocks_path
from qmcontract.validate import validate_query_model
from qmcontract.wire import encode_json

DEFINITION_SUFFIXES: Final = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Stored:
    """One stored object: its document (never handed out), the bytes sent, and what the figures need."""

    document: dict[str, Any]
    encoded: bytes
    embeddings: bool
    llm_count: int = 1


class Catalog:
    """Query Model documents by name, and every LLM entry by name. Safe to share between threads."""

    def __init__(self, documents: Iterable[Mapping[str, Any]] = ()) -> None:
        self._models: dict[str, Stored] = {}
        self._llms: dict[str, Stored] = {}
        self._names: list[str] | None = None
        self._generation = 0
        self._lock = threading.Lock()
        for document in documents:
            self.add(document)

    def add(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Add a definition (built here) or a complete document (validated); return the document.

        Raises :class:`InvalidDefinition` when it breaks the contract.
        """
        value = copy_json(definition) if isinstance(definition, Mapping) else definition
        document: dict[str, Any] = copy_json(self.add_built(_as_document(value)))
        return document

    def add_built(self, document: dict[str, Any]) -> dict[str, Any]:
        """Keep a document the core built or validated, as it is (no copy: the catalogue owns it)."""
        stored = Stored(document, encode_json(document), _uses_embeddings(document), len(document["models"]))
        with self._lock:
            self._models[document["name"]] = stored
            for llm in document["models"]:
                self._llms.setdefault(llm["name"], _stored_llm(llm))
            self._names = None
            self._generation += 1
        return document

    def get(self, name: str) -> dict[str, Any] | None:
        """A copy of the document of that name, or None."""
        stored = self._models.get(name)
        return None if stored is None else copy_json(stored.document)

    def stored(self, name: str) -> Stored | None:
        """The stored Query Model of that name (read-only), or None."""
        return self._models.get(name)

    def stored_llm(self, name: str) -> Stored | None:
        """The stored LLM entry of that name, without indexes (read-only), or None."""
        return self._llms.get(name)

    def llm(self, name: str) -> dict[str, Any] | None:
        """A copy of the LLM entry of that name, as ``GET /query_llms/{name}`` answers it, or None."""
        stored = self._llms.get(name)
        return None if stored is None else copy_json(stored.document)

    def names(self) -> list[str]:
        """Every Query Model name, ascending (the order the list endpoint uses)."""
        names = self._names
        if names is None:
            names = self._names = sorted(self._models)
        return list(names)

    def llm_names(self) -> list[str]:
        """Every LLM name, ascending."""
        return sorted(self._llms)

    @property
    def generation(self) -> int:
        """A number that changes whenever a document is added (what caches of the catalogue key on)."""
        return self._generation

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter([copy_json(self._models[name].document) for name in self.names()])

    def copy(self) -> Catalog:
        """An independent catalogue with the same documents (stored documents are never changed)."""
        clone = Catalog()
        with self._lock:
            clone._models = dict(self._models)
            clone._llms = dict(self._llms)
            clone._generation = self._generation
        return clone


def _uses_embeddings(document: Mapping[str, Any]) -> bool:
    return bool(document["weight"].get("type") == "training_table")


def _stored_llm(entry: Mapping[str, Any]) -> Stored:
    llm = {key: value for key, value in entry.items() if key not in INDEX_FIELDS}
    return Stored(llm, encode_json(llm), entry["weight"].get("type") == "training_table")


def _as_document(value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and "name" in value:
        violations = validate_query_model(value, metadata=False)
        if violations:
            raise InvalidDefinition(violations)
        return value
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
            catalog.add_built(_as_document(load_json_or_yaml(file)))
        except InvalidDefinition as exc:
            problems.append(format_violations(exc.violations, prefix=f"{file}: "))
        except QmContractError as exc:
            problems.append(str(exc))
    if problems:
        raise CatalogError("\n".join(problems))
    if not len(catalog):
        raise CatalogError(f"{directory}: no definition files ({', '.join(DEFINITION_SUFFIXES)})")
    return catalog
