"""The mock server: routes, control API and its policy, stores, options, logs, self-check, processes, CLI.

Hostile input (oversized heads and bodies, odd values, memory bounds) is in ``test_hostile.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from openapi_spec_validator import validate as validate_spec

import qmcontract.server.app as app_module
import qmcontract.server.control as control_module
from qmcontract.catalog import load_catalog
from qmcontract.cli import cli
from qmcontract.faults import Fault
from qmcontract.resources import mocks_path, shipped_path, spec_path
from qmcontract.server import QueryModelServer, ServerError, ServerOptions, create_app, running_server
from qmcontract.server.access_log import LineBuffer
from qmcontract.server.control import ControlApi, ControlPolicy
from qmcontract.server.process import bind_socket
from qmcontract.server.self_check import self_check
from qmcontract.server.store import MemoryStore, Seen, SqliteStore
from qmcontract.wire import Request, Response, error_response, json_response

STATIC = "2FgLFqAf8M6MTa6MtGLLwM"
TRAINING = "5KlLvcRDxfbEwHKwoVF1tI"
UNKNOWN = "0000000000000000000000"
TOKEN = "sk-test-secret-1234"
JSON = {"content-type": "application/json"}
DEFINITION = {
    "weight": {"type": "static"},
    "models": [{"id": "openai/gpt-5-nano", "mode": "generate", "weight": {"type": "static", "weight": 3}}],
}


def _definition(weight: int) -> dict[str, Any]:
    return {
        **DEFINITION,
        "models": [{**DEFINITION["models"][0], "weight": {"type": "static", "weight": weight}}],
    }


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with running_server() as url, httpx.Client(base_url=url) as http:
        yield http


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    if "client" in request.fixturenames:
        request.getfixturevalue("client").post("/__qmcontract/reset", headers=JSON).raise_for_status()


def _journal(client: httpx.Client) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = client.get("/__qmcontract/journal").json()["requests"]
    return entries


def _entry(path: str, query: str = "", status: int | None = 200, *, authorization: bool = False) -> Seen:
    return ("GET", path, query.encode(), status, authorization, time.time())


# --- routes -------------------------------------------------------------------------------------


def test_running_server_yields_a_loopback_url_and_stops() -> None:
    with running_server() as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")


def test_running_server_takes_a_catalogue_directory(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(yaml.safe_dump(DEFINITION))
    with running_server(tmp_path) as url, running_server(str(mocks_path())) as shipped:
        assert httpx.get(f"{url}/query_models/count").json() == {"count": 1}
        assert httpx.get(f"{shipped}/query_models/count").json() == {"count": len(load_catalog())}


def test_retrieve_list_and_count(client: httpx.Client) -> None:
    catalog = load_catalog()
    document = client.get(f"/query_models/{STATIC}")
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/json"
    assert document.json() == catalog.get(STATIC)
    assert client.get("/query_models").json() == {"data": catalog.names()[:100]}
    assert client.get("/query_models?count=2&offset=1").json() == {"data": catalog.names()[1:3]}
    assert client.get("/query_models/count").json() == {"count": len(catalog)}


def test_post_routes_reach_the_engine(client: httpx.Client) -> None:
    built = client.post("/query_models", json=DEFINITION)
    assert built.status_code == 200
    assert client.post("/query_models", json=built.json()).json() == built.json()
    llm = client.post("/query_llms", json=DEFINITION["models"][0])
    assert (llm.status_code, llm.json()["name"]) == (200, built.json()["models"][0]["name"])
    refused = client.post("/query_models", content=b"{")
    assert (refused.status_code, refused.json()["code"]) == (400, 400)


def test_llm_and_metadata_routes(client: httpx.Client) -> None:
    entry = load_catalog().get(STATIC)["models"][0]  # type: ignore[index]
    llm = client.get(f"/query_llms/{entry['name']}")
    assert llm.status_code == 200
    assert llm.json()["name"] == entry["name"]
    assert "index" not in llm.json()
    assert set(client.get("/metadata").json()) >= {"query_requests", "chat_cost"}


def test_memo_tells_raw_paths_apart(client: httpx.Client) -> None:
    assert client.get("/query_models/count").status_code == 200
    assert client.get("/query_models/count").status_code == 200
    encoded = client.get("/query_models%2Fcount")
    assert encoded.status_code == 404


def test_health_and_spec_routes(client: httpx.Client) -> None:
    assert client.head("/healthz").status_code == 200
    spec = client.get("/openapi.yaml")
    assert spec.headers["content-type"] == "application/yaml"
    assert spec.content == spec_path().read_bytes()
    refused = client.post("/healthz")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
    assert refused.json()["code"] == 405


def test_undeclared_method_gets_405_with_allow(client: httpx.Client) -> None:
    response = client.request("TRACE", f"/query_models/{STATIC}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["code"] == 405


def test_unknown_route_is_a_contract_404(client: httpx.Client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["code"] == 404


# --- control API ----------------------------------------------------------------------------------


def test_add_a_definition_at_run_time(client: httpx.Client) -> None:
    added = client.post("/__qmcontract/models", json=DEFINITION)
    assert added.status_code == 201
    document = added.json()
    assert client.get(f"/query_models/{document['name']}").json() == document
    assert client.get("/__qmcontract/models").json() == {"data": [document["name"]]}
    assert client.get("/query_models/count").json()["count"] == len(load_catalog()) + 1


def test_add_accepts_yaml_and_complete_documents(client: httpx.Client) -> None:
    yaml_type = {"content-type": "application/yaml"}
    from_yaml = client.post("/__qmcontract/models", content=yaml.safe_dump(DEFINITION), headers=yaml_type)
    assert from_yaml.status_code == 201
    again = client.post("/__qmcontract/models", json=from_yaml.json())
    assert (again.status_code, again.json()) == (201, from_yaml.json())


def test_an_invalid_definition_is_refused_with_rule_ids(client: httpx.Client) -> None:
    refused = client.post("/__qmcontract/models", json={**DEFINITION, "models": []})
    assert refused.status_code == 422
    body = refused.json()
    assert body["code"] == 422
    assert [v["rule"] for v in body["violations"]] == ["llm-count"]
    tampered = {**load_catalog().get(STATIC), "name": UNKNOWN}  # type: ignore[dict-item]
    assert "model-name" in {
        v["rule"] for v in client.post("/__qmcontract/models", json=tampered).json()["violations"]
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"{not json: [", "neither JSON nor YAML"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe", "UTF-8"),
        (b"a: &x [1]\nb: *x\n", "aliases"),
    ],
)
def test_add_reports_unreadable_bodies(client: httpx.Client, body: bytes, message: str) -> None:
    response = client.post("/__qmcontract/models", content=body, headers=JSON)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_scheduled_status_fault_hits_the_next_n_requests(client: httpx.Client) -> None:
    scheduled = client.post("/__qmcontract/faults", json={"status": 503, "retry_after": 2, "times": 2})
    assert (scheduled.status_code, scheduled.json()) == (201, {"pending": 2})
    first, second, third = (client.get(f"/query_models/{STATIC}") for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [503, 503, 200]
    assert first.headers["retry-after"] == "2"
    assert first.json() == {"code": 503, "message": "Service Unavailable"}
    assert client.get("/__qmcontract/faults").json() == {"pending": 0}


def test_a_429_fault_gets_a_default_retry_after(client: httpx.Client) -> None:
    client.post("/__qmcontract/faults", json={"status": 429})
    assert client.get(f"/query_models/{STATIC}").headers["retry-after"] == "1"


def test_faults_spare_health_checks_and_other_prefixes(client: httpx.Client) -> None:
    client.post("/__qmcontract/faults", json={"status": 500, "path_prefix": f"/query_models/{TRAINING}"})
    assert client.get("/healthz").status_code == 200
    assert client.get(f"/query_models/{STATIC}").status_code == 200
    assert client.get(f"/query_models/{TRAINING}").status_code == 500


def test_malformed_body_and_latency_faults(client: httpx.Client) -> None:
    client.post("/__qmcontract/faults", json={"malformed_body": True, "latency_ms": 10})
    response = client.get(f"/query_models/{STATIC}")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_dropped_connection_fault(client: httpx.Client) -> None:
    client.post("/__qmcontract/faults", json={"drop_connection": True})
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/query_models/{STATIC}")
    assert client.get(f"/query_models/{STATIC}").status_code == 200
    assert [entry["status"] for entry in _journal(client)] == [None, 200]


def test_clearing_faults(client: httpx.Client) -> None:
    client.post("/__qmcontract/faults", json={"status": 500, "times": 5})
    assert client.delete("/__qmcontract/faults").json() == {"pending": 0}
    assert client.get(f"/query_models/{STATIC}").status_code == 200


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({}, "changes nothing"),
        ({"status": 200}, "400-599"),
        ({"status": 600}, "`status` must be an integer from 0 to 599"),
        ({"status": "503"}, "integer"),
        ({"status": 503, "times": 0}, "`times`"),
        ({"status": 503, "times": 10**30}, "`times`"),
        ({"latency_ms": -1}, "`latency_ms`"),
        ({"latency_ms": 10**400}, "`latency_ms` must be an integer from 0 to 3,600,000"),
        ({"latency_ms": 3_600_001}, "`latency_ms`"),
        ({"status": 503, "retry_after": 2**40}, "`retry_after`"),
        ({"malformed_body": "yes"}, "true or false"),
        ({"status": 503, "path_prefix": "query_models"}, "path_prefix"),
        ({"status": 503, "path_prefix": "/" + "a" * 5000}, "path_prefix"),
        ({"status": 503, "colour": "red"}, "unknown fault field(s): 'colour'"),
        ([503], "JSON object"),
    ],
)
def test_bad_fault_requests_are_refused(client: httpx.Client, fault: Any, message: str) -> None:
    response = client.post("/__qmcontract/faults", json=fault)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert len(response.json()["message"]) < 400
    assert client.get("/__qmcontract/faults").json() == {"pending": 0}
    assert client.get(f"/query_models/{STATIC}").status_code == 200


def test_journal_records_requests_and_never_a_secret(client: httpx.Client) -> None:
    client.get("/healthz")
    client.get(f"/query_models/{STATIC}?metadata=true&me=true", headers={"authorization": TOKEN})
    client.get(f"/query_models/{UNKNOWN}?api_key={TOKEN}&Session_Id=s1&x=1")
    journal = client.get("/__qmcontract/journal")
    assert TOKEN not in journal.text
    entries = journal.json()["requests"]
    assert [(e["method"], e["path"], e["query"], e["status"], e["authorization"]) for e in entries] == [
        ("GET", f"/query_models/{STATIC}", "metadata=true&me=true", 200, "<redacted>"),
        ("GET", f"/query_models/{UNKNOWN}", "api_key=<redacted>&Session_Id=<redacted>&x=1", 404, None),
    ]
    assert all(e["worker"] == os.getpid() and e["time"].endswith("Z") for e in entries)
    assert client.delete("/__qmcontract/journal").json() == {"requests": []}
    assert _journal(client) == []


def test_journal_cuts_long_paths_and_queries(client: httpx.Client) -> None:
    client.get(f"/query_models/{'a' * 5000}?q={'b' * 5000}")
    (entry,) = _journal(client)
    assert entry["path"].endswith("...[3990 more]")
    assert entry["query"] == f"q={'b' * 1022}...[3978 more]"


def test_reset_forgets_models_faults_and_journal(client: httpx.Client) -> None:
    name = client.post("/__qmcontract/models", json=DEFINITION).json()["name"]
    assert client.get(f"/query_models/{name}").status_code == 200
    client.post("/__qmcontract/faults", json={"status": 500, "times": 3})
    client.get("/query_models/count")
    assert client.post("/__qmcontract/reset", headers=JSON).json() == {"reset": True}
    assert client.get("/__qmcontract/faults").json() == {"pending": 0}
    assert _journal(client) == []
    assert client.get(f"/query_models/{name}").status_code == 404
    assert client.get("/query_models/count").json() == {"count": len(load_catalog())}


def test_control_routes_answer_404_and_405(client: httpx.Client) -> None:
    assert client.get("/__qmcontract/nothing").status_code == 404
    refused = client.put("/__qmcontract/faults")
    assert (refused.status_code, refused.headers["allow"]) == (405, "DELETE, GET, POST")


def test_control_spec_is_served_valid_and_complete(client: httpx.Client) -> None:
    served = client.get("/__qmcontract/openapi.yaml")
    assert served.content == shipped_path("openapi-control.yaml").read_bytes()
    spec = yaml.safe_load(served.content)
    validate_spec(spec)
    routes = ControlApi(MemoryStore(), policy=ControlPolicy("127.0.0.1"), spec=b"").routes
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert {(method, "/__qmcontract" + path) for method, path in routes} <= documented
    for method, path in routes:
        responses = spec["paths"]["/__qmcontract" + path][method.lower()]["responses"]
        assert {"401", "403", "404"} <= set(responses), (method, path)
        assert method != "POST" or "413" in responses, path
    scheme = spec["components"]["securitySchemes"]["controlToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_control_bodies_are_parsed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    parsing, release = threading.Event(), threading.Event()
    original = control_module.parse_json_or_yaml

    def slow_parse(text: str, **kwargs: Any) -> Any:
        parsing.set()
        release.wait(timeout=30)
        return original(text, **kwargs)

    monkeypatch.setattr(control_module, "parse_json_or_yaml", slow_parse)
    with running_server() as url, httpx.Client(base_url=url, timeout=30) as http:
        result: list[httpx.Response] = []
        poster = threading.Thread(
            target=lambda: result.append(http.post("/__qmcontract/models", json=DEFINITION))
        )
        poster.start()
        assert parsing.wait(timeout=30)
        try:
            assert http.get("/healthz", timeout=10).status_code == 200
            assert http.get(f"/query_models/{STATIC}", timeout=10).status_code == 200
        finally:
            release.set()
            poster.join(timeout=30)
    assert result[0].status_code == 201


class _CountingStore(MemoryStore):
    """Records which run-time models each worker catch-up reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[int, int]] = []

    def added_models(self, start: int = 0) -> list[dict[str, Any]]:
        models = super().added_models(start)
        self.reads.append((start, len(models)))
        return models


