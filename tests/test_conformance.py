"""The conformance suite: its oracle, its checks one by one, and whole runs.

The oracle is tested row by row against the boundary table of ``shared/contract.md``; the checks
on hand-made exchanges; whole runs against the engine in-process (fast), against the real server
over loopback, and once through the console script. A correct server must pass with exit 0 and
every applicable sub-check exercised: no false alarm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from click.testing import CliRunner
from schemathesis.core.transport import Response as SchemathesisResponse

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.cli import cli
from qmcontract.conformance import exchange as build
from qmcontract.conformance import schemathesis_hooks as hooks
from qmcontract.conformance.checks import Context, content_type, error_body, first_difference, metadata_window
from qmcontract.conformance.exchange import Exchange, curl
from qmcontract.conformance.expect import Knowledge, expect, instant, write_instant
from qmcontract.conformance.family import list_names, list_sort
from qmcontract.conformance.mutations import mutation
from qmcontract.conformance.runner import ConformanceOptions, run_conformance
from qmcontract.conformance.subchecks import SUBCHECKS, Facts
from qmcontract.conformance.target import ConformanceUsageError
from qmcontract.engine import Engine
from qmcontract.report.html import render_html
from qmcontract.report.junit import junit_tree
from qmcontract.resources import shipped_path, spec_path
from qmcontract.rules import ALL_RULES
from qmcontract.server import running_server
from qmcontract.wire import Request, Response

FAST = ConformanceOptions(max_examples=0, workers=1, seed=7)
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def name(catalog: Catalog) -> str:
    return catalog.names()[0]


def knowing(catalog: Catalog, refused: str | None = None) -> Knowledge:
    served = set(catalog.names())
    llms = set(catalog.llm_names())
    return Knowledge(lambda n: n in served, lambda n: n in llms, refused)


def context_of(engine: Engine, *, token_accepted: bool = True) -> Context:
    catalog = engine.catalog

    def send(request: Request) -> Exchange:
        response = engine.handle(request)
        return Exchange(request, response.status, response.headers, response.body)

    return Context(
        knowing(catalog), Facts(True, token_accepted), token=TOKEN, send=send, served=tuple(catalog.names())
    )


def answered(request: Request, response: Response) -> Exchange:
    return Exchange(request, response.status, response.headers, response.body)


# --- the oracle, row by row of the boundary table -----------------------------------------------------

BOUNDARY_ROWS = [
    # (query on GET /query_models/{served}, expected status, sub-check)
    ("", 200, "model"),
    ("metadata=true", 200, "model"),
    ("metadata=", 200, "model"),
    ("metadata=True", 400, "metadata"),
    ("metadata=1", 400, "metadata"),
    ("metadata=yes", 400, "metadata"),
    ("metadata=true&metadata=true", 400, "repeated"),
    ("metadata=true&metadata=", 200, "model"),
    ("metadata=false&me=maybe&from=garbage", 200, "model"),
    ("metadata=true&me=TRUE", 400, "me"),
    ("metadata=true&me=true", 401, "model"),
    ("metadata=true&from=2025-12-31T23:59:60Z", 200, "model"),
    ("metadata=true&from=0000-01-01T00:00:00Z", 400, "from"),
    ("metadata=true&from=0001-01-01T00:00:00%2B01:00", 200, "model"),
    ("metadata=true&to=9999-12-31T23:59:59-01:00", 200, "model"),
    ("metadata=true&from=2025-10-01t00:00:00.123456789z", 200, "model"),
    ("metadata=true&from=2025-10-01T00:00:00%2B23:59", 200, "model"),
    ("metadata=true&from=2025-10-01T00:00:00%2B24:00", 400, "from"),
    ("metadata=true&to=2025-10-01 00:00:00Z", 400, "to"),
    ("metadata=true&to=2025-10-01T00:00:00", 400, "to"),
    ("metadata=true&to=2025-10-01", 400, "to"),
    ("metadata=true&to=2025-13-01T00:00:00Z", 400, "to"),
    ("metadata=true&to=2025-02-30T00:00:00Z", 400, "to"),
    ("metadata=true&to=2025-10-01T24:00:00Z", 400, "to"),
    ("metadata=true&from=2025-10-05T00:00:00Z&to=2025-10-05T00:00:00Z", 200, "model"),
    ("metadata=true&from=2025-10-05T00:00:00Z&to=2025-10-05T02:00:00%2B02:00", 200, "model"),
    ("metadata=true&from=2025-11-01T00:00:00Z&to=2025-10-01T00:00:00Z", 400, "window"),
    ("metadata=true&from=2025-10-01T00:00:00.0000001Z&to=2025-10-01T00:00:00Z", 400, "window"),
]
LIST_ROWS = [
    ("count=0", 200, "list"),
    ("count=1000", 200, "list"),
    ("count=0001000", 200, "list"),
    ("count=1001", 400, "count"),
    ("count=1234567890", 400, "count"),
    ("count=%2B1", 400, "count"),
    ("count=-1", 400, "count"),
    ("count=%201", 400, "count"),
    ("count=1e3", 400, "count"),
    ("count=%C2%B2", 400, "count"),
    ("count=%D9%A3", 400, "count"),
    ("offset=99999999999999999999999", 200, "list"),
    ("offset=%D9%A3", 400, "offset"),
    ("sort=cost", 200, "list"),
    ("sort=COST", 400, "sort"),
    ("sort=name", 400, "sort"),
    ("me=true", 401, "list"),
    ("from=garbage", 400, "from"),
    ("count=1&count=2", 400, "repeated"),
]


@pytest.mark.parametrize(("query", "status", "subcheck"), BOUNDARY_ROWS)
def test_the_oracle_reads_the_boundary_table(
    catalog: Catalog, name: str, query: str, status: int, subcheck: str
):
    expected = expect(Request("GET", f"/query_models/{name}", query), knowing(catalog))
    assert expected is not None
    assert (expected.status, expected.subcheck) == (status, subcheck), expected.reason


@pytest.mark.parametrize(("query", "status", "subcheck"), LIST_ROWS)
def test_the_oracle_reads_the_list_rows(catalog: Catalog, query: str, status: int, subcheck: str):
    expected = expect(Request("GET", "/query_models", query), knowing(catalog))
    assert expected is not None
    assert (expected.status, expected.subcheck) == (status, subcheck), expected.reason


def test_the_oracle_on_names_and_routes(catalog: Catalog, name: str):
    knowledge = knowing(catalog)
    cases = {
        Request("GET", f"/query_models/{name[:21]}"): (404, "malformed-model"),
        Request("GET", "/query_models/" + "0" * 22): (404, "unknown-model"),
        Request("GET", "/query_llms/abc"): (404, "malformed-llm"),
        Request("GET", f"/query_llms/{catalog.llm_names()[0]}"): (200, "llm"),
        Request("GET", "/query_models/count"): (200, "read"),
        Request("GET", "/metadata", "anything=1"): (200, "read"),
        Request("GET", f"/query_models/{name}", "metadata=true&me=true", (("authorization", "x"),)): (
            200,
            "model",
        ),
    }
    for request, wanted in cases.items():
        expected = expect(request, knowledge)
        assert expected is not None, request
        assert (expected.status, expected.subcheck) == wanted, request
    assert expect(Request("DELETE", f"/query_models/{name}"), knowledge) is None
    assert expect(Request("GET", "/elsewhere"), knowledge) is None


def test_the_oracle_judges_post_bodies_with_the_core(catalog: Catalog, name: str):
    knowledge = knowing(catalog)
    document = catalog.get(name)
    assert document is not None
    served = build.post("/query_models", document, [("metadata", "true")])
    fresh = build.post(
        "/query_models",
        {
            "weight": {"type": "static"},
            "models": [{"id": "x/y", "mode": "generate", "weight": {"type": "static", "weight": 2}}],
        },
        [("metadata", "true")],
    )
    assert expect(served, knowledge).status == 200  # type: ignore[union-attr]
    assert expect(fresh, knowledge).status == 404  # type: ignore[union-attr]
    assert expect(build.post("/query_models", b"{"), knowledge).subcheck == "body"  # type: ignore[union-attr]


def test_an_instant_can_be_written_another_way():
    moment = instant("2025-12-31T23:59:60Z")
    assert moment == instant("2026-01-01T00:00:00Z")
    assert write_instant(moment, offset_minutes=60) == "2026-01-01T01:00:00+01:00"  # type: ignore[arg-type]
    assert instant("0001-01-01T00:00:00+01:00") == instant("0001-01-01T00:00:00Z")  # clamped
    assert instant("2025-02-29T00:00:00Z") is None
    assert write_instant(instant("9999-12-31T23:59:59-01:00")) is None  # type: ignore[arg-type]


# --- checks on hand-made exchanges -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content", "broken"),
    [
        (b'{"code":404,"message":"no"}', "application/json", set()),
        (b'{"code":404,"message":{"kind":"query_model","error":"x"}}', "application/json", set()),
        (b'{"code":"404","message":"no"}', "application/json", {"code"}),
        (b'{"message":"no"}', "application/json", {"code"}),
        (b'{"code":404,"message":"no","extra":1}', "application/json", {"shape"}),
        (b"Not Found", "text/plain", {"shape"}),
        (b"[]", "application/json", {"shape"}),
    ],
)
def test_error_body(body: bytes, content: str, broken: set[str]):
    exchange = Exchange(Request("GET", "/query_models/x"), 404, (("content-type", content),), body)
    outcomes = list(error_body(exchange, Context(knowing(Catalog()), Facts(True, True))))
    assert {o.subcheck for o in outcomes if o.violations} == broken
    assert all(o.rule == "error-body" for o in outcomes)


def test_content_type_judges_json_bodies_only():
    context = Context(knowing(Catalog()), Facts(True, True))
    request = Request("GET", "/query_models/x")
    as_text = Exchange(request, 404, (("content-type", "text/plain"),), b'{"code":404,"message":"x"}')
    not_json = Exchange(request, 404, (("content-type", "text/plain"),), b"Not Found")
    fine = Exchange(request, 200, (("content-type", "application/json; charset=utf-8"),), b"{}")
    assert [o.violations != () for o in content_type(as_text, context)] == [True]
    assert list(content_type(not_json, context)) == []
    assert [o.violations for o in content_type(fine, context)] == [()]


def test_first_difference_compares_json_values():
    assert first_difference({"a": 1, "b": [1, 2]}, {"b": [1, 2.0], "a": 1.0}) is None
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == "/a/1"
    assert first_difference({"a/b": 1}, {}) == "/a~1b"


def test_metadata_window_catches_an_inflated_narrow_window(catalog: Catalog, name: str):
    engine = Engine(catalog)
    request = build.model(
        name, [("metadata", "true"), ("from", "2025-10-01T00:00:00Z"), ("to", "2025-11-01T00:00:00Z")]
    )
    honest = answered(request, engine.handle(request))
    assert all(not o.violations for o in metadata_window(honest, context_of(engine)))
    inflated = json.loads(honest.body)
    inflated["requests"] += 10**6
    outcomes = list(
        metadata_window(
            Exchange(request, 200, honest.headers, json.dumps(inflated).encode()), context_of(engine)
        )
    )
    assert {o.subcheck for o in outcomes if o.violations} == {"unbounded", "wider", "same-instant"}


def test_list_names_and_list_sort(catalog: Catalog):
    engine = Engine(catalog)
    context = context_of(engine)
    request = build.listing([("sort", "cost"), ("count", "1000")])
    honest = answered(request, engine.handle(request))
    assert [o for o in list_names(honest, context) if o.violations] == []
    assert [o for o in list_sort(honest, context) if o.violations] == []
    names = json.loads(honest.body)["data"]
    reversed_ = Exchange(request, 200, honest.headers, json.dumps({"data": names[::-1]}).encode())
    assert {o.rule for o in list_sort(reversed_, context) if o.violations} == {"list-sort"}
    doubled = Exchange(
        request, 200, honest.headers, json.dumps({"data": [*names, names[0][:21], names[0]]}).encode()
    )
    assert {o.subcheck for o in list_names(doubled, context) if o.violations} == {
        "well-formed",
        "unique",
        "count",
    }


def test_curl_redacts_every_secret():
    request = Request(
        "POST",
        "/query_models",
        "metadata=true&api_key=abc",
        (("authorization", "Bearer " + TOKEN), ("cookie", "s=1"), ("content-type", "application/json")),
        b"{}",
    )
    line = curl(request, "http://127.0.0.1:1")
    assert TOKEN not in line
    assert "api_key=abc" not in line
    assert "s=1" not in line
    assert line.count("<redacted>") == 3
    assert "--data-raw" in line


def test_curl_repeats_the_senders_extra_headers_under_the_requests_own():
    request = Request("GET", "/query_models/x", "", (("accept", "text/plain"),), b"")
    extra = (("x-gateway", "eu-1"), ("x-api-key", "k3y-s3cret"), ("accept", "application/json"))
    line = curl(request, "http://127.0.0.1:1", extra)
    assert "-H 'x-gateway: eu-1'" in line
    assert "-H 'x-api-key: <redacted>'" in line
    assert "k3y-s3cret" not in line
    assert "-H 'accept: text/plain'" in line
    assert "application/json" not in line


def test_failures_over_http_carry_the_extra_headers_in_their_curl_lines(catalog: Catalog):
    broken = mutation("echo-other-model")
    with running_server(catalog, hook=broken.hook(catalog), access_log=False) as url:
        headers = (("X-Gateway", "eu-1"), ("X-Api-Key", "k3y-s3cret"))
        options = ConformanceOptions(base_url=url, max_examples=0, rules=(broken.rule,), headers=headers)
        report = run_conformance(options)
    failures = [failure for failure in report.failures if failure.rule == broken.rule]
    assert failures
    assert all("-H 'x-gateway: eu-1'" in failure.curl for failure in failures)
    assert all("-H 'x-api-key: <redacted>'" in failure.curl for failure in failures)
    assert "k3y-s3cret" not in json.dumps(report.to_json())


def test_operations_without_negative_cases_get_one_short_note(catalog: Catalog):
    options = ConformanceOptions(max_examples=1, seed=1, rules=("no-server-error",))
    report = run_conformance(options, engine=Engine(catalog))
    unsatisfiable = [note for note in report.notes if "Unsatisfiable" in note]
    assert "GET /metadata: no negative case to generate (hypothesis: Unsatisfiable)" in unsatisfiable
    assert all("\n" not in note and len(note) < 200 for note in report.notes)


def test_every_rule_has_sub_checks():
    assert set(SUBCHECKS) == set(ALL_RULES)
    assert all(SUBCHECKS[rule] for rule in ALL_RULES)


# --- whole runs -------------------------------------------------------------------------------------------


def test_a_correct_engine_passes_with_every_sub_check_exercised(catalog: Catalog):
    report = run_conformance(FAST, engine=Engine(catalog))
    assert report.exit_code == 0, report.verdict
    assert report.rules_with("ok") == tuple(ALL_RULES)
    assert not report.failures
    assert not report.errors
    assert all(sub.status == "ok" for row in report.rows for sub in row.subchecks)
    assert report.requests > 1000


def test_a_refused_probe_token_leaves_the_me_checks_not_exercised(catalog: Catalog):
    report = run_conformance(FAST, engine=Engine(catalog, tokens=["the-real-one"]))
    assert report.exit_code == 3, report.verdict
    assert set(report.rules_with("not exercised")) == {"metadata-window", "list-sort"}
    missing = [sub for row in report.rows for sub in row.subchecks if sub.status == "not exercised"]
    assert {sub.subcheck for sub in missing} == {"me-not-above", "me"}
    assert all("--token-env" in sub.note for sub in missing)
    assert any("--token-env" in note for note in report.notes)


def test_a_token_the_server_refuses_stops_the_run(catalog: Catalog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QM_TEST_TOKEN", "wrong")
    options = ConformanceOptions(max_examples=0, workers=1, token_env="QM_TEST_TOKEN")
    with pytest.raises(ConformanceUsageError, match="refused the token"):
        run_conformance(options, engine=Engine(catalog, tokens=["right"]))
    monkeypatch.setenv("QM_TEST_TOKEN", "right")
    assert run_conformance(options, engine=Engine(catalog, tokens=["right"])).exit_code == 0


def test_a_server_with_only_static_models_makes_the_table_rules_not_applicable():
    static = Catalog(document for document in load_catalog() if document["weight"]["type"] == "static")
    report = run_conformance(FAST, engine=Engine(static))
    assert report.exit_code == 0, report.verdict
    assert set(report.rules_with("not applicable")) == {"training-table-name", "training-table-index"}


def test_rules_can_be_chosen_and_excluded(catalog: Catalog):
    options = ConformanceOptions(
        max_examples=0, workers=1, exclude_rules=("stable",), rules=("stable", "schema", "list-names")
    )
    report = run_conformance(options, engine=Engine(catalog))
    assert report.rules_with("ok") == ("schema", "list-names")
    assert len(report.rules_with("excluded")) == len(ALL_RULES) - 2
    with pytest.raises(ConformanceUsageError, match="unknown rule"):
        run_conformance(ConformanceOptions(rules=("nope",)), engine=Engine(catalog))


def test_a_missing_list_route_without_names_is_a_usage_error(catalog: Catalog):
    def no_list(request: Request, response: Response) -> Response:
        if request.path == "/query_models" and request.method == "GET":
            return Response(404, (("content-type", "application/json"),), b'{"code":404,"message":"no"}')
        return response

    with pytest.raises(ConformanceUsageError, match="--slug"):
        run_conformance(FAST, engine=Engine(catalog, hook=no_list))
    options = ConformanceOptions(max_examples=0, workers=1, slugs=tuple(catalog.names()))
    report = run_conformance(options, engine=Engine(catalog, hook=no_list))
    assert "list-names" in report.rules_with("failed")


def test_counts_agree_between_the_table_the_listing_and_the_reports(catalog: Catalog):
    def crash_on_count(request: Request, response: Response) -> Response:
        if "count=" in request.query:
            return Response(500, (("content-type", "application/json"),), b'{"code":500,"message":"boom"}')
        return response

    report = run_conformance(FAST, engine=Engine(catalog, hook=crash_on_count))
    row = next(row for row in report.rows if row.rule == "no-server-error")
    listed = [failure for failure in report.failures if failure.rule == "no-server-error"]
    assert row.failed == len(listed) > 3
    data = report.to_json()
    assert sum(1 for failure in data["failures"] if failure["rule"] == "no-server-error") == row.failed
    case = junit_tree(report).getroot().find(".//testcase[@name='no-server-error']/failure")
    assert case is not None
    assert case.text is not None
    assert case.text.count("no-server-error (no-5xx)") == row.failed


# --- over the network, and through the command line ------------------------------------------------------


@pytest.fixture(scope="module")
def served_url(catalog: Catalog) -> Iterator[str]:

    with running_server(catalog, tokens=[TOKEN], access_log=False) as url:
        yield url


def test_a_live_server_with_a_token_passes_and_the_token_stays_secret(
    served_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("QM_TEST_TOKEN", TOKEN)
    report_path, junit = tmp_path / "r.json", tmp_path / "r.xml"
    result = CliRunner().invoke(
        cli,
        [
            "conformance",
            served_url,
            "--token-env",
            "QM_TEST_TOKEN",
            "--max-examples",
            "0",
            "--seed",
            "3",
            "--report",
            str(report_path),
            "--junit-xml",
            str(junit),
            "-H",
            "x-test: yes",
            "--rate-limit",
            "100000/s",
        ],
    )
    assert result.exit_code == 0, result.output[-3000:]
    text = result.output + report_path.read_text() + junit.read_text()
    assert TOKEN not in text
    data = json.loads(report_path.read_text())
    assert data["exit_code"] == 0
    assert data["seed"] == 3
    assert [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")] == list(ALL_RULES)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--report", "/missing/dir/r.json"], "does not exist"),
        (["--junit-xml", "/missing/dir/r.xml"], "does not exist"),
        (["--html", "/missing/dir/r.html"], "does not exist"),
        (["-H", "no colon"], "Name: value"),
        (["--rules", "schema,nope"], "unknown rule"),
        (["--rate-limit", "fast"], "requests per second"),
        (["--max-examples", "-1"], "max-examples"),
        (["http://127.0.0.1:9", "--request-timeout", "0.2"], "cannot reach"),
        (["ftp://x"], "not an http"),
    ],
)
def test_bad_options_are_one_line_and_exit_2_before_any_work(args: list[str], fragment: str):
    result = CliRunner().invoke(cli, ["conformance", *args])
    assert result.exit_code == 2, result.output
    assert result.output.count("qmcontract: error:") == 1
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_the_console_script_runs_a_default_run_in_a_fresh_process(tmp_path: Path):
    script = Path(sys.executable).with_name("qmcontract")
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis")}
    done = subprocess.run(
        [str(script), "conformance", "--max-examples", "1", "--report", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "rules hold" in done.stdout
    assert "probes: documents" in done.stderr
    assert json.loads((tmp_path / "r.json").read_text())["verdict"].startswith(f"{len(ALL_RULES)} rules hold")
    assert not (tmp_path / ".hypothesis").exists()
    assert not (tmp_path / ".schemathesis").exists()


def test_the_checks_plug_into_a_plain_schemathesis_run():
    retrieve = schemathesis.openapi.from_path(spec_path())["/query_models/{slug}"]["GET"]
    case = retrieve.Case(path_parameters={"slug": "abc"})
    prepared = requests.Request("GET", "http://127.0.0.1:1/query_models/abc?metadata=yes").prepare()
    good = SchemathesisResponse(
        400, {"content-type": ["application/json"]}, b'{"code":400,"message":"x"}', prepared, 0.0, True
    )
    hooks.qmcontract_error_body(None, good, case)
    hooks.qmcontract_status(None, good, case)
    wrong = SchemathesisResponse(404, {"content-type": ["text/plain"]}, b"Not Found", prepared, 0.0, True)
    with pytest.raises(AssertionError, match="error-body"):
        hooks.qmcontract_error_body(None, wrong, case)
    with pytest.raises(AssertionError, match="bad-request"):
        hooks.qmcontract_status(None, wrong, case)


def test_the_schemathesis_checks_leave_routes_outside_the_family_alone():
    """The checks register globally: a control-API operation in the same run is not judged."""
    control = schemathesis.openapi.from_path(shipped_path("openapi-control.yaml"))
    case = control["/__qmcontract/models"]["POST"].Case()
    prepared = requests.Request("POST", "http://127.0.0.1:1/__qmcontract/models").prepare()
    own_body = b'{"code":422,"message":"invalid","violations":[]}'
    answer = SchemathesisResponse(422, {"content-type": ["application/json"]}, own_body, prepared, 0.0, True)
    hooks.qmcontract_error_body(None, answer, case)
    hooks.qmcontract_status(None, answer, case)


def test_a_real_run_writes_reports_that_agree(catalog: Catalog, tmp_path: Path):

    def unknown_is_400(request: Request, response: Response) -> Response:
        if response.status == 404:
            return Response(400, response.headers, response.body.replace(b'"code":404', b'"code":400'))
        return response

    report = run_conformance(FAST, engine=Engine(catalog, hook=unknown_is_400))
    page = render_html(report)
    row = next(row for row in report.rows if row.rule == "not-found")
    assert row.status == "failed"
    assert page.count('<details class="failure" data-rule="not-found"') == row.failed
    assert page.count('<details class="failure"') == len(report.failures)
