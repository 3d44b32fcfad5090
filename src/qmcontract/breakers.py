"""Breaking a valid document so that exactly one document rule fails: one function per rule.

Both faces that make invalid documents call :func:`invalid_query_model`: the hypothesis strategy
``invalid_query_models`` and ``qmcontract generate --invalid``. The breakers sit on top of the
sampler (:mod:`qmcontract.sampler`), which never imports them. A breaker changes the document
and then re-derives, with the core's own functions, every computed field that the change would
otherwise also break (LLM names, order and indexes, training-table names and indexes, the
model name), so that the validator reports the named rule and nothing else.

Which ``metadata`` to validate with: ``True`` when the document holds any of the nine metadata
fields, else ``False`` (see :func:`metadata_requested`). A ``metadata-presence`` document holds
some but not all nine, so it breaks that rule for either value; with ``metadata=None`` the
validator does not check presence at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from qmcontract.canonical import COMPUTED_LLM_KEYS, LLM_KEYS, PROVIDER_LIST_KEYS, copy_json, normalise_llm
from qmcontract.model import assemble, assemble_llm
from qmcontract.names import hash_name, model_training_table_name
from qmcontract.rules import METADATA_FIELDS
from qmcontract.sampler import (
    EMBEDDINGS_MODELS,
    INT32_MAX,
    MAX_LLMS,
    PROVIDERS,
    STOP_SEQUENCES,
    WEIGHT_TYPES,
    Chooser,
    WeightType,
    count,
    distinct,
    llm_weight,
    one_in,
    pick,
    positive,
    query_llm,
    query_model,
)

Document = dict[str, Any]
Change = Callable[[Document, Chooser], Document]
#: A change to one LLM's content (what a user writes), decided before it is applied.
Edit = Callable[[dict[str, Any]], dict[str, Any]]
#: Draws an edit: the one shape of a change to an LLM, whether it sits in a document or alone.
DrawEdit = Callable[[Chooser], Edit]


@dataclass(frozen=True)
class Breaker:
    """How to break one rule, and what the valid document (or LLM entry) it starts from must be like."""

    rule: str
    apply: Change
    weight: WeightType | None = None
    metadata: bool | None = None


def metadata_requested(document: Any) -> bool:
    """The ``metadata`` to validate a generated document or entry with: whether it holds a metadata field."""
    return isinstance(document, dict) and any(key in document for key in METADATA_FIELDS)


# --- re-deriving what a change must not break ----------------------------------------------------------


def _content(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in COMPUTED_LLM_KEYS}


def _rebuilt(
    document: Document, llms: Sequence[dict[str, Any]], weight: Any = None
) -> tuple[Document, list[int]]:
    """Every computed field re-derived from ``llms`` as given; metadata carried over."""
    rebuilt, order = assemble(document["weight"] if weight is None else weight, llms)
    rebuilt.update({key: document[key] for key in METADATA_FIELDS if key in document})
    return rebuilt, order


def _changed_llm(
    document: Document, chooser: Chooser, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[Document, int]:
    """Change one LLM's content and rebuild; return the document and where that LLM ended up.

    The changed LLM is normalised again (a new mode changes what ``select_top_logprobs`` drops),
    so a change must survive normalisation: sorted lists, no default values.
    """
    llms = [_content(entry) for entry in document["models"]]
    i = chooser.integer(0, len(llms) - 1)
    llms[i] = normalise_llm(change(llms[i]))
    rebuilt, order = _rebuilt(document, llms)
    return rebuilt, order.index(i)


def _in_models(draw: DrawEdit) -> Change:
    """A drawn edit applied to one LLM of a document (drawn after the edit), all else re-derived."""

    def apply(document: Document, chooser: Chooser) -> Document:
        return _changed_llm(document, chooser, draw(chooser))[0]

    apply.__name__ = draw.__name__
    return apply


def _entry_content(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An LLM entry without its names and metadata: the definition it was built from."""
    return {key: value for key, value in _content(entry).items() if key not in METADATA_FIELDS}


def _rebuilt_entry(entry: Document, content: Mapping[str, Any]) -> Document:
    """The entry of ``content`` (normalised again), its names re-derived, metadata carried over."""
    rebuilt = assemble_llm(normalise_llm(content))
    rebuilt.update({key: entry[key] for key in METADATA_FIELDS if key in entry})
    return rebuilt