def test_run_time_additions_read_only_the_new_models() -> None:
    store, served = _CountingStore(), len(load_catalog())
    with running_server(store=store, access_log=False) as url, httpx.Client(base_url=url) as http:
        for weight in range(1, 41):
            assert http.post("/__qmcontract/models", json=_definition(weight)).status_code == 201
            assert http.get("/query_models/count").json()["count"] == served + weight
    catch_ups = [read for read in store.reads if read[1]]
    assert catch_ups == [(index, 1) for index in range(40)]


# --- the control API's policy -----------------------------------------------------------------------


def _policy_answer(policy: ControlPolicy, method: str = "GET", **headers: str) -> tuple[int, str] | None:
    request = Request(method, "/__qmcontract/journal", headers=tuple(headers.items()))
    response = policy.refusal(request, 8000)
    return None if response is None else (response.status, response.json()["message"])


LOOPBACK = ControlPolicy("127.0.0.1")
WITH_TOKEN = ControlPolicy("0.0.0.0", "control-secret")


@pytest.mark.parametrize(
    ("policy", "method", "headers", "status"),
    [
        (LOOPBACK, "GET", {"host": "127.0.0.1:8000"}, None),
        (LOOPBACK, "GET", {"host": "localhost:8000"}, None),
        (LOOPBACK, "GET", {"host": "[::1]:8000"}, None),
        (LOOPBACK, "GET", {"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:8000"}, None),
        (LOOPBACK, "GET", {"host": "localhost:8000", "origin": "http://localhost:8000"}, None),
        (LOOPBACK, "POST", {"host": "localhost", "content-type": "application/json"}, None),
        (LOOPBACK, "POST", {"host": "localhost", "content-type": "Application/YAML; charset=utf-8"}, None),
        (LOOPBACK, "GET", {"host": "evil.example"}, 403),
        (LOOPBACK, "GET", {"host": "evil.example:8000", "origin": "http://evil.example:8000"}, 403),
        (LOOPBACK, "GET", {"host": "127.0.0.1.evil.example"}, 403),
        (LOOPBACK, "GET", {}, 403),
        (LOOPBACK, "GET", {"host": "127.0.0.1:8000", "origin": "http://evil.example"}, 403),
        (LOOPBACK, "GET", {"host": "127.0.0.1:8000", "origin": "null"}, 403),
        (LOOPBACK, "GET", {"host": "127.0.0.1:8000", "origin": "http://127.0.0.1:9999"}, 403),
        (LOOPBACK, "GET", {"host": "127.0.0.1:8000", "origin": "https://127.0.0.1:8000"}, 403),
        (LOOPBACK, "POST", {"host": "127.0.0.1", "content-type": "text/plain"}, 403),
        (LOOPBACK, "POST", {"host": "127.0.0.1", "content-type": "application/x-www-form-urlencoded"}, 403),
        (LOOPBACK, "POST", {"host": "127.0.0.1", "content-type": "multipart/form-data"}, 403),
        (LOOPBACK, "POST", {"host": "127.0.0.1"}, 403),
        (LOOPBACK, "DELETE", {"host": "127.0.0.1"}, None),
        (ControlPolicy("0.0.0.0"), "GET", {"host": "127.0.0.1"}, 404),
        (ControlPolicy("192.0.2.1"), "GET", {"host": "192.0.2.1"}, 404),
        (WITH_TOKEN, "GET", {"host": "anything.example", "authorization": "Bearer control-secret"}, None),
        (WITH_TOKEN, "GET", {"host": "x", "authorization": "bearer control-secret"}, None),
        (WITH_TOKEN, "GET", {"host": "x"}, 401),
        (WITH_TOKEN, "GET", {"host": "x", "authorization": "Bearer wrong"}, 401),
        (WITH_TOKEN, "GET", {"host": "x", "authorization": "control-secret"}, 401),
        (WITH_TOKEN, "GET", {"host": "x", "origin": "http://evil.example"}, 403),
        (WITH_TOKEN, "GET", {"host": "x:8000", "origin": "http://x:8000"}, 401),
        (WITH_TOKEN, "POST", {"host": "x", "content-type": "text/plain"}, 403),
    ],
)
def test_control_policy(
    policy: ControlPolicy, method: str, headers: dict[str, str], status: int | None
) -> None:
    answer = _policy_answer(policy, method, **headers)
    assert (answer[0] if answer else None) == status, answer


