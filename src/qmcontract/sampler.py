"""The sampler: Query LLM and Query Model definitions, documents and LLM entries from one source of choices.

Every random decision goes through a :class:`Chooser`, whose lowest value is always the simplest
outcome: no optional parameter, one LLM, static weight, ``generate`` mode, weight 1. Two choosers
drive the same sampler, and the same breakers (:mod:`qmcontract.breakers`, which import this
module and are never imported by it):

* :func:`seeded_chooser` reads bits from ``random.Random(seed).getrandbits``, whose output for an
  integer seed has not changed since Python 3.2, so ``qmcontract generate``
  (:mod:`qmcontract.generate`) writes byte-identical output on every machine and Python version;
* ``qmcontract.strategies`` reads them from hypothesis byte blocks, so hypothesis shrinks a
  failing document by lowering bits towards zero, that is towards the simplest document.

The defaults a definition may spell out (and normalisation must drop) are read from
:mod:`qmcontract.canonical`, never restated, so a changed default is still exercised.
Numbers are small integers over a power of ten (``k / 100``): every float is at least ``1e-4``
in magnitude or exactly 0, and prints the same everywhere. Documents and entries are assembled
by the core (:func:`qmcontract.model.assemble`, :func:`qmcontract.model.assemble_llm`); nothing
here hashes or normalises by itself.

Portable by default: ``logit_bias`` keys are written in ascending numeric order, the order in
which a JavaScript client reads integer-like keys whatever was sent, so the names are the same in
every language. ``portable=False`` keeps them in the order drawn (still valid: the hash uses the
order given).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol, TypeVar

from qmcontract.canonical import (
    DEFAULTS,
    EMPTY_DEFAULTS,
    LLM_KEYS,
    PROVIDER_DEFAULTS,
    PROVIDER_KEYS,
    REASONING_DEFAULTS,
    copy_json,
    normalise_llm,
    top_logprobs_default,
)
from qmcontract.errors import QmContractError
from qmcontract.model import assemble, assemble_llm
from qmcontract.rules import METADATA_FIELDS

T = TypeVar("T")
WeightType = Literal["static", "training_table"]

WEIGHT_TYPES: Final[tuple[WeightType, ...]] = ("static", "training_table")
#: Modes in the order hypothesis shrinks towards: ``generate`` is the simplest.
MODES: Final[tuple[str, ...]] = (
    "generate",
    "select_thinking",
    "select_non_thinking",
    "select_thinking_logprobs",
    "select_non_thinking_logprobs",
)
MAX_LLMS: Final = 128
INT32_MAX: Final = 2**31 - 1
BLOCK_BITS: Final = 256

MODEL_IDS: Final[tuple[str, ...]] = (
    "openai/gpt-5-mini",
    "openai/gpt-5-nano",
    "google/gemini-2.5-flash",
    "anthropic/claude-sonnet-4",
    "openai/gpt-4.1-nano",
    "x-ai/grok-4",
    "deepseek/deepseek-chat-v3.1",
    "google/gemini-2.5-pro",
    "meta-llama/llama-3.3-70b-instruct",
    "mistralai/mistral-small-3.2-24b-instruct",
    "qwen/qwen3-235b-a22b",
    "anthropic/claude-opus-4.1",
)
EMBEDDINGS_MODELS: Final[tuple[str, ...]] = (
    "deepinfra/qwen/qwen3-embedding-4b",
    "openai/text-embedding-3-small",
    "openai/text-embedding-3-large",
)
STOP_SEQUENCES: Final[tuple[str, ...]] = ("END", "\n", "###", "</s>", "Human:", "\n\n", "Observation:", "。")
PROVIDERS: Final[tuple[str, ...]] = (
    "openai",
    "azure",
    "google-vertex",
    "anthropic",
    "amazon-bedrock",
    "deepinfra",
    "together",
    "google-ai-studio",
    "fireworks",
    "groq",
)
QUANTIZATIONS: Final[tuple[str, ...]] = ("fp8", "bf16", "int4", "fp16", "int8", "fp4", "fp32", "unknown")
PROVIDER_SORTS: Final[tuple[str, ...]] = ("price", "throughput", "latency")
LEVELS: Final[tuple[str, ...]] = ("low", "high", "medium")
#: Metadata ``created`` timestamps fall in the Query-Model era of the API.
ERA_START: Final = datetime.datetime(2025, 8, 1, tzinfo=datetime.timezone.utc)
ERA_SECONDS: Final = 103 * 24 * 3600


class Chooser(Protocol):
    """The one source of randomness of the sampler; the lowest value is always the simplest."""

    def integer(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``."""
        ...  # pragma: no cover

    def size(self, low: int, high: int) -> int:
        """A size in ``[low, high]`` that decides how many parts follow."""
        ...  # pragma: no cover

    def part(self, sample: Callable[[Chooser], T]) -> T:
        """The result of ``sample`` run as one self-contained part (an LLM) of a larger value."""
        ...  # pragma: no cover