def _in_entry(draw: DrawEdit) -> Change:
    """A drawn edit applied to a lone LLM entry, its names re-derived."""

    def apply(entry: Document, chooser: Chooser) -> Document:
        return _rebuilt_entry(entry, draw(chooser)(_entry_content(entry)))

    apply.__name__ = draw.__name__
    return apply


def _setting(**fields: Any) -> Edit:
    return lambda llm: {**llm, **fields}


def _ordered(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An LLM entry with its keys in response order: computed fields, then hash order."""
    keys = [*COMPUTED_LLM_KEYS, *LLM_KEYS]
    ordered = {key: entry[key] for key in keys if key in entry}
    ordered.update({key: value for key, value in entry.items() if key not in ordered})
    return ordered


def _other_name(name: Any) -> str:
    """A well-formed name that is not ``name``."""
    return hash_name(f"qmcontract:not:{name}")


def _llm_at(document: Document, chooser: Chooser) -> tuple[int, dict[str, Any]]:
    i = chooser.integer(0, len(document["models"]) - 1)
    return i, document["models"][i]


def _one_of(*changes: Change) -> Change:
    """A breaker that applies one of several changes, the first being the simplest."""

    def apply(document: Document, chooser: Chooser) -> Document:
        return pick(chooser, changes)(copy_json(document), chooser)

    apply.__doc__ = "One of: " + ", ".join(change.__name__ for change in changes)
    return apply


# --- schema ----------------------------------------------------------------------------------------


def _unknown_field(document: Document, chooser: Chooser) -> Document:
    document[pick(chooser, ("extra", "slug", "metadata", "Name"))] = True
    return document


def _unknown_llm_field(document: Document, chooser: Chooser) -> Document:
    _, llm = _llm_at(document, chooser)
    llm[pick(chooser, ("extra", "count", "tool_response_format", "Weight"))] = 1
    return document


def _name_missing(document: Document, _chooser: Chooser) -> Document:
    del document["name"]
    return document


def _name_malformed(document: Document, chooser: Chooser) -> Document:
    document["name"] = pick(chooser, ("not-a-name", document["name"][:21], document["name"] + "0", ""))
    return document


def _index_as_string(document: Document, chooser: Chooser) -> Document:
    i, llm = _llm_at(document, chooser)
    llm["index"] = str(i)
    return document


def _out_of_range(chooser: Chooser) -> Edit:
    field, value = pick(
        chooser,
        (
            ("mode", "thinking"),
            ("temperature", 2.5),
            ("top_p", -0.5),
            ("select_top_logprobs", 21),
            ("max_tokens", INT32_MAX + 1),
            ("verbosity", "extreme"),
            ("frequency_penalty", -2.01),
            ("reasoning_effort", "none"),
            ("stop", 5),
            ("id", ""),
        ),
    )
    return _setting(**{field: value})


def _without_id(_chooser: Chooser) -> Edit:
    return lambda llm: {k: v for k, v in llm.items() if k != "id"}


def _empty_provider_sort(_chooser: Chooser) -> Edit:
    return lambda llm: {**llm, "provider": {**llm.get("provider", {}), "sort": ""}}


def _top_not_an_integer(document: Document, chooser: Chooser) -> Document:
    weight = document["weight"]
    if weight["type"] != "training_table":
        return _unknown_field(document, chooser)
    top = pick(chooser, (str(weight["top"]), weight["top"] + 0.5, None))
    return _rebuilt(document, [_content(llm) for llm in document["models"]], {**weight, "top": top})[0]


# --- llm-count ---------------------------------------------------------------------------------------


def _no_llms(document: Document, _chooser: Chooser) -> Document:
    return _rebuilt(document, [])[0]


def _too_many_llms(document: Document, _chooser: Chooser) -> Document:
    llms = [_content(llm) for llm in document["models"]]
    return _rebuilt(document, [llms[i % len(llms)] for i in range(MAX_LLMS + 1)])[0]


# --- names and order -----------------------------------------------------------------------------------


def _scale_weight(llm: dict[str, Any]) -> None:
    """Double an LLM's weight in place, keeping its name: the name no longer hashes its content.

    Training-table names leave the weight out, so they stay right.
    """
    weight = llm["weight"]
    llm["weight"] = {key: value if key == "type" else value * 2 for key, value in weight.items()}


def _weight_scaled(document: Document, chooser: Chooser) -> Document:
    _scale_weight(_llm_at(document, chooser)[1])
    return document


def _model_renamed(document: Document, _chooser: Chooser) -> Document:
    document["name"] = _other_name(document["name"])
    return document


def _top_changed(document: Document, chooser: Chooser) -> Document:
    """``top`` is part of the model name but not of its training-table name."""
    weight = document["weight"]
    if weight["type"] != "training_table":
        return _model_renamed(document, chooser)
    weight["top"] = weight["top"] + 1 if weight["top"] < INT32_MAX else weight["top"] - 1
    return document


def _index_changed(document: Document, chooser: Chooser) -> Document:
    i, llm = _llm_at(document, chooser)
    llm["index"] = (i + chooser.integer(1, MAX_LLMS - 1)) % MAX_LLMS
    return document


def _neighbours_swapped(document: Document, chooser: Chooser) -> Document:
    """Two neighbours with different names swapped, each given the index of its new place."""
    models = document["models"]
    places = [p for p in range(len(models) - 1) if models[p]["name"] != models[p + 1]["name"]]
    if not places:
        return _index_changed(document, chooser)
    p = pick(chooser, places)
    models[p], models[p + 1] = {**models[p + 1], "index": p}, {**models[p], "index": p + 1}
    return document


# --- weights ----------------------------------------------------------------------------------------


def _other_weight_type(document: Document, chooser: Chooser) -> Document:
    other: WeightType = "static" if document["weight"]["type"] == "training_table" else "training_table"
    return _changed_llm(document, chooser, lambda llm: {**llm, "weight": llm_weight(chooser, other)})[0]


def _bad_weight(chooser: Chooser) -> Edit:
    def change(llm: dict[str, Any]) -> dict[str, Any]:
        weight = dict(llm["weight"])
        if weight["type"] == "static":
            weight["weight"] = pick(chooser, (0.0, -positive(chooser) * 1.0, 0))
        else:
            low, base, high = weight["min_weight"], weight["base_weight"], weight["max_weight"]
            weight.update(
                pick(
                    chooser,
                    (
                        {"min_weight": 0.0},
                        {"min_weight": base * 2},
                        {"max_weight": base / 2, "min_weight": min(low, base / 2)},
                        {"min_weight": -low},
                        {"base_weight": high * 2},
                    ),
                )
            )
        return {**llm, "weight": weight}

    return change


_bad_llm_weight = _in_models(_bad_weight)


def _top_zero(document: Document, chooser: Chooser) -> Document:
    weight = document["weight"]
    if weight["type"] != "training_table":
        return _bad_llm_weight(document, chooser)
    top = pick(chooser, (0, -count(chooser)))
    return _rebuilt(document, [_content(llm) for llm in document["models"]], {**weight, "top": top})[0]


# --- training tables ------------------------------------------------------------------------------------


def _table_field_removed(document: Document, chooser: Chooser) -> Document:
    if document["weight"]["type"] != "training_table":
        return _table_field_added(document, chooser)
    owner, key = pick(chooser, ((document, "training_table_name"), *_llm_table_keys(document, chooser)))
    del owner[key]
    return document


def _table_field_null(document: Document, chooser: Chooser) -> Document:
    if document["weight"]["type"] != "training_table":
        return _table_field_added(document, chooser)
    owner, key = pick(chooser, ((document, "training_table_name"), *_llm_table_keys(document, chooser)))
    owner[key] = None
    return document


def _llm_table_keys(document: Document, chooser: Chooser) -> list[tuple[dict[str, Any], str]]:
    _, llm = _llm_at(document, chooser)
    return [(llm, "training_table_name"), (llm, "training_table_index")]


def _table_field_added(document: Document, chooser: Chooser) -> Document:
    if document["weight"]["type"] == "training_table":
        return _table_field_removed(document, chooser)
    where = chooser.integer(0, 2)
    if where == 0:
        document = {
            "name": document["name"],
            "training_table_name": _other_name(document["name"]),
            **document,
        }
    else:
        i, llm = _llm_at(document, chooser)
        llm["training_table_name" if where == 1 else "training_table_index"] = (
            _other_name(llm["name"]) if where == 1 else 0
        )
        document["models"][i] = _ordered(llm)
    return document


def _model_table_renamed(document: Document, _chooser: Chooser) -> Document:
    document["training_table_name"] = _other_name(document["training_table_name"])
    return document


def _llm_table_renamed(document: Document, chooser: Chooser) -> Document:
    """One LLM's training-table name changed; indexes and the model's table name follow the claim."""
    _, llm = _llm_at(document, chooser)
    llm["training_table_name"] = _other_name(llm["training_table_name"])
    models = document["models"]
    tables = sorted({entry["training_table_name"] for entry in models})
    for entry in models:
        entry["training_table_index"] = tables.index(entry["training_table_name"])
    embeddings_model = document["weight"]["embeddings_model"]
    document["training_table_name"] = model_training_table_name(
        embeddings_model, [entry["training_table_name"] for entry in models]
    )
    return document


def _embeddings_model_changed(document: Document, chooser: Chooser) -> Document:
    """The model is renamed for its new weight; its training-table name is left stale."""
    weight = document["weight"]
    others = [model for model in EMBEDDINGS_MODELS if model != weight["embeddings_model"]]
    new_weight = {**weight, "embeddings_model": pick(chooser, others)}
    rebuilt = _rebuilt(document, [_content(llm) for llm in document["models"]], new_weight)[0]
    rebuilt["training_table_name"] = document["training_table_name"]
    return rebuilt


def _table_index_changed(document: Document, chooser: Chooser) -> Document:
    _, llm = _llm_at(document, chooser)
    llm["training_table_index"] = (llm["training_table_index"] + chooser.integer(1, MAX_LLMS - 1)) % MAX_LLMS
    return document


# --- llm-params ------------------------------------------------------------------------------------------


def _bad_logit_bias(chooser: Chooser) -> Edit:
    token = str(count(chooser, 200_000))
    entry = pick(
        chooser,
        (
            {"0" + token: 5},
            {pick(chooser, ("a1", "-1", "1.5", " 7", "", "1e3")): 5},
            {token: 100 + count(chooser, 1000)},
            {token: -100 - count(chooser, 1000)},
            {token: 1.5},
        ),
    )
    return _setting(logit_bias=entry)


def _bad_reasoning(chooser: Chooser) -> Edit:
    effort = pick(chooser, ("low", "medium", "high"))
    reasoning = pick(
        chooser,
        (
            {"max_tokens": count(chooser), "effort": effort},
            {"effort": effort, "enabled": False},
            {"max_tokens": count(chooser), "enabled": False},
        ),
    )
    return _setting(reasoning=reasoning)


def _bad_fallbacks(chooser: Chooser) -> Edit:
    def change(llm: dict[str, Any]) -> dict[str, Any]:
        other = "acme/fallback"
        models = pick(chooser, ([llm["id"]], [other, llm["id"]], [other, other], [""], [other, ""]))
        return {**llm, "models": models}

    return change


def _bad_stop(chooser: Chooser) -> Edit:
    text = pick(chooser, STOP_SEQUENCES)
    return _setting(stop=pick(chooser, ([text, text], ["", text], "")))


def _bad_provider_list(chooser: Chooser) -> Edit:
    key = pick(chooser, PROVIDER_LIST_KEYS)
    provider = pick(chooser, PROVIDERS)
    items = pick(chooser, ([provider, provider], ["", provider]))
    return lambda llm: {**llm, "provider": {**llm.get("provider", {}), key: items}}


#: The edits that break ``llm-params``, wherever the LLM sits.
_PARAMS_EDITS: Final[tuple[DrawEdit, ...]] = (
    _bad_logit_bias,
    _bad_reasoning,
    _bad_fallbacks,
    _bad_stop,
    _bad_provider_list,
)


def _empty_list(document: Document, chooser: Chooser) -> Document:
    """An empty list the response should have omitted. It normalises away, so no name changes."""
    field = pick(chooser, ("models", "stop", "provider"))
    rebuilt, i = _changed_llm(document, chooser, lambda llm: {k: v for k, v in llm.items() if k != field})
    value: Any = [] if field != "provider" else {pick(chooser, PROVIDER_LIST_KEYS): []}
    rebuilt["models"][i] = _ordered({**rebuilt["models"][i], field: value})
    return rebuilt


# --- metadata ---------------------------------------------------------------------------------------------


def _some_metadata_missing(document: Document, chooser: Chooser) -> Document:
    for key in distinct(chooser, METADATA_FIELDS, chooser.integer(1, len(METADATA_FIELDS) - 1)):
        del document[key]
    return document


_BAD_METADATA: Final[tuple[tuple[str, tuple[Any, ...]], ...]] = (
    ("user_id", ("", None, 42)),
    ("created", ("yesterday", "2025-10-06", "2025-13-06T00:00:00Z", 1759772529)),
    ("requests", (-1, 1.5, "3", True)),
    ("chat_completion_tokens", (-5, 2.5)),
    ("chat_prompt_tokens", (-1, "0")),
    ("chat_cost", (-0.01, "0.0")),
    ("embedding_completion_tokens", (-1, None)),
    ("embedding_prompt_tokens", (-2, 0.5)),
    ("embedding_cost", (-1.5, "free")),
)


def _bad_metadata_value(document: Document, chooser: Chooser) -> Document:
    key, values = pick(chooser, _BAD_METADATA)
    document[key] = pick(chooser, values)
    return document


BREAKERS: Final[Mapping[str, Breaker]] = {
    "schema": Breaker(
        "schema",
        _one_of(
            _unknown_field,
            _unknown_llm_field,
            _in_models(_out_of_range),
            _name_missing,
            _name_malformed,
            _index_as_string,
            _in_models(_without_id),
            _in_models(_empty_provider_sort),
            _top_not_an_integer,
        ),
    ),
    "llm-count": Breaker("llm-count", _one_of(_no_llms, _too_many_llms)),
    "llm-name": Breaker("llm-name", _one_of(_weight_scaled)),
    "model-name": Breaker("model-name", _one_of(_model_renamed, _top_changed)),
    "order-index": Breaker("order-index", _one_of(_index_changed, _neighbours_swapped)),
    "weight-match": Breaker("weight-match", _one_of(_other_weight_type)),
    "weight-values": Breaker("weight-values", _one_of(_bad_llm_weight, _top_zero)),
    "training-table-presence": Breaker(
        "training-table-presence", _one_of(_table_field_removed, _table_field_null, _table_field_added)
    ),
    "training-table-name": Breaker(
        "training-table-name",
        _one_of(_model_table_renamed, _llm_table_renamed, _embeddings_model_changed),
        weight="training_table",
    ),
    "training-table-index": Breaker(
        "training-table-index", _one_of(_table_index_changed), weight="training_table"
    ),
    "llm-params": Breaker(
        "llm-params",
        _one_of(*(_in_models(draw) for draw in _PARAMS_EDITS), _empty_list),
    ),
    "metadata-presence": Breaker("metadata-presence", _one_of(_some_metadata_missing), metadata=True),
    "metadata-values": Breaker("metadata-values", _one_of(_bad_metadata_value), metadata=True),
}
"""One breaker per document rule of the contract, in catalogue order."""


def break_document(document: Document, rule: str, chooser: Chooser) -> Document:
    """A copy of a valid ``document`` that breaks exactly ``rule`` (the input is not changed).

    The document must meet the breaker's needs (:data:`BREAKERS`): a training-table weight for
    the training-table rules, the nine metadata fields for the metadata rules.
    """
    return BREAKERS[rule].apply(document, chooser)


# --- one LLM entry (GET /query_llms/{name}) ---------------------------------------------------------------


def _is_table_entry(entry: Document) -> bool:
    return bool(entry["weight"]["type"] == "training_table")


def _entry_unknown_field(entry: Document, chooser: Chooser) -> Document:
    entry[pick(chooser, ("extra", "count", "tool_response_format", "Weight"))] = 1
    return entry


def _entry_index(entry: Document, chooser: Chooser) -> Document:
    """An ``index``, which only an entry of a Query Model's ``models`` carries."""
    return {"name": entry["name"], "index": chooser.integer(0, MAX_LLMS - 1), **entry}


def _entry_weight_scaled(entry: Document, _chooser: Chooser) -> Document:
    _scale_weight(entry)
    return entry


def _entry_table_name_added(entry: Document, chooser: Chooser) -> Document:
    if _is_table_entry(entry):
        return _entry_table_name_removed(entry, chooser)
    return {"name": entry["name"], "training_table_name": _other_name(entry["name"]), **entry}


def _entry_table_name_removed(entry: Document, chooser: Chooser) -> Document:
    if not _is_table_entry(entry):
        return _entry_table_name_added(entry, chooser)
    del entry["training_table_name"]
    return entry


def _entry_table_name_null(entry: Document, chooser: Chooser) -> Document:
    if not _is_table_entry(entry):
        return _entry_table_name_added(entry, chooser)
    entry["training_table_name"] = None
    return entry


def _entry_table_renamed(entry: Document, _chooser: Chooser) -> Document:
    entry["training_table_name"] = _other_name(entry["training_table_name"])
    return entry


def _entry_empty_list(entry: Document, chooser: Chooser) -> Document:
    """An empty list the entry should have omitted. It normalises away, so the name stays right."""
    field = pick(chooser, ("models", "stop", "provider"))
    rebuilt = _rebuilt_entry(entry, {k: v for k, v in _entry_content(entry).items() if k != field})
    value: Any = [] if field != "provider" else {pick(chooser, PROVIDER_LIST_KEYS): []}
    return _ordered({**rebuilt, field: value})


LLM_BREAKERS: Final[Mapping[str, Breaker]] = {
    "schema": Breaker(
        "schema",
        _one_of(
            _entry_unknown_field,
            _entry_index,
            _in_entry(_out_of_range),
            _name_missing,
            _name_malformed,
            _in_entry(_without_id),
            _in_entry(_empty_provider_sort),
        ),
    ),
    "llm-name": Breaker("llm-name", _one_of(_entry_weight_scaled)),
    "llm-params": Breaker(
        "llm-params", _one_of(*(_in_entry(draw) for draw in _PARAMS_EDITS), _entry_empty_list)
    ),
    "training-table-presence": Breaker(
        "training-table-presence",
        _one_of(_entry_table_name_removed, _entry_table_name_null, _entry_table_name_added),
    ),
    "training-table-name": Breaker(
        "training-table-name", _one_of(_entry_table_renamed), weight="training_table"
    ),
}
"""One breaker per rule a lone LLM entry can break (:data:`qmcontract.rules.LLM_RULES`), in that order."""


def break_llm(entry: Document, rule: str, chooser: Chooser) -> Document:
    """A copy of a valid LLM ``entry`` that breaks exactly ``rule`` (one of ``LLM_RULES``)."""
    return LLM_BREAKERS[rule].apply(entry, chooser)


# --- the entry points --------------------------------------------------------------------------------------


def invalid_query_model(
    chooser: Chooser,
    rule: str,
    *,
    weight: WeightType | None = None,
    metadata: bool | None = None,
    min_llms: int = 1,
    max_llms: int = 16,
    portable: bool = True,
) -> Document:
    """A document that breaks exactly ``rule``; the rule's needs override ``weight``/``metadata``."""
    breaker = BREAKERS[rule]
    kind = breaker.weight or weight or pick(chooser, WEIGHT_TYPES)
    with_metadata = breaker.metadata if breaker.metadata is not None else metadata
    if with_metadata is None:
        with_metadata = one_in(chooser, 2)
    base = query_model(
        chooser,
        weight=kind,
        min_llms=min_llms,
        max_llms=max_llms,
        metadata=with_metadata,
        portable=portable,
    )
    return break_document(base, rule, chooser)


def invalid_query_llm(
    chooser: Chooser,
    rule: str,
    *,
    weight: WeightType | None = None,
    metadata: bool | None = None,
    portable: bool = True,
) -> Document:
    """An LLM entry that breaks exactly ``rule`` (one of ``LLM_RULES``); its needs override ``weight``."""
    breaker = LLM_BREAKERS[rule]
    kind = breaker.weight or weight or pick(chooser, WEIGHT_TYPES)
    with_metadata = one_in(chooser, 2) if metadata is None else metadata
    entry = query_llm(chooser, weight=kind, metadata=with_metadata, portable=portable)
    return break_llm(entry, rule, chooser)