def test_control_policy_precedence_is_404_then_403_then_401() -> None:
    off = ControlPolicy("0.0.0.0")
    assert _policy_answer(off, "POST", host="evil", origin="http://evil") == (
        404,
        control_module.OFF_MESSAGE,
    )
    answer = _policy_answer(WITH_TOKEN, "POST", host="x", origin="http://evil")
    assert answer is not None
    assert answer[0] == 403


@pytest.mark.parametrize(
    ("options", "line"),
    [
        ({}, "control API on for loopback clients"),
        ({"host": "0.0.0.0"}, "control API off (non-loopback address without --control-token-env)"),
        ({"host": "0.0.0.0", "control_token": "t"}, "control API on (bearer token required)"),
    ],
)
def test_control_policy_describes_itself(options: dict[str, Any], line: str) -> None:
    assert ControlPolicy.of(ServerOptions(**options)).describe() == line


def _asgi_get(app: QueryModelServer, path: str, **headers: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            return await http.get(path, headers=headers)

    return asyncio.run(call())


def test_the_control_api_is_off_on_a_non_loopback_bind_without_a_token() -> None:
    app = create_app(host="0.0.0.0")
    off = _asgi_get(app, "/__qmcontract/journal")
    assert off.status_code == 404
    assert off.json() == {"code": 404, "message": control_module.OFF_MESSAGE}
    assert _asgi_get(app, f"/query_models/{STATIC}").status_code == 200
    assert _asgi_get(app, "/healthz").status_code == 200


def test_a_control_token_guards_the_control_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QM_CONTROL_TOKEN", "control-secret")
    with running_server(control_token_env="QM_CONTROL_TOKEN") as url, httpx.Client(base_url=url) as http:
        refused = http.get("/__qmcontract/journal")
        assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
        assert refused.json()["code"] == 401
        bearer = {"authorization": "Bearer control-secret"}
        assert http.get("/__qmcontract/journal", headers=bearer).status_code == 200
        rebound = http.get("/__qmcontract/journal", headers={**bearer, "host": "anywhere.example"})
        assert rebound.status_code == 200
        assert http.get(f"/query_models/{STATIC}").status_code == 200


# --- options -------------------------------------------------------------------------------------


def test_tokens_restrict_me_true(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QM_API_TOKEN", "from-env")
    me = f"/query_models/{STATIC}?metadata=true&me=true"
    with (
        running_server(tokens=["good", "other"], token_env=["QM_API_TOKEN"]) as url,
        httpx.Client(base_url=url) as http,
    ):
        assert http.get(me, headers={"authorization": "good"}).status_code == 200
        assert http.get(me, headers={"authorization": "Bearer other"}).status_code == 200
        assert http.get(me, headers={"authorization": "Bearer from-env"}).status_code == 200
        refused = http.get(me, headers={"authorization": "bad"})
        assert refused.status_code == 401
        assert refused.json()["code"] == 401
        assert (
            http.get(f"/query_models/{STATIC}?metadata=true", headers={"authorization": "bad"}).status_code
            == 200
        )
        bad_request = http.get(f"{me}&from=never", headers={"authorization": "bad"})
        assert bad_request.status_code == 400


def test_without_tokens_any_authorization_is_accepted(client: httpx.Client) -> None:
    me = f"/query_models/{STATIC}?metadata=true&me=true"
    assert client.get(me, headers={"authorization": "anything"}).status_code == 200


def test_error_rate_is_seeded() -> None:
    def statuses() -> list[int]:
        with running_server(error_rate=0.5, seed=7) as url, httpx.Client(base_url=url) as http:
            responses = [http.get(f"/query_models/{STATIC}") for _ in range(40)]
            assert http.get("/healthz").status_code == 200
        for response in responses:
            if response.status_code == 500:
                assert response.json() == {"code": 500, "message": "injected server error (--error-rate)"}
        return [response.status_code for response in responses]

    first = statuses()
    assert set(first) == {200, 500}
    assert statuses() == first


def test_latency_option_still_answers() -> None:
    with running_server(latency_ms=5) as url:
        assert httpx.get(f"{url}/query_models/{STATIC}").status_code == 200


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"latency_ms": -1}, "latency"),
        ({"latency_ms": 10**400}, "latency"),
        ({"error_rate": 1.5}, "error rate"),
        ({"workers": 0}, "workers"),
        ({"port": 70000}, "port"),
        ({"log_level": "loud"}, "log level"),
        ({"token_env": ["QM_UNSET_VARIABLE"]}, "--token-env QM_UNSET_VARIABLE: the environment variable"),
        ({"control_token_env": "QM_UNSET_VARIABLE"}, "--control-token-env QM_UNSET_VARIABLE"),
        ({"control_token": " "}, "control token is empty"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ServerError, match=re.escape(message)):
        ServerOptions(**options)


