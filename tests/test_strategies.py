"""The hypothesis strategies: valid means no violation, invalid means exactly the labelled rule,
coverage of what normalisation must handle, good shrinking, and use from a downstream test.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from portability import ascending, bias_keys
from qmcontract import build_query_llm, build_query_model, validate_query_llm, validate_query_model
from qmcontract.breakers import BREAKERS, LLM_BREAKERS, metadata_requested
from qmcontract.canonical import LLM_KEYS, PROVIDER_KEYS
from qmcontract.catalog import Catalog
from qmcontract.engine import Engine
from qmcontract.errors import MissingExtra
from qmcontract.model import llm_without_computed
from qmcontract.rules import DOCUMENT_RULES, LLM_RULES, METADATA_FIELDS
from qmcontract.sampler import MODES
from qmcontract.strategies import (
    invalid_query_llms,
    invalid_query_models,
    query_llm_definitions,
    query_llms,
    query_model_definitions,
    query_models,
)
from qmcontract.wire import Request

QUICK = settings(max_examples=60, deadline=None, database=None, derandomize=True)
#: For properties of the LLM entries and the POST bodies, whose parts QUICK already covers one by one.
QUICKER = settings(max_examples=25, deadline=None, database=None, derandomize=True)


def _collect(strategy: st.SearchStrategy[Any], examples: int) -> list[Any]:
    """Values a derandomised run of ``strategy`` produces."""
    found: list[Any] = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True)
    @given(strategy)
    def run(value: Any) -> None:
        found.append(value)

    run()
    return found


@pytest.mark.parametrize("metadata", [False, True])
@pytest.mark.parametrize("weight", [None, "static", "training_table"])
def test_query_models_break_no_rule(weight: Any, metadata: bool):
    @QUICK
    @given(query_models(weight=weight, metadata=metadata))
    def check(document: dict[str, Any]) -> None:
        assert validate_query_model(document, metadata=metadata) == []
        assert (weight or document["weight"]["type"]) == document["weight"]["type"]
        assert all(key in document for key in METADATA_FIELDS) is metadata

    check()


@given(query_models(min_llms=100, max_llms=128))
@settings(max_examples=5, deadline=None, database=None, derandomize=True)
def test_query_models_reach_128_llms(document: dict[str, Any]):
    assert 100 <= len(document["models"]) <= 128
    assert validate_query_model(document, metadata=False) == []


@given(query_model_definitions())
@settings(max_examples=100, deadline=None, database=None, derandomize=True)
def test_definitions_build_to_valid_documents(definition: dict[str, Any]):
    document = build_query_model(definition)
    assert validate_query_model(document, metadata=False) == []


@pytest.mark.parametrize("weight", ["static", "training_table"])
def test_llm_definitions_honour_weight_and_modes(weight: Any):
    modes = ["select_thinking", "generate"]

    @QUICK
    @given(query_llm_definitions(weight=weight, modes=modes))
    def check(llm: dict[str, Any]) -> None:
        assert llm["mode"] in modes
        assert llm["weight"]["type"] == weight
        model_weight = {"type": "static"}
        if weight == "training_table":
            model_weight = {"type": "training_table", "embeddings_model": "e", "top": 1}
        build_query_model({"weight": model_weight, "models": [llm]})

    check()


def test_llm_definitions_cover_every_mode_by_default():
    llms = _collect(query_llm_definitions(), 100)
    assert {llm["mode"] for llm in llms} == set(MODES)
    assert {llm["weight"]["type"] for llm in llms} == {"static"}


def test_definitions_cover_what_normalisation_must_handle():
    definitions = _collect(query_model_definitions(), 300)
    llms = [llm for definition in definitions for llm in definition["models"]]
    keys = Counter(key for llm in llms for key, value in llm.items() if value is not None)
    assert set(keys) == set(LLM_KEYS)
    assert {llm["mode"] for llm in llms} == set(MODES)
    providers = [llm["provider"] for llm in llms if llm.get("provider")]
    assert {key for provider in providers for key in provider} == set(PROVIDER_KEYS)
    assert any(value is None for llm in llms for value in llm.values()), "null options"
    assert any(llm.get("temperature") == 1 for llm in llms), "a default value"
    assert any(llm.get("verbosity") == "medium" for llm in llms), "a default value"
    assert any(llm.get("select_top_logprobs") == 20 and "logprobs" in llm["mode"] for llm in llms)
    assert any(isinstance(llm.get("stop"), list) and len(llm["stop"]) == 1 for llm in llms), "one-item stop"
    assert any(_unsorted(llm.get("stop")) for llm in llms), "unsorted stop"
    assert any(_unsorted(provider.get("only")) for provider in providers), "unsorted provider list"
    assert any(llm.get("models") for llm in llms), "fallback models"
    assert any(_has_duplicates(definition) for definition in definitions), "duplicate LLMs"
    assert any(_has_weight_twins(definition) for definition in definitions), "LLMs differing in weight only"
    assert sum(len(keys) > 1 for keys in bias_keys(definitions)) >= 10, "multi-key logit_bias"
    assert all(ascending(keys) for keys in bias_keys(definitions)), "portable by default"


def _unsorted(value: Any) -> bool:
    return isinstance(value, list) and value != sorted(value)


def _has_duplicates(definition: dict[str, Any]) -> bool:
    texts = [json.dumps(llm, sort_keys=True) for llm in definition["models"]]
    return len(set(texts)) < len(texts)


def _has_weight_twins(definition: dict[str, Any]) -> bool:
    contents = [json.dumps({**llm, "weight": None}, sort_keys=True) for llm in definition["models"]]
    weights = [json.dumps(llm["weight"], sort_keys=True) for llm in definition["models"]]
    pairs = set(zip(contents, weights, strict=True))
    return len({content for content, _ in pairs}) < len(pairs)


@given(pair=invalid_query_models())
@settings(max_examples=100, deadline=None, database=None, derandomize=True)  # and 60 per rule below
def test_invalid_documents_break_exactly_their_rule(pair: tuple[dict[str, Any], str]):
    document, rule = pair
    violations = validate_query_model(document, metadata=metadata_requested(document))
    assert {violation.rule for violation in violations} == {rule}, violations


@pytest.mark.parametrize("rule", list(DOCUMENT_RULES))
def test_every_rule_has_invalid_documents(rule: str):
    @QUICK
    @given(invalid_query_models(rules=[rule]))
    def check(pair: tuple[dict[str, Any], str]) -> None:
        document, labelled = pair
        assert labelled == rule
        violations = validate_query_model(document, metadata=metadata_requested(document))
        assert {violation.rule for violation in violations} == {rule}, violations

    check()


def test_metadata_presence_breaks_for_either_request():
    for document, _ in _collect(invalid_query_models(rules=["metadata-presence"]), 30):
        for requested in (True, False):
            assert {v.rule for v in validate_query_model(document, metadata=requested)} == {
                "metadata-presence"
            }


def test_every_document_rule_has_one_breaker():
    assert list(BREAKERS) == list(DOCUMENT_RULES)
    assert all(breaker.rule == rule for rule, breaker in BREAKERS.items())
    assert list(LLM_BREAKERS) == list(LLM_RULES)
    assert all(breaker.rule == rule for rule, breaker in LLM_BREAKERS.items())


# --- LLM entries (GET /query_llms/{name}) and POST bodies ------------------------------------------------


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("metadata", [False, True])
@pytest.mark.parametrize("weight", [None, "static", "training_table"])
def test_query_llms_are_what_build_query_llm_answers(weight: Any, metadata: bool):
    @QUICKER
    @given(query_llms(weight=weight, metadata=metadata))
    def check(entry: dict[str, Any]) -> None:
        assert validate_query_llm(entry, metadata=metadata) == []
        assert (weight or entry["weight"]["type"]) == entry["weight"]["type"]
        assert all(key in entry for key in METADATA_FIELDS) is metadata
        assert ("training_table_name" in entry) is (entry["weight"]["type"] == "training_table")
        assert "index" not in entry
        built = build_query_llm(llm_without_computed(entry))
        assert _json(built) == _json({k: v for k, v in entry.items() if k not in METADATA_FIELDS})

    check()


def test_query_llms_cover_both_weights():
    entries = _collect(query_llms(), 40)
    assert {entry["weight"]["type"] for entry in entries} == {"static", "training_table"}


@given(pair=invalid_query_llms())
@settings(max_examples=60, deadline=None, database=None, derandomize=True)  # and 25 per rule below
def test_invalid_llm_entries_break_exactly_their_rule(pair: tuple[dict[str, Any], str]):
    entry, rule = pair
    violations = validate_query_llm(entry, metadata=metadata_requested(entry))
    assert {violation.rule for violation in violations} == {rule}, violations


@pytest.mark.parametrize("rule", LLM_RULES)
def test_every_llm_rule_has_invalid_entries(rule: str):
    pairs = _collect(invalid_query_llms(rules=[rule]), 25)
    assert pairs
    for entry, labelled in pairs:
        assert labelled == rule
        assert {v.rule for v in validate_query_llm(entry, metadata=metadata_requested(entry))} == {rule}


def _post(engine: Engine, path: str, body: Any) -> tuple[int, Any]:
    headers = (("content-type", "application/json"),)
    response = engine.handle(Request("POST", path, "", headers, json.dumps(body).encode()))
    return response.status, json.loads(response.body)


@pytest.mark.parametrize("weight", [None, "static", "training_table"])
def test_model_definitions_are_post_query_models_bodies(weight: Any):
    engine = Engine(Catalog())

    @QUICKER
    @given(query_model_definitions(weight=weight))
    def check(definition: dict[str, Any]) -> None:
        status, answer = _post(engine, "/query_models", definition)
        assert status == 200, answer
        assert _json(answer) == _json(build_query_model(definition))

    check()


@pytest.mark.parametrize("weight", ["static", "training_table"])
def test_llm_definitions_are_post_query_llms_bodies(weight: Any):
    engine = Engine(Catalog())

    @QUICKER
    @given(query_llm_definitions(weight=weight))
    def check(llm: dict[str, Any]) -> None:
        status, answer = _post(engine, "/query_llms", llm)
        assert status == 200, answer
        assert _json(answer) == _json(build_query_llm(llm))

    check()


# --- portable fixtures ---------------------------------------------------------------------------------


def test_strategies_are_portable_by_default_and_keep_drawn_order_when_asked():
    drawn = _collect(query_model_definitions(portable=False), 60)
    assert not all(ascending(keys) for keys in bias_keys(drawn)), "portable=False keeps drawn order"
    for strategy in (query_models(max_llms=4), query_llms(), query_llm_definitions()):
        assert all(ascending(keys) for keys in bias_keys(_collect(strategy, 40)))


def test_invalid_strategies_are_portable_too():
    documents = [document for document, _ in _collect(invalid_query_models(rules=["model-name"]), 25)]
    entries = [entry for entry, _ in _collect(invalid_query_llms(rules=["llm-name"]), 25)]
    assert all(ascending(keys) for keys in bias_keys([documents, entries]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: query_models(weight="dynamic"),  # type: ignore[arg-type]
        lambda: query_models(min_llms=0),
        lambda: query_models(min_llms=5, max_llms=4),
        lambda: query_model_definitions(max_llms=129),
        lambda: query_llm_definitions(weight=None),  # type: ignore[arg-type]
        lambda: query_llm_definitions(modes=[]),
        lambda: query_llm_definitions(modes=["generate", "guess"]),
        lambda: invalid_query_models(rules=["slug-echo"]),
        lambda: invalid_query_models(rules=[]),
        lambda: query_llms(weight="dynamic"),  # type: ignore[arg-type]
        lambda: invalid_query_llms(rules=["llm-count"]),
        lambda: invalid_query_llms(rules=[]),
    ],
)
def test_bad_arguments_raise_invalid_argument_on_use(make: Callable[[], st.SearchStrategy[Any]]):
    strategy = make()  # building never raises: the check waits for first use, as hypothesis's own do

    @given(strategy)
    def use(value: Any) -> None:
        pass

    with pytest.raises(InvalidArgument):
        use()


DOWNSTREAM_SETTINGS = "settings(settings.get_profile('default'), database=None, derandomize=True)"


def test_downstream_given_tests_pass_health_checks_at_default_settings(pytester: pytest.Pytester):
    pytester.makepyfile(
        f"""
        from hypothesis import given, settings
        from qmcontract import build_query_model, validate_query_model
        from qmcontract.breakers import metadata_requested
        from qmcontract.strategies import (
            invalid_query_models, query_llm_definitions, query_model_definitions, query_models,
        )

        @{DOWNSTREAM_SETTINGS}
        @given(query_models(metadata=True))
        def test_documents(document):
            assert validate_query_model(document, metadata=True) == []

        @{DOWNSTREAM_SETTINGS}
        @given(query_model_definitions(weight="training_table", max_llms=128))
        def test_definitions(definition):
            build_query_model(definition)

        @{DOWNSTREAM_SETTINGS}
        @given(query_llm_definitions(modes=["generate"]))
        def test_llms(llm):
            assert llm["mode"] == "generate"

        @{DOWNSTREAM_SETTINGS}
        @given(invalid_query_models())
        def test_invalid(pair):
            document, rule = pair
            found = validate_query_model(document, metadata=metadata_requested(document))
            assert {{v.rule for v in found}} == {{rule}}
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=4)


