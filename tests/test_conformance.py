"""The conformance suite: its checks one by one, its probes, and whole runs against the mock server.

Unit tests drive the checks with exchanges answered in-process by the reference engine;
the run tests start the real server on 127.0.0.1 (through the suite's own fixtures or
``running_server``) and must find nothing wrong with it: no false positive.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.cli import cli
from qmcontract.conformance import checks
from qmcontract.conformance.checks import ConformanceContext, evaluate, expected_status
from qmcontract.conformance.exchange import ApiRequest, Exchange
from qmcontract.conformance.ledger import Ledger
from qmcontract.conformance.probes import FAMILY_RULES, build_probes, malformed_slugs, unknown_names
from qmcontract.conformance.runner import ConformanceOptions, run_conformance
from qmcontract.conformance.target import ConformanceUsageError, resolve_live_target
from qmcontract.engine import Engine
from qmcontract.errors import Violation
from qmcontract.rules import ALL_RULES, EXCHANGE_RULES
from qmcontract.server import running_server
from qmcontract.wire import Request, Response, error_response, json_response

REPO = Path(__file__).resolve().parents[1]
TOKEN = "t0ken"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def known(catalog: Catalog) -> frozenset[str]:
    return frozenset(catalog.names())


@pytest.fixture(scope="module")
def slug(catalog: Catalog) -> str:
    return catalog.names()[0]


def engine_sender(engine: Engine) -> Callable[[ApiRequest], Exchange]:
    """Answers like the server, in-process: the engine sees the decoded path, as ASGI gives it."""

    def send(request: ApiRequest) -> Exchange:
        headers = () if request.authorization is None else (("authorization", request.authorization),)
        response = engine.handle(Request(request.method, request.path, request.query, headers))
        return Exchange(request, response.status, dict(response.headers).get("content-type"), response.body)

    return send


def hooked(
    catalog: Catalog, hook: Callable[[Request, Response], Response] | None = None
) -> ConformanceContext:
    return ConformanceContext(frozenset(catalog.names()), engine_sender(Engine(catalog, hook=hook)))


@pytest.fixture(scope="module")
def context(catalog: Catalog) -> ConformanceContext:
    return hooked(catalog)


def exchange(context: ConformanceContext, request: ApiRequest) -> Exchange:
    assert context.send is not None
    return context.send(request)


def rules_broken(evaluation: dict[str, list[Violation]]) -> set[str]:
    return {rule for rule, violations in evaluation.items() if violations}


# --- expectations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "authorization", "unknown", "status"),
    [
        ([], None, False, 200),
        ([], None, True, 404),
        ([("metadata", "true"), ("me", "true")], None, True, 401),
        ([("metadata", "true"), ("me", "true")], TOKEN, False, 200),
        ([("metadata", "true"), ("me", "true"), ("from", "junk")], None, True, 400),
        ([("metadata", "yes")], None, False, 400),
        ([("metadata", "false"), ("from", "junk")], None, False, 200),
        (
            [("metadata", "true"), ("from", "2025-11-01T00:00:00Z"), ("to", "2025-10-01T00:00:00Z")],
            None,
            False,
            400,
        ),
        ([("metadata", "true"), ("metadata", "true")], None, False, None),
    ],
)
def test_expected_status_follows_the_contract_precedence(params, authorization, unknown, status, slug, known):
    name = unknown_names(sorted(known), 1)[0] if unknown else slug
    request = ApiRequest.retrieve(name, params, authorization=authorization)
    assert expected_status(request, known) == status


def test_without_known_names_only_non_names_are_expected_unknown(slug):
    assert expected_status(ApiRequest.retrieve(slug), None) is None
    assert expected_status(ApiRequest.retrieve("abc"), None) == 404
    assert expected_status(ApiRequest("POST", f"/query_models/{slug}"), None) is None
    assert expected_status(ApiRequest("GET", "/query_models/count"), None) is None


# --- each check, on exchanges the reference engine answers -----------------------------------


def test_every_rule_holds_on_the_reference_engine(context, slug, known):
    requests = [
        ApiRequest.retrieve(slug),
        ApiRequest.retrieve(slug, [("metadata", "true"), ("from", "2025-10-01T00:00:00Z")]),
        ApiRequest.retrieve(slug, [("metadata", "true"), ("me", "true")], authorization=TOKEN),
        ApiRequest.retrieve(slug, [("metadata", "true"), ("me", "true")]),
        ApiRequest.retrieve(slug, [("me", "junk"), ("to", "junk")]),
        ApiRequest.retrieve("abc"),
        ApiRequest.retrieve(slug, [("metadata", "1")]),
    ]
    seen: set[str] = set()
    for request in requests:
        evaluation = evaluate(exchange(context, request), context)
        assert rules_broken(evaluation) == set(), request
        seen |= set(evaluation)
    assert seen == set(ALL_RULES)


def test_slug_echo_flags_another_name_and_an_unserved_known_slug(context, slug, catalog):
    other = catalog.names()[1]
    served = exchange(context, ApiRequest.retrieve(other))
    wrong = dataclasses.replace(served, request=ApiRequest.retrieve(slug))
    assert [v.path for v in checks.slug_echo(wrong, context) or []] == ["/name"]
    missing = Exchange(ApiRequest.retrieve(slug), 404, "application/json", b'{"code":404,"message":"x"}')
    assert checks.slug_echo(missing, context) == [Violation("slug-echo", "", "expected status 200, got 404")]


def test_status_rules_leave_5xx_and_ignored_params_to_their_own_rules(context, slug):
    crash = Exchange(ApiRequest.retrieve("abc"), 500, "application/json", b'{"code":500,"message":"x"}')
    assert checks.not_found(crash, context) is None
    assert checks.no_server_error(crash, context) == [Violation("no-server-error", "", "got 500")]
    ignored = Exchange(ApiRequest.retrieve("abc", [("from", "x")]), 400, "application/json", b"{}")
    assert checks.not_found(ignored, context) is None


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        (b'{"code": 404, "message": "gone"}', []),
        (b'{"code": 404, "message": {"kind": "query_model"}}', []),
        (b'{"message": "gone"}', ["/code"]),
        (b'{"code": "404", "message": "gone"}', ["/code"]),
        (b'{"code": 400, "message": "gone"}', ["/code"]),
        (b'{"code": 404}', ["/message"]),
        (b'{"code": 404, "message": "gone", "extra": 1}', ["/extra"]),
        (b"<html>not found</html>", [""]),
        (b"[404]", [""]),
    ],
)
def test_error_body(body, paths):
    found = checks.error_body(
        Exchange(ApiRequest.retrieve("abc"), 404, "application/json", body), ConformanceContext()
    )
    assert [v.path for v in found or []] == paths


def test_content_type_applies_to_json_bodies_only():
    request = ApiRequest.retrieve("abc")
    assert (
        checks.content_type(
            Exchange(request, 404, "application/json; charset=utf-8", b"{}"), ConformanceContext()
        )
        == []
    )
    assert checks.content_type(Exchange(request, 404, "text/plain", b"{}"), ConformanceContext())
    assert checks.content_type(Exchange(request, 404, "text/html", b"<p>"), ConformanceContext()) is None


def test_stable_ignores_counters_but_not_created(catalog, slug):
    calls = itertools.count()

    def drifting(request: Request, response: Response) -> Response:
        if "metadata=true" not in request.query:
            return response
        call = next(calls)
        document = {**response.json(), "requests": call}
        if "created" in request.query:
            document["created"] = f"2025-10-0{call % 9 + 1}T00:00:00Z"
        return json_response(200, json.dumps(document).encode())

    context = hooked(catalog, drifting)
    counters = exchange(context, ApiRequest.retrieve(slug, [("metadata", "true")]))
    assert checks.stable(counters, context) == []
    created = exchange(context, ApiRequest.retrieve(slug, [("metadata", "true"), ("created", "1")]))
    assert [v.path for v in checks.stable(created, context) or []] == ["/created"]
    assert checks.stable(counters, ConformanceContext(context.known)) is None


def test_ignored_params_compares_with_the_request_without_them(catalog, slug):
    def strict(request: Request, response: Response) -> Response:
        return error_response(400, "bad from") if "from=junk" in request.query else response

    context = hooked(catalog, strict)
    request = ApiRequest.retrieve(slug, [("from", "junk")])
    assert checks.ignored_params(exchange(context, request), context) == [
        Violation("ignored-params", "", "got 400, but 200 without the ignored me/from/to")
    ]
    assert checks.ignored_params(exchange(context, ApiRequest.retrieve(slug)), context) is None


def test_metadata_window_compares_wider_windows_and_all_users(catalog, slug):
    def inflate(request: Request, response: Response) -> Response:
        if response.status != 200 or "metadata=true" not in request.query:
            return response
        document = response.json()
        if "me=true" in request.query:
            document["requests"] += 10**9
        if "to=" in request.query:
            document["requests"] += 1
        return json_response(200, json.dumps(document).encode())

    context = hooked(catalog, inflate)
    bounded = ApiRequest.retrieve(slug, [("metadata", "true"), ("to", "2030-01-01T00:00:00Z")])
    assert [
        v.message.split(" reported for ")[1]
        for v in checks.metadata_window(exchange(context, bounded), context) or []
    ] == ["the unbounded window"]
    me = ApiRequest.retrieve(slug, [("metadata", "true"), ("me", "true")], authorization=TOKEN)
    assert [v.path for v in checks.metadata_window(exchange(context, me), context) or []] == ["/requests"]


def test_document_rules_report_the_validator_rules(context, slug):
    document = exchange(context, ApiRequest.retrieve(slug)).json()
    document["models"][0]["index"] = 7
    broken = Exchange(ApiRequest.retrieve(slug), 200, "application/json", json.dumps(document).encode())
    assert {v.rule for v in checks.document_rules(broken, context) or []} == {"order-index"}
    with_metadata = dataclasses.replace(broken, request=ApiRequest.retrieve(slug, [("metadata", "true")]))
    assert "metadata-presence" in {v.rule for v in checks.document_rules(with_metadata, context) or []}


# --- probes, requests, ledger ------------------------------------------------------------------


def test_probe_families_cover_every_rule(known):
    probes = build_probes(sorted(known), TOKEN)
    assert set(probes) == set(FAMILY_RULES)
    assert {rule for family in FAMILY_RULES.values() for rule in family} == set(ALL_RULES)
    assert all(probes.values())
    assert not set(unknown_names(sorted(known), 3)) & known
    assert not any(len(s) == 22 and s.isalnum() and s.isascii() for s in malformed_slugs(sorted(known)))


def test_curl_redacts_the_token_and_quotes_the_url(slug):
    request = ApiRequest.retrieve(slug, [("metadata", "true"), ("me", "true")], authorization="s3cret")
    curl = request.curl("http://127.0.0.1:9")
    assert "s3cret" not in curl
    assert "authorization: <redacted>" in curl
    assert f"'http://127.0.0.1:9/query_models/{slug}?metadata=true&me=true'" in curl


def test_ledger_counts_distinct_requests_per_rule():
    ledger = Ledger()
    violation = Violation("not-found", "", "expected status 404, got 200")
    for _ in range(2):
        ledger.record("not-found", "GET /a?", [violation], curl="curl a", source="probe")
    ledger.record("not-found", "GET /b?", [], curl="curl b", source="probe")
    row = next(row for row in ledger.rows() if row.rule == "not-found")
    assert (row.checked, row.failed, row.status) == (2, 1, "failed")
    assert len(ledger.failures()) == 1
    assert [row.rule for row in ledger.rows()] == list(ALL_RULES)


# --- whole runs ----------------------------------------------------------------------------------


def test_a_run_against_the_mock_server_finds_nothing_wrong(tmp_path):
    junit = tmp_path / "junit.xml"
    result = run_conformance(ConformanceOptions(max_examples=10, seed=7, junit_xml=junit, workers=2))
    assert result.ok, (result.failed_rules, result.unexercised_rules, result.errors, result.failures[:3])
    assert result.embedded
    assert all(row.checked > 0 for row in result.rows)
    assert [row.rule for row in result.rows] == list(ALL_RULES)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("9", "0", "0")
    report = result.to_json()
    assert report["ok"] is True
    assert report["requests"] == result.requests > 0


def test_cli_runs_the_suite_and_writes_a_report(tmp_path):
    report = tmp_path / "report.json"
    outcome = CliRunner().invoke(
        cli, ["conformance", "--max-examples", "5", "--seed", "3", "--report", str(report)]
    )
    assert outcome.exit_code == 0, outcome.output
    assert "no-server-error" in outcome.stdout
    assert "all 23 rules hold" in outcome.stdout
    assert "probes: documents" in outcome.stderr
    data = json.loads(report.read_text())
    assert data["ok"] is True
    assert {row["rule"] for row in data["rules"]} == set(ALL_RULES)


def test_cli_against_a_live_url_discovers_names_and_keeps_the_token_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("QM_TEST_TOKEN", "s3cret-token")
    report = tmp_path / "report.json"
    with running_server(access_log=False) as url:
        outcome = CliRunner().invoke(
            cli,
            [
                "conformance",
                url,
                "--token-env",
                "QM_TEST_TOKEN",
                "--max-examples",
                "5",
                "--report",
                str(report),
            ],
        )
    assert outcome.exit_code == 0, outcome.output
    assert "s3cret-token" not in outcome.output + report.read_text()
    assert len(json.loads(report.read_text())["slugs"]) == len(load_catalog())


def _no_list(request: Request, response: Response) -> Response:
    return error_response(404, "no list here") if request.path == "/query_models" else response


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://127.0.0.1:1"], "cannot reach http://127.0.0.1:1"),
        (["http://127.0.0.1:1", "--slug", "nope"], "is not a Query Model name"),
        (["--token-env", "QM_TEST_UNSET_VARIABLE"], "QM_TEST_UNSET_VARIABLE is not set"),
        (["--max-examples", "0"], "--max-examples"),
    ],
)
def test_cli_usage_errors_exit_2_with_one_line(args, message):
    outcome = CliRunner().invoke(cli, ["conformance", *args])
    assert outcome.exit_code == 2
    assert outcome.stderr.count("\n") == 1
    assert message in outcome.stderr


def test_a_server_without_a_list_and_no_slug_is_a_usage_error():
    with running_server(hook=_no_list, access_log=False) as url:
        with pytest.raises(
            ConformanceUsageError, match="pass the names of existing Query Models with --slug"
        ):
            resolve_live_target(url, (), None)
        outcome = CliRunner().invoke(cli, ["conformance", url])
    assert outcome.exit_code == 2
    assert "GET /query_models gave 404" in outcome.stderr.replace(url, "")


def test_contract_tests_run_with_plain_pytest(pytester: pytest.Pytester):
    """The repository's contract_tests/ is the same suite, driven by pytest options."""
    with running_server(access_log=False) as url:
        result = pytester.runpytest_subprocess(
            str(REPO / "contract_tests"),
            "-p",
            "no:cacheprovider",
            "--qm-base-url",
            url,
            "--qm-slug",
            load_catalog().names()[0],
            "--qm-max-examples",
            "5",
            "--qm-seed",
            "1",
        )
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["*qmcontract conformance: rules*", "slug-echo*exchange*ok"])


def test_contract_tests_stop_with_one_usage_error_when_names_cannot_be_found(pytester: pytest.Pytester):
    with running_server(hook=_no_list, access_log=False) as url:
        result = pytester.runpytest_subprocess(
            str(REPO / "contract_tests"),
            "-p",
            "no:cacheprovider",
            "--qm-base-url",
            url,
        )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*qmcontract conformance: GET * gave 404, so no names to test*--slug NAME*"])


@pytest.mark.skipif(
    not os.access(Path(sys.executable).parent / "qmcontract", os.X_OK), reason="no console script"
)
def test_the_console_script_runs_the_suite_in_a_fresh_process(tmp_path):
    script = Path(sys.executable).parent / "qmcontract"
    done = subprocess.run(
        [str(script), "conformance", "--max-examples", "5", "--seed", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 23 rules hold" in done.stdout
    assert not list(tmp_path.iterdir()), "the run left files in its working directory"


def test_exchange_rule_checks_are_the_contract_rules():
    assert tuple(checks.EXCHANGE_CHECKS) == tuple(EXCHANGE_RULES)