def test_options_round_trip_through_the_worker_environment() -> None:
    options = ServerOptions(host="::1", tokens=("a",), error_rate=0.25, seed=3, workers=3, self_check=True)
    assert ServerOptions.from_json(options.to_json()) == options
    assert ServerOptions.of(options, seed=4) == ServerOptions(**{**vars(options), "seed": 4})
    with pytest.raises(TypeError):
        ServerOptions.of(colour="red")


def test_bind_socket_reports_a_port_in_use() -> None:
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    port = taken.getsockname()[1]
    try:
        with pytest.raises(
            ServerError, match=rf"^cannot listen on 127\.0\.0\.1:{port}: the port is already in use$"
        ):
            bind_socket("127.0.0.1", port)
    finally:
        taken.close()


# --- access log and self-check --------------------------------------------------------------------


def test_access_log_has_one_redacted_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qmcontract.access")
    with running_server() as url, httpx.Client(base_url=url) as http:
        caplog.clear()
        http.get(f"/query_models/{STATIC}?metadata=true&me=true", headers={"authorization": TOKEN})
        http.post("/__qmcontract/faults", json={"drop_connection": True})
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(f"/query_models/{STATIC}")
        http.get(f"/query_models/x%0a10.0.0.1%20POST%20/__qmcontract/reset%20200?api_key={TOKEN}")
        http.get(f"/query_models/{STATIC}?q={'x' * 3000}&PASSWORD={TOKEN}")
    lines = [r.getMessage() for r in caplog.records if r.name == "qmcontract.access"]
    assert len(lines) == 5
    assert re.fullmatch(
        rf"127\.0\.0\.1 GET /query_models/{STATIC}\?metadata=true&me=true 200 \d+\.\dms", lines[0]
    )
    assert re.fullmatch(r"127\.0\.0\.1 POST /__qmcontract/faults 201 \d+\.\dms", lines[1])
    assert re.fullmatch(rf"127\.0\.0\.1 GET /query_models/{STATIC} dropped \d+\.\dms", lines[2])
    assert re.fullmatch(
        r"127\.0\.0\.1 GET /query_models/x\\x0a10\.0\.0\.1 POST /__qmcontract/reset 200"
        r"\?api_key=<redacted> 404 \d+\.\dms",
        lines[3],
    )
    assert "...[" in lines[4]
    assert len(lines[4]) < 1200
    assert TOKEN not in caplog.text


