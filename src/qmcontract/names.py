"""Names are content hashes: XXH3-128 (seed 0) of canonical JSON, in base62, padded to 22.

The training-table recipes (facts 1.4) are a reconstruction from the successor server,
not verified against the Query-era API: they live in two functions here so that better
evidence changes exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import xxhash

from qmcontract.canonical import (
    canonical_llm_head,
    canonical_llm_json,
    close_llm_json,
    model_weight_json,
    normalise_llm,
    weight_json,
)

BASE62_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
NAME_LENGTH: Final = 22
NAME_PATTERN: Final = re.compile(r"[0-9A-Za-z]{22}")
#: The weight every LLM is given before hashing its training-table name ("NEVER change").
TRAINING_TABLE_DEFAULT_WEIGHT: Final[Mapping[str, Any]] = {"type": "static", "weight": 0.0}
_TABLE_WEIGHT_JSON: Final = weight_json(TRAINING_TABLE_DEFAULT_WEIGHT)


def is_name(value: object) -> bool:
    """True for a well-formed name: 22 base62 characters (ASCII letters and digits)."""
    return isinstance(value, str) and len(value) == NAME_LENGTH and value.isascii() and value.isalnum()


_DIGIT_PAIRS: Final = tuple(high + low for high in BASE62_ALPHABET for low in BASE62_ALPHABET)


def base62(number: int) -> str:
    """Encode a non-negative integer below 62**22, most significant digit first, left-padded to 22.

    Two digits per division: a name is on every hot path (validator, generator, mock).
    """
    pairs = []
    while number:
        number, pair = divmod(number, 62 * 62)
        pairs.append(_DIGIT_PAIRS[pair])
    return "".join(reversed(pairs)).rjust(NAME_LENGTH, "0")


def hash_name(text: str) -> str:
    """The name of a piece of text: base62 of its XXH3-128 (seed 0) over UTF-8 bytes."""
    return base62(xxhash.xxh3_128_intdigest(text.encode("utf-8")))


def name_of_normalised_llm(llm: Mapping[str, Any]) -> str:
    """Name of an LLM that is already normalised (skips the normalisation pass)."""
    return hash_name(canonical_llm_json(llm))


def llm_name(llm: Mapping[str, Any]) -> str:
    """Name of a Query LLM given as a definition or as a response entry."""
    return name_of_normalised_llm(normalise_llm(llm))


def query_model_name(weight: Mapping[str, Any], llm_names: Iterable[str]) -> str:
    """Name of a Query Model: its weight JSON, then its LLM names ascending, duplicates kept."""
    return hash_name(model_weight_json(weight) + "".join(sorted(llm_names)))


def names_of_normalised_llm(llm: Mapping[str, Any]) -> tuple[str, str]:
    """An LLM's name and its training-table name, from one serialisation.

    The training-table name is the name the LLM would have with the default weight, so
    LLMs that differ only in weight share one training table.
    """
    head = canonical_llm_head(llm)
    own = weight_json(llm["weight"]) if "weight" in llm else None
    return hash_name(close_llm_json(head, own)), hash_name(close_llm_json(head, _TABLE_WEIGHT_JSON))


def entry_names_of_normalised_llm(llm: Mapping[str, Any]) -> tuple[str, str | None]:
    """The names a response entry carries: its name, and its training-table name only when
    its own weight is a training table (the only case where a table name is shown or checked).
    """
    weight = llm.get("weight")
    if isinstance(weight, Mapping) and weight.get("type") == "training_table":
        return names_of_normalised_llm(llm)
    return name_of_normalised_llm(llm), None


def training_table_name_of_normalised_llm(llm: Mapping[str, Any]) -> str:
    """Training-table name of a normalised LLM (see :func:`names_of_normalised_llm`)."""
    return names_of_normalised_llm(llm)[1]


def llm_training_table_name(llm: Mapping[str, Any]) -> str:
    """Training-table name of a Query LLM given as a definition or as a response entry."""
    return training_table_name_of_normalised_llm(normalise_llm(llm))


def model_training_table_name(embeddings_model: str, llm_table_names: Iterable[str]) -> str:
    """Training-table name of a model: the raw embeddings model, then each LLM's table name.

    ``llm_table_names`` must be in the order of the LLMs' own names (the ``models`` order),
    duplicates included; ``top`` is not part of it.
    """
    return hash_name(embeddings_model + "".join(llm_table_names))
