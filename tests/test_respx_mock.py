"""The respx mock: every route of the API family answered as the engine answers it, faults per route,
latency for sync and async clients, redacted records, and no exception from any input."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from respx.models import AllMockedAssertionError

import qmcontract.respx_mock
from qmcontract.catalog import Catalog, load_catalog
from qmcontract.engine import Engine
from qmcontract.errors import InvalidDefinition, QmContractError
from qmcontract.model import build_query_llm, build_query_model
from qmcontract.respx_mock import (
    DEFAULT_BASE_URL,
    REDACTED,
    MockAssertionError,
    QueryModelsMock,
    RecordedCall,
    mock_query_models,
)
from qmcontract.wire import Request, header_pairs

TOKEN = "Bearer sk-secret-token-123"
UNKNOWN = "0000000000000000000000"
DEFINITION = {
    "weight": {"type": "static"},
    "models": [{"id": "openai/gpt-4o-mini", "mode": "generate", "weight": {"type": "static", "weight": 2}}],
}
LLM_DEFINITION = {"id": "openai/gpt-4o-mini", "mode": "generate", "weight": {"type": "static", "weight": 2}}
GLOBAL_TOTALS = {
    "query_requests",
    "query_completion_tokens",
    "query_prompt_tokens",
    "query_cost",
    "chat_requests",
    "chat_completion_tokens",
    "chat_prompt_tokens",
    "chat_cost",
    "embedding_completion_tokens",
    "embedding_prompt_tokens",
    "embedding_cost",
}


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


@pytest.fixture
def catalog(shipped: Catalog) -> Catalog:
    return shipped.copy()


@pytest.fixture
def slug(catalog: Catalog) -> str:
    return catalog.names()[0]


@pytest.fixture
def llm(catalog: Catalog) -> str:
    return catalog.llm_names()[0]


@pytest.fixture
def mock(catalog: Catalog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OBJECTIVEAI_API_BASE", raising=False)
    with mock_query_models(catalog) as active:
        yield active


@pytest.fixture(scope="module")
def http():
    """One client for the module: a new ``httpx.Client`` per request would load the CA bundle each time."""
    with httpx.Client() as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def url(path: str) -> str:
    return f"{DEFAULT_BASE_URL}{path}"


# --- every route, as the engine answers it ---------------------------------------------------


def family_requests(slug: str, llm: str) -> list[tuple[str, str, bytes]]:
    """(method, path?query, body) for every route and method of the API family, plus odd ones."""
    model_body = json.dumps(DEFINITION).encode()
    llm_body = json.dumps(LLM_DEFINITION).encode()
    requests = []
    for method in ("GET", "HEAD"):
        for path in (
            f"/query_models/{slug}",
            f"/query_models/{slug}?metadata=true",
            f"/query_models/{UNKNOWN}",
            "/query_models",
            "/query_models?sort=cost&count=3",
            "/query_models/count",
            f"/query_llms/{llm}",
            f"/query_llms/{llm}?metadata=true&me=true",
            f"/query_llms/{UNKNOWN}",
            "/metadata",
        ):
            requests.append((method, path, b""))
    requests += [
        ("POST", "/query_models", model_body),
        ("POST", "/query_models?metadata=true", model_body),
        ("POST", "/query_models", b"{not json"),
        ("POST", "/query_llms", llm_body),
        ("POST", "/query_llms", b"[]"),
        ("DELETE", f"/query_models/{slug}", b""),
        ("PUT", "/metadata", b""),
        ("POST", "/query_models/count", b""),
        ("GET", "/query_llms", b""),
    ]
    return requests


@pytest.mark.parametrize("authorized", [False, True])
def test_every_route_and_method_is_the_engines(http, mock: QueryModelsMock, catalog, slug, llm, authorized):
    headers = {"authorization": TOKEN} if authorized else {}
    engine = Engine(catalog)
    for method, target, body in family_requests(slug, llm):
        response = http.request(method, url(target), content=body, headers=headers)
        path, _, query = target.partition("?")
        sent = response.request.headers.multi_items()
        expected = engine.handle(Request(method, path, query, header_pairs(sent), body))
        shown = b"" if method == "HEAD" else expected.body
        assert (response.status_code, response.content) == (expected.status, shown), (method, target)
        assert response.headers["content-type"] == "application/json"
        assert response.headers["content-length"] == str(len(expected.body))
        assert response.headers.get("allow") == expected.header("allow")
    assert len(mock.calls) == len(family_requests(slug, llm))


def test_each_route_answers_what_the_core_says(http, mock: QueryModelsMock, catalog: Catalog, slug, llm):
    assert http.get(mock.url(slug)).json() == catalog.get(slug)
    assert http.get(mock.url()).json() == {"data": catalog.names()}
    assert http.get(mock.url("count")).json() == {"count": len(catalog)}
    assert http.get(mock.url_for(f"/query_llms/{llm}")).json() == catalog.llm(llm)
    assert set(http.get(mock.url_for("/metadata")).json()) == GLOBAL_TOTALS
    assert http.post(mock.url(), json=DEFINITION).json() == build_query_model(DEFINITION)
    assert http.post(mock.url_for("/query_llms"), json=LLM_DEFINITION).json() == build_query_llm(
        LLM_DEFINITION
    )
    assert [call.route for call in mock.calls] == [
        "model",
        "model-list",
        "model-count",
        "llm",
        "metadata",
        "model-validate",
        "llm-validate",
    ]
    assert mock.calls[3].name == llm
    assert mock.calls[5].json() == DEFINITION


def test_unknown_slug_is_a_404_with_an_error_body(http, mock: QueryModelsMock):
    response = http.get(mock.url(UNKNOWN))
    assert response.status_code == 404
    assert response.json() == {
        "code": 404,
        "message": {"kind": "query_model", "error": "Query Model not found"},
    }


def test_me_without_authorization_is_a_401(http, mock: QueryModelsMock, slug: str):
    response = http.get(mock.url(slug), params={"metadata": "true", "me": "true"})
    assert response.json() == {"code": 401, "message": response.json()["message"]}
    assert response.status_code == 401


def test_a_method_a_route_does_not_allow_is_the_engines_405(http, mock: QueryModelsMock, slug: str):
    response = http.delete(mock.url(slug))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["code"] == 405
    assert mock.last_call.route is None
    assert mock.last_call.name == slug


def test_head_has_no_body_but_the_length_of_the_get(http, mock: QueryModelsMock, slug: str):
    head, get = http.head(mock.url(slug)), http.get(mock.url(slug))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


def test_a_body_over_the_limit_is_413_on_every_post_route(http, mock: QueryModelsMock):
    for path in ("/query_models", "/query_llms"):
        response = http.post(mock.url_for(path), content=b" " * (1024 * 1024 + 1))
        assert response.status_code == 413
        assert response.json()["code"] == 413


def test_other_paths_stay_unmocked(http, mock: QueryModelsMock):
    for other in ("/functions", "/query_modelsx", "/query_llmsx/a", "/metadata/x", "/", "/chat/completions"):
        with pytest.raises(AllMockedAssertionError):
            http.get(url(other))
    with pytest.raises(AllMockedAssertionError):
        http.get("https://example.org/query_models")
    with pytest.raises(AllMockedAssertionError):
        http.get("http://api.objective-ai.io/query_models")
    assert mock.calls == []


def test_other_respx_routes_work_alongside(http, mock: QueryModelsMock, slug: str):
    with respx.mock(assert_all_called=True) as other:
        other.get(url("/functions")).respond(json={"data": []})
        assert http.get(url("/functions")).json() == {"data": []}
        assert http.get(mock.url(slug)).status_code == 200
    assert len(mock.calls) == 1


def test_routes_added_to_the_mocks_router(http, mock: QueryModelsMock, slug: str):
    functions = mock.router.get(url("/functions")).respond(json={"data": []})
    catch_all = mock.router.route().respond(418)
    assert http.get(url("/functions")).json() == {"data": []}
    assert http.get("https://example.org/").status_code == 418
    assert http.get(mock.url(slug), headers={"authorization": TOKEN}).status_code == 200
    assert (functions.call_count, catch_all.call_count) == (1, 1)
    assert len(mock.router.calls) == 2
    assert "sk-secret" not in repr([call.request.headers for call in mock.router.calls])
    assert [call.slug for call in mock.calls] == [slug]


@pytest.mark.anyio
async def test_async_client_is_served_on_every_route(mock: QueryModelsMock, catalog: Catalog, slug, llm):
    async with httpx.AsyncClient() as client:
        response = await client.get(mock.url(slug))
        missing = await client.get(mock.url(UNKNOWN))
        posted = await client.post(mock.url_for("/query_llms"), json=LLM_DEFINITION)
        entry = await client.get(mock.url_for(f"/query_llms/{llm}"))
    assert response.json() == catalog.get(slug)
    assert missing.status_code == 404
    assert posted.json() == build_query_llm(LLM_DEFINITION)
    assert entry.json() == catalog.llm(llm)


def test_only_respx_public_api_is_used():
    """No subclass of respx classes, no respx internals: any respx>=0.22,<1 works."""
    tree = ast.parse(Path(inspect.getfile(qmcontract.respx_mock)).read_text(encoding="utf-8"))
    internals = {"record", "match", "async_handler", "handler", "resolve", "aresolve", "resolver", "Mocker"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("respx"), ast.unparse(node)
        if isinstance(node, ast.ClassDef):
            assert not any("respx" in ast.unparse(base) for base in node.bases), node.name
        if isinstance(node, ast.Attribute):
            assert node.attr not in internals, ast.unparse(node)
            if ast.unparse(node.value) == "respx":
                assert node.attr == "MockRouter", ast.unparse(node)


# --- base URL --------------------------------------------------------------------------------


def test_default_base_url_follows_the_sdk_environment_variable(http, catalog, slug, monkeypatch):
    monkeypatch.setenv("OBJECTIVEAI_API_BASE", "http://127.0.0.1:8123/")
    with mock_query_models(catalog) as mock:
        assert mock.base_url == "http://127.0.0.1:8123"
        assert http.get(f"http://127.0.0.1:8123/query_models/{slug}").status_code == 200
        with pytest.raises(AllMockedAssertionError):
            http.get(url(f"/query_models/{slug}"))


def test_empty_environment_variable_means_production(catalog, monkeypatch):
    monkeypatch.setenv("OBJECTIVEAI_API_BASE", "")
    assert mock_query_models(catalog).base_url == DEFAULT_BASE_URL


def test_base_url_with_a_path_is_stripped_before_the_engine(http, catalog: Catalog, slug: str):
    with mock_query_models(catalog, base_url="https://proxy.test/api/v1/") as mock:
        response = http.get(f"https://proxy.test/api/v1/query_models/{slug}")
        metadata = http.get("https://proxy.test/api/v1/metadata")
        for elsewhere in (f"https://proxy.test/query_models/{slug}", "https://proxy.test/api/v1x/metadata"):
            with pytest.raises(AllMockedAssertionError):
                http.get(elsewhere)
    assert (response.status_code, metadata.status_code) == (200, 200)
    assert mock.calls[0].path == f"/query_models/{slug}"
    assert mock.url(slug) == f"https://proxy.test/api/v1/query_models/{slug}"
    assert mock.url_for("/metadata") == "https://proxy.test/api/v1/metadata"


@pytest.mark.parametrize(
    "base_url", ["api.objective-ai.io", "ftp://host/", "/relative", "http://", "http://[::1/", "http://\x00/"]
)
def test_base_url_must_be_absolute_http(catalog: Catalog, base_url: str):
    with pytest.raises(ValueError, match="base_url must be an absolute http"):
        mock_query_models(catalog, base_url=base_url)


def test_catalogue_may_be_a_directory(http, tmp_path: Path):
    (tmp_path / "one.json").write_text(json.dumps(DEFINITION), encoding="utf-8")
    with mock_query_models(tmp_path) as mock:
        (name,) = mock.catalog.names()
        assert http.get(mock.url(name)).json()["name"] == name


def test_default_catalogue_is_the_shipped_one(shipped: Catalog):
    assert mock_query_models().catalog.names() == shipped.names()


# --- definitions -----------------------------------------------------------------------------


def test_add_serves_a_new_definition_on_every_route(http, mock: QueryModelsMock, catalog: Catalog):
    before = http.get(mock.url_for("/metadata")).json()
    document = mock.add(DEFINITION)
    assert document["name"] in catalog
    assert http.get(mock.url(document["name"])).json() == document
    assert document["name"] in http.get(mock.url()).json()["data"]
    assert http.get(mock.url("count")).json() == {"count": len(catalog)}
    assert http.get(mock.url_for(f"/query_llms/{document['models'][0]['name']}")).status_code == 200
    after = http.get(mock.url_for("/metadata")).json()
    assert after["query_requests"] >= before["query_requests"]
    assert after != before


def test_add_reads_a_file(mock: QueryModelsMock, tmp_path: Path):
    path = tmp_path / "model.yaml"
    path.write_text(json.dumps(DEFINITION), encoding="utf-8")
    assert mock.add(path) == mock.add(str(path)) == mock.add(DEFINITION)


def test_add_rejects_an_invalid_definition(mock: QueryModelsMock):
    broken = {"weight": {"type": "static"}, "models": []}
    with pytest.raises(InvalidDefinition) as caught:
        mock.add(broken)
    assert "llm-count" in {violation.rule for violation in caught.value.violations}


# --- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_fault_has_a_contract_error_body(http, mock: QueryModelsMock, slug: str, status: int):
    mock.fail_next(status)
    response = http.get(mock.url(slug))
    assert response.status_code == status
    assert response.json()["code"] == status
    assert response.headers["content-type"] == "application/json"
    assert ("retry-after" in response.headers) is (status == 429)
    assert http.get(mock.url(slug)).status_code == 200


def test_retry_after_is_configurable(http, mock: QueryModelsMock, slug: str):
    mock.fail_next(429, retry_after=7)
    mock.fail_next(503, retry_after=3)
    assert http.get(mock.url(slug)).headers["retry-after"] == "7"
    assert http.get(mock.url(slug)).headers["retry-after"] == "3"


def test_fault_for_the_next_n_calls(http, mock: QueryModelsMock, slug: str):
    mock.fail_next(500, times=2)
    statuses = [http.get(mock.url(slug)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert mock.faults.pending() == 0


def test_fault_for_one_slug_only(http, mock: QueryModelsMock, catalog: Catalog):
    first, second = catalog.names()[:2]
    mock.fail_next(503, slug=second)
    assert http.get(mock.url(first)).status_code == 200
    assert http.get(mock.url(second + "x")).status_code == 404
    assert http.get(mock.url(second)).status_code == 503


def test_fault_for_a_path_prefix(http, mock: QueryModelsMock, slug: str):
    mock.fail_next(500, path_prefix="/query_models/count")
    assert http.get(mock.url(slug)).status_code == 200
    assert http.get(mock.url("count")).status_code == 500


def test_fault_for_a_route(http, mock: QueryModelsMock, slug: str, llm: str):
    mock.fail_next(503, route="llm")
    mock.fail_next(502, route="model-validate")
    mock.fail_next(504, route="metadata")
    assert http.get(mock.url(slug)).status_code == 200
    assert http.post(mock.url_for("/query_llms"), json=LLM_DEFINITION).status_code == 200
    assert http.get(mock.url_for(f"/query_llms/{llm}")).status_code == 503
    assert http.get(mock.url()).status_code == 200
    assert http.post(mock.url(), json=DEFINITION).status_code == 502
    assert http.get(mock.url_for("/metadata")).status_code == 504
    assert mock.faults.pending() == 0


def test_fault_for_a_route_and_a_name(http, mock: QueryModelsMock, catalog: Catalog):
    first, second = catalog.llm_names()[:2]
    mock.fail_next(transport="connect_error", route="llm", slug=second)
    assert http.get(mock.url_for(f"/query_llms/{first}")).status_code == 200
    with pytest.raises(httpx.ConnectError):
        http.get(mock.url_for(f"/query_llms/{second}"))
    assert mock.last_call.route == "llm"


def test_unknown_route_is_refused(mock: QueryModelsMock):
    with pytest.raises(ValueError, match="route must be one of model, model-list"):
        mock.fail_next(500, route="models")  # type: ignore[arg-type]


def test_malformed_body(http, mock: QueryModelsMock, slug: str):
    mock.fail_next(malformed_body=True)
    response = http.get(mock.url(slug))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.parametrize(
    ("transport", "error"),
    [
        ("connect_error", httpx.ConnectError),
        ("read_timeout", httpx.ReadTimeout),
        ("drop_connection", httpx.RemoteProtocolError),
    ],
)
def test_transport_faults_raise_httpx_errors(http, mock: QueryModelsMock, slug: str, transport, error):
    mock.fail_next(transport=transport)
    with pytest.raises(error, match="injected fault") as caught:
        http.get(mock.url(slug))
    assert caught.value.request.url == mock.url(slug)
    assert mock.last_call.status is None
    assert str(mock.last_call).endswith(f"-> {transport}")
    assert http.get(mock.url(slug)).status_code == 200


@pytest.mark.anyio
async def test_transport_fault_with_an_async_client(mock: QueryModelsMock, slug: str):
    mock.fail_next(transport="read_timeout", latency_ms=5)
    mock.fail_next(transport="connect_error")
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(mock.url(slug))
        with pytest.raises(httpx.ConnectError):
            await client.get(mock.url(slug))
        assert (await client.get(mock.url(slug))).status_code == 200


def test_transport_fault_with_latency_in_a_sync_client(http, mock: QueryModelsMock, slug: str, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("qmcontract.respx_mock.time.sleep", slept.append)
    mock.fail_next(transport="drop_connection", latency_ms=30)
    with pytest.raises(httpx.RemoteProtocolError, match="injected fault"):
        http.get(mock.url(slug))
    assert slept == [0.03]
    assert http.get(mock.url(slug)).status_code == 200


def test_latency_sleeps_in_a_sync_client(http, mock: QueryModelsMock, slug: str, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("qmcontract.respx_mock.time.sleep", slept.append)
    mock.fail_next(latency_ms=250, times=2)
    mock.fail_next(503, latency_ms=100, route="metadata")
    responses = [http.get(mock.url(slug)) for _ in range(3)]
    assert [response.json() for response in responses] == [responses[2].json()] * 3
    assert http.head(mock.url_for("/metadata")).status_code == 503
    assert slept == [0.25, 0.25, 0.1]


def test_latency_really_waits_in_a_sync_client(mock: QueryModelsMock, slug: str, monkeypatch):
    slept: list[float] = []
    real_sleep = qmcontract.respx_mock.time.sleep
    monkeypatch.setattr("qmcontract.respx_mock.time.sleep", lambda s: (slept.append(s), real_sleep(s)))
    mock.fail_next(latency_ms=1)
    with httpx.Client() as client, client.stream("GET", mock.url(slug)) as response:
        assert response.status_code == 200
        assert slept == []
        response.read()
    assert slept == [0.001]
    assert response.json()["name"] == slug


@pytest.mark.anyio
async def test_latency_awaits_in_an_async_client(mock: QueryModelsMock, slug: str, monkeypatch):
    entered, both_waiting = [], anyio.Event()

    async def fake_sleep(seconds: float) -> None:
        entered.append(seconds)
        if len(entered) == 2:
            both_waiting.set()
        await both_waiting.wait()

    def blocking_sleep(seconds: float) -> None:
        raise AssertionError("an async client must not block the event loop")

    monkeypatch.setattr("qmcontract.respx_mock.anyio.sleep", fake_sleep)
    monkeypatch.setattr("qmcontract.respx_mock.time.sleep", blocking_sleep)
    mock.fail_next(500, latency_ms=40, times=2)
    statuses: list[int] = []
    async with httpx.AsyncClient() as client:

        async def fetch() -> None:
            statuses.append((await client.get(mock.url(slug))).status_code)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(fetch)
                group.start_soon(fetch)
    assert entered == [0.04, 0.04]
    assert statuses == [500, 500]


@pytest.mark.anyio
async def test_latency_really_waits_in_an_async_client(mock: QueryModelsMock, slug: str):
    mock.fail_next(latency_ms=1)
    async with httpx.AsyncClient() as client:
        response = await client.get(mock.url(slug))
    assert response.json()["name"] == slug


def test_fail_next_requires_a_sane_fault(mock: QueryModelsMock):
    with pytest.raises(ValueError, match="needs a fault"):
        mock.fail_next()
    with pytest.raises(ValueError, match="400-599"):
        mock.fail_next(200)
    with pytest.raises(ValueError, match="times"):
        mock.fail_next(500, times=0)
    with pytest.raises(ValueError, match="latency_ms must be 0 to 3,600,000"):
        mock.fail_next(latency_ms=10**400)
    with pytest.raises(ValueError, match="latency_ms"):
        mock.fail_next(latency_ms=-1)
    assert mock.faults.pending() == 0


def test_unused_faults_fail_when_the_mock_stops(http, catalog: Catalog, slug: str):
    mock = mock_query_models(catalog)
    mock.start()
    mock.fail_next(503, times=2, route="llm")
    mock.fail_next(transport="read_timeout", slug=slug)
    mock.fail_next(500)
    http.get(mock.url(UNKNOWN))
    with pytest.raises(MockAssertionError) as caught:
        mock.stop()
    assert str(caught.value) == (
        "2 scheduled fault(s) never used (pass assert_all_faults_used=False to allow it):\n"
        "  status 503 x2 (route llm)\n"
        f"  transport read_timeout x1 (name {slug})"
    )
    assert mock.faults.pending() == 0


def test_unused_faults_may_be_allowed(catalog: Catalog):
    with mock_query_models(catalog, assert_all_faults_used=False) as mock:
        mock.fail_next(503)
    assert mock.faults.pending() == 1


def test_unused_faults_stay_quiet_when_the_block_fails(catalog: Catalog):
    mock = mock_query_models(catalog)
    mock.fail_next(503)
    with pytest.raises(KeyError), mock:
        raise KeyError("the real failure")
    assert mock.faults.pending() == 1


# --- recorded calls --------------------------------------------------------------------------


def test_calls_record_the_parsed_query(http, mock: QueryModelsMock, slug: str):
    http.get(mock.url(slug) + "?metadata=true&me=&from=2025-11-01T00:00:00Z&me=true", headers={"x-a": "1"})
    (call,) = mock.calls
    assert isinstance(call, RecordedCall)
    assert call.method == "GET"
    assert (call.route, call.name, call.slug) == ("model", slug, slug)
    assert call.path == f"/query_models/{slug}"
    assert call.query == {"metadata": ["true"], "me": ["", "true"], "from": ["2025-11-01T00:00:00Z"]}
    assert call.status == 401
    assert call.fault is None
    assert call.header("X-A") == "1"
    assert str(call) == f"GET /query_models/{slug}?{call.query_string} -> 401"


def test_secrets_are_never_recorded(http, mock: QueryModelsMock, slug: str):
    secrets = {
        "authorization": TOKEN,
        "proxy-authorization": "Basic cHJveHktc2VjcmV0",
        "cookie": "session=cookie-secret",
        "x-api-key": "key-secret",
    }
    client = httpx.Client(auth=("user", "pass-word-secret"))
    client.get(mock.url(slug).replace("https://", "https://alice:url-secret@"), params={"metadata": "true"})
    http.get(mock.url(slug), params={"metadata": "true", "api_key": "query-secret"}, headers=secrets)
    first, second = mock.calls
    assert first.header("authorization") == REDACTED == "<redacted>"
    assert {name: second.header(name) for name in secrets} == dict.fromkeys(secrets, REDACTED)
    assert first.url == mock.url(slug) + "?metadata=true"
    assert second.query == {"metadata": ["true"], "api_key": [REDACTED]}
    assert second.url == mock.url(slug) + f"?metadata=true&api_key={REDACTED}"
    shown = repr(mock.calls) + "".join(map(str, mock.calls))
    for secret in (
        "sk-secret-token-123",
        "url-secret",
        "pass-word-secret",
        "dXNlcjpwYXNzLXdvcmQtc2VjcmV0",
        "cHJveHktc2VjcmV0",
        "cookie-secret",
        "key-secret",
        "query-secret",
    ):
        assert secret not in shown


def test_slug_is_none_off_the_retrieve_route(http, mock: QueryModelsMock, llm: str):
    http.get(mock.url("count"))
    http.get(mock.url())
    http.get(mock.url("a/b"))
    http.get(mock.url_for(f"/query_llms/{llm}"))
    assert [call.slug for call in mock.calls] == [None, None, "a/b", None]
    assert [call.name for call in mock.calls] == [None, None, "a/b", llm]


def test_calls_are_a_copy_and_reset_clears_them(http, mock: QueryModelsMock, slug: str):
    http.get(mock.url(slug))
    mock.calls.clear()
    assert len(mock.calls) == 1
    mock.fail_next(500)
    mock.reset()
    assert mock.calls == []
    assert mock.faults.pending() == 0


def test_reentering_clears_calls_but_keeps_faults(http, catalog: Catalog, slug: str):
    mock = mock_query_models(catalog)
    with mock:
        http.get(mock.url(slug))
    mock.fail_next(503)
    assert len(mock.calls) == 1
    with mock:
        assert mock.calls == []
        assert http.get(mock.url(slug)).status_code == 503


def test_last_call_without_calls(mock: QueryModelsMock):
    with pytest.raises(MockAssertionError, match="no request reached"):
        _ = mock.last_call


# --- assertions ------------------------------------------------------------------------------


def test_assert_called_passes(http, mock: QueryModelsMock, slug: str, llm: str):
    mock.assert_not_called()
    http.get(mock.url(slug))
    http.get(mock.url(slug))
    http.get(mock.url_for(f"/query_llms/{llm}"))
    mock.assert_called()
    mock.assert_called(slug)
    mock.assert_called(slug, times=2)
    mock.assert_called(route="llm", times=1)
    mock.assert_not_called(UNKNOWN)
    mock.assert_not_called(route="metadata")


def test_assert_called_explains_what_happened(http, mock: QueryModelsMock, slug: str):
    http.get(mock.url(slug), params={"metadata": "true"}, headers={"authorization": TOKEN})
    with pytest.raises(MockAssertionError) as caught:
        mock.assert_called(slug, times=2)
    message = str(caught.value)
    assert isinstance(caught.value, AssertionError)
    assert isinstance(caught.value, QmContractError)
    assert f"expected {mock.url(slug)} to be requested 2 time(s), got 1" in message
    assert f"GET /query_models/{slug}?metadata=true -> 200" in message
    assert "sk-secret" not in message
    with pytest.raises(MockAssertionError, match=r"at least once, got 0; recorded calls:\n  GET"):
        mock.assert_called(UNKNOWN)
    with pytest.raises(MockAssertionError, match=r"\(route metadata\) to be requested at least once"):
        mock.assert_called(route="metadata")


def test_assert_not_called_lists_none(http, catalog: Catalog):
    with mock_query_models(catalog) as mock:
        mock.assert_not_called()
        http.get(mock.url(UNKNOWN))
        with pytest.raises(MockAssertionError, match="0 time"):
            mock.assert_not_called()
    with pytest.raises(MockAssertionError, match=r"\(none\)"):
        mock_query_models(catalog).assert_called()


def test_assert_all_called(http, catalog: Catalog, slug: str):
    with (
        pytest.raises(MockAssertionError, match="no request reached"),
        mock_query_models(catalog, assert_all_called=True),
    ):
        pass
    with mock_query_models(catalog, assert_all_called=True) as mock:
        http.get(mock.url(slug))


def test_assert_all_called_stays_quiet_when_the_block_fails(catalog: Catalog):
    with pytest.raises(KeyError), mock_query_models(catalog, assert_all_called=True):
        raise KeyError("the real failure")


# --- decorator -------------------------------------------------------------------------------


def test_decorator_on_a_sync_function(http, catalog: Catalog, slug: str):
    mock = mock_query_models(catalog)

    @mock
    def fetch(target: str) -> int:
        return http.get(url(f"/query_models/{target}")).status_code

    assert fetch(slug) == 200
    assert mock.calls[0].slug == slug
    assert fetch.__name__ == "fetch"


def test_decorator_passes_the_mock_and_hides_the_parameter(http, catalog: Catalog, slug: str):
    @mock_query_models(catalog)
    def fetch(target: str, query_models_mock: QueryModelsMock) -> list[RecordedCall]:
        http.get(query_models_mock.url(target))
        return query_models_mock.calls

    assert list(inspect.signature(fetch).parameters) == ["target"]
    assert [call.slug for call in fetch(slug)] == [slug]


def test_decorator_on_an_async_function(catalog: Catalog, slug: str):
    @mock_query_models(catalog)
    async def fetch(query_models_mock: QueryModelsMock) -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(query_models_mock.url(slug))).status_code

    assert inspect.iscoroutinefunction(fetch)
    assert anyio.run(fetch) == 200


@pytest.mark.anyio
async def test_async_context_manager(catalog: Catalog, slug: str):
    async with mock_query_models(catalog) as mock, httpx.AsyncClient() as client:
        assert (await client.get(mock.url(slug))).status_code == 200
    assert len(mock.calls) == 1


# --- the SDK's request shapes (issue 13, item 6) ---------------------------------------------

#: What the official JS SDK (openai v4 underneath) sends with every request.
SDK_HEADERS = {
    "accept": "application/json",
    "content-type": "application/json",
    "authorization": "Bearer sk-sdk-test",
    "user-agent": "ObjectiveAI/JS 0.1.0",
    "x-stainless-lang": "js",
    "x-stainless-package-version": "0.1.0",
    "x-stainless-os": "Linux",
    "x-stainless-arch": "x64",
    "x-stainless-runtime": "node",
    "x-stainless-runtime-version": "v22.11.0",
    "x-stainless-retry-count": "0",
    "x-stainless-timeout": "600",
}
#: A date-time as the SDK encodes it: ``:`` and ``+`` percent-encoded.
FROM = quote("2025-10-01T00:00:00+02:00", safe="")
TO = quote("2025-11-01T12:30:00.5+00:00", safe="")
NULLS = "me=&from=&to="


def sdk_cases(catalog: Catalog, slug: str, llm: str) -> list[tuple[str, str, str, object, object]]:
    """(id, method, path?query, body, expected JSON): every SDK call, with the answer the core gives."""
    names = catalog.names()
    return [
        ("retrieve", "GET", f"/query_models/{slug}?metadata=&{NULLS}", None, catalog.get(slug)),
        ("retrieve-false", "GET", f"/query_models/{slug}?metadata=false&{NULLS}", None, catalog.get(slug)),
        (
            "retrieve-metadata",
            "GET",
            f"/query_models/{slug}?metadata=true&me=&from={FROM}&to={TO}",
            None,
            ...,
        ),
        ("retrieve-me", "GET", f"/query_models/{slug}?metadata=true&me=true&from=&to={TO}", None, ...),
        ("list", "GET", "/query_models?count=&offset=&sort=&me=&from=&to=", None, {"data": names}),
        ("list-page", "GET", f"/query_models?count=2&offset=1&sort=&{NULLS}", None, {"data": names[1:3]}),
        (
            "list-sorted",
            "GET",
            f"/query_models?count=&offset=&sort=cost&me=true&from={FROM}&to={TO}",
            None,
            ...,
        ),
        ("count", "GET", "/query_models/count", None, {"count": len(names)}),
        ("validate", "POST", f"/query_models?metadata=&{NULLS}", DEFINITION, build_query_model(DEFINITION)),
        ("llm", "GET", f"/query_llms/{llm}?metadata=&{NULLS}", None, catalog.llm(llm)),
        ("llm-metadata", "GET", f"/query_llms/{llm}?metadata=true&me=true&from={FROM}&to=", None, ...),
        (
            "llm-validate",
            "POST",
            f"/query_llms?metadata=false&{NULLS}",
            LLM_DEFINITION,
            build_query_llm(LLM_DEFINITION),
        ),
        ("metadata", "GET", "/metadata", None, ...),
    ]


def plain_twin(method: str, target: str, body: object) -> tuple[str, str, bytes]:
    """The same request without the SDK's habits: no empty values, ``:`` and ``+`` unencoded, compact JSON."""
    path, _, query = target.partition("?")
    kept = [part for part in query.split("&") if part and not part.endswith("=")]
    plain = "&".join(kept).replace("%3A", ":")
    compact = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return method, path + (f"?{plain}" if plain else ""), compact