def test_access_log_can_be_turned_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qmcontract.access")
    with running_server(access_log=False) as url:
        httpx.get(f"{url}/query_models/{STATIC}")
    assert not [r for r in caplog.records if r.name == "qmcontract.access"]


def test_line_buffer_writes_whole_lines_in_pipe_sized_chunks() -> None:
    read_end, write_end = os.pipe()
    try:
        buffer = LineBuffer(write_end, limit=100)
        lines = [f"127.0.0.1 GET /query_models/{index:040d} 200 0.1ms" for index in range(99)]
        for line in lines:
            buffer(line)
        buffer.flush()
        buffer("last")
        buffer.flush()
        os.close(write_end)
        with os.fdopen(read_end, "rb") as reader:
            assert reader.read().decode().splitlines() == [*lines, "last"]
    finally:
        with contextlib.suppress(OSError):
            os.close(write_end)


def test_line_buffer_flushes_when_full() -> None:
    read_end, write_end = os.pipe()
    try:
        buffer = LineBuffer(write_end, limit=2)
        buffer("one")
        buffer("two")
        assert os.read(read_end, 100) == b"one\ntwo\n"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_self_check_is_silent_on_a_correct_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="qmcontract.selfcheck")
    catalog = load_catalog()
    with running_server(catalog, self_check=True) as url, httpx.Client(base_url=url) as http:
        for name in catalog.names():
            for query in ("", "?metadata=true", "?metadata=true&me=true", "?metadata=maybe"):
                http.get(f"/query_models/{name}{query}")
        for target in (
            f"/query_models/{UNKNOWN}",
            "/query_models",
            "/query_models/count",
            "/query_models?count=x",
        ):
            http.get(target)
    assert not [r for r in caplog.records if r.name == "qmcontract.selfcheck"]