def test_a_failing_downstream_test_shrinks_to_one_static_generate_llm(pytester: pytest.Pytester):
    pytester.makepyfile(
        f"""
        import json
        from hypothesis import given, settings
        from qmcontract.strategies import query_models

        @{DOWNSTREAM_SETTINGS}
        @given(query_models())
        def test_rejects_everything(document):
            with open("last.json", "w") as stream:
                json.dump(document, stream)
            assert document["weight"]["type"] == "training_table" and len(document["models"]) > 3
        """
    )
    pytester.runpytest().assert_outcomes(failed=1)
    minimal = json.loads(pytester.path.joinpath("last.json").read_text(encoding="utf-8"))
    assert minimal["weight"] == {"type": "static"}
    [llm] = minimal["models"]
    assert set(llm) == {"name", "index", "id", "mode", "weight"}
    assert llm["mode"] == "generate"
    assert llm["weight"] == {"type": "static", "weight": 1.0}


def test_shrinking_keeps_only_what_makes_a_test_fail(pytester: pytest.Pytester):
    pytester.makepyfile(
        f"""
        import json
        from hypothesis import given, settings
        from qmcontract.strategies import query_models

        @{DOWNSTREAM_SETTINGS}
        @given(query_models())
        def test_no_temperature(document):
            with open("last.json", "w") as stream:
                json.dump(document, stream)
            assert not any("temperature" in llm for llm in document["models"])
        """
    )
    pytester.runpytest().assert_outcomes(failed=1)
    minimal = json.loads(pytester.path.joinpath("last.json").read_text(encoding="utf-8"))
    [llm] = minimal["models"]
    assert set(llm) == {"name", "index", "id", "mode", "weight", "temperature"}
    assert (minimal["weight"], llm["mode"]) == ({"type": "static"}, "generate")


@given(st.data())
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_documents_do_not_share_nested_objects(data: st.DataObject):
    document = data.draw(query_models(min_llms=2, max_llms=16))
    seen: dict[int, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, (dict, list)):
            assert id(node) not in seen, "a nested object appears twice"
            seen[id(node)] = node
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(document)


def test_without_hypothesis_the_import_says_which_extra_in_one_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # importlib then finds no hypothesis
    monkeypatch.delitem(sys.modules, "qmcontract.strategies")
    with pytest.raises(MissingExtra) as caught:
        importlib.import_module("qmcontract.strategies")
    assert str(caught.value) == (
        "qmcontract.strategies needs hypothesis: install it with pip install 'qmcontract[strategies]'"
    )
