"""The pytest plugin, run in-process with pytester, and once in a subprocess through its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from fnmatch import fnmatch

import pytest

# pytester's in-process runs forget the modules first imported inside them, and PyYAML's C extension
# cannot be imported a second time in one process: import the core here, once, for every inner run.
import qmcontract.respx_mock  # noqa: F401

DEFINITION = {
    "weight": {"type": "static"},
    "models": [{"id": "openai/gpt-4o-mini", "mode": "generate", "weight": {"type": "static", "weight": 2}}],
}
OTHER = {
    "weight": {"type": "static"},
    "models": [
        {"id": "anthropic/claude-sonnet-4", "mode": "generate", "weight": {"type": "static", "weight": 1}}
    ],
}
#: A loopback port nothing listens on: a request that is not mocked fails there, and never leaves the host.
UNMOCKED_BASE = "http://127.0.0.1:9"


@pytest.fixture
def definition_text() -> str:
    return json.dumps(DEFINITION)


def test_fixtures_serve_every_route(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import httpx

        def test_retrieve(query_models_mock, query_model):
            response = httpx.get(query_models_mock.url(query_model["name"]))
            assert response.json() == query_model
            query_models_mock.assert_called(query_model["name"], times=1)

        def test_every_route(query_models_mock, query_model):
            llm = query_model["models"][0]["name"]
            with httpx.Client(base_url=query_models_mock.base_url) as client:
                assert client.get("/query_models").json()["data"]
                assert client.get("/query_models/count").json()["count"] >= 10
                assert client.get(f"/query_llms/{llm}").json()["name"] == llm
                assert client.post("/query_models", json=query_model).json() == query_model
                assert client.post("/query_llms", json=query_model["models"][0]).json()["name"] == llm
                assert client.get("/metadata").status_code == 200
            assert [call.route for call in query_models_mock.calls] == [
                "model-list", "model-count", "llm", "model-validate", "llm-validate", "metadata"
            ]

        def test_query_model_is_the_first_by_name(query_model, query_model_catalog):
            assert query_model["name"] == query_model_catalog.names()[0]
            assert len(query_model_catalog) >= 10

        def test_base_url_is_production(query_models_mock):
            assert query_models_mock.base_url == "https://api.objective-ai.io"
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_query_model_alone_activates_the_mock(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import httpx
        import pytest
        from respx.models import AllMockedAssertionError

        def test_only_query_model(query_model):
            url = "https://api.objective-ai.io/query_models/" + query_model["name"]
            assert httpx.get(url).json() == query_model
            with pytest.raises(AllMockedAssertionError):
                httpx.get("https://example.org/")
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_query_model_catalog_alone_mocks_nothing(pytester: pytest.Pytester):
    pytester.makepyfile(
        f"""
        import httpx
        import pytest

        def test_plain_data(query_model_catalog):
            assert len(query_model_catalog) >= 10
            with pytest.raises(httpx.ConnectError):
                httpx.get("{UNMOCKED_BASE}/query_models/" + query_model_catalog.names()[0])
        """
    )
    pytester.runpytest("--qm-base-url", UNMOCKED_BASE).assert_outcomes(passed=1)


def test_catalogue_is_fresh_per_test_and_documents_are_copies(pytester: pytest.Pytester):
    pytester.makepyfile(
        f"""
        import httpx

        DEFINITION = {DEFINITION!r}

        def test_add(query_models_mock, query_model):
            name = query_models_mock.add(DEFINITION)["name"]
            assert httpx.get(query_models_mock.url(name)).status_code == 200
            query_model["models"].clear()

        def test_not_seen(query_models_mock, query_model_catalog, query_model):
            from qmcontract import build_query_model
            assert build_query_model(DEFINITION)["name"] not in query_model_catalog
            assert query_model["models"]
            assert httpx.get(query_models_mock.url(query_model["name"])).json()["models"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_marker_adds_definitions_and_files(pytester: pytest.Pytester, definition_text: str):
    pytester.mkdir("models")
    pytester.path.joinpath("models", "other.yaml").write_text(json.dumps(OTHER), encoding="utf-8")
    pytester.path.joinpath("models", "mine.json").write_text(definition_text, encoding="utf-8")
    pytester.makepyfile(
        f"""
        import httpx
        import pytest
        from qmcontract import build_query_model

        pytestmark = pytest.mark.query_models("models/other.yaml")

        @pytest.mark.query_models({DEFINITION!r})
        def test_marker(query_models_mock, query_model, query_model_catalog):
            assert query_model == build_query_model({DEFINITION!r})
            assert build_query_model({OTHER!r})["name"] in query_model_catalog
            assert httpx.get(query_models_mock.url(query_model["name"])).json() == query_model

        @pytest.mark.query_models("models/mine.json")
        def test_marker_file(query_model):
            assert query_model == build_query_model({DEFINITION!r})

        def test_module_marker(query_model):
            assert query_model == build_query_model({OTHER!r})
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=3)


def test_marker_failure_messages(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.query_models({"weight": {"type": "static"}, "models": []})
        def test_invalid(query_models_mock):
            pass

        @pytest.mark.query_models({"weight": {"type": "static"}, "models": []})
        def test_invalid_catalog_only(query_model_catalog):
            pass

        @pytest.mark.query_models("missing.yaml")
        def test_missing_file(query_model):
            pass

        @pytest.mark.query_models(assert_all_fault_used=False)
        def test_misspelt_option(query_models_mock):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(
        [
            "*@pytest.mark.query_models: definition 1: invalid Query Model definition (1 violation(s)):",
            "*/models: llm-count:*",
            "*@pytest.mark.query_models: definition 1: *missing.yaml: no such file",
            "*@pytest.mark.query_models: unknown option assert_all_fault_used; "
            "allowed: assert_all_faults_used",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*During handling*")


def test_marker_without_a_fixture_is_an_error(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.query_models()

        def test_forgot_the_fixture():
            pass

        @pytest.mark.usefixtures("query_models_mock")
        def test_uses_it():
            pass

        def test_through_a_fixture_of_its_own(client):
            pass

        @pytest.fixture
        def client(query_model):
            return query_model
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_forgot_the_fixture*",
            "*@pytest.mark.query_models on a test that uses none of the qmcontract fixtures "
            "(query_models_mock, query_model, query_model_catalog): it would do nothing",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_marker_is_registered(pytester: pytest.Pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.query_models(*definitions, assert_all_faults_used=True): add Query Model definitions*"]
    )


def test_options_are_documented(pytester: pytest.Pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["*Query Model API mock (qmcontract)*", "*--qm-catalog=DIR*", "*--qm-base-url=URL*"]
    )


def test_catalog_option_replaces_the_shipped_catalogue(pytester: pytest.Pytester, definition_text: str):
    pytester.mkdir("catalog")
    pytester.path.joinpath("catalog", "only.json").write_text(definition_text, encoding="utf-8")
    pytester.makepyfile(
        f"""
        from qmcontract import build_query_model

        def test_only(query_model_catalog, query_model):
            assert query_model_catalog.names() == [build_query_model({DEFINITION!r})["name"]]
            assert query_model["name"] == query_model_catalog.names()[0]
        """
    )
    pytester.runpytest("--qm-catalog", "catalog").assert_outcomes(passed=1)


def _assert_stopped_at_start_up(result: pytest.RunResult, line: str) -> None:
    """The session ended before collecting anything, with this one line on stderr."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [text for text in result.stderr.lines if text.strip()] == [line]
    assert "collected" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_catalog_option_must_be_a_directory(pytester: pytest.Pytester):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--qm-catalog", "nowhere")
    _assert_stopped_at_start_up(
        result, "ERROR: --qm-catalog: nowhere: not a directory of Query Model definitions"
    )


def test_broken_catalogue_stops_the_session_once(pytester: pytest.Pytester):
    pytester.mkdir("catalog")
    for name in ("broken.yaml", "also-broken.yaml"):
        pytester.path.joinpath("catalog", name).write_text(
            "weight: {type: static}\nmodels: []\n", encoding="utf-8"
        )
    pytester.makepyfile(
        """
        def test_a(query_models_mock):
            pass

        def test_b(query_model):
            pass

        def test_unaffected():
            pass
        """
    )
    result = pytester.runpytest("--qm-catalog", "catalog")
    (line,) = [text for text in result.stderr.lines if text.strip()]
    _assert_stopped_at_start_up(result, line)
    assert fnmatch(
        line,
        "ERROR: --qm-catalog: catalog/also-broken.yaml: /models: llm-count: *; "
        "catalog/broken.yaml: /models: llm-count: *",
    )


@pytest.mark.parametrize("base_url", ["api.objective-ai.io", "ftp://host/", "http://[::1/"])
def test_base_url_option_must_be_absolute_http(pytester: pytest.Pytester, base_url: str):
    pytester.makepyfile("def test_nothing(query_models_mock): pass")
    result = pytester.runpytest("--qm-base-url", base_url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = [text for text in result.stderr.lines if text.strip()]
    assert line.startswith(
        f"ERROR: --qm-base-url: base_url must be an absolute http(s) URL, got {base_url!r}"
    )


def test_empty_catalogue_fails_query_model(pytester: pytest.Pytester):
    pytester.makeconftest(
        """
        import pytest
        from qmcontract.catalog import Catalog

        @pytest.fixture
        def query_model_catalog():
            return Catalog()
        """
    )
    pytester.makepyfile("def test_empty(query_model): pass")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*query_model: the Query Model catalogue is empty*"])


def test_base_url_option(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import httpx

        def test_local(query_models_mock, query_model):
            assert query_models_mock.base_url == "http://127.0.0.1:8999/v1"
            response = httpx.get("http://127.0.0.1:8999/v1/query_models/" + query_model["name"])
            assert response.status_code == 200
        """
    )
    pytester.runpytest("--qm-base-url", "http://127.0.0.1:8999/v1/").assert_outcomes(passed=1)


def test_base_url_follows_the_sdk_environment_variable(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("OBJECTIVEAI_API_BASE", "http://127.0.0.1:8998")
    pytester.makepyfile(
        """
        def test_env(query_models_mock):
            assert query_models_mock.url() == "http://127.0.0.1:8998/query_models"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_bad_environment_variable_is_one_line(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("OBJECTIVEAI_API_BASE", "api.objective-ai.io")
    pytester.makepyfile("def test_env(query_models_mock): pass")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*query_models_mock: base_url must be an absolute http(s) URL*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_faults_and_calls_through_the_fixture(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import httpx
        import pytest

        def test_faults(query_models_mock, query_model):
            url = query_models_mock.url(query_model["name"])
            query_models_mock.fail_next(429, retry_after=2)
            query_models_mock.fail_next(transport="connect_error")
            query_models_mock.fail_next(503, route="metadata")
            limited = httpx.get(url)
            assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
            with pytest.raises(httpx.ConnectError):
                httpx.get(url)
            assert httpx.get(url, params={"metadata": "true"}).status_code == 200
            assert httpx.get(query_models_mock.url_for("/metadata")).status_code == 503
            assert [call.status for call in query_models_mock.calls] == [429, None, 200, 503]
            assert query_models_mock.calls[2].query == {"metadata": ["true"]}

        def test_failing_assertion(query_models_mock, query_model):
            httpx.get(query_models_mock.url(query_model["name"]), headers={"x-api-key": "sk-shown?"})
            assert query_models_mock.last_call.header("x-api-key") == "<redacted>"
            query_models_mock.assert_not_called()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*MockAssertionError: expected https://api.objective-ai.io/query_models "
            "to be requested 0 time(s), got 1; recorded calls:",
            "*GET /query_models/* -> 200",
        ]
    )


def test_unused_faults_fail_the_test(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import httpx
        import pytest

        def test_unused(query_models_mock):
            query_models_mock.fail_next(503, route="llm", times=2)
            query_models_mock.fail_next(500)
            httpx.get(query_models_mock.url("count"))

        @pytest.mark.query_models(assert_all_faults_used=False)
        def test_allowed(query_models_mock):
            query_models_mock.fail_next(503)

        def test_failing_for_its_own_reason(query_models_mock):
            query_models_mock.fail_next(503)
            assert 1 == 2

        @pytest.mark.query_models(assert_all_faults_used=False)
        class TestAllowed:
            def test_allowed_by_the_class(self, query_model, query_models_mock):
                query_models_mock.fail_next(503)

            @pytest.mark.query_models(assert_all_faults_used=True)
            def test_closest_marker_wins(self, query_model, query_models_mock):
                query_models_mock.fail_next(latency_ms=5)
        """
    )
    result = pytester.runpytest("-rN")  # no short summary: its width depends on the terminal
    result.assert_outcomes(passed=2, failed=3)
    never_used = (
        "query_models_mock: 1 scheduled fault(s) never used (pass assert_all_faults_used=False to allow it):"
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_unused _*",
            never_used,
            "  status 503 x2 (route llm)",
            "*_ test_failing_for_its_own_reason _*",
            "*assert 1 == 2",
            "*_ TestAllowed.test_closest_marker_wins _*",
            never_used,
            "  latency 5 ms x1",
        ]
    )
    assert result.stdout.str().count("never used") == 2
    result.stdout.no_fnmatch_line("*ERROR at teardown*")


def test_async_test_with_the_fixture(pytester: pytest.Pytester):
    pytester.makepyfile(
        """
        import httpx
        import pytest

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_async(query_models_mock, query_model):
            query_models_mock.fail_next(503, latency_ms=1)
            async with httpx.AsyncClient() as client:
                assert (await client.get(query_models_mock.url(query_model["name"]))).status_code == 503
                assert (await client.get(query_models_mock.url(query_model["name"]))).status_code == 200
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_plugin_import_is_light():
    """The pytest11 module and ``import qmcontract`` load pytest and the standard library only."""
    code = (
        "import sys, pytest; before = set(sys.modules); import qmcontract, qmcontract.plugin; "
        "print(sorted({m.split('.')[0] if not m.startswith('qmcontract') else m "
        "for m in set(sys.modules) - before} - set(sys.stdlib_module_names)))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "['qmcontract', 'qmcontract.plugin']"


def test_entry_point_loads_the_plugin_in_a_subprocess(pytester: pytest.Pytester, definition_text: str):
    pytester.path.joinpath("mine.json").write_text(definition_text, encoding="utf-8")
    pytester.makepyfile(
        """
        import httpx
        import pytest

        @pytest.mark.query_models("mine.json")
        def test_from_entry_point(query_models_mock, query_model, request):
            assert request.config.pluginmanager.has_plugin("qmcontract")
            assert httpx.get(query_models_mock.url(query_model["name"])).json() == query_model

        def test_unused_fault(query_model, query_models_mock):
            query_models_mock.fail_next(500)

        @pytest.mark.query_models()
        def test_marker_alone():
            pass
        """
    )
    # No -p for qmcontract: its entry point loads it. The dev install's schemathesis and hypothesis
    # plugins would triple this session's start-up, and are not what is tested here.
    unrelated = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")
    result = pytester.runpytest_subprocess("--strict-markers", "-p", "no:cacheprovider", *unrelated)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*query_models_mock: 1 scheduled fault(s) never used*"])
