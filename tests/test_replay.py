"""Replaying recorded traffic: the respx mock (``recording=``) and the plugin (``--qm-recording``).

The recordings are the fixtures of ``tests/data/traffic/`` (made from the engine's own answers by
``generate.py`` there): a correct one in each format, and broken ones that must be refused with
the rule they break before any test runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from qmcontract import mock_query_models
from qmcontract.recording import decoded
from qmcontract.replay import ReplayError, load_replay, replay_key
from qmcontract.traffic_files import open_traffic
from qmcontract.wire import Request

TRAFFIC = Path(__file__).parent / "data" / "traffic"
GOOD = ("good.jsonl", "good.har", "good.yaml")
BASE = "https://api.objective-ai.io"


def recorded(name: str) -> list:
    traffic = open_traffic(TRAFFIC / name)
    return [decoded(entry) for _, entry in traffic.entries() if entry is not None]


@pytest.mark.parametrize("name", GOOD)
def test_recorded_requests_get_their_recorded_answers(name: str):
    exchanges = recorded(name)
    with (
        mock_query_models(recording=TRAFFIC / name, base_url=BASE) as mock,
        httpx.Client(base_url=BASE) as client,
    ):
        for exchange in exchanges:
            request = exchange.request
            answer = client.request(
                request.method, request.target, headers=dict(request.headers), content=request.body
            )
            assert answer.status_code == exchange.status, request.target
            if request.method != "HEAD":
                assert answer.content == exchange.body, request.target
        assert len(mock.calls) == len(exchanges)


def test_other_requests_are_answered_from_the_recorded_models():
    replay = load_replay(TRAFFIC / "good.jsonl")
    names = replay.catalog.names()
    assert names, "the recording holds Query Models"
    with mock_query_models(recording=replay, base_url=BASE) as mock, httpx.Client(base_url=BASE) as client:
        listed = client.get("/query_models", params={"count": "7"}).json()["data"]
        assert listed == names[:7]
        document = client.get(f"/query_models/{names[0]}", params={"metadata": "false"}).json()
        assert document == replay.catalog.get(names[0])
        assert client.get("/query_models/" + "0" * 22).status_code == 404
        assert mock.catalog.names() == names


def test_a_recording_that_breaks_a_rule_is_refused_with_the_rule():
    with pytest.raises(ReplayError, match="breaks content-type"):
        load_replay(TRAFFIC / "broken-content-type.yaml")
    with pytest.raises(ReplayError, match="schema"):
        mock_query_models(recording=TRAFFIC / "broken-schema.har")


@pytest.mark.parametrize("name", ["malformed-not-json.har", "malformed-bomb.yaml", "malformed-version.jsonl"])
def test_an_unreadable_recording_is_one_clear_error(name: str):
    with pytest.raises(ReplayError) as caught:
        load_replay(TRAFFIC / name)
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_key_tells_a_token_from_none():
    plain = Request("GET", "/query_models/x", "metadata=true&me=true")
    authorized = Request("GET", "/query_models/x", "metadata=true&me=true", (("authorization", "Bearer t"),))
    other = Request("GET", "/query_models/x", "metadata=true&me=true", (("authorization", "Bearer u"),))
    assert replay_key(plain) != replay_key(authorized) == replay_key(other)


# --- the plugin --------------------------------------------------------------------------------------------


def test_the_plugin_replays_a_recording(pytester: pytest.Pytester):
    replay = load_replay(TRAFFIC / "good.jsonl")
    name = replay.catalog.names()[0]
    pytester.makepyfile(
        f"""
        import httpx

        def test_replayed(query_models_mock, query_model_catalog):
            assert query_model_catalog.names() == {replay.catalog.names()!r}
            answer = httpx.get(query_models_mock.url({name!r}))
            assert answer.json()["name"] == {name!r}
        """
    )
    result = pytester.runpytest(f"--qm-recording={TRAFFIC / 'good.jsonl'}")
    result.assert_outcomes(passed=1)


def test_the_plugin_refuses_a_broken_recording_once(pytester: pytest.Pytester):
    pytester.makepyfile("def test_a(query_models_mock): pass\ndef test_b(query_models_mock): pass\n")
    result = pytester.runpytest(f"--qm-recording={TRAFFIC / 'broken-content-type.yaml'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR: --qm-recording")]
    assert len(errors) == 1
    assert "content-type" in errors[0]
    assert json.dumps("Traceback") not in result.stderr.str()
