"""Seeded generation for ``qmcontract generate``: documents from one seed, and the writers.

The sampler (:mod:`qmcontract.sampler`) makes the documents and the breakers
(:mod:`qmcontract.breakers`) break them; this module only drives them from
:func:`~qmcontract.sampler.seeded_chooser` and writes the results, so the same seed and options
give byte-identical output on every machine and Python version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal

from qmcontract.breakers import invalid_query_model
from qmcontract.errors import QmContractError
from qmcontract.names import hash_name, is_name
from qmcontract.rules import DOCUMENT_RULES
from qmcontract.sampler import (
    Chooser,
    WeightType,
    check_llm_bounds,
    check_weight,
    query_model,
    seeded_chooser,
)

# --- seeded generation (the CLI) -------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    """One generated document; ``rule`` is the document rule it breaks, or None when valid."""

    document: dict[str, Any]
    rule: str | None = None

    @property
    def stem(self) -> str:
        """File name without extension: the document name (plus ``.<rule>`` when invalid).

        A broken document whose name is not a name is named by the hash of its JSON instead.
        """
        name = self.document.get("name")
        if not is_name(name):
            name = hash_name(json_line(self.document))
        return f"{name}.{self.rule}" if self.rule else str(name)


def resolve_rules(invalid: str | None) -> tuple[str, ...]:
    """The rules ``--invalid`` names: none, one rule id, or every document rule for ``all``."""
    if invalid is None:
        return ()
    if invalid == "all":
        return tuple(DOCUMENT_RULES)
    if invalid not in DOCUMENT_RULES:
        raise QmContractError(f"unknown document rule {invalid!r}; valid: all, {', '.join(DOCUMENT_RULES)}")
    return (invalid,)


def generate_documents(
    count: int,
    *,
    seed: int = 0,
    weight: WeightType | None = None,
    metadata: bool = False,
    invalid: Sequence[str] = (),
    min_llms: int = 1,
    max_llms: int = 16,
) -> Iterator[Generated]:
    """``count`` documents from one seeded stream: the first ``n`` never depend on ``count``.

    With ``invalid`` rule ids, document ``i`` breaks ``invalid[i % len(invalid)]``. Arguments are
    checked at once (raising :class:`QmContractError`); documents are made as they are consumed.
    """
    check_weight(weight)
    check_llm_bounds(min_llms, max_llms)
    unknown = [rule for rule in invalid if rule not in DOCUMENT_RULES]
    if unknown:
        raise QmContractError(f"unknown document rule(s) {unknown}; valid: {', '.join(DOCUMENT_RULES)}")
    options = _Options(weight, metadata, tuple(invalid), min_llms, max_llms)
    return _generated(count, seeded_chooser(seed), options)


@dataclass(frozen=True)
class _Options:
    weight: WeightType | None
    metadata: bool
    invalid: tuple[str, ...]
    min_llms: int
    max_llms: int


def _generated(count: int, chooser: Chooser, options: _Options) -> Iterator[Generated]:
    low, high = options.min_llms, options.max_llms
    for i in range(count):
        if options.invalid:
            rule = options.invalid[i % len(options.invalid)]
            document = invalid_query_model(
                chooser, rule, weight=options.weight, metadata=options.metadata, min_llms=low, max_llms=high
            )
            yield Generated(document, rule)
        else:
            document = query_model(
                chooser, weight=options.weight, metadata=options.metadata, min_llms=low, max_llms=high
            )
            yield Generated(document)


# --- output --------------------------------------------------------------------------------------------

_JSON_LINE: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_JSON_PRETTY: Final = json.JSONEncoder(ensure_ascii=False, indent=2, allow_nan=False).encode


def json_line(value: Any) -> str:
    """Compact JSON on one line (UTF-8 characters kept, never NaN)."""
    return _JSON_LINE(value)


def _record(item: Generated) -> Any:
    return item.document if item.rule is None else {"rule": item.rule, "document": item.document}


def write_jsonl(items: Iterator[Generated], stream: BinaryIO) -> int:
    """One compact JSON line per document (invalid: ``{"rule", "document"}``); returns the count."""
    written = 0
    for item in items:
        stream.write(json_line(_record(item)).encode("utf-8") + b"\n")
        written += 1
    return written


def write_json_array(items: Iterator[Generated], stream: BinaryIO) -> int:
    """A JSON array, one compact document per line (invalid: ``{"rule", "document"}``); returns the count."""
    written = 0
    for item in items:
        separator = b"[\n" if written == 0 else b",\n"
        stream.write(separator + json_line(_record(item)).encode("utf-8"))
        written += 1
    stream.write(b"\n]\n" if written else b"[]\n")
    return written


def write_json_files(items: Iterator[Generated], directory: Path) -> int:
    """One ``<stem>.json`` per document in ``directory``; a repeated stem gets ``-2``, ``-3``..."""
    directory.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    written = 0
    for item in items:
        stem = item.stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"
        (directory / f"{name}.json").write_bytes(_JSON_PRETTY(item.document).encode("utf-8") + b"\n")
        written += 1
    return written


def write_generated(
    items: Iterator[Generated], *, fmt: Literal["json", "jsonl"], out: str, stdout: BinaryIO
) -> int:
    """Write documents where ``--format``/``--out`` say; returns how many were written.

    ``out`` is ``-`` (``stdout``) or a directory: ``json`` writes one ``<stem>.json`` per
    document there, ``jsonl`` writes ``documents.jsonl``.
    """
    if out == "-":
        return write_jsonl(items, stdout) if fmt == "jsonl" else write_json_array(items, stdout)
    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise QmContractError(f"{out}: exists and is not a directory")
    if fmt == "json":
        return write_json_files(items, directory)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "documents.jsonl").open("wb") as stream:
        return write_jsonl(items, stream)