def test_self_check_logs_what_a_broken_server_sends(caplog: pytest.LogCaptureFixture) -> None:
    def rename(request: Request, response: Response) -> Response:
        if response.status != 200 or not request.path.endswith(STATIC):
            return response
        document = {**response.json(), "name": UNKNOWN}
        return json_response(200, json.dumps(document).encode())

    caplog.set_level(logging.WARNING, logger="qmcontract.selfcheck")
    with running_server(hook=rename, self_check=True) as url, httpx.Client(base_url=url) as http:
        http.get(f"/query_models/{STATIC}")
        http.post("/__qmcontract/faults", json={"status": 503})
        http.get(f"/query_models/{TRAINING}")
    messages = [r.getMessage() for r in caplog.records if r.name == "qmcontract.selfcheck"]
    assert any("model-name" in m for m in messages)
    assert any(f"slug-echo: expected the requested name '{STATIC}'" in m for m in messages)
    assert any("no-server-error" in m and "(injected fault)" in m for m in messages)


@pytest.mark.parametrize(
    ("response", "rule"),
    [
        (Response(200, (("content-type", "text/plain"),), b"{}"), "content-type"),
        (json_response(404, b"not json"), "error-body"),
        (json_response(404, b'{"code": 400, "message": "x"}'), "error-body"),
        (json_response(404, b'{"error": "x"}'), "error-body"),
        (error_response(418), "slug-echo"),
        (error_response(502), "no-server-error"),
        (json_response(200, b'{"count": -1}'), "list-names"),
    ],
)
def test_self_check_names_the_broken_rule(response: Response, rule: str) -> None:
    path = "/query_models/count" if b"count" in response.body else f"/query_models/{STATIC}"
    violations = self_check(Request("GET", path), response, load_catalog())
    assert rule in {violation.rule for violation in violations}


