"""Every document rule, broken alone: the validator reports that rule id, at that pointer, and nothing else.

Each case starts from a document built by ``build_query_model`` and breaks it carefully: derived
fields (names, indexes, training-table names) are recomputed with ``assemble`` or the names
functions wherever the break would otherwise also break them, so that exactly one rule is broken.
``_rebuilt`` re-derives every computed field from the LLM entries *as they are* (no normalisation),
so the values chosen for a break are fixed points of normalisation (sorted lists, no defaults).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qmcontract import build_query_model, validate_query_model
from qmcontract.canonical import COMPUTED_LLM_KEYS, normalise_llm
from qmcontract.catalog import load_catalog
from qmcontract.errors import InvalidDefinition
from qmcontract.inputs import load_json_or_yaml
from qmcontract.model import assemble
from qmcontract.names import model_training_table_name, query_model_name
from qmcontract.resources import mocks_path
from qmcontract.rules import DOCUMENT_RULES, METADATA_FIELDS

VECTORS = Path(__file__).parent / "data" / "worked-examples.json"
EXAMPLE_NAMES = ("example1_docs", "example2_training_table", "example3_weight_only_twins")
STATIC, TRAINING_TABLE, TWINS = 0, 1, 2

METADATA: dict[str, Any] = {
    "user_id": "8d3f6c2a-41b7-4e0c-9a55-1f2e7b9c0d64",
    "created": "2025-10-06T17:42:09Z",
    "requests": 1284,
    "chat_completion_tokens": 512340,
    "chat_prompt_tokens": 2093817,
    "chat_cost": 3.417265,
    "embedding_completion_tokens": 0,
    "embedding_prompt_tokens": 0,
    "embedding_cost": 0.0,
}


Case = tuple[Any, set[str], "bool | None"]


def _definitions() -> list[Any]:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    return [vector["definition"] for vector in vectors]


def doc(example: int) -> dict[str, Any]:
    """A fresh valid document: one of the worked examples, built by the core."""
    return build_query_model(copy.deepcopy(_definitions()[example]))


def _strip(llm: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in llm.items() if key not in COMPUTED_LLM_KEYS}


def _rebuilt(document: dict[str, Any]) -> dict[str, Any]:
    """Every computed field re-derived from the LLM entries as they stand."""
    rebuilt, _ = assemble(document["weight"], [_strip(llm) for llm in document["models"]])
    return rebuilt


def _renamed(document: dict[str, Any]) -> dict[str, Any]:
    """The model name re-derived from its weight and the LLM names it claims."""
    document["name"] = query_model_name(document["weight"], [llm["name"] for llm in document["models"]])
    return document


def _where(document: dict[str, Any], predicate: Callable[[dict[str, Any]], bool]) -> int:
    return next(i for i, llm in enumerate(document["models"]) if predicate(llm))


def _with_llm_field(example: int, position: int, **fields: Any) -> tuple[dict[str, Any], int]:
    """Set fields on one LLM, rebuild, and return where that LLM ended up."""
    document = doc(example)
    document["models"][position].update(fields)
    document = _rebuilt(document)
    return document, _where(document, lambda llm: all(llm.get(k) == v for k, v in fields.items()))


def _llm_case(example: int, position: int, suffix: str, **fields: Any) -> Case:
    document, i = _with_llm_field(example, position, **fields)
    return document, {f"/models/{i}{suffix}"}, None


def _with_metadata(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    document.update(METADATA)
    document.update(changes)
    return document


# --- the cases: (rule, make() -> (document, expected paths, metadata)) -----------------------


def _schema_cases() -> list[Any]:
    def unknown_top() -> Case:
        return {**doc(STATIC), "extra": 1}, {"/extra"}, None

    def unknown_llm_field() -> Case:
        document = doc(STATIC)
        document["models"][0]["extra"] = 1
        return document, {"/models/0/extra"}, None

    def bad_name() -> Case:
        return {**doc(STATIC), "name": "not-a-name"}, {"/name"}, None

    def index_as_string() -> Case:
        document = doc(STATIC)
        document["models"][0]["index"] = "0"
        return document, {"/models/0/index"}, None

    def missing_weight() -> Case:
        document = doc(STATIC)
        del document["weight"]
        return document, {""}, None

    def missing_id() -> Case:
        document = doc(TRAINING_TABLE)
        del document["models"][2]["id"]
        document = _rebuilt(document)
        return document, {f"/models/{_where(document, lambda llm: 'id' not in llm)}"}, None

    def unknown_model_weight_type() -> Case:
        document = doc(STATIC)
        document["weight"] = {"type": "dynamic"}
        return _renamed(document), {"/weight"}, None

    def top_as_string() -> Case:
        document = doc(TRAINING_TABLE)
        document["weight"]["top"] = "10"
        return _renamed(document), {"/weight/top"}, None

    def not_an_object() -> Case:
        return [doc(STATIC)], {""}, None

    def llm_not_an_object() -> Case:
        document = doc(STATIC)
        document["models"][1] = 5
        return document, {"/models/1"}, None

    def static_weight_unknown_key() -> Case:
        document = doc(STATIC)
        document["models"][0]["weight"]["base_weight"] = 1.0
        return document, {"/models/0/weight/base_weight"}, None

    cases = [
        unknown_top,
        unknown_llm_field,
        bad_name,
        index_as_string,
        missing_weight,
        missing_id,
        unknown_model_weight_type,
        top_as_string,
        not_an_object,
        llm_not_an_object,
        static_weight_unknown_key,
    ]
    cases_with_fields = [
        ("mode-enum", TRAINING_TABLE, 0, "/mode", {"mode": "sometimes"}),
        ("temperature-above-2", TRAINING_TABLE, 0, "/temperature", {"temperature": 3.0}),
        ("top_p-negative", STATIC, 1, "/top_p", {"top_p": -0.5}),
        ("max_tokens-above-int32", STATIC, 0, "/max_tokens", {"max_tokens": 2**31}),
        ("select_top_logprobs-21", TRAINING_TABLE, 1, "/select_top_logprobs", {"select_top_logprobs": 21}),
        ("reasoning-effort-enum", STATIC, 0, "/reasoning/effort", {"reasoning": {"effort": "extreme"}}),
        ("provider-sort-empty", STATIC, 0, "/provider/sort", {"provider": {"sort": ""}}),
        ("stop-not-a-string", STATIC, 0, "/stop", {"stop": 5}),
    ]
    params = [pytest.param("schema", make, id=f"schema-{make.__name__}") for make in cases]
    for label, example, position, suffix, fields in cases_with_fields:
        params.append(
            pytest.param(
                "schema",
                _bind(_llm_case, example, position, suffix, **fields),
                id=f"schema-{label}",
            )
        )
    return params


def _bind(function: Callable[..., Case], *args: Any, **kwargs: Any) -> Callable[[], Case]:
    def make() -> Case:
        return function(*args, **kwargs)

    return make


def _llm_count_cases() -> list[Any]:
    def no_llms_static() -> Case:
        document = doc(STATIC)
        document["models"] = []
        return _renamed(document), {"/models"}, None

    def no_llms_training_table() -> Case:
        document = doc(TRAINING_TABLE)
        document["models"] = []
        document["training_table_name"] = model_training_table_name(
            document["weight"]["embeddings_model"], []
        )
        return _renamed(document), {"/models"}, None

    def llms_129() -> Case:
        definition = load_json_or_yaml(mocks_path() / "large-128-llms.yaml")
        llms = [normalise_llm(llm) for llm in definition["models"]]
        document, _ = assemble(definition["weight"], [*llms, llms[5]])
        return document, {"/models"}, None

    return [
        pytest.param("llm-count", no_llms_static, id="llm-count-zero-static"),
        pytest.param("llm-count", no_llms_training_table, id="llm-count-zero-training-table"),
        pytest.param(
            "llm-count",
            llms_129,
            id="llm-count-129",
        ),
    ]


def _name_cases() -> list[Any]:
    def llm_name_altered() -> Case:
        document = doc(STATIC)
        document["models"][1]["name"] = "61jFz6OhuRTAKokNtby9Qo"  # still between its neighbours
        return _renamed(document), {"/models/1/name"}, None

    def llm_content_changed() -> Case:
        document = doc(STATIC)
        document["models"][2]["temperature"] = 0.5
        return document, {"/models/2/name"}, None

    def llm_weight_changed_in_training_table() -> Case:
        document = doc(TWINS)
        document["models"][0]["weight"]["base_weight"] = 1.5
        return document, {"/models/0/name"}, None

    def model_name_altered() -> Case:
        return {**doc(TRAINING_TABLE), "name": "0" * 22}, {"/name"}, None

    def model_top_changed() -> Case:
        document = doc(TRAINING_TABLE)
        document["weight"]["top"] = 11
        return document, {"/name"}, None

    def llm_dropped() -> Case:
        document = doc(STATIC)
        document["models"].pop()
        return document, {"/name"}, None

    return [
        pytest.param("llm-name", llm_name_altered, id="llm-name-altered"),
        pytest.param("llm-name", llm_content_changed, id="llm-name-content-changed"),
        pytest.param("llm-name", llm_weight_changed_in_training_table, id="llm-name-weight-changed"),
        pytest.param("model-name", model_name_altered, id="model-name-altered"),
        pytest.param("model-name", model_top_changed, id="model-name-top-changed"),
        pytest.param("model-name", llm_dropped, id="model-name-llm-dropped"),
    ]


def _order_cases() -> list[Any]:
    def wrong_index() -> Case:
        document = doc(TRAINING_TABLE)
        document["models"][1]["index"] = 2
        return document, {"/models/1/index"}, None

    def repeated_index() -> Case:
        document = doc(STATIC)
        document["models"][2]["index"] = 1
        return document, {"/models/2/index"}, None

    def not_sorted() -> Case:
        document = doc(STATIC)
        first, second = document["models"][0], document["models"][1]
        document["models"][0:2] = [{**second, "index": 0}, {**first, "index": 1}]
        return document, {"/models/1/name"}, None

    return [
        pytest.param("order-index", wrong_index, id="order-index-wrong-index"),
        pytest.param("order-index", repeated_index, id="order-index-repeated-index"),
        pytest.param("order-index", not_sorted, id="order-index-not-sorted"),
    ]


def _weight_cases() -> list[Any]:
    def static_llm_in_training_table() -> Case:
        return _llm_case(TRAINING_TABLE, 2, "/weight/type", weight={"type": "static", "weight": 1.0})

    def training_table_llm_in_static() -> Case:
        weight = {"type": "training_table", "base_weight": 1.0, "min_weight": 1.0, "max_weight": 1.0}
        return _llm_case(STATIC, 0, "/weight/type", weight=weight)

    def top_zero() -> Case:
        document = doc(TRAINING_TABLE)
        document["weight"]["top"] = 0
        return _rebuilt(document), {"/weight/top"}, None

    def static_inf() -> Case:
        return _llm_case(STATIC, 0, "/weight/weight", weight={"type": "static", "weight": float("inf")})

    def table(base: float, low: float, high: float) -> dict[str, Any]:
        return {"type": "training_table", "base_weight": base, "min_weight": low, "max_weight": high}

    values = [
        ("static-zero", STATIC, "/weight/weight", {"type": "static", "weight": 0.0}),
        ("static-integer-zero", STATIC, "/weight/weight", {"type": "static", "weight": 0}),
        ("static-negative", STATIC, "/weight/weight", {"type": "static", "weight": -1.0}),
        ("min-zero", TRAINING_TABLE, "/weight/min_weight", table(1.0, 0.0, 2.0)),
        ("min-negative", TRAINING_TABLE, "/weight/min_weight", table(1.0, -1.0, 2.0)),
        ("min-above-base", TRAINING_TABLE, "/weight", table(1.0, 1.5, 2.0)),
        ("base-above-max", TRAINING_TABLE, "/weight", table(2.5, 1.0, 2.0)),
        ("max-below-min", TRAINING_TABLE, "/weight", table(1.0, 1.0, 0.5)),
    ]
    params = [
        pytest.param("weight-match", static_llm_in_training_table, id="weight-match-static-in-table"),
        pytest.param("weight-match", training_table_llm_in_static, id="weight-match-table-in-static"),
        pytest.param("weight-values", top_zero, id="weight-values-top-zero"),
        pytest.param(
            "weight-values",
            static_inf,
            id="weight-values-static-inf",
        ),
    ]
    for label, example, suffix, weight in values:
        make = _bind(_llm_case, example, 0, suffix, weight=weight)
        params.append(pytest.param("weight-values", make, id=f"weight-values-{label}"))
    return params


def _training_table_presence_cases() -> list[Any]:
    def removed(example: int, *path: str | int) -> Callable[[], Case]:
        def make() -> Case:
            document = doc(example)
            owner: Any = document
            for part in path[:-1]:
                owner = owner[part]
            del owner[path[-1]]
            return document, {"/" + "/".join(map(str, path))}, None

        return make

    def nulled(example: int, *path: str | int) -> Callable[[], Case]:
        def make() -> Case:
            document = doc(example)
            owner: Any = document
            for part in path[:-1]:
                owner = owner[part]
            owner[path[-1]] = None
            return document, {"/" + "/".join(map(str, path))}, None

        return make

    def added(*path: str | int, value: Any) -> Callable[[], Case]:
        def make() -> Case:
            document = doc(STATIC)
            owner: Any = document
            for part in path[:-1]:
                owner = owner[part]
            owner[path[-1]] = value
            return document, {"/" + "/".join(map(str, path))}, None

        return make

    rule = "training-table-presence"
    return [
        pytest.param(rule, removed(TRAINING_TABLE, "training_table_name"), id="tt-presence-model-missing"),
        pytest.param(
            rule,
            removed(TRAINING_TABLE, "models", 1, "training_table_index"),
            id="tt-presence-llm-index-missing",
        ),
        pytest.param(
            rule,
            removed(TWINS, "models", 1, "training_table_name"),
            id="tt-presence-llm-shared-table-name-missing",
        ),
        pytest.param(
            rule,
            removed(TRAINING_TABLE, "models", 1, "training_table_name"),
            id="tt-presence-llm-own-table-name-missing",
        ),
        pytest.param(rule, nulled(TRAINING_TABLE, "training_table_name"), id="tt-presence-model-null"),
        pytest.param(
            rule, nulled(TRAINING_TABLE, "models", 0, "training_table_index"), id="tt-presence-llm-index-null"
        ),
        pytest.param(
            rule, nulled(TWINS, "models", 0, "training_table_name"), id="tt-presence-llm-shared-name-null"
        ),
        pytest.param(
            rule,
            nulled(TRAINING_TABLE, "models", 1, "training_table_name"),
            id="tt-presence-llm-own-name-null",
        ),
        pytest.param(rule, added("training_table_name", value="0" * 22), id="tt-presence-static-model"),
        pytest.param(
            rule, added("models", 0, "training_table_name", value="0" * 22), id="tt-presence-static-llm-name"
        ),
        pytest.param(
            rule, added("models", 2, "training_table_index", value=0), id="tt-presence-static-llm-index"
        ),
    ]


def _training_table_name_cases() -> list[Any]:
    def model_name_altered() -> Case:
        return {**doc(TRAINING_TABLE), "training_table_name": "0" * 22}, {"/training_table_name"}, None

    def llm_name_altered() -> Case:
        document = doc(TRAINING_TABLE)
        assert document["models"][1]["training_table_index"] == 0
        document["models"][1]["training_table_name"] = "0BFvOs7vuzUUCPSbiDv1fZ"  # still the smallest
        tables = [llm["training_table_name"] for llm in document["models"]]
        document["training_table_name"] = model_training_table_name(
            document["weight"]["embeddings_model"], tables
        )
        return document, {"/models/1/training_table_name"}, None

    def embeddings_model_changed() -> Case:
        document = doc(TRAINING_TABLE)
        document["weight"]["embeddings_model"] = "openai/text-embedding-3-small"
        return _renamed(document), {"/training_table_name"}, None

    rule = "training-table-name"
    return [
        pytest.param(rule, model_name_altered, id="tt-name-model-altered"),
        pytest.param(rule, llm_name_altered, id="tt-name-llm-altered"),
        pytest.param(rule, embeddings_model_changed, id="tt-name-embeddings-model-changed"),
    ]


def _training_table_index_cases() -> list[Any]:
    def one_wrong(example: int) -> Callable[[], Case]:
        def make() -> Case:
            document = doc(example)
            document["models"][1]["training_table_index"] = 1
            return document, {"/models/1/training_table_index"}, None

        return make

    def all_shifted() -> Case:
        document = doc(TRAINING_TABLE)
        for llm in document["models"]:
            llm["training_table_index"] += 1
        return document, {f"/models/{i}/training_table_index" for i in range(3)}, None

    rule = "training-table-index"
    return [
        pytest.param(rule, one_wrong(TRAINING_TABLE), id="tt-index-distinct-tables"),
        pytest.param(rule, one_wrong(TWINS), id="tt-index-shared-table"),
        pytest.param(rule, all_shifted, id="tt-index-all-shifted"),
    ]


def _llm_params_cases() -> list[Any]:
    rebuilt = [
        ("logit-bias-leading-zero", TRAINING_TABLE, 0, "/logit_bias", {"logit_bias": {"01": 5}}),
        ("logit-bias-not-digits", STATIC, 0, "/logit_bias", {"logit_bias": {"a1": 5}}),
        ("logit-bias-negative-key", STATIC, 0, "/logit_bias", {"logit_bias": {"-1": 5}}),
        ("logit-bias-101", TRAINING_TABLE, 0, "/logit_bias/5", {"logit_bias": {"5": 101}}),
        ("logit-bias-minus-101", STATIC, 1, "/logit_bias/5", {"logit_bias": {"5": -101}}),
        ("logit-bias-fraction", STATIC, 1, "/logit_bias/5", {"logit_bias": {"5": 1.5}}),
        (
            "reasoning-budget-and-effort",
            STATIC,
            0,
            "/reasoning",
            {"reasoning": {"max_tokens": 5, "effort": "low"}},
        ),
        (
            "reasoning-disabled-effort",
            STATIC,
            0,
            "/reasoning/enabled",
            {"reasoning": {"effort": "low", "enabled": False}},
        ),
        (
            "reasoning-disabled-budget",
            TRAINING_TABLE,
            0,
            "/reasoning/enabled",
            {"reasoning": {"max_tokens": 3, "enabled": False}},
        ),
        ("fallback-equals-id", TRAINING_TABLE, 1, "/models/0", {"models": ["openai/gpt-4.1-nano"]}),
        ("fallback-equals-id-second", STATIC, 0, "/models/1", {"models": ["a/b", "openai/gpt-5-mini"]}),
        ("fallback-repeated", STATIC, 0, "/models", {"models": ["a/b", "a/b"]}),
        ("fallback-empty-string", TRAINING_TABLE, 2, "/models/0", {"models": [""]}),
        ("stop-repeated", STATIC, 0, "/stop", {"stop": ["a", "a"]}),
        ("stop-empty-item", STATIC, 0, "/stop/0", {"stop": ["", "a"]}),
        ("stop-empty-string", STATIC, 0, "/stop", {"stop": ""}),
    ]
    for key in ("order", "only", "ignore", "quantizations"):
        rebuilt += [
            (f"provider-{key}-empty-item", STATIC, 0, f"/provider/{key}/0", {"provider": {key: ["", "a"]}}),
            (f"provider-{key}-repeated", STATIC, 0, f"/provider/{key}", {"provider": {key: ["a", "a"]}}),
        ]
    params = [
        pytest.param("llm-params", _bind(_llm_case, example, position, suffix, **fields), id=label)
        for label, example, position, suffix, fields in rebuilt
    ]

    def empty_list(field: str, value: Any, suffix: str) -> Callable[[], Case]:
        """An empty list normalises away, so the name is unchanged and no rebuild is needed."""

        def make() -> Case:
            document = doc(STATIC)
            document["models"][0][field] = value
            return document, {f"/models/0{suffix}"}, None

        return make

    params += [
        pytest.param("llm-params", empty_list("models", [], "/models"), id="fallback-empty-list"),
        pytest.param("llm-params", empty_list("stop", [], "/stop"), id="stop-empty-list"),
        pytest.param(
            "llm-params",
            empty_list("provider", {"only": []}, "/provider/only"),
            id="provider-only-empty-list",
        ),
    ]
    return params


def _metadata_cases() -> list[Any]:
    def missing(*keys: str) -> Callable[[], Case]:
        def make() -> Case:
            document = _with_metadata(doc(TRAINING_TABLE))
            for key in keys:
                del document[key]
            return document, {f"/{key}" for key in keys}, True

        return make

    def present_without_request(*keys: str) -> Callable[[], Case]:
        def make() -> Case:
            document = doc(STATIC)
            document.update({key: METADATA[key] for key in keys})
            return document, {f"/{key}" for key in keys}, False

        return make

    def bad_value(key: str, value: Any, metadata: bool | None = True) -> Callable[[], Case]:
        def make() -> Case:
            return _with_metadata(doc(STATIC), **{key: value}), {f"/{key}"}, metadata

        return make

    presence, values = "metadata-presence", "metadata-values"
    return [
        pytest.param(presence, missing("requests"), id="metadata-true-one-missing"),
        pytest.param(presence, missing("user_id", "embedding_cost"), id="metadata-true-two-missing"),
        pytest.param(presence, missing(*METADATA_FIELDS), id="metadata-true-all-missing"),
        pytest.param(presence, present_without_request(*METADATA_FIELDS), id="metadata-false-all-present"),
        pytest.param(presence, present_without_request("created"), id="metadata-false-one-present"),
        pytest.param(values, bad_value("requests", -1), id="requests-negative"),
        pytest.param(values, bad_value("requests", 1.5), id="requests-fraction"),
        pytest.param(values, bad_value("requests", True), id="requests-bool"),
        pytest.param(
            values, bad_value("chat_prompt_tokens", -5, None), id="tokens-negative-unchecked-presence"
        ),
        pytest.param(values, bad_value("embedding_completion_tokens", "3"), id="tokens-string"),
        pytest.param(values, bad_value("created", "yesterday"), id="created-not-a-date"),
        pytest.param(values, bad_value("created", "2025-10-06"), id="created-date-only"),
        pytest.param(values, bad_value("created", "2025-13-06T00:00:00Z"), id="created-month-13"),
        pytest.param(values, bad_value("created", 1759772529), id="created-number"),
        pytest.param(values, bad_value("user_id", ""), id="user-id-empty"),
        pytest.param(values, bad_value("user_id", None), id="user-id-null"),
        pytest.param(values, bad_value("chat_cost", -0.01), id="cost-negative"),
        pytest.param(values, bad_value("embedding_cost", "0.0"), id="cost-string"),
        pytest.param(values, bad_value("embedding_cost", float("inf")), id="cost-infinite"),
        pytest.param(values, bad_value("chat_cost", float("nan"), None), id="cost-nan"),
    ]


CASES = [
    *_schema_cases(),
    *_llm_count_cases(),
    *_name_cases(),
    *_order_cases(),
    *_weight_cases(),
    *_training_table_presence_cases(),
    *_training_table_name_cases(),
    *_training_table_index_cases(),
    *_llm_params_cases(),
    *_metadata_cases(),
]


def test_every_document_rule_has_a_case() -> None:
    covered = {case.values[0] for case in CASES if not case.marks}
    assert covered == set(DOCUMENT_RULES)


@pytest.mark.parametrize(("rule", "make"), CASES)
def test_one_broken_rule_is_reported_alone_at_its_pointer(rule: str, make: Callable[[], Case]) -> None:
    document, paths, metadata = make()
    violations = validate_query_model(document, metadata=metadata)
    assert {v.rule for v in violations} == {rule}, violations
    assert {v.path for v in violations} == paths, violations
    assert all(v.message for v in violations)


# --- valid documents -------------------------------------------------------------------------


def _valid_documents() -> list[Any]:
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    params = [pytest.param(v["document"], id=v["example"]) for v in vectors]
    params += [pytest.param(document, id=f"catalog-{document['name']}") for document in load_catalog()]
    return params


VALID = _valid_documents()


@pytest.mark.parametrize("document", VALID)
def test_valid_document_without_metadata(document: dict[str, Any]) -> None:
    assert validate_query_model(document, metadata=False) == []
    assert validate_query_model(document) == []


@pytest.mark.parametrize("document", VALID)
def test_valid_document_with_metadata(document: dict[str, Any]) -> None:
    assert validate_query_model({**document, **METADATA}, metadata=True) == []
    assert validate_query_model({**document, **METADATA}) == []


def test_presence_is_not_checked_when_metadata_is_none() -> None:
    partial = {**doc(STATIC), "requests": 3, "chat_cost": 0.5}
    assert validate_query_model(partial) == []
    assert {v.rule for v in validate_query_model(partial, metadata=True)} == {"metadata-presence"}
    assert {v.rule for v in validate_query_model(partial, metadata=False)} == {"metadata-presence"}


def test_reasoning_effort_can_be_added_without_renaming() -> None:
    document = doc(STATIC)
    document["models"][0]["reasoning"] = {"effort": "high"}
    assert validate_query_model(document, metadata=False) == []


def test_violations_are_sorted_by_path_and_validation_does_not_mutate() -> None:
    document = doc(TRAINING_TABLE)
    document["models"][2]["index"] = 7
    document["models"][0]["extra"] = 1
    document["name"] = "0" * 22
    before = json.dumps(document)
    violations = validate_query_model(document)
    assert [v.path for v in violations] == sorted(v.path for v in violations)
    assert json.dumps(document) == before


def test_huge_integer_in_a_non_weight_field_does_not_raise() -> None:
    document = doc(STATIC)
    document["models"][0]["top_k"] = 10**400
    assert {v.rule for v in validate_query_model(document)} <= set(DOCUMENT_RULES)


@pytest.mark.parametrize(("example", "key"), [(STATIC, "weight"), (TRAINING_TABLE, "max_weight")])
def test_huge_integer_weight_does_not_raise(example: int, key: str) -> None:
    document = doc(example)
    document["models"][0]["weight"][key] = 10**400
    assert {v.rule for v in validate_query_model(document)} <= set(DOCUMENT_RULES)


@pytest.mark.parametrize("value", [[], {}, ["0BFvOs7vuzUUCPSbiDv1fY"]])
def test_unhashable_llm_training_table_name_does_not_raise(value: Any) -> None:
    document = doc(TRAINING_TABLE)
    document["models"][0]["training_table_name"] = value
    assert {v.rule for v in validate_query_model(document)} == {"schema"}


def test_a_missing_embeddings_model_is_reported_once_at_the_weight() -> None:
    definition = copy.deepcopy(_definitions()[TRAINING_TABLE])
    del definition["weight"]["embeddings_model"]
    with pytest.raises(InvalidDefinition) as caught:
        build_query_model(definition)
    assert [(v.rule, v.path) for v in caught.value.violations] == [("schema", "/weight")]
    assert "embeddings_model" in caught.value.violations[0].message