@pytest.mark.parametrize("client_kind", ["sync", "async"])
def test_every_sdk_call_is_answered_as_the_core_says(catalog: Catalog, slug: str, llm: str, client_kind: str):
    cases = sdk_cases(catalog, slug, llm)

    async def send_async(requests: list[tuple[str, str, bytes, dict[str, str]]]) -> list[httpx.Response]:
        async with httpx.AsyncClient() as client:
            return [await client.request(m, url(t), content=b, headers=h) for m, t, b, h in requests]

    def send(requests: list[tuple[str, str, bytes, dict[str, str]]]) -> list[httpx.Response]:
        if client_kind == "async":
            return anyio.run(send_async, requests)
        with httpx.Client() as client:
            return [client.request(m, url(t), content=b, headers=h) for m, t, b, h in requests]

    sdk = [
        (method, target, b"" if body is None else json.dumps(body, indent=2).encode(), SDK_HEADERS)
        for _, method, target, body, _ in cases
    ]
    plain_headers = {"authorization": SDK_HEADERS["authorization"]}
    plain = [(*plain_twin(method, target, body), plain_headers) for _, method, target, body, _ in cases]
    with mock_query_models(catalog) as mock:
        answers, twins = send(sdk), send(plain)
    for (case_id, *_, expected), answer, twin in zip(cases, answers, twins, strict=True):
        assert answer.status_code == 200, (case_id, answer.text)
        assert answer.headers["content-type"] == "application/json", case_id
        assert answer.content == twin.content, case_id
        if expected is not ...:
            assert answer.json() == expected, case_id
    assert all(call.header("authorization") == REDACTED for call in mock.calls)
    assert [call.status for call in mock.calls] == [200] * 2 * len(cases)