def test_self_check_of_a_200_to_a_malformed_request() -> None:
    document = json.dumps(load_catalog().get(STATIC)).encode()
    violations = self_check(
        Request("GET", f"/query_models/{STATIC}", "metadata=nope"), json_response(200, document)
    )
    assert [v.rule for v in violations] == ["bad-request"]


def test_self_check_of_a_bad_listing() -> None:
    violations = self_check(Request("GET", "/query_models"), json_response(200, b'{"data": 3}'))
    assert [v.rule for v in violations] == ["list-names"]


# --- stores and bounds ------------------------------------------------------------------------------


def test_memory_journal_is_bounded_by_count_and_bytes() -> None:
    store = MemoryStore(journal_limit=3)
    for index in range(5):
        store.record(_entry(f"/query_models/{index}", status=404))
    assert [entry.path for entry in store.journal()] == [f"/query_models/{i}" for i in (2, 3, 4)]
    small = MemoryStore(journal_bytes=2 * 2300)  # counted as received, shown cut
    for index in range(6):
        small.record(_entry(f"/{index}", "q=" + "x" * 2000))
    assert [entry.path for entry in small.journal()] == ["/4", "/5"]
    assert all(len(entry.query) < 1100 for entry in small.journal())


def test_sqlite_store_is_shared_between_workers(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path), SqliteStore(tmp_path)
    try:
        generation = second.sync()
        document = load_catalog().get(STATIC)
        assert document is not None
        first.add_model(document)
        assert second.sync() == (generation.resets, generation.models + 1)
        assert [d["name"] for d in second.added_models()] == [STATIC]
        assert second.added_models(1) == []
        first.schedule(Fault(status=503), times=3, path_prefix="/query_models")
        second.sync()
        taken = [store.take_fault("/query_models/x") for store in (second, first, second, first)]
        assert taken == [Fault(status=503)] * 3 + [None]
        assert (first.pending_faults(), second.pending_faults()) == (0, 0)
        first.record(_entry("/a", authorization=True))
        second.record(_entry("/b", status=404))
        assert [(e.path, e.authorization, e.worker) for e in second.journal()] == [
            ("/a", True, os.getpid()),
            ("/b", False, os.getpid()),
        ]
        second.reset()
        assert (first.journal(), first.added_models(), first.pending_faults()) == ([], [], 0)
        assert first.sync() == (generation.resets + 1, 0)
    finally:
        first.close()
        second.close()


def test_sqlite_journal_is_bounded_by_count_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    store = SqliteStore(tmp_path / "a", journal_limit=5)
    small = SqliteStore(tmp_path / "b", journal_bytes=2 * 1300)
    try:
        for index in range(1001):
            store.record(_entry(f"/{index}"))
            small.record(_entry(f"/{index}", "q=" + "x" * 2000))
        assert [entry.path for entry in store.journal()] == [f"/{i}" for i in range(996, 1001)]
        assert [entry.path for entry in small.journal()] == ["/999", "/1000"]
        rows = small._journal.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        assert rows <= 500
    finally:
        store.close()
        small.close()


def test_the_memo_of_answers_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "MEMO_BYTES", 20_000)
    app = create_app(access_log=False)
    sizes = []
    for index in range(60):
        response = _asgi_get(app, f"/query_models/{STATIC}?metadata=true&n={index}")
        assert response.status_code == 200
        sizes.append(app._memo_bytes)
    assert max(sizes) <= 20_000
    assert len(app._memo) < 60


def test_two_servers_on_one_sqlite_store_never_diverge(tmp_path: Path) -> None:
    with (
        running_server(store=SqliteStore(tmp_path)) as one,
        running_server(store=SqliteStore(tmp_path)) as two,
        httpx.Client() as http,
    ):
        name = http.post(f"{one}/__qmcontract/models", json=DEFINITION).json()["name"]
        assert http.get(f"{two}/query_models/{name}").status_code == 200
        http.post(f"{two}/__qmcontract/faults", json={"status": 429, "times": 3})
        statuses = [http.get(f"{url}/query_models/{name}").status_code for url in (one, two, one, two, one)]
        assert statuses == [429, 429, 429, 200, 200]
        assert len(http.get(f"{one}/__qmcontract/journal").json()["requests"]) == 6
        http.post(f"{two}/__qmcontract/reset", headers=JSON)
        assert http.get(f"{one}/query_models/{name}").status_code == 404


