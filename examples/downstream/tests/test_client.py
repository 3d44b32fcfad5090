"""The client's tests: offline, through the qmcontract plugin's fixtures only."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from objectiveai_client import (
    BadRequest,
    ConnectionFailed,
    NotFound,
    QueryModelsClient,
    RateLimited,
    ServerError,
    Unauthorized,
    UnexpectedResponse,
)

TRAINING_TABLE_MODEL = {
    "weight": {"type": "training_table", "embeddings_model": "openai/text-embedding-3-small", "top": 3},
    "models": [
        {
            "id": "openai/gpt-4o-mini",
            "mode": "generate",
            "weight": {"type": "training_table", "base_weight": 1, "min_weight": 0.5, "max_weight": 2},
        },
        {
            "id": "anthropic/claude-sonnet-4",
            "mode": "generate",
            "weight": {"type": "training_table", "base_weight": 2, "min_weight": 1, "max_weight": 3},
        },
    ],
}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(query_models_mock, sleeps):
    with QueryModelsClient(base_url=query_models_mock.base_url, sleep=sleeps.append) as client:
        yield client


def test_retrieve(client, query_model):
    assert client.retrieve(query_model["name"]) == query_model


def test_query_model_alone_mocks_the_api(query_model):
    with QueryModelsClient() as client:
        assert client.retrieve(query_model["name"])["name"] == query_model["name"]


def test_unknown_model(client):
    with pytest.raises(NotFound, match="404"):
        client.retrieve("0000000000000000000000")


def test_metadata(client, query_model, query_models_mock):
    document = client.retrieve(query_model["name"], metadata=True)
    assert document["requests"] >= 0
    assert query_models_mock.last_call.query == {"metadata": ["true"]}


def test_my_statistics_need_an_api_key(client, query_model):
    with pytest.raises(Unauthorized):
        client.retrieve(query_model["name"], metadata=True, me=True)


def test_my_statistics_with_an_api_key(query_models_mock, query_model):
    with QueryModelsClient(base_url=query_models_mock.base_url, api_key="sk-test") as client:
        mine = client.retrieve(query_model["name"], metadata=True, me=True)
        everyone = client.retrieve(query_model["name"], metadata=True)
    assert mine["requests"] <= everyone["requests"]


def test_window_out_of_order_is_a_bad_request(client, query_model):
    later, earlier = datetime(2025, 12, 1, tzinfo=timezone.utc), datetime(2025, 11, 1, tzinfo=timezone.utc)
    with pytest.raises(BadRequest):
        client.retrieve(query_model["name"], metadata=True, from_=later, to=earlier)


@pytest.mark.query_models(TRAINING_TABLE_MODEL)
def test_a_model_of_our_own(client, query_model):
    document = client.retrieve(query_model["name"])
    assert document == query_model
    assert document["weight"]["type"] == "training_table"
    assert {llm["id"] for llm in document["models"]} == {"openai/gpt-4o-mini", "anthropic/claude-sonnet-4"}


def test_rate_limit_is_retried_after_the_servers_hint(client, query_model, query_models_mock, sleeps):
    query_models_mock.fail_next(429, retry_after=3)
    assert client.retrieve(query_model["name"]) == query_model
    assert sleeps == [3.0]
    query_models_mock.assert_called(query_model["name"], times=2)


def test_rate_limit_gives_up(client, query_model, query_models_mock):
    query_models_mock.fail_next(429, retry_after=5, times=3)
    with pytest.raises(RateLimited) as caught:
        client.retrieve(query_model["name"])
    assert caught.value.retry_after == 5.0


def test_unavailable_is_retried_with_backoff(client, query_model, query_models_mock, sleeps):
    query_models_mock.fail_next(503, times=2)
    assert client.retrieve(query_model["name"]) == query_model
    assert sleeps == [0.5, 1.0]


def test_internal_error_is_not_retried(client, query_model, query_models_mock):
    query_models_mock.fail_next(500)
    with pytest.raises(ServerError, match="500"):
        client.retrieve(query_model["name"])
    assert len(query_models_mock.calls) == 1


@pytest.mark.parametrize("transport", ["connect_error", "read_timeout"])
def test_transport_errors_are_retried(client, query_model, query_models_mock, transport):
    query_models_mock.fail_next(transport=transport)
    assert client.retrieve(query_model["name"]) == query_model


def test_transport_errors_give_up(client, query_model, query_models_mock):
    query_models_mock.fail_next(transport="read_timeout", times=3)
    with pytest.raises(ConnectionFailed, match="timed out"):
        client.retrieve(query_model["name"])


def test_malformed_body(client, query_model, query_models_mock):
    query_models_mock.fail_next(malformed_body=True)
    with pytest.raises(UnexpectedResponse, match="not JSON"):
        client.retrieve(query_model["name"])


@pytest.mark.query_models(assert_all_faults_used=False)
def test_a_fault_on_another_route_leaves_retrieve_alone(client, query_model, query_models_mock):
    query_models_mock.fail_next(503, route="llm")
    assert client.retrieve(query_model["name"]) == query_model
    assert query_models_mock.faults.pending() == 1


def test_api_keys_are_redacted_in_recorded_calls(query_models_mock, query_model):
    with QueryModelsClient(base_url=query_models_mock.base_url, api_key="sk-test") as client:
        client.retrieve(query_model["name"], metadata=True, me=True)
    assert query_models_mock.last_call.header("authorization") == "<redacted>"
