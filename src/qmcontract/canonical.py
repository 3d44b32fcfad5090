"""Normalisation and canonical JSON of a Query LLM: the only place that decides them.

The contract (facts 1.2) hashes a *normalised* LLM written as compact JSON with a fixed
key order and Rust ``serde_json`` number formatting. Normalisation only drops defaults,
sorts the lists that the server sorted and collapses a one-item ``stop`` list; it never
clamps or rejects. Rejection is the validator's job, so everything here accepts any JSON
value without raising and leaves malformed values in place for the validator to report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

#: Hash order of the LLM parameters (facts 1.2); responses use the same order.
LLM_KEYS: Final[tuple[str, ...]] = (
    "id",
    "mode",
    "select_top_logprobs",
    "frequency_penalty",
    "logit_bias",
    "max_completion_tokens",
    "presence_penalty",
    "reasoning_effort",
    "stop",
    "temperature",
    "top_p",
    "max_tokens",
    "min_p",
    "provider",
    "reasoning",
    "repetition_penalty",
    "top_a",
    "top_k",
    "verbosity",
    "models",
    "weight",
)
#: Fields a response adds to each LLM; they are outputs, never part of a hash.
COMPUTED_LLM_KEYS: Final[tuple[str, ...]] = (
    "name",
    "index",
    "training_table_name",
    "training_table_index",
)
#: The computed fields only an entry of a Query Model's ``models`` carries.
INDEX_FIELDS: Final[tuple[str, ...]] = ("index", "training_table_index")
PROVIDER_KEYS: Final[tuple[str, ...]] = (
    "order",
    "allow_fallbacks",
    "require_parameters",
    "data_collection",
    "only",
    "ignore",
    "quantizations",
    "sort",
)
PROVIDER_LIST_KEYS: Final[tuple[str, ...]] = ("order", "only", "ignore", "quantizations")
REASONING_KEYS: Final[tuple[str, ...]] = ("max_tokens", "effort", "enabled")
#: ``reasoning.effort`` is shown in responses but the SDK that computed names ignored it.
REASONING_HASH_KEYS: Final[tuple[str, ...]] = ("max_tokens", "enabled")
STATIC_WEIGHT_KEYS: Final[tuple[str, ...]] = ("type", "weight")
TRAINING_TABLE_WEIGHT_KEYS: Final[tuple[str, ...]] = (
    "type",
    "base_weight",
    "min_weight",
    "max_weight",
)
MODEL_WEIGHT_KEYS: Final[tuple[str, ...]] = ("type", "embeddings_model", "top")

FLOAT_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "temperature",
        "top_p",
        "min_p",
        "repetition_penalty",
        "top_a",
    }
)
#: Value that normalisation drops, per field (the server's default).
DEFAULTS: Final[Mapping[str, object]] = {
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "repetition_penalty": 1,
    "temperature": 1,
    "top_p": 1,
    "min_p": 0,
    "top_a": 0,
    "max_completion_tokens": 0,
    "max_tokens": 0,
    "top_k": 0,
    "verbosity": "medium",
}
#: Empty values that normalisation drops: no bias, no stop sequence, no fallback model.
EMPTY_DEFAULTS: Final[Mapping[str, object]] = {"logit_bias": {}, "stop": [], "models": []}
#: ``provider`` sub-fields normalisation drops at these values; ``sort`` has no default.
PROVIDER_DEFAULTS: Final[Mapping[str, object]] = {
    "order": [],
    "allow_fallbacks": True,
    "require_parameters": False,
    "data_collection": "allow",
    "only": [],
    "ignore": [],
    "quantizations": [],
}
#: ``reasoning`` sub-fields normalisation drops at these values; ``effort`` has no default.
REASONING_DEFAULTS: Final[Mapping[str, object]] = {"max_tokens": 0, "enabled": True}
#: ``select_top_logprobs`` defaults to this in the ``*_logprobs`` modes, else to 0.
LOGPROBS_MODE_TOP_LOGPROBS: Final = 20

_ABSENT: Final = object()


def is_number(value: object) -> bool:
    """True for JSON numbers; ``bool`` is an ``int`` in Python but never a number here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (much faster than ``copy.deepcopy``)."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_json(item) for item in value]
    return value


def top_logprobs_default(mode: object) -> int:
    """The ``select_top_logprobs`` that normalisation drops for an LLM in ``mode``."""
    return LOGPROBS_MODE_TOP_LOGPROBS if isinstance(mode, str) and "logprobs" in mode else 0