def test_sdk_shaped_windows_are_read_as_percent_decoded_instants(http, mock: QueryModelsMock, slug: str):
    encoded = http.get(mock.url(slug) + f"?metadata=true&from={FROM}&to={TO}").json()
    plain = http.get(mock.url(slug), params={"metadata": "true", "from": "2025-09-30T22:00:00Z"}).json()
    spaced = http.get(mock.url(slug) + "?metadata=true&from=2025-10-01T00:00:00+02:00")
    assert encoded["requests"] <= plain["requests"]
    assert spaced.status_code == 400  # an unencoded "+" is a space


# --- the boundary table of contract.md, through the mock ------------------------------------

M = "{model}"
BOUNDARY_CASES = [
    # from/to grammar: only read with metadata=true
    ("T-and-Z", f"/query_models/{M}?metadata=true&from=2025-01-01T00:00:00Z", 200),
    ("t-and-z", f"/query_models/{M}?metadata=true&from=2025-01-01t00:00:00z", 200),
    ("offset", f"/query_models/{M}?metadata=true&from=2025-01-01T00:00:00%2B23:59", 200),
    ("long-fraction", f"/query_models/{M}?metadata=true&to=2025-01-01T00:00:00.{'1' * 400}Z", 200),
    ("space-for-T", f"/query_models/{M}?metadata=true&from=2025-01-01%2000:00:00Z", 400),
    ("no-offset", f"/query_models/{M}?metadata=true&from=2025-01-01T00:00:00", 400),
    ("date-alone", f"/query_models/{M}?metadata=true&from=2025-01-01", 400),
    ("month-13", f"/query_models/{M}?metadata=true&from=2025-13-01T00:00:00Z", 400),
    ("30-february", f"/query_models/{M}?metadata=true&from=2024-02-30T00:00:00Z", 400),
    ("hour-24", f"/query_models/{M}?metadata=true&from=2025-01-01T24:00:00Z", 400),
    ("offset-hour-24", f"/query_models/{M}?metadata=true&from=2025-01-01T00:00:00%2B24:00", 400),
    ("offset-minute-60", f"/query_models/{M}?metadata=true&from=2025-01-01T00:00:00-01:60", 400),
    ("ignored-without-metadata", f"/query_models/{M}?from=garbage&to=2025-13-99&me=maybe", 200),
    # seconds, years, clamping
    ("leap-second", f"/query_models/{M}?metadata=true&to=2016-12-31T23:59:60Z", 200),
    ("leap-second-at-year-end", f"/query_models/{M}?metadata=true&to=9999-12-31T23:59:60Z", 200),
    ("year-0001-plus-offset", f"/query_models/{M}?metadata=true&from=0001-01-01T00:00:00%2B01:00", 200),
    ("year-9999-minus-offset", f"/query_models/{M}?metadata=true&to=9999-12-31T23:59:59-01:00", 200),
    ("year-0000", f"/query_models/{M}?metadata=true&from=0000-01-01T00:00:00Z", 400),
    (
        "zero-width",
        f"/query_models/{M}?metadata=true&from=2025-01-01T00:00:00Z&to=2025-01-01T01:00:00%2B01:00",
        200,
    ),
    (
        "from-after-to",
        f"/query_models/{M}?metadata=true&from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z",
        400,
    ),
    # booleans and repeated parameters
    ("True", f"/query_models/{M}?metadata=True", 400),
    ("TRUE", f"/query_models/{M}?metadata=TRUE", 400),
    ("one", f"/query_models/{M}?metadata=1", 400),
    ("yes-me", f"/query_models/{M}?metadata=true&me=yes", 400),
    ("twice", f"/query_models/{M}?metadata=true&metadata=true", 400),
    ("twice-one-empty", f"/query_models/{M}?metadata=&metadata=true", 200),
    ("me-twice-ignored", f"/query_models/{M}?me=true&me=false", 200),
    # the list
    ("count-0", "/query_models?count=0", 200),
    ("count-1000", "/query_models?count=1000", 200),
    ("count-leading-zeros", "/query_models?count=0007", 200),
    ("count-1001", "/query_models?count=1001", 400),
    ("count-sign", "/query_models?count=%2B1", 400),
    ("count-minus", "/query_models?count=-1", 400),
    ("count-space", "/query_models?count=%201", 400),
    ("count-exponent", "/query_models?count=1e3", 400),
    ("count-superscript", "/query_models?count=%C2%B2", 400),
    ("count-arabic-digit", "/query_models?count=%D9%A3", 400),
    ("count-huge", f"/query_models?count={'9' * 5000}", 400),
    ("offset-huge", f"/query_models?offset={'9' * 5000}", 200),
    ("offset-arabic-digit", "/query_models?offset=%D9%A3", 400),
    ("sort-each", "/query_models?sort=completion_tokens", 200),
    ("sort-upper", "/query_models?sort=COST", 400),
    ("list-window-always-read", "/query_models?from=garbage", 400),
    ("list-year-0001", "/query_models?sort=created&from=0001-01-01T00:00:00%2B01:00", 200),
    ("list-me-needs-authorization", "/query_models?me=true", 401),
    # slugs
    ("slug-21", "/query_models/" + "a" * 21, 404),
    ("slug-23", "/query_models/" + "a" * 23, 404),
    ("slug-non-base62", "/query_models/" + "-" * 22, 404),
    ("slug-long", "/query_models/" + "a" * 10_000, 404),
    ("slug-nul", "/query_models/%00", 404),
    ("slug-newline", "/query_models/x%0a10.0.0.1%20POST%20/__qmcontract/reset%20200", 404),
    ("slug-extra-segment", f"/query_models/{M}/extra", 404),
    ("slug-invalid-utf8", "/query_models/%ff%fe", 404),
    ("llm-odd-name", "/query_llms/%E2%80%A8%00", 404),
    # order of precedence: 400 > 401 > 404
    ("400-before-401", f"/query_models/{UNKNOWN}?metadata=true&me=true&from=x", 400),
    ("401-before-404", f"/query_models/{UNKNOWN}?metadata=true&me=true", 401),
    ("control-characters", f"/query_models/{M}?metadata=true&from=%0d%0a%1b", 400),
]