#: Extra bits read for a range whose size is not a power of two: no value is favoured by more than 1/256.
_EXTRA_BITS: Final = 8


class BitChooser:
    """Choices read from a stream of bits, most significant first.

    An integer reads just enough bits and scales them monotonically onto its range, so lower
    bits never give a larger value and all-zero bits give ``low``: that is what lets hypothesis
    shrink a document by shrinking the bits it drew.
    """

    __slots__ = ("_bits", "_count", "_next_block")

    def __init__(self, next_block: Callable[[], int]) -> None:
        """``next_block`` returns the next ``BLOCK_BITS`` bits as a non-negative integer."""
        self._next_block = next_block
        self._bits = 0
        self._count = 0

    def integer(self, low: int, high: int) -> int:
        span = high - low
        if span <= 0:
            return low
        width = span.bit_length() if span & (span + 1) == 0 else span.bit_length() + _EXTRA_BITS
        left = self._count - width
        if left < 0:
            bits = self._bits
            while left < 0:
                bits = (bits << BLOCK_BITS) | self._next_block()
                left += BLOCK_BITS
            self._bits = bits
        value = self._bits >> left
        self._bits ^= value << left
        self._count = left
        return low + ((value * (span + 1)) >> width)

    def size(self, low: int, high: int) -> int:
        return self.integer(low, high)

    def discard(self) -> None:
        """Drop the bits left over, so that the next choice starts on a fresh block."""
        self._bits = self._count = 0

    def part(self, sample: Callable[[Chooser], T]) -> T:
        return sample(self)


def seeded_chooser(seed: int) -> BitChooser:
    """A chooser whose choices depend only on ``seed``, identical on every Python version."""
    rng = random.Random(seed)
    return BitChooser(lambda: rng.getrandbits(BLOCK_BITS))


# --- small choices -----------------------------------------------------------------------------


def pick(chooser: Chooser, options: Sequence[T]) -> T:
    """One of ``options``; the first is the simplest."""
    return options[chooser.integer(0, len(options) - 1)]


def one_in(chooser: Chooser, odds: int) -> bool:
    """True with probability about ``1/odds``; False is the simplest."""
    return chooser.integer(0, odds - 1) == odds - 1


def distinct(chooser: Chooser, options: Sequence[T], count: int) -> list[T]:
    """``count`` distinct options in drawn order (a partial Fisher-Yates shuffle)."""
    pool = list(options)
    for i in range(min(count, len(pool))):
        j = chooser.integer(i, len(pool) - 1)
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:count]


def decimal(chooser: Chooser, low: int, high: int, places: int = 2) -> int | float:
    """A number in ``[low, high]`` with at most ``places`` decimals; whole numbers stay ``int``."""
    scale: int = 10**places
    k = chooser.integer(low * scale, high * scale)
    return k // scale if k % scale == 0 else k / scale