def _is_default(value: object, default: object) -> bool:
    """Whether ``value`` is ``default`` as normalisation sees it: ``1.0`` is ``1``, ``1`` is not ``True``."""
    if isinstance(default, bool):
        return value is default
    if isinstance(default, (int, float)):
        return is_number(value) and value == default
    return type(value) is type(default) and value == default


def _as_float(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return value
    return value


def _sorted_if_strings(value: list[Any]) -> list[Any]:
    return sorted(value) if all(isinstance(item, str) for item in value) else list(value)


def _with_extra_keys(
    known: dict[str, Any], source: Mapping[str, Any], keys: tuple[str, ...]
) -> dict[str, Any]:
    """Append keys the contract does not know, so that the validator can report them."""
    for key, value in source.items():
        if key not in keys:
            known[key] = value
    return known


# --- normalisation -------------------------------------------------------------------


def normalise_llm(llm: Mapping[str, Any]) -> dict[str, Any]:
    """Return the LLM as a response shows it: defaults dropped, lists sorted, floats as floats.

    ``None`` values count as absent (the SDK sends unset options as ``null``). Computed
    fields (``name``, ``index``, training-table fields) are dropped: they are outputs.
    Unknown keys are kept at the end so that validation can report them.
    """
    mode = llm.get("mode")
    out: dict[str, Any] = {}
    for key in LLM_KEYS:
        value = llm.get(key)
        if value is None:
            continue
        normalised = _normalise_field(key, value, mode)
        if normalised is not _ABSENT:
            out[key] = normalised
    return _with_extra_keys(out, llm, LLM_KEYS + COMPUTED_LLM_KEYS)


def _normalise_field(key: str, value: Any, mode: object) -> Any:
    if key in DEFAULTS:
        if _is_default(value, DEFAULTS[key]):
            return _ABSENT
        return _as_float(value) if key in FLOAT_FIELDS else value
    normaliser = _FIELD_NORMALISERS.get(key)
    if normaliser is not None:
        return normaliser(value)
    if key == "select_top_logprobs":
        return _ABSENT if _is_default(value, top_logprobs_default(mode)) else value
    return value


def _normalise_logit_bias(value: Any) -> Any:
    return _ABSENT if _is_default(value, EMPTY_DEFAULTS["logit_bias"]) else value


def _normalise_stop(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    if _is_default(value, EMPTY_DEFAULTS["stop"]):
        return _ABSENT
    if len(value) == 1:
        return value[0]
    return _sorted_if_strings(value)


def _normalise_fallbacks(value: Any) -> Any:
    return _ABSENT if _is_default(value, EMPTY_DEFAULTS["models"]) else value


def _normalise_reasoning(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key in REASONING_KEYS:
        item = value.get(key)
        if item is None or (key in REASONING_DEFAULTS and _is_default(item, REASONING_DEFAULTS[key])):
            continue
        out[key] = item
    out = _with_extra_keys(out, value, REASONING_KEYS)
    return out or _ABSENT


def _normalise_provider(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key in PROVIDER_KEYS:
        item = value.get(key)
        if item is None or _is_provider_default(key, item):
            continue
        if key in ("only", "ignore", "quantizations") and isinstance(item, list):
            item = _sorted_if_strings(item)
        out[key] = item
    out = _with_extra_keys(out, value, PROVIDER_KEYS)
    return out or _ABSENT


def _is_provider_default(key: str, item: object) -> bool:
    return key in PROVIDER_DEFAULTS and _is_default(item, PROVIDER_DEFAULTS[key])


def normalise_llm_weight(value: Any) -> Any:
    """An LLM weight with its keys in hash order and its numbers as floats."""
    if not isinstance(value, dict):
        return value
    keys = TRAINING_TABLE_WEIGHT_KEYS if value.get("type") == "training_table" else STATIC_WEIGHT_KEYS
    out = {key: _as_float(value[key]) if key != "type" else value[key] for key in keys if key in value}
    return _with_extra_keys(out, value, keys)


def normalise_model_weight(value: Any) -> Any:
    """The model weight with its keys in hash order (facts 1.3)."""
    if not isinstance(value, dict):
        return value
    out = {key: value[key] for key in MODEL_WEIGHT_KEYS if key in value}
    return _with_extra_keys(out, value, MODEL_WEIGHT_KEYS)


_FIELD_NORMALISERS: Final[dict[str, Callable[[Any], Any]]] = {
    "logit_bias": _normalise_logit_bias,
    "stop": _normalise_stop,
    "reasoning": _normalise_reasoning,
    "provider": _normalise_provider,
    "models": _normalise_fallbacks,
    "weight": normalise_llm_weight,
}


# --- canonical JSON ------------------------------------------------------------------


_ENCODE: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


_NEEDS_ESCAPE: Final = re.compile(r'["\\\x00-\x1f]')


def json_compact(value: Any) -> str:
    """Standard compact JSON, as the contract prescribes for strings and integers.

    Plain strings and integers, most of what is hashed, skip the encoder.
    """
    kind = type(value)
    if kind is str and _NEEDS_ESCAPE.search(value) is None:
        return f'"{value}"'
    if kind is int:
        return str(value)
    return _ENCODE(value)


def format_f64(value: Any) -> str:
    """Write a float as Rust ``serde_json`` (ryu) does: ``1.0``, ``0.9``, ``1e16``, ``1e-6``.

    Non-numbers are written as plain JSON: they are invalid anyway and only need a
    deterministic spelling.
    """
    number = _as_float(value)
    if not isinstance(number, float):
        return json_compact(value)
    if not math.isfinite(number):
        return "null"
    text = repr(number)
    if "e" not in text:
        return text  # Python and ryu agree on every value written without an exponent
    sign = "-" if math.copysign(1.0, number) < 0 else ""
    digits, exponent = _shortest_digits(abs(number))
    if not digits:
        return f"{sign}0.0"
    return sign + _ryu_layout(digits, exponent)


def _shortest_digits(number: float) -> tuple[str, int]:
    """Shortest round-trip digits ``d`` and ``kk`` with ``10**(kk-1) <= number < 10**kk``."""
    mantissa, _, exp = repr(number).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


def _ryu_layout(digits: str, kk: int) -> str:
    length = len(digits)
    if length <= kk <= 16:
        return digits + "0" * (kk - length) + ".0"
    if 0 < kk <= 16:
        return f"{digits[:kk]}.{digits[kk:]}"
    if -5 < kk <= 0:
        return "0." + "0" * (-kk) + digits
    mantissa = digits if length == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{mantissa}e{kk - 1}"


def _object_json(value: Mapping[str, Any], keys: tuple[str, ...], encode: Callable[[str, Any], str]) -> str:
    return "{" + ",".join(f'"{key}":{encode(key, value[key])}' for key in keys if key in value) + "}"


def _weight_number(key: str, value: Any) -> str:
    return json_compact(value) if key == "type" else format_f64(value)


def _plain(_key: str, value: Any) -> str:
    return json_compact(value)


def weight_json(weight: Any) -> str:
    """Canonical JSON of an LLM weight."""
    if not isinstance(weight, Mapping):
        return json_compact(weight)
    keys = TRAINING_TABLE_WEIGHT_KEYS if weight.get("type") == "training_table" else STATIC_WEIGHT_KEYS
    return _object_json(weight, keys, _weight_number)


def _reasoning_json(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return json_compact(value)
    if not any(key in value for key in REASONING_HASH_KEYS):
        return None
    return _object_json(value, REASONING_HASH_KEYS, _plain)


def _field_json(key: str, value: Any) -> str | None:
    if key in FLOAT_FIELDS:
        return format_f64(value)
    if key == "weight":
        return weight_json(value)
    if key == "reasoning":
        return _reasoning_json(value)
    if key == "provider" and isinstance(value, Mapping):
        return _object_json(value, PROVIDER_KEYS, _plain)
    return json_compact(value)


def canonical_llm_head(llm: Mapping[str, Any]) -> str:
    """Canonical JSON of a normalised LLM up to its weight, which is always the last key.

    ``{"id":"a","mode":"generate",`` for example: the part an LLM's name and its
    training-table name share. Only contract keys are written, so unknown keys never
    change a name.
    """
    parts = ["{"]
    for key in LLM_KEYS[:-1]:
        if key in llm:
            encoded = _field_json(key, llm[key])
            if encoded is not None:
                parts.append(f'"{key}":{encoded},')
    return "".join(parts)


def close_llm_json(head: str, weight_part: str | None) -> str:
    """Finish a canonical LLM from its head and its weight's JSON (None: no weight)."""
    if weight_part is None:
        return (head[:-1] if head.endswith(",") else head) + "}"
    return f'{head}"weight":{weight_part}}}'


def canonical_llm_json(llm: Mapping[str, Any]) -> str:
    """Canonical JSON of an already *normalised* LLM: the exact bytes its name hashes."""
    weight = weight_json(llm["weight"]) if "weight" in llm else None
    return close_llm_json(canonical_llm_head(llm), weight)


def model_weight_json(weight: Any) -> str:
    """Canonical JSON of the model weight, the first part of the model name's input."""
    if not isinstance(weight, Mapping):
        return json_compact(weight)
    if weight.get("type") == "training_table":
        return _object_json(weight, MODEL_WEIGHT_KEYS, _plain)
    return _object_json(weight, ("type",), _plain)
