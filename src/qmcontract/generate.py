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

from qmcontract.breakers import invalid_query_llm, invalid_query_model
from qmcontract.errors import QmContractError
from qmcontract.names import hash_name, is_name
from qmcontract.rules import DOCUMENT_RULES, LLM_RULES
from qmcontract.sampler import (
    Chooser,
    WeightType,
    check_llm_bounds,
    check_weight,
    query_llm,
    query_model,
    seeded_chooser,
)

# --- seeded generation (the CLI) -------------------------------------------------------------------


Kind = Literal["model", "llm"]
#: What ``--kind`` generates: Query Model documents, or LLM entries as ``GET /query_llms/{name}`` answers.
KINDS: Final[tuple[Kind, ...]] = ("model", "llm")
#: The LLM bounds a Query Model gets unless told (an LLM entry has none).
DEFAULT_MIN_LLMS: Final = 1
DEFAULT_MAX_LLMS: Final = 16


@dataclass(frozen=True)
class Generated:
    """One generated document or LLM entry; ``rule`` is the rule it breaks, or None when valid."""

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


def rules_of(kind: Kind) -> tuple[str, ...]:
    """The rules a ``kind`` of generated value can break: every document rule, or ``LLM_RULES``."""
    return tuple(DOCUMENT_RULES) if kind == "model" else LLM_RULES


def resolve_rules(invalid: str | None, kind: Kind = "model") -> tuple[str, ...]:
    """The rules ``--invalid`` names: none, one rule id, or every rule of ``kind`` for ``all``."""
    if invalid is None:
        return ()
    valid = rules_of(kind)
    if invalid == "all":
        return valid
    if invalid not in valid:
        raise QmContractError(_unknown_rules_message([invalid], kind))
    return (invalid,)


def _unknown_rules_message(unknown: Sequence[str], kind: Kind) -> str:
    listed = ", ".join(repr(rule) for rule in unknown)
    valid = ", ".join(rules_of(kind))
    if kind == "model":
        return f"unknown document rule {listed}; valid: all, {valid}"
    if all(rule in DOCUMENT_RULES for rule in unknown):
        return f"rule {listed} does not apply to one LLM entry (--kind llm); valid: all, {valid}"
    return f"unknown LLM entry rule {listed}; valid with --kind llm: all, {valid}"


def generate_documents(
    count: int,
    *,
    seed: int = 0,
    kind: Kind = "model",
    weight: WeightType | None = None,
    metadata: bool = False,
    invalid: Sequence[str] = (),
    min_llms: int | None = None,
    max_llms: int | None = None,
    portable: bool = True,
) -> Iterator[Generated]:
    """``count`` documents (or LLM entries) from one seeded stream: the first ``n`` never depend on ``count``.

    With ``invalid`` rule ids, value ``i`` breaks ``invalid[i % len(invalid)]``. ``min_llms`` and
    ``max_llms`` (default 1 and 16) bound a Query Model's LLMs and are an error with
    ``kind="llm"``. ``portable``: ``logit_bias`` keys in ascending numeric order (else as drawn).
    Arguments are checked at once (raising :class:`QmContractError`); values are made as they
    are consumed.
    """
    check_weight(weight)
    if kind not in KINDS:
        raise QmContractError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "llm" and (min_llms, max_llms) != (None, None):
        raise QmContractError(
            "min_llms and max_llms bound a Query Model's LLMs: they do not apply to kind llm"
        )
    low = DEFAULT_MIN_LLMS if min_llms is None else min_llms
    high = DEFAULT_MAX_LLMS if max_llms is None else max_llms
    check_llm_bounds(low, high)
    unknown = [rule for rule in invalid if rule not in rules_of(kind)]
    if unknown:
        raise QmContractError(_unknown_rules_message(unknown, kind))
    options = _Options(kind, weight, metadata, tuple(invalid), low, high, portable)
    return _generated(count, seeded_chooser(seed), options)


@dataclass(frozen=True)
class _Options:
    kind: Kind
    weight: WeightType | None
    metadata: bool
    invalid: tuple[str, ...]
    min_llms: int
    max_llms: int
    portable: bool


def _generated(count: int, chooser: Chooser, options: _Options) -> Iterator[Generated]:
    one = _model if options.kind == "model" else _llm
    for i in range(count):
        rule = options.invalid[i % len(options.invalid)] if options.invalid else None
        yield Generated(one(chooser, options, rule), rule)


def _model(chooser: Chooser, options: _Options, rule: str | None) -> dict[str, Any]:
    bounds = (options.min_llms, options.max_llms)
    if rule is None:
        return query_model(
            chooser,
            weight=options.weight,
            metadata=options.metadata,
            min_llms=bounds[0],
            max_llms=bounds[1],
            portable=options.portable,
        )
    return invalid_query_model(
        chooser,
        rule,
        weight=options.weight,
        metadata=options.metadata,
        min_llms=bounds[0],
        max_llms=bounds[1],
        portable=options.portable,
    )


def _llm(chooser: Chooser, options: _Options, rule: str | None) -> dict[str, Any]:
    if rule is None:
        return query_llm(chooser, weight=options.weight, metadata=options.metadata, portable=options.portable)
    return invalid_query_llm(
        chooser, rule, weight=options.weight, metadata=options.metadata, portable=options.portable
    )


# --- output --------------------------------------------------------------------------------------------

#: The file ``--format jsonl --out DIR`` writes in DIR.
JSONL_FILE: Final = "documents.jsonl"
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
        path = directory / f"{name}.json"
        try:
            path.write_bytes(_JSON_PRETTY(item.document).encode("utf-8") + b"\n")
        except OSError as exc:
            raise QmContractError(f"{path}: cannot write: {exc.strerror or exc}") from None
        written += 1
    return written


def write_generated(
    items: Iterator[Generated], *, fmt: Literal["json", "jsonl"], out: str, stdout: BinaryIO
) -> int:
    """Write documents where ``--format``/``--out`` say; returns how many were written.

    ``out`` is ``-`` (``stdout``) or a directory, created when missing: ``json`` writes one
    ``<stem>.json`` per document there, ``jsonl`` writes ``documents.jsonl``. A directory that
    cannot be written is a :class:`QmContractError` naming it.
    """
    if out == "-":
        return write_jsonl(items, stdout) if fmt == "jsonl" else write_json_array(items, stdout)
    directory = Path(out)
    if directory.exists() and not directory.is_dir():
        raise QmContractError(f"{out}: exists and is not a directory")
    if fmt == "json":
        return write_json_files(items, directory)
    target = directory / JSONL_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as stream:
            return write_jsonl(items, stream)
    except OSError as exc:
        raise QmContractError(f"{target}: cannot write: {exc.strerror or exc}") from None