def positive(chooser: Chooser) -> int | float:
    """A weight from 0.001 to 1000 (``k / 10**e`` for k in 1..1000, e in 0..3); 1 is the simplest."""
    drawn = chooser.integer(0, 3999)
    scale: int = 10 ** (drawn // 1000)
    k = drawn % 1000 + 1
    return k // scale if k % scale == 0 else k / scale


def count(chooser: Chooser, high: int = INT32_MAX) -> int:
    """A positive integer up to ``high``, spread evenly over orders of magnitude."""
    bits = chooser.integer(1, high.bit_length())
    return chooser.integer(1 << (bits - 1), min(high, (1 << bits) - 1))


# --- Query LLM definitions ---------------------------------------------------------------------

Sampler = Callable[[Chooser, Mapping[str, Any]], Any]


#: Each optional parameter takes this many bits of one draw; rolls below ``_ABSENT_BELOW`` mean absent.
_ROLL_BITS: Final = 5
_ABSENT_BELOW: Final = 26


def _present(chooser: Chooser, roll: int, value: Sampler, default: Sampler, llm: Mapping[str, Any]) -> Any:
    """A present parameter: ``null`` (1 roll in 6), the default (2 in 6; normalised away) or a value."""
    if roll == _ABSENT_BELOW:
        return None
    if roll < _ABSENT_BELOW + 3:
        return default(chooser, llm)
    return value(chooser, llm)


def _constant(value: Any) -> Sampler:
    """The default as written: as an integer or as a float (both normalise away)."""

    def sample(chooser: Chooser, _llm: Mapping[str, Any]) -> Any:
        return pick(chooser, (value, float(value))) if isinstance(value, int) else value

    return sample


def _just(value: Any) -> Sampler:
    """Always ``value`` (a fresh copy of it)."""

    def sample(_chooser: Chooser, _llm: Mapping[str, Any]) -> Any:
        return copy_json(value)

    return sample


def _number(low: int, high: int) -> Sampler:
    return lambda chooser, _llm: decimal(chooser, low, high)


def _one_of(options: Sequence[str]) -> Sampler:
    return lambda chooser, _llm: pick(chooser, options)


def _tokens(chooser: Chooser, _llm: Mapping[str, Any]) -> int:
    return count(chooser)


def _level(chooser: Chooser, _llm: Mapping[str, Any]) -> str:
    return pick(chooser, LEVELS)


def _logprobs_default(_chooser: Chooser, llm: Mapping[str, Any]) -> int:
    return top_logprobs_default(llm.get("mode"))


def _top_logprobs(chooser: Chooser, _llm: Mapping[str, Any]) -> int:
    return chooser.integer(0, 20)


def _logit_bias(chooser: Chooser, _llm: Mapping[str, Any]) -> dict[str, int]:
    size = chooser.integer(1, 4)
    return {str(count(chooser, 200_000) - 1): chooser.integer(-100, 100) for _ in range(size)}


def _stop(chooser: Chooser, _llm: Mapping[str, Any]) -> str | list[str]:
    form = chooser.integer(0, 2)
    if form == 0:
        return pick(chooser, STOP_SEQUENCES)
    return distinct(chooser, STOP_SEQUENCES, 1 if form == 1 else chooser.integer(2, 4))


def _provider_list(options: Sequence[str]) -> Sampler:
    return lambda chooser, _llm: distinct(chooser, options, chooser.integer(1, 3))


def _not_default(key: str) -> Sampler:
    """The other boolean: a provider switch set away from its default."""
    return _just(not PROVIDER_DEFAULTS[key])


#: A value for each ``provider`` sub-field (the booleans: the one that is not the default).
_PROVIDER_VALUES: Final[Mapping[str, Sampler]] = {
    "order": _provider_list(PROVIDERS),
    "allow_fallbacks": _not_default("allow_fallbacks"),
    "require_parameters": _not_default("require_parameters"),
    "data_collection": _just("deny"),
    "only": _provider_list(PROVIDERS),
    "ignore": _provider_list(PROVIDERS),
    "quantizations": _provider_list(QUANTIZATIONS),
    "sort": _one_of(PROVIDER_SORTS),
}


def _provider(chooser: Chooser, llm: Mapping[str, Any]) -> dict[str, Any]:
    """Some sub-fields, in hash order, each set to a value."""
    provider: dict[str, Any] = {}
    for key in PROVIDER_KEYS:
        if chooser.integer(0, 3) >= 2:
            provider[key] = _PROVIDER_VALUES[key](chooser, llm)
    return provider


def _default_provider(chooser: Chooser, _llm: Mapping[str, Any]) -> dict[str, Any]:
    """Some sub-fields that have a default (canonical's), each set to it: normalised away entirely."""
    provider: dict[str, Any] = {}
    for key in PROVIDER_KEYS:
        if key in PROVIDER_DEFAULTS and chooser.integer(0, 3) >= 2:
            provider[key] = copy_json(PROVIDER_DEFAULTS[key])
    return provider


def _reasoning(chooser: Chooser, _llm: Mapping[str, Any]) -> dict[str, Any]:
    """Never ``max_tokens`` with ``effort``, nor either with ``enabled: false``."""
    form = chooser.integer(0, 2)
    if form == 2:
        return {"enabled": False}
    reasoning: dict[str, Any] = (
        {"max_tokens": count(chooser)} if form == 0 else {"effort": _level(chooser, _llm)}
    )
    if one_in(chooser, 4):
        reasoning["enabled"] = True
    return reasoning


def _default_reasoning(chooser: Chooser, _llm: Mapping[str, Any]) -> dict[str, Any]:
    """A subset of the sub-fields that have a default (canonical's), each set to it; ``{}`` first."""
    keys = tuple(REASONING_DEFAULTS)
    subset = chooser.integer(0, (1 << len(keys)) - 1)
    return {
        key: copy_json(REASONING_DEFAULTS[key])
        for place, key in enumerate(keys)
        if subset >> (len(keys) - 1 - place) & 1
    }


def _fallbacks(chooser: Chooser, llm: Mapping[str, Any]) -> list[str]:
    others = [model for model in MODEL_IDS if model != llm["id"]]
    return distinct(chooser, others, chooser.integer(1, 3))


#: A value sampler for every optional LLM parameter (ranges: the schema's).
PARAMETER_VALUES: Final[Mapping[str, Sampler]] = {
    "select_top_logprobs": _top_logprobs,
    "frequency_penalty": _number(-2, 2),
    "logit_bias": _logit_bias,
    "max_completion_tokens": _tokens,
    "presence_penalty": _number(-2, 2),
    "reasoning_effort": _level,
    "stop": _stop,
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "max_tokens": _tokens,
    "min_p": _number(0, 1),
    "provider": _provider,
    "reasoning": _reasoning,
    "repetition_penalty": _number(0, 2),
    "top_a": _number(0, 1),
    "top_k": _tokens,
    "verbosity": _level,
    "models": _fallbacks,
}
#: Default samplers for the parameters whose default is not a plain value of ``canonical.DEFAULTS``.
_STRUCTURED_DEFAULTS: Final[Mapping[str, Sampler]] = {
    "select_top_logprobs": _logprobs_default,
    "provider": _default_provider,
    "reasoning": _default_reasoning,
}


def default_sampler(key: str) -> Sampler:
    """How a definition spells out the default of ``key``, as :mod:`qmcontract.canonical` defines it.

    A parameter without a default (``reasoning_effort``) gets a value instead.
    """
    if key in DEFAULTS:
        return _constant(DEFAULTS[key])
    if key in EMPTY_DEFAULTS:
        return _just(EMPTY_DEFAULTS[key])
    return _STRUCTURED_DEFAULTS.get(key, PARAMETER_VALUES[key])


#: Every optional LLM parameter in hash order: (key, value sampler, default sampler).
_PARAMETERS: Final[tuple[tuple[str, Sampler, Sampler], ...]] = tuple(
    (key, PARAMETER_VALUES[key], default_sampler(key)) for key in LLM_KEYS if key in PARAMETER_VALUES
)


def model_id(chooser: Chooser) -> str:
    """A model id: mostly a well-known one, sometimes an invented one."""
    if one_in(chooser, 8):
        return f"{pick(chooser, ('acme', 'example', 'lab'))}/model-{chooser.integer(1, 999)}"
    return pick(chooser, MODEL_IDS)


def llm_weight(chooser: Chooser, weight: WeightType) -> dict[str, Any]:
    """A valid LLM weight of the given type (training table: ``0 < min <= base <= max``)."""
    if weight == "static":
        return {"type": "static", "weight": positive(chooser)}
    low, base, high = sorted((positive(chooser), positive(chooser), positive(chooser)))
    return {"type": "training_table", "base_weight": base, "min_weight": low, "max_weight": high}


def ascending_keys(bias: Mapping[str, Any]) -> dict[str, Any]:
    """A ``logit_bias`` with its (digit-string) keys in ascending numeric order: the portable order."""
    return dict(sorted(bias.items(), key=lambda item: int(item[0])))


def llm_definition(
    chooser: Chooser, *, weight: WeightType, modes: Sequence[str] = MODES, portable: bool = True
) -> dict[str, Any]:
    """One Query LLM as a user writes it: defaults, ``null`` options and unsorted lists included.

    ``portable``: ``logit_bias`` keys in ascending numeric order, else in the order drawn; the
    same choices are read either way.
    """
    llm: dict[str, Any] = {"id": model_id(chooser), "mode": pick(chooser, modes)}
    rolls = chooser.integer(0, (1 << (_ROLL_BITS * len(_PARAMETERS))) - 1)
    shift = _ROLL_BITS * len(_PARAMETERS)
    for key, value, default in _PARAMETERS:
        shift -= _ROLL_BITS
        roll = (rolls >> shift) & ((1 << _ROLL_BITS) - 1)
        if roll >= _ABSENT_BELOW:
            llm[key] = _present(chooser, roll, value, default, llm)
    llm["weight"] = llm_weight(chooser, weight)
    if portable and isinstance(llm.get("logit_bias"), dict):
        llm["logit_bias"] = ascending_keys(llm["logit_bias"])
    return llm


def _next_llm(
    chooser: Chooser, previous: Sequence[dict[str, Any]], weight: WeightType, portable: bool
) -> dict[str, Any]:
    """A fresh LLM, or now and then a copy of an earlier one (exact, or with another weight)."""
    roll = chooser.integer(0, 15)  # drawn even for the first LLM: an LLM's bits never depend on its position
    if roll < 13 or not previous:
        return llm_definition(chooser, weight=weight, portable=portable)
    twin: dict[str, Any] = copy_json(previous[chooser.integer(0, len(previous) - 1)])
    if roll == 15:
        twin["weight"] = llm_weight(chooser, weight)
    return twin


def model_weight(chooser: Chooser, weight: WeightType) -> dict[str, Any]:
    """A valid Query Model weight of the given type."""
    if weight == "static":
        return {"type": "static"}
    return {
        "type": "training_table",
        "embeddings_model": pick(chooser, EMBEDDINGS_MODELS),
        "top": count(chooser),
    }


def check_llm_bounds(min_llms: int, max_llms: int) -> None:
    """Raise unless ``1 <= min_llms <= max_llms <= 128``."""
    if not 1 <= min_llms <= max_llms <= MAX_LLMS:
        raise QmContractError(f"need 1 <= min_llms <= max_llms <= {MAX_LLMS}, got {min_llms} and {max_llms}")


def check_weight(weight: str | None) -> None:
    """Raise unless ``weight`` is a weight type or None."""
    if weight is not None and weight not in WEIGHT_TYPES:
        raise QmContractError(f"weight must be one of {', '.join(WEIGHT_TYPES)} or None, got {weight!r}")


def model_definition(
    chooser: Chooser,
    *,
    weight: WeightType | None = None,
    min_llms: int = 1,
    max_llms: int = 16,
    portable: bool = True,
) -> dict[str, Any]:
    """A Query Model definition ``{weight, models}`` with duplicate LLMs now and then."""
    size = chooser.size(min_llms, max_llms)
    kind: WeightType = pick(chooser, WEIGHT_TYPES) if weight is None else weight
    models: list[dict[str, Any]] = []
    for _ in range(size):
        models.append(chooser.part(lambda part: _next_llm(part, models, kind, portable)))
    return {"weight": model_weight(chooser, kind), "models": models}


# --- documents -----------------------------------------------------------------------------------


def metadata_fields(chooser: Chooser) -> dict[str, Any]:
    """The nine metadata fields with plausible, valid values."""
    created = ERA_START + datetime.timedelta(seconds=chooser.integer(0, ERA_SECONDS))
    requests = count(chooser, 10**7) - 1
    used = requests > 0

    def tokens() -> int:
        return count(chooser, 10**10) - 1 if used else 0

    def cost() -> int | float:
        return (count(chooser, 10**8) - 1) / 10_000 if used else 0.0

    uuid = f"{chooser.integer(0, 2**128 - 1):032x}"
    values = {
        "user_id": f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}",
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "requests": requests,
        "chat_completion_tokens": tokens(),
        "chat_prompt_tokens": tokens(),
        "chat_cost": cost(),
        "embedding_completion_tokens": tokens(),
        "embedding_prompt_tokens": tokens(),
        "embedding_cost": cost(),
    }
    return {key: values[key] for key in METADATA_FIELDS}


