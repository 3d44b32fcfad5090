"""Hypothesis strategies for Query Model and Query LLM definitions, documents, entries and broken ones.

::

    from hypothesis import given
    from qmcontract.strategies import query_models

    @given(query_models(weight="training_table", metadata=True))
    def test_my_client_reads_any_query_model(document):
        assert my_client.parse(document).name == document["name"]

This module is the ``qmcontract[strategies]`` extra: it imports hypothesis (and nothing else
outside the standard library and the core), and says in one line which extra to install when
hypothesis is missing.

Every document and entry is assembled by the core, so it honours every rule of the contract;
every definition builds with :func:`qmcontract.build_query_model` (or
:func:`qmcontract.build_query_llm`) and is a valid body for ``POST /query_models`` (or ``POST
/query_llms``). The strategies share their sampler with ``qmcontract generate``
(:mod:`qmcontract.sampler`): hypothesis supplies the bits that sampler reads, in blocks of 32
bytes, which keeps draws few (fast) and lets hypothesis shrink a failing document towards the
simplest one: a single static-weight ``generate`` LLM with no optional parameter. Nothing filters
or rejects, so no health check trips.

Portable by default: ``logit_bias`` keys come in ascending numeric order, as a JavaScript client
reads them, so every name is the same in every language; ``portable=False`` keeps the keys in
the order drawn (still valid: the hash uses the order given).

Bad arguments raise :class:`hypothesis.errors.InvalidArgument` when the strategy is first used.
The core has no typed definition classes (definitions and documents are plain JSON objects), so
no strategy is registered with ``st.register_type_strategy``.
"""

from __future__ import annotations

from qmcontract.extras import ensure_extra

ensure_extra("strategies", "qmcontract.strategies")

from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from typing import Any, Final, TypeVar  # noqa: E402

from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import InvalidArgument  # noqa: E402

from qmcontract.breakers import invalid_query_llm, invalid_query_model, metadata_requested  # noqa: E402
from qmcontract.errors import QmContractError  # noqa: E402
from qmcontract.rules import DOCUMENT_RULES, LLM_RULES  # noqa: E402
from qmcontract.sampler import (  # noqa: E402
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
    query_llm,
    query_model,
)

__all__ = [
    "invalid_query_llms",
    "invalid_query_models",
    "metadata_requested",
    "query_llm_definitions",
    "query_llms",
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
    *, weight: WeightType = "static", modes: Iterable[str] | None = None, portable: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """One Query LLM as a user writes it, with a ``weight`` of the given type: a ``POST /query_llms`` body.

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
            return llm_definition(_chooser(draw), weight=weight, modes=chosen, portable=portable)

        return llms()

    return _checked(build)


def query_model_definitions(
    *, weight: WeightType | None = None, min_llms: int = 1, max_llms: int = 16, portable: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """A Query Model definition ``{"weight", "models"}`` that builds without a violation.

    A valid ``POST /query_models`` body.
    ``weight`` fixes the weight type (default: either). Besides what
    :func:`query_llm_definitions` covers, LLMs now and then repeat an earlier one exactly or
    with only another weight, so duplicate names and shared training tables occur.
    """

    def build() -> st.SearchStrategy[dict[str, Any]]:
        check_weight(weight)
        check_llm_bounds(min_llms, max_llms)

        @st.composite
        def definitions(draw: st.DrawFn) -> dict[str, Any]:
            return model_definition(
                _chooser(draw), weight=weight, min_llms=min_llms, max_llms=max_llms, portable=portable
            )

        return definitions()

    return _checked(build)


def query_models(
    *,
    weight: WeightType | None = None,
    min_llms: int = 1,
    max_llms: int = 16,
    metadata: bool = False,
    portable: bool = True,
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
                chooser,
                weight=weight,
                min_llms=min_llms,
                max_llms=max_llms,
                metadata=metadata,
                portable=portable,
            )

        return documents()

    return _checked(build)


def query_llms(
    *, weight: WeightType | None = None, metadata: bool = False, portable: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    """One Query LLM entry as ``GET /query_llms/{name}`` answers it, breaking no rule.

    ``name`` first, ``training_table_name`` with a training-table weight, then the normalised
    LLM, no indexes: exactly what :func:`qmcontract.build_query_llm` (and ``POST /query_llms``)
    gives for its definition. ``weight`` fixes the weight type (default: either); with
    ``metadata=True`` the entry carries the nine metadata fields. Validate it with
    ``validate_query_llm(entry, metadata=...)`` and expect no violation.
    """

    def build() -> st.SearchStrategy[dict[str, Any]]:
        check_weight(weight)

        @st.composite
        def entries(draw: st.DrawFn) -> dict[str, Any]:
            return query_llm(_chooser(draw), weight=weight, metadata=metadata, portable=portable)

        return entries()

    return _checked(build)


def _chosen_rules(rules: Iterable[str] | None, valid: Sequence[str], what: str) -> tuple[str, ...]:
    chosen = tuple(valid) if rules is None else tuple(dict.fromkeys(rules))
    unknown = [rule for rule in chosen if rule not in valid]
    if unknown or not chosen:
        raise QmContractError(
            f"rules must be a non-empty selection of {what}: {', '.join(valid)}; got {list(chosen)}"
        )
    return chosen


def invalid_query_models(
    *, rules: Iterable[str] | None = None, portable: bool = True
) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """``(document, rule_id)`` pairs: each document breaks exactly that document rule.

    ``rules`` restricts the rule ids (default: every document rule of the contract). Validate
    with ``metadata=metadata_requested(document)`` (whether it holds any metadata field) and the
    validator reports ``rule_id`` and no other rule.
    """

    return _broken(invalid_query_model, rules, tuple(DOCUMENT_RULES), "the document rules", portable)


def invalid_query_llms(
    *, rules: Iterable[str] | None = None, portable: bool = True
) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """``(entry, rule_id)`` pairs: each LLM entry breaks exactly that rule of ``LLM_RULES``.

    ``rules`` restricts the rule ids (default: every rule a lone entry can break: ``schema``,
    ``llm-name``, ``llm-params``, ``training-table-presence``, ``training-table-name``). Validate
    with ``validate_query_llm(entry, metadata=metadata_requested(entry))`` and the validator
    reports ``rule_id`` and no other rule.
    """

    return _broken(invalid_query_llm, rules, LLM_RULES, "the rules of one LLM entry", portable)


def _broken(
    breaker: Callable[..., dict[str, Any]],
    rules: Iterable[str] | None,
    valid: Sequence[str],
    what: str,
    portable: bool,
) -> st.SearchStrategy[tuple[dict[str, Any], str]]:
    """``(value, rule)`` pairs, the rule drawn among ``rules`` and broken by ``breaker``."""

    def build() -> st.SearchStrategy[tuple[dict[str, Any], str]]:
        chosen = _chosen_rules(rules, valid, what)

        @st.composite
        def broken(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
            chooser = _chooser(draw)
            rule = pick(chooser, chosen)
            return breaker(chooser, rule, portable=portable), rule

        return broken()

    return _checked(build)
