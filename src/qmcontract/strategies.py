"""Hypothesis strategies for Query Model definitions, response documents and broken documents.

::

    from hypothesis import given
    from qmcontract.strategies import query_models

    @given(query_models(weight="training_table", metadata=True))
    def test_my_client_reads_any_query_model(document):
        assert my_client.parse(document).name == document["name"]

Every document is assembled by the core, so it honours every document rule of the contract;
every definition builds with :func:`qmcontract.build_query_model`. The strategies share their
sampler with ``qmcontract generate`` (:mod:`qmcontract.generate`): hypothesis supplies the bits
that sampler reads, in blocks of 32 bytes, which keeps draws few (fast) and lets hypothesis
shrink a failing document towards the simplest one: a single static-weight ``generate`` LLM
with no optional parameter. Nothing filters or rejects, so no health check trips.

Bad arguments raise :class:`hypothesis.errors.InvalidArgument` when the strategy is first used.
The core has no typed definition classes (definitions and documents are plain JSON objects), so
no strategy is registered with ``st.register_type_strategy``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from qmcontract.breakers import invalid_query_model, metadata_requested
from qmcontract.errors import QmContractError
from qmcontract.rules import DOCUMENT_RULES
from qmcontract.sampler import (
    BLOCK_BITS,
    MODES,
    BitChooser,
    Chooser,
    WeightType,
    check_llm_bounds,
    check_weight,
    llm_definition,
    model_definition,
    pick,
    query_model,
)

__all__ = [
    "invalid_query_models",
    "metadata_requested",
    "query_llm_definitions",
    "query_model_definitions",
    "query_models",
]

T = TypeVar("T")
_BLOCK: Final = st.binary(min_size=BLOCK_BITS // 8, max_size=BLOCK_BITS // 8)


class _DrawChooser(BitChooser):
    """Bits from hypothesis byte blocks, shaped the way hypothesis shrinks best.

    A size is an integer draw and each part (an LLM) starts on a fresh block, so the shrinker
    can lower a size and delete the blocks of a part it no longer needs in one step.
    """

    __slots__ = ("_draw",)

    def __init__(self, draw: st.DrawFn) -> None:
        super().__init__(lambda: int.from_bytes(draw(_BLOCK), "big"))
        self._draw = draw

    def size(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def part(self, sample: Callable[[Chooser], T]) -> T:
        self.discard()
        return sample(self)


def _chooser(draw: st.DrawFn) -> BitChooser:
    return _DrawChooser(draw)


def _checked(build: Callable[[], st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """Defer building (and argument checks) to first use, as hypothesis's own strategies do."""

    def checked() -> st.SearchStrategy[T]:
        try:
            return build()
        except QmContractError as exc:
            raise InvalidArgument(str(exc)) from None

    return st.deferred(checked)


def _chosen_modes(modes: Iterable[str] | None) -> tuple[str, ...]:
    if modes is None:
        return MODES
    wanted = set(modes)
    unknown = sorted(wanted - set(MODES))
    if unknown or not wanted:
        raise QmContractError(f"modes must be a non-empty subset of {', '.join(MODES)}; got {sorted(wanted)}")
    return tuple(mode for mode in MODES if mode in wanted)


def query_llm_definitions(
    *, weight: WeightType = "static", modes: Iterable[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """One Query LLM as a user writes it, with a ``weight`` of the given type.

    Covers every mode (or only ``modes``) and every optional parameter, including values equal
    to their default, ``null`` options, unsorted lists and one-item ``stop`` lists, all of which
    normalisation must drop or rewrite. Always valid.
    """

    def build() -> st.SearchStrategy[dict[str, Any]]:
        if weight not in ("static", "training_table"):
            raise QmContractError(f"weight must be 'static' or 'training_table', got {weight!r}")
        chosen = _chosen_modes(modes)

        @st.composite
        def llms(draw: st.DrawFn) -> dict[str, Any]:
            return llm_definition(_chooser(draw), weight=weight, modes=chosen)

        return llms()

    return _checked(build)


def query_model_definitions(
    *, weight: WeightType | None = None, min_llms: int = 1, max_llms: int = 16
) -> st.SearchStrategy[dict[str, Any]]:
    """A Query Model definition ``{"weight", "models"}`` that builds without a violation.

    ``weight`` fixes the weight type (default: either). Besides what
    :func:`query_llm_definitions` covers, LLMs now and then repeat an earlier one exactly or
    with only another weight, so duplicate names and shared training tables occur.
    """

    def build() -> st.SearchStrategy[dict[str, Any]]:
        check_weight(weight)
        check_llm_bounds(min_llms, max_llms)

        @st.composite
        def definitions(draw: st.DrawFn) -> dict[str, Any]:
            return model_definition(_chooser(draw), weight=weight, min_llms=min_llms, max_llms=max_llms)

        return definitions()

    return _checked(build)


def query_models(
    *, weight: WeightType | None = None, min_llms: int = 1, max_llms: int = 16, metadata: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """A complete ``GET /query_models/{slug}`` response document that breaks no rule.

    With ``metadata=True`` it carries the nine metadata fields with plausible values, as a
    response to ``metadata=true`` does. Validate it with ``validate_query_model(doc,
    metadata=...)`` and expect no violation.
    """

    def build() -> st.SearchStrategy[dict[str, Any]]:
        check_weight(weight)
        check_llm_bounds(min_llms, max_llms)

        @st.composite
        def documents(draw: st.DrawFn) -> dict[str, Any]:
            chooser = _chooser(draw)
            return query_model(
                chooser, weight=weight, min_llms=min_llms, max_llms=max_llms, metadata=metadata
            )

        return documents()

    return _checked(build)


def invalid_query_models(
    *, rules: Iterable[str] | None = None
) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """``(document, rule_id)`` pairs: each document breaks exactly that document rule.

    ``rules`` restricts the rule ids (default: every document rule of the contract). Validate
    with ``metadata=metadata_requested(document)`` (whether it holds any metadata field) and the
    validator reports ``rule_id`` and no other rule.
    """

    def build() -> st.SearchStrategy[tuple[dict[str, Any], str]]:
        chosen = tuple(DOCUMENT_RULES) if rules is None else tuple(dict.fromkeys(rules))
        unknown = [rule for rule in chosen if rule not in DOCUMENT_RULES]
        if unknown or not chosen:
            raise QmContractError(
                f"rules must be a non-empty selection of {', '.join(DOCUMENT_RULES)}; got {list(chosen)}"
            )

        @st.composite
        def broken(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
            chooser = _chooser(draw)
            rule = pick(chooser, chosen)
            return invalid_query_model(chooser, rule), rule

        return broken()

    return _checked(build)