def document_of(definition: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The response document of a valid definition, assembled by the core, plus optional metadata."""
    llms = [normalise_llm(llm) for llm in definition["models"]]
    document, _ = assemble(definition["weight"], llms)
    if metadata is not None:
        document.update(metadata)
    return document


def entry_of(llm: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``GET /query_llms/{name}`` entry of a valid LLM definition, assembled by the core."""
    entry = assemble_llm(normalise_llm(llm))
    if metadata is not None:
        entry.update(metadata)
    return entry


def query_model(
    chooser: Chooser,
    *,
    weight: WeightType | None = None,
    min_llms: int = 1,
    max_llms: int = 16,
    metadata: bool = False,
    portable: bool = True,
) -> dict[str, Any]:
    """A valid response document (with the nine metadata fields when ``metadata``)."""
    definition = model_definition(
        chooser, weight=weight, min_llms=min_llms, max_llms=max_llms, portable=portable
    )
    return document_of(definition, metadata_fields(chooser) if metadata else None)


def query_llm(
    chooser: Chooser, *, weight: WeightType | None = None, metadata: bool = False, portable: bool = True
) -> dict[str, Any]:
    """A valid ``GET /query_llms/{name}`` entry (with the nine metadata fields when ``metadata``)."""
    kind: WeightType = pick(chooser, WEIGHT_TYPES) if weight is None else weight
    llm = llm_definition(chooser, weight=kind, portable=portable)
    return entry_of(llm, metadata_fields(chooser) if metadata else None)
