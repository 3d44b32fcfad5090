"""The respx mock: it answers exactly as the engine does, injects faults, and records calls."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import anyio
import httpx
import pytest
import respx
from respx.models import AllMockedAssertionError

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.engine import Engine
from qmcontract.errors import InvalidDefinition, QmContractError
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
def mock(catalog: Catalog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OBJECTIVEAI_API_BASE", raising=False)
    with mock_query_models(catalog) as active:
        yield active


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- answers ---------------------------------------------------------------------------------


def test_retrieve_returns_the_catalogue_document(mock: QueryModelsMock, catalog: Catalog, slug: str):
    response = httpx.get(f"{DEFAULT_BASE_URL}/query_models/{slug}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == catalog.get(slug)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "metadata=true",
        "metadata=false&me=maybe",
        "metadata=true&from=2025-11-01T00:00:00Z&to=2025-12-01T00:00:00Z",
        "metadata=true&from=2025-12-01T00:00:00Z&to=2025-11-01T00:00:00Z",
        "metadata=yes",
        "metadata=true&me=true",
        "metadata=true&me=true&from=",
    ],
)
@pytest.mark.parametrize("authorized", [False, True])
def test_every_answer_is_the_engines(mock: QueryModelsMock, catalog: Catalog, slug, query, authorized):
    headers = {"authorization": TOKEN} if authorized else {}
    for target in (slug, UNKNOWN, "count", ""):
        path = f"/query_models/{target}".rstrip("/")
        response = httpx.get(f"{DEFAULT_BASE_URL}{path}?{query}", headers=headers)
        expected = Engine(catalog).handle(Request("GET", path, query, header_pairs(headers)))
        assert (response.status_code, response.content) == (expected.status, expected.body), path
        assert response.headers["content-type"] == "application/json"


def test_unknown_slug_is_a_404_with_an_error_body(mock: QueryModelsMock):
    response = httpx.get(mock.url(UNKNOWN))
    assert response.status_code == 404
    assert response.json()["code"] == 404


def test_me_without_authorization_is_a_401(mock: QueryModelsMock, slug: str):
    response = httpx.get(mock.url(slug), params={"metadata": "true", "me": "true"})
    assert response.json() == {"code": 401, "message": response.json()["message"]}
    assert response.status_code == 401


def test_head_has_no_body_but_the_length_of_the_get(mock: QueryModelsMock, slug: str):
    head, get = httpx.head(mock.url(slug)), httpx.get(mock.url(slug))
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


def test_other_routes_stay_unmocked(mock: QueryModelsMock):
    with pytest.raises(AllMockedAssertionError):
        httpx.get(f"{DEFAULT_BASE_URL}/functions")
    with pytest.raises(AllMockedAssertionError):
        httpx.get(f"{DEFAULT_BASE_URL}/query_modelsx")
    with pytest.raises(AllMockedAssertionError):
        httpx.post(mock.url(), json={})
    with pytest.raises(AllMockedAssertionError):
        httpx.get("https://example.org/query_models")
    assert mock.calls == []


def test_other_respx_routes_work_alongside(mock: QueryModelsMock, slug: str):
    with respx.mock(assert_all_called=True) as other:
        other.get(f"{DEFAULT_BASE_URL}/functions").respond(json={"data": []})
        assert httpx.get(f"{DEFAULT_BASE_URL}/functions").json() == {"data": []}
        assert httpx.get(mock.url(slug)).status_code == 200
    assert len(mock.calls) == 1


def test_routes_added_to_the_mocks_router(mock: QueryModelsMock, slug: str):
    functions = mock.router.get(f"{DEFAULT_BASE_URL}/functions").respond(json={"data": []})
    catch_all = mock.router.route().respond(418)
    assert httpx.get(f"{DEFAULT_BASE_URL}/functions").json() == {"data": []}
    assert httpx.get("https://example.org/").status_code == 418
    assert httpx.get(mock.url(slug), headers={"authorization": TOKEN}).status_code == 200
    assert (functions.call_count, catch_all.call_count) == (1, 1)
    assert len(mock.router.calls) == 2
    assert "sk-secret" not in repr([call.request.headers for call in mock.router.calls])
    assert [call.slug for call in mock.calls] == [slug]


@pytest.mark.anyio
async def test_async_client_is_served(mock: QueryModelsMock, catalog: Catalog, slug: str):
    async with httpx.AsyncClient() as client:
        response = await client.get(mock.url(slug))
        missing = await client.get(mock.url(UNKNOWN))
    assert response.json() == catalog.get(slug)
    assert missing.status_code == 404


# --- base URL --------------------------------------------------------------------------------


def test_default_base_url_follows_the_sdk_environment_variable(catalog, slug, monkeypatch):
    monkeypatch.setenv("OBJECTIVEAI_API_BASE", "http://127.0.0.1:8123/")
    with mock_query_models(catalog) as mock:
        assert mock.base_url == "http://127.0.0.1:8123"
        assert httpx.get(f"http://127.0.0.1:8123/query_models/{slug}").status_code == 200
        with pytest.raises(AllMockedAssertionError):
            httpx.get(f"{DEFAULT_BASE_URL}/query_models/{slug}")


def test_empty_environment_variable_means_production(catalog, monkeypatch):
    monkeypatch.setenv("OBJECTIVEAI_API_BASE", "")
    assert mock_query_models(catalog).base_url == DEFAULT_BASE_URL


def test_base_url_with_a_path_is_stripped_before_the_engine(catalog: Catalog, slug: str):
    with mock_query_models(catalog, base_url="https://proxy.test/api/v1/") as mock:
        response = httpx.get(f"https://proxy.test/api/v1/query_models/{slug}")
        with pytest.raises(AllMockedAssertionError):
            httpx.get(f"https://proxy.test/query_models/{slug}")
    assert response.status_code == 200
    assert mock.last_call.path == f"/query_models/{slug}"
    assert mock.url(slug) == f"https://proxy.test/api/v1/query_models/{slug}"


@pytest.mark.parametrize("base_url", ["api.objective-ai.io", "ftp://host/", "/relative"])
def test_base_url_must_be_absolute_http(catalog: Catalog, base_url: str):
    with pytest.raises(ValueError, match="base_url"):
        mock_query_models(catalog, base_url=base_url)


def test_catalogue_may_be_a_directory(tmp_path: Path):
    (tmp_path / "one.json").write_text(json.dumps(DEFINITION), encoding="utf-8")
    with mock_query_models(tmp_path) as mock:
        (name,) = mock.catalog.names()
        assert httpx.get(mock.url(name)).json()["name"] == name


def test_default_catalogue_is_the_shipped_one(shipped: Catalog):
    assert mock_query_models().catalog.names() == shipped.names()


# --- definitions -----------------------------------------------------------------------------


def test_add_serves_a_new_definition(mock: QueryModelsMock, catalog: Catalog):
    document = mock.add(DEFINITION)
    assert document["name"] in catalog
    assert httpx.get(mock.url(document["name"])).json() == document


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
def test_status_fault_has_a_contract_error_body(mock: QueryModelsMock, slug: str, status: int):
    mock.fail_next(status)
    response = httpx.get(mock.url(slug))
    assert response.status_code == status
    assert response.json()["code"] == status
    assert response.headers["content-type"] == "application/json"
    assert ("retry-after" in response.headers) is (status == 429)
    assert httpx.get(mock.url(slug)).status_code == 200


def test_retry_after_is_configurable(mock: QueryModelsMock, slug: str):
    mock.fail_next(429, retry_after=7)
    mock.fail_next(503, retry_after=3)
    assert httpx.get(mock.url(slug)).headers["retry-after"] == "7"
    assert httpx.get(mock.url(slug)).headers["retry-after"] == "3"


def test_fault_for_the_next_n_calls(mock: QueryModelsMock, slug: str):
    mock.fail_next(500, times=2)
    statuses = [httpx.get(mock.url(slug)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert mock.faults.pending() == 0


def test_fault_for_one_slug_only(mock: QueryModelsMock, catalog: Catalog):
    first, second = catalog.names()[:2]
    mock.fail_next(503, slug=second)
    assert httpx.get(mock.url(first)).status_code == 200
    assert httpx.get(mock.url(second)).status_code == 503


def test_fault_for_a_path_prefix(mock: QueryModelsMock, slug: str):
    mock.fail_next(500, path_prefix="/query_models/count")
    assert httpx.get(mock.url(slug)).status_code == 200
    assert httpx.get(mock.url("count")).status_code == 500


def test_malformed_body(mock: QueryModelsMock, slug: str):
    mock.fail_next(malformed_body=True)
    response = httpx.get(mock.url(slug))
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
def test_transport_faults_raise_httpx_errors(mock: QueryModelsMock, slug: str, transport, error):
    mock.fail_next(transport=transport)
    with pytest.raises(error, match="injected fault") as caught:
        httpx.get(mock.url(slug))
    assert caught.value.request.url == mock.url(slug)
    assert mock.last_call.status is None
    assert str(mock.last_call).endswith(f"-> {transport}")
    assert httpx.get(mock.url(slug)).status_code == 200


@pytest.mark.anyio
async def test_transport_fault_with_an_async_client(mock: QueryModelsMock, slug: str):
    mock.fail_next(transport="read_timeout", latency_ms=5)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(mock.url(slug))
        assert (await client.get(mock.url(slug))).status_code == 200


def test_latency_sleeps_in_a_sync_client(mock: QueryModelsMock, slug: str, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("qmcontract.respx_mock.time.sleep", slept.append)
    mock.fail_next(latency_ms=250, times=2)
    assert [httpx.get(mock.url(slug)).status_code for _ in range(3)] == [200, 200, 200]
    assert slept == [0.25, 0.25]


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


def test_fail_next_requires_a_fault(mock: QueryModelsMock):
    with pytest.raises(ValueError, match="needs a fault"):
        mock.fail_next()
    with pytest.raises(ValueError, match="400-599"):
        mock.fail_next(200)
    with pytest.raises(ValueError, match="times"):
        mock.fail_next(500, times=0)
    assert mock.faults.pending() == 0


# --- recorded calls --------------------------------------------------------------------------


def test_calls_record_the_parsed_query(mock: QueryModelsMock, slug: str):
    httpx.get(mock.url(slug) + "?metadata=true&me=&from=2025-11-01T00:00:00Z&me=true", headers={"x-a": "1"})
    (call,) = mock.calls
    assert isinstance(call, RecordedCall)
    assert call.method == "GET"
    assert call.slug == slug
    assert call.path == f"/query_models/{slug}"
    assert call.query == {"metadata": ["true"], "me": ["", "true"], "from": ["2025-11-01T00:00:00Z"]}
    assert call.status == 401
    assert call.fault is None
    assert call.header("X-A") == "1"
    assert str(call) == f"GET /query_models/{slug}?{call.query_string} -> 401"


def test_authorization_is_never_stored(mock: QueryModelsMock, slug: str):
    client = httpx.Client(auth=("user", "pass-word-secret"))
    client.get(mock.url(slug).replace("https://", "https://alice:url-secret@"), params={"metadata": "true"})
    httpx.get(mock.url(slug), params={"metadata": "true", "me": "true"}, headers={"Authorization": TOKEN})
    first, second = mock.calls
    assert first.header("authorization") == second.header("authorization") == REDACTED
    assert first.url == mock.url(slug) + "?metadata=true"
    for secret in ("sk-secret-token-123", "url-secret", "pass-word-secret", "dXNlcjpwYXNzLXdvcmQtc2VjcmV0"):
        assert secret not in repr(mock.calls)


def test_slug_is_none_off_the_retrieve_route(mock: QueryModelsMock):
    httpx.get(mock.url("count"))
    httpx.get(mock.url())
    httpx.get(mock.url("a/b"))
    assert [call.slug for call in mock.calls] == [None, None, None]


def test_calls_are_a_copy_and_reset_clears_them(mock: QueryModelsMock, slug: str):
    httpx.get(mock.url(slug))
    mock.calls.clear()
    assert len(mock.calls) == 1
    mock.fail_next(500)
    mock.reset()
    assert mock.calls == []
    assert mock.faults.pending() == 0


def test_reentering_clears_calls_but_keeps_faults(catalog: Catalog, slug: str):
    mock = mock_query_models(catalog)
    with mock:
        httpx.get(mock.url(slug))
    mock.fail_next(503)
    assert len(mock.calls) == 1
    with mock:
        assert mock.calls == []
        assert httpx.get(mock.url(slug)).status_code == 503


def test_last_call_without_calls(mock: QueryModelsMock):
    with pytest.raises(MockAssertionError, match="no request reached"):
        _ = mock.last_call


# --- assertions ------------------------------------------------------------------------------


def test_assert_called_passes(mock: QueryModelsMock, slug: str):
    mock.assert_not_called()
    httpx.get(mock.url(slug))
    httpx.get(mock.url(slug))
    mock.assert_called()
    mock.assert_called(slug)
    mock.assert_called(slug, times=2)
    mock.assert_not_called(UNKNOWN)


def test_assert_called_explains_what_happened(mock: QueryModelsMock, slug: str):
    httpx.get(mock.url(slug), params={"metadata": "true"}, headers={"authorization": TOKEN})
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


def test_assert_not_called_lists_none(catalog: Catalog):
    with mock_query_models(catalog) as mock:
        mock.assert_not_called()
        httpx.get(mock.url(UNKNOWN))
        with pytest.raises(MockAssertionError, match="0 time"):
            mock.assert_not_called()
    with pytest.raises(MockAssertionError, match=r"\(none\)"):
        mock_query_models(catalog).assert_called()


def test_assert_all_called(catalog: Catalog, slug: str):
    with (
        pytest.raises(MockAssertionError, match="no request reached"),
        mock_query_models(catalog, assert_all_called=True),
    ):
        pass
    with mock_query_models(catalog, assert_all_called=True) as mock:
        httpx.get(mock.url(slug))


def test_assert_all_called_stays_quiet_when_the_block_fails(catalog: Catalog):
    with pytest.raises(KeyError), mock_query_models(catalog, assert_all_called=True):
        raise KeyError("the real failure")


# --- decorator -------------------------------------------------------------------------------


def test_decorator_on_a_sync_function(catalog: Catalog, slug: str):
    mock = mock_query_models(catalog)

    @mock
    def fetch(target: str) -> int:
        return httpx.get(f"{DEFAULT_BASE_URL}/query_models/{target}").status_code

    assert fetch(slug) == 200
    assert mock.calls[0].slug == slug
    assert fetch.__name__ == "fetch"


def test_decorator_passes_the_mock_and_hides_the_parameter(catalog: Catalog, slug: str):
    @mock_query_models(catalog)
    def fetch(target: str, query_models_mock: QueryModelsMock) -> list[RecordedCall]:
        httpx.get(query_models_mock.url(target))
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