def test_a_hook_sees_every_request() -> None:
    seen: list[str] = []

    def record(request: Request, response: Response) -> Response:
        seen.append(request.path)
        return response

    with running_server(hook=record) as url, httpx.Client(base_url=url) as http:
        for _ in range(3):
            assert http.get(f"/query_models/{STATIC}").status_code == 200
    assert seen == [f"/query_models/{STATIC}"] * 3


def test_create_app_copies_the_catalogue() -> None:
    catalog = load_catalog()
    with running_server(catalog) as url:
        httpx.post(f"{url}/__qmcontract/models", json=DEFINITION).raise_for_status()
    assert len(catalog) == len(load_catalog())
    assert create_app(catalog).catalog() is not catalog


# --- command line and processes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "Invalid value for '--port'"),
        (["--error-rate", "2"], "Invalid value for '--error-rate'"),
        (["--workers", "0"], "Invalid value for '--workers'"),
        (["--latency-ms", "99999999999999999999"], "Invalid value for '--latency-ms'"),
        (["--log-level", "loud"], "Invalid value for '--log-level'"),
        (["--colour"], "No such option '--colour'"),
        (["--catalog", "/nonexistent/catalogue"], "/nonexistent/catalogue: not a directory"),
        (["--token-env", "QM_UNSET_VARIABLE"], "--token-env QM_UNSET_VARIABLE: the environment variable"),
        (["--control-token-env", "QM_UNSET_VARIABLE"], "--control-token-env QM_UNSET_VARIABLE"),
        (["--host", "256.0.0.1"], "cannot listen on 256.0.0.1:"),
    ],
)
def test_serve_reports_bad_input_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("qmcontract: error: ")
    assert message in result.output


def test_serve_reports_a_port_in_use_in_one_line() -> None:
    taken = bind_socket("127.0.0.1", 0)
    taken.listen()
    try:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port)])
    finally:
        taken.close()
    assert result.exit_code == 2
    assert (
        result.output == f"qmcontract: error: cannot listen on 127.0.0.1:{port}: the port is already in use\n"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(port: int, *args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from qmcontract.cli import main; main()",
        "serve",
        "--port",
        str(port),
        *args,
    ]


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``qmcontract serve``; return once it has written its start-up line (and the stderr so far).

    The start-up line promises that the server answers: the first request is sent without a retry.
    """
    port = _free_port()
    process = subprocess.Popen(
        _command(port, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "qmcontract serving" in line:
            url = f"http://127.0.0.1:{port}"
            assert httpx.get(f"{url}/healthz").status_code == 200
            return process, url, "".join(seen)
    process.kill()
    raise AssertionError(f"the server did not start: {''.join(seen)}{process.communicate()}")


def _stop(process: subprocess.Popen[str], sig: signal.Signals, before: str = "") -> tuple[str, str]:
    process.send_signal(sig)
    try:
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    err = before + err
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return out, err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_shuts_down_gracefully(sig: signal.Signals) -> None:
    process, url, started = _start("--log-level", "info")
    assert httpx.get(f"{url}/query_models/{STATIC}", headers={"authorization": TOKEN}).status_code == 200
    out, err = _stop(process, sig, started)
    assert f"127.0.0.1 GET /query_models/{STATIC} 200" in out
    assert TOKEN not in out + err
    assert "qmcontract serving 13 Query Models on http://127.0.0.1:" in err
    assert "control API on for loopback clients" in err
    assert "Application shutdown complete" in err


def _journal_of(url: str, requests: int) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url) as http:
        for _ in range(requests):
            http.get(f"/query_models/{STATIC}", headers={"connection": "close"})
        entries: list[dict[str, Any]] = http.get("/__qmcontract/journal").json()["requests"]
    return entries


def test_serve_with_workers_announces_itself_then_shares_state_across_processes() -> None:
    process, url, started = _start("--workers", "2", "--no-access-log")
    assert "with 2 worker(s); control API on for loopback clients" in started
    try:
        with httpx.Client(base_url=url, headers={"connection": "close"}) as http:
            name = http.post("/__qmcontract/models", json=DEFINITION).json()["name"]
            http.post("/__qmcontract/faults", json={"status": 503, "times": 5}).raise_for_status()
            statuses = [http.get(f"/query_models/{name}").status_code for _ in range(60)]
            journal = http.get("/__qmcontract/journal").json()["requests"]
    finally:
        _stop(process, signal.SIGTERM, started)
    assert statuses == [503] * 5 + [200] * 55
    assert [entry["status"] for entry in journal] == statuses
    assert len({entry["worker"] for entry in journal}) == 2


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_and_clean_up_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    process, url, _ = _start("--workers", "2", "--no-access-log", env=env)
    try:
        workers = {entry["worker"] for entry in _journal_of(url, 40)}
        assert len(workers) == 2
        assert [path.name.startswith("qmcontract-store-") for path in tmp_path.iterdir()] == [True]
    finally:
        process.kill()
        process.communicate(timeout=20)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(_gone(pid) for pid in workers):
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/healthz", timeout=2)
    assert list(tmp_path.iterdir()) == []