@pytest.mark.parametrize(("case", "target", "status"), BOUNDARY_CASES, ids=[c[0] for c in BOUNDARY_CASES])
def test_boundary_table_through_the_mock(
    http, mock: QueryModelsMock, slug: str, case: str, target: str, status: int
):
    response = http.get(url(target.replace(M, slug)))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if status >= 400:
        assert set(body) == {"code", "message"}
        assert body["code"] == status
    if status == 404 and target.startswith("/query_models/"):
        assert body["message"] == {"kind": "query_model", "error": "Query Model not found"}


def test_headers_the_contract_ignores(http, mock: QueryModelsMock, slug: str):
    plain = http.get(mock.url(slug)).content
    odd = {"accept": "text/html", "content-type": "text/plain", "user-agent": "\x7f", "x-anything": "1"}
    assert http.get(mock.url(slug), headers=odd).content == plain
    authorized = http.get(
        mock.url(slug), params={"metadata": "true", "me": "true"}, headers={"authorization": "x"}
    )
    assert authorized.status_code == 200


def test_hostile_bodies_are_400s(http, mock: QueryModelsMock):
    for body in (
        b"[" * 100_000,
        b'{"weight": ' + b"9" * 5000 + b"}",
        b'"\\ud800"',
        b"\xff\xfe",
        b"weight: &a [x]\nmodels: *a",
        b"",
    ):
        for path in ("/query_models", "/query_llms"):
            response = http.post(mock.url_for(path), content=body)
            assert response.status_code == 400, (path, body[:20])
            assert response.json()["code"] == 400


_QUERY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        ["/query_models/{m}", "/query_models", "/query_llms/{l}", "/query_llms", "/metadata"]
    ),
    method=st.sampled_from(["GET", "HEAD", "POST", "PATCH"]),
    key=st.sampled_from(["metadata", "me", "from", "to", "count", "offset", "sort", "x"]),
    value=_QUERY_TEXT,
    name=_QUERY_TEXT,
    body=st.binary(max_size=64),
)
def test_no_input_raises_into_the_client(http, mock, slug, llm, path, method, key, value, name, body):
    target = path.format(m=quote(name, safe="") or slug, l=quote(name, safe="") or llm)
    response = http.request(method, url(target), params={"metadata": "true", key: value}, content=body)
    assert 200 <= response.status_code < 500
    assert response.headers["content-type"] == "application/json"
