"""The worked examples of facts 1.5 as test vectors, and the normalisation rules of facts 1.2 one by one.

The vectors are read from ``tests/data/worked-examples.json``, a copy of the shared
``../shared/vectors/worked-examples.json`` kept in the repository so that the tests run without
the shared folder; when the shared file is there, the copy must not have drifted from it. The
names are also written out literally below (from the facts file), so a damaged copy cannot make
the tests agree with a wrong core.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from qmcontract import build_query_model, llm_name, query_model_name
from qmcontract.canonical import canonical_llm_json, format_f64, normalise_llm
from qmcontract.catalog import load_catalog
from qmcontract.model import assemble
from qmcontract.names import (
    TRAINING_TABLE_DEFAULT_WEIGHT,
    base62,
    hash_name,
    is_name,
    llm_training_table_name,
    model_training_table_name,
    name_of_normalised_llm,
    names_of_normalised_llm,
)

REPO = Path(__file__).resolve().parents[1]
VECTORS = Path(__file__).parent / "data" / "worked-examples.json"
SHARED_VECTORS = REPO / ".." / "shared" / "vectors" / "worked-examples.json"


def _load(path: Path) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return vectors


EXAMPLES = {vector["example"]: vector for vector in _load(VECTORS)}

# Per example, facts 1.5: LLMs in *input* order as (name, index, training_table_name, training_table_index).
EXPECTED: dict[str, dict[str, Any]] = {
    "example1_docs": {
        "name": "2FgLFqAf8M6MTa6MtGLLwM",
        "training_table_name": None,
        "llms": [
            ("61jFz6OhuRTAKokNtby9Qn", 1, None, None),
            ("5Fr43anduAkLuCN7PL9BAK", 0, None, None),
            ("7W051ct7yeEWFZczC98xKl", 2, None, None),
        ],
    },
    "example2_training_table": {
        "name": "5KlLvcRDxfbEwHKwoVF1tI",
        "training_table_name": "1zYhNnXd4jG06ac6JGDelN",
        "llms": [
            ("4ErbTEnAkcWzrCv1eIX8gE", 1, "0BFvOs7vuzUUCPSbiDv1fY", 0),
            ("31ZZnLqTK62vDxJxyJt0Qc", 0, "535Yto1yGFPfVhSGhgqmxB", 2),
            ("69Wm6jvkX6U765ZiULiB59", 2, "3tkuRtX8meb7wqIM1Nkyp1", 1),
        ],
    },
    "example3_weight_only_twins": {
        "name": "3hMYKqCzDtEGML7KnslgTK",
        "training_table_name": "1QdhDjI0bETJ6vxkeXo2Bz",
        "llms": [
            ("3ko1TeseWo2M6U6rNzbecR", 0, "1jgKw4scYAcungXXv5umvB", 0),
            ("44PiuUslEDs8UFqaxOXwRo", 1, "1jgKw4scYAcungXXv5umvB", 0),
        ],
    },
}

# Facts 1.5: the exact canonical JSON each input LLM hashes, in input order.
CANONICAL: dict[str, list[str]] = {
    "example1_docs": [
        '{"id":"openai/gpt-5-nano","mode":"generate","weight":{"type":"static","weight":1.0}}',
        '{"id":"openai/gpt-5-mini","mode":"generate","weight":{"type":"static","weight":1.0}}',
        '{"id":"google/gemini-2.5-flash","mode":"generate","weight":{"type":"static","weight":1.0}}',
    ],
    "example2_training_table": [
        '{"id":"openai/gpt-4.1-nano","mode":"generate","top_p":0.9,"provider":{"data_collection":"deny",'
        '"only":["azure","openai"]},"weight":{"type":"training_table","base_weight":1.0,"min_weight":0.5,'
        '"max_weight":2.5}}',
        '{"id":"openai/gpt-4.1-nano","mode":"select_non_thinking_logprobs","logit_bias":{"50256":-100},'
        '"stop":["a","b"],"weight":{"type":"training_table","base_weight":2.0,"min_weight":1.0,"max_weight":3.0}}',
        '{"id":"google/gemini-2.5-flash","mode":"select_thinking","models":["google/gemini-2.5-flash-lite"],'
        '"weight":{"type":"training_table","base_weight":1.0,"min_weight":1.0,"max_weight":1.0}}',
    ],
}

example_ids = pytest.mark.parametrize("example", sorted(EXPECTED))


# --- the vectors themselves ---------------------------------------------------------------


def test_the_copy_holds_the_three_examples() -> None:
    assert sorted(EXAMPLES) == sorted(EXPECTED)


@pytest.mark.skipif(not SHARED_VECTORS.is_file(), reason="the shared vectors folder is not beside the repo")
def test_the_copy_has_not_drifted_from_the_shared_vectors() -> None:
    assert _load(SHARED_VECTORS) == _load(VECTORS)


@example_ids
def test_build_gives_the_document_exactly_key_order_included(example: str) -> None:
    vector = EXAMPLES[example]
    built = build_query_model(copy.deepcopy(vector["definition"]))
    assert json.dumps(built) == json.dumps(vector["document"])


@example_ids
def test_build_does_not_mutate_the_definition(example: str) -> None:
    definition = EXAMPLES[example]["definition"]
    before = json.dumps(definition)
    build_query_model(definition)
    assert json.dumps(definition) == before


@example_ids
def test_every_llm_name_index_and_training_table_field(example: str) -> None:
    definition, expected = EXAMPLES[example]["definition"], EXPECTED[example]
    document = build_query_model(definition)
    for position, (name, index, table_name, table_index) in enumerate(expected["llms"]):
        entry = document["models"][index]
        assert entry["name"] == name
        assert entry["index"] == index
        assert entry.get("training_table_name") == table_name
        assert entry.get("training_table_index") == table_index
        assert llm_name(definition["models"][position]) == name
        assert llm_name(entry) == name
        if table_name is not None:
            assert llm_training_table_name(definition["models"][position]) == table_name


@example_ids
def test_model_name_and_training_table_name(example: str) -> None:
    definition, expected = EXAMPLES[example]["definition"], EXPECTED[example]
    document = build_query_model(definition)
    assert document["name"] == expected["name"]
    assert document.get("training_table_name") == expected["training_table_name"]
    names = [name for name, *_ in expected["llms"]]
    assert query_model_name(definition["weight"], names) == expected["name"]
    if expected["training_table_name"] is not None:
        tables = [entry["training_table_name"] for entry in document["models"]]
        embeddings = definition["weight"]["embeddings_model"]
        assert model_training_table_name(embeddings, tables) == expected["training_table_name"]


@pytest.mark.parametrize("example", sorted(CANONICAL))
def test_canonical_json_is_the_text_the_facts_hash(example: str) -> None:
    definition = EXAMPLES[example]["definition"]
    for llm, text, (name, *_) in zip(
        definition["models"], CANONICAL[example], EXPECTED[example]["llms"], strict=True
    ):
        assert canonical_llm_json(normalise_llm(llm)) == text
        assert hash_name(text) == name


@example_ids
def test_input_positions_follow_the_name_order(example: str) -> None:
    definition, expected = EXAMPLES[example]["definition"], EXPECTED[example]
    llms = [normalise_llm(llm) for llm in definition["models"]]
    _, positions = assemble(definition["weight"], llms)
    assert [expected["llms"][position][1] for position in positions] == list(range(len(llms)))


def test_model_name_depends_on_the_llm_multiset_not_its_order() -> None:
    names = [name for name, *_ in EXPECTED["example1_docs"]["llms"]]
    weight = {"type": "static"}
    assert query_model_name(weight, reversed(names)) == query_model_name(weight, names)
    assert query_model_name(weight, [*names, names[0]]) != query_model_name(weight, names)


def test_llms_differing_only_in_weight_share_a_training_table_name() -> None:
    first, second = EXAMPLES["example3_weight_only_twins"]["definition"]["models"]
    assert llm_name(first) != llm_name(second)
    assert llm_training_table_name(first) == llm_training_table_name(second)
    assert llm_training_table_name(first) == llm_name({**first, "weight": {"type": "static", "weight": 0.0}})


# --- number format (Rust serde_json / ryu) ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (1, "1.0"),
        (0.9, "0.9"),
        (1e-5, "0.00001"),
        (1e-6, "1e-6"),
        (1.5e-7, "1.5e-7"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e16"),
        (-2.0, "-2.0"),
        (-2, "-2.0"),
        (0.0, "0.0"),
        (2.5, "2.5"),
        (1234.5678, "1234.5678"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
    ],
)
def test_format_f64(value: float, text: str) -> None:
    assert format_f64(value) == text


# --- base62 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "0" * 22),
        (61, "0" * 21 + "z"),
        (62, "0" * 20 + "10"),
        (2**128 - 1, "7n42DGM5Tflk9n8mt7Fhc7"),
    ],
)
def test_base62_is_left_padded_to_22(number: int, text: str) -> None:
    assert base62(number) == text
    assert is_name(text)


@pytest.mark.parametrize("text", ["", "0" * 21, "0" * 23, "-" * 22, "é" * 22, 22])
def test_is_name_rejects_what_is_not_22_base62_characters(text: object) -> None:
    assert not is_name(text)


# --- normalisation, facts 1.2, one rule at a time -------------------------------------------

BASE: dict[str, Any] = {
    "id": "openai/gpt-4.1-nano",
    "mode": "generate",
    "weight": {"type": "static", "weight": 1},
}
LOGPROBS_BASE: dict[str, Any] = {**BASE, "mode": "select_thinking_logprobs"}


def _same_as(base: dict[str, Any], **fields: Any) -> None:
    """Adding ``fields`` to ``base`` changes neither the normalised LLM nor its name."""
    llm = {**base, **fields}
    assert normalise_llm(llm) == normalise_llm(base)
    assert llm_name(llm) == llm_name(base)


DEFAULTS = [
    ("frequency_penalty", 0),
    ("frequency_penalty", 0.0),
    ("presence_penalty", 0),
    ("repetition_penalty", 1),
    ("repetition_penalty", 1.0),
    ("temperature", 1),
    ("temperature", 1.0),
    ("top_p", 1),
    ("min_p", 0),
    ("top_a", 0),
    ("max_completion_tokens", 0),
    ("max_tokens", 0),
    ("top_k", 0),
    ("verbosity", "medium"),
    ("logit_bias", {}),
    ("stop", []),
    ("models", []),
    ("select_top_logprobs", 0),
    ("reasoning", {}),
    ("reasoning", {"max_tokens": 0}),
    ("reasoning", {"enabled": True}),
    ("reasoning", {"max_tokens": 0, "enabled": True}),
    ("provider", {}),
    ("provider", {"allow_fallbacks": True}),
    ("provider", {"require_parameters": False}),
    ("provider", {"data_collection": "allow"}),
    ("provider", {"order": []}),
    ("provider", {"only": [], "ignore": [], "quantizations": []}),
]


@pytest.mark.parametrize(("field", "default"), DEFAULTS, ids=[f"{f}={d!r}" for f, d in DEFAULTS])
def test_each_default_is_dropped(field: str, default: object) -> None:
    _same_as(BASE, **{field: default})


def test_select_top_logprobs_default_depends_on_the_mode() -> None:
    _same_as(LOGPROBS_BASE, select_top_logprobs=20)
    assert normalise_llm({**LOGPROBS_BASE, "select_top_logprobs": 0})["select_top_logprobs"] == 0
    assert normalise_llm({**BASE, "select_top_logprobs": 20})["select_top_logprobs"] == 20
    assert llm_name({**BASE, "select_top_logprobs": 20}) != llm_name(BASE)


NON_DEFAULTS = [
    ("temperature", 0.5),
    ("reasoning_effort", "medium"),
    ("verbosity", "low"),
    ("reasoning", {"enabled": False}),
    ("provider", {"allow_fallbacks": False}),
    ("provider", {"require_parameters": True}),
    ("provider", {"data_collection": "deny"}),
    ("provider", {"sort": "price"}),
]


@pytest.mark.parametrize(("field", "value"), NON_DEFAULTS, ids=[f"{f}={v!r}" for f, v in NON_DEFAULTS])
def test_a_non_default_value_is_kept_and_hashed(field: str, value: object) -> None:
    llm = {**BASE, field: value}
    assert normalise_llm(llm)[field] == value
    assert llm_name(llm) != llm_name(BASE)


def test_stop_string_kept_one_item_list_collapsed_longer_lists_sorted() -> None:
    assert normalise_llm({**BASE, "stop": "x"})["stop"] == "x"
    assert normalise_llm({**BASE, "stop": ["x"]})["stop"] == "x"
    _same_as({**BASE, "stop": "x"}, stop=["x"])
    assert normalise_llm({**BASE, "stop": ["c", "a", "b"]})["stop"] == ["a", "b", "c"]
    _same_as({**BASE, "stop": ["a", "b", "c"]}, stop=["c", "a", "b"])


@pytest.mark.parametrize("key", ["only", "ignore", "quantizations"])
def test_provider_lists_are_sorted(key: str) -> None:
    llm = {**BASE, "provider": {key: ["z", "a", "m"]}}
    assert normalise_llm(llm)["provider"] == {key: ["a", "m", "z"]}
    _same_as({**BASE, "provider": {key: ["a", "m", "z"]}}, provider={key: ["z", "a", "m"]})


def test_provider_order_is_not_sorted() -> None:
    llm = {**BASE, "provider": {"order": ["z", "a"]}}
    assert normalise_llm(llm)["provider"] == {"order": ["z", "a"]}
    assert llm_name(llm) != llm_name({**BASE, "provider": {"order": ["a", "z"]}})


def test_fallback_models_keep_their_order() -> None:
    llm = {**BASE, "models": ["b/y", "a/x"]}
    assert normalise_llm(llm)["models"] == ["b/y", "a/x"]
    assert llm_name(llm) != llm_name({**BASE, "models": ["a/x", "b/y"]})


def test_provider_keys_are_hashed_in_contract_order() -> None:
    provider = {"sort": "price", "only": ["b", "a"], "data_collection": "deny", "order": ["q"]}
    text = canonical_llm_json(normalise_llm({**BASE, "provider": provider}))
    assert '"provider":{"order":["q"],"data_collection":"deny","only":["a","b"],"sort":"price"}' in text


@pytest.mark.parametrize(
    "reasoning",
    [{"effort": "low"}, {"effort": "high", "enabled": True}, {"effort": "medium", "max_tokens": 0}],
)
def test_reasoning_effort_is_shown_but_not_hashed(reasoning: dict[str, Any]) -> None:
    llm = {**BASE, "reasoning": reasoning}
    assert normalise_llm(llm)["reasoning"] == {"effort": reasoning["effort"]}
    assert llm_name(llm) == llm_name(BASE)
    assert "reasoning" not in canonical_llm_json(normalise_llm(llm))


def test_reasoning_keeps_max_tokens_and_enabled_false_in_the_hash() -> None:
    llm = {**BASE, "reasoning": {"enabled": False, "max_tokens": 0}}
    assert '"reasoning":{"enabled":false}' in canonical_llm_json(normalise_llm(llm))
    budget = {**BASE, "reasoning": {"max_tokens": 64, "effort": "low"}}
    assert '"reasoning":{"max_tokens":64}' in canonical_llm_json(normalise_llm(budget))


def test_logit_bias_zero_values_are_kept() -> None:
    llm = {**BASE, "logit_bias": {"7": 0}}
    assert normalise_llm(llm)["logit_bias"] == {"7": 0}
    assert llm_name(llm) != llm_name(BASE)


def test_logit_bias_keeps_the_key_order_given() -> None:
    llm = {**BASE, "logit_bias": {"20": 1, "3": -1}}
    assert list(normalise_llm(llm)["logit_bias"]) == ["20", "3"]
    assert '"logit_bias":{"20":1,"3":-1}' in canonical_llm_json(normalise_llm(llm))
    assert llm_name(llm) != llm_name({**BASE, "logit_bias": {"3": -1, "20": 1}})


OPTIONAL_FIELDS = [
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
]


@pytest.mark.parametrize("field", OPTIONAL_FIELDS)
def test_none_values_are_dropped(field: str) -> None:
    _same_as(BASE, **{field: None})


def test_none_values_inside_provider_and_reasoning_are_dropped() -> None:
    _same_as(BASE, provider={"order": None, "sort": None}, reasoning={"max_tokens": None, "effort": None})
    assert normalise_llm({**BASE, "provider": {"only": None, "sort": "latency"}})["provider"] == {
        "sort": "latency"
    }


def test_float_fields_are_floats_and_integer_fields_integers() -> None:
    llm = normalise_llm({**BASE, "temperature": 2, "top_k": 5, "weight": {"type": "static", "weight": 3}})
    assert isinstance(llm["temperature"], float)
    assert isinstance(llm["weight"]["weight"], float)
    text = canonical_llm_json(llm)
    assert '"temperature":2.0' in text
    assert '"top_k":5,' in text
    assert '"weight":{"type":"static","weight":3.0}' in text


def test_key_order_is_the_contract_order_whatever_the_input_order() -> None:
    llm = {"weight": BASE["weight"], "verbosity": "high", "temperature": 0.5, "mode": "generate", "id": "a/b"}
    assert canonical_llm_json(normalise_llm(llm)) == (
        '{"id":"a/b","mode":"generate","temperature":0.5,"verbosity":"high",'
        '"weight":{"type":"static","weight":1.0}}'
    )
    assert list(normalise_llm(llm)) == ["id", "mode", "temperature", "verbosity", "weight"]


def test_computed_fields_are_dropped_and_never_hashed() -> None:
    computed = {"name": "0" * 22, "index": 3, "training_table_name": "1" * 22, "training_table_index": 1}
    _same_as(BASE, **computed)


def test_training_table_weight_keys_in_hash_order() -> None:
    weight = {"max_weight": 3, "min_weight": 1, "type": "training_table", "base_weight": 2}
    text = canonical_llm_json(normalise_llm({**BASE, "weight": weight}))
    assert text.endswith(
        '"weight":{"type":"training_table","base_weight":2.0,"min_weight":1.0,"max_weight":3.0}}'
    )


def test_shared_serialisation_gives_the_same_names_as_hashing_each_form() -> None:
    llms = [normalise_llm(llm) for document in load_catalog() for llm in document["models"]]
    assert len(llms) > 100
    for llm in llms:
        with_default_weight = {**llm, "weight": TRAINING_TABLE_DEFAULT_WEIGHT}
        assert names_of_normalised_llm(llm) == (
            name_of_normalised_llm(llm),
            name_of_normalised_llm(with_default_weight),
        )
