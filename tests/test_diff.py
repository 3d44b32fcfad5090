"""``qmcontract diff``: two equal servers say nothing, a broken one is found under the rule it breaks.

Most runs compare two engines in-process (:class:`EngineSender`, no HTTP); two run over loopback
against the engine served by uvicorn in a thread (a minimal ASGI adapter here, so these tests do
not depend on the server package), once through click's CliRunner and once as a subprocess.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner
from rich.console import Console

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.cli import cli
from qmcontract.cli._common import ReportPaths
from qmcontract.conformance.checks import SendError
from qmcontract.conformance.compare import json_difference
from qmcontract.conformance.diff import DiffOptions, run_diff
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.mutations import mutation
from qmcontract.conformance.sender import EngineSender
from qmcontract.conformance.target import ConformanceUsageError
from qmcontract.engine import Engine, ResponseHook
from qmcontract.report.model import Report
from qmcontract.report.text import show
from qmcontract.wire import Request, Response

URL_A = "http://a.example.test"
URL_B = "http://b.example.test"
TOKEN = "diff-s3cret-token-value"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def diff(
    catalog: Catalog,
    hook: ResponseHook | None = None,
    *,
    engine_a: Engine | None = None,
    engine_b: Engine | None = None,
    **options: Any,
) -> Report:
    """Diff the engine (A) against a variant of it (B), in-process."""
    a = engine_a if engine_a is not None else Engine(catalog)
    b = engine_b if engine_b is not None else Engine(catalog, hook=hook)
    options.setdefault("workers", 1)
    return run_diff(DiffOptions(URL_A, URL_B, **options), senders=(EngineSender(a), EngineSender(b)))


def shown(report: Report) -> str:
    out = io.StringIO()
    show(report, Console(file=out, width=200, color_system=None))
    return out.getvalue()


# --- equal servers ------------------------------------------------------------------------------------


def test_two_equal_servers_say_nothing_but_the_summary(catalog: Catalog):
    report = diff(catalog, metadata=True)
    assert report.exit_code == 0, report.verdict
    assert report.failures == ()
    assert report.errors == ()
    assert report.rules_with("failed") == ()
    assert report.rules_with("not exercised") == ()
    assert set(report.rules_with("excluded")) == {"stable", "metadata-window"}
    assert report.title == "qmcontract diff"
    assert report.target == f"{URL_A} vs {URL_B}"
    assert report.requests > 400
    text = shown(report)
    assert "Failures" not in text
    assert "Not exercised" not in text
    assert report.verdict in text


def test_without_metadata_the_figure_rules_are_left_out(catalog: Catalog):
    report = diff(catalog)
    assert report.exit_code == 0, report.verdict
    assert set(report.rules_with("excluded")) == {
        "stable",
        "metadata-window",
        "metadata-presence",
        "metadata-values",
        "list-sort",
    }
    assert any("--metadata" in note for note in report.notes)


def _respelled(value: Any) -> Any:
    """The same JSON value written another way: keys reversed, integers as floats."""
    if isinstance(value, dict):
        return {key: _respelled(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_respelled(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _respell(_request: Request, response: Response) -> Response:
    try:
        value = json.loads(response.body)
    except ValueError:
        return response
    return replace(response, body=json.dumps(_respelled(value)).encode())


def test_key_order_and_number_spelling_do_not_count(catalog: Catalog):
    report = diff(catalog, _respell, metadata=True)
    assert report.exit_code == 0, [f.violations for f in report.failures[:3]]
    assert report.failures == ()


def test_json_values_compare_as_values():
    assert json_difference({"a": 1, "b": [1.0, {"c": 2}]}, {"b": [1, {"c": 2.0}], "a": 1.0}) is None
    assert json_difference({"a": True}, {"a": 1}) == "/a"
    assert json_difference({"a": [False]}, {"a": [0]}) == "/a/0"
    assert json_difference({"a/b": {"~": 1}}, {"a/b": {"~": 2}}) == "/a~1b/~0"
    assert json_difference({"a": 1}, {"a": 1, "b": None}) == "/b"


# --- broken variants, one per rule family --------------------------------------------------------------

CASES = [
    # (mutation, --metadata, the rule the difference is filed under)
    ("unknown-name-400", False, "not-found"),
    ("from-after-to-accepted", False, "bad-request"),
    ("leap-second-refused", False, "bad-request"),
    ("me-without-token", False, "auth-required"),
    ("ignored-from-checked", False, "ignored-params"),
    ("long-token-crash", False, "no-server-error"),
    ("json-as-text", False, "content-type"),
    ("error-code-as-text", False, "error-body"),
    ("echo-other-model", False, "slug-echo"),
    ("index-swapped", False, "order-index"),
    ("unknown-field", False, "schema"),
    ("post-echoes-another", False, "validate-echo"),
    ("list-short-names", False, "list-names"),
    ("count-plus-one", False, "list-names"),
    ("metadata-field-dropped", True, "metadata-presence"),
    ("empty-user-id", True, "metadata-values"),
    ("global-below-sums", True, "metadata-global"),
    ("sort-ignored", True, "list-sort"),
]


@pytest.mark.parametrize(("name", "metadata", "rule"), CASES, ids=[case[0] for case in CASES])
def test_a_broken_server_differs_under_the_rule_it_breaks(
    catalog: Catalog, name: str, metadata: bool, rule: str
):
    report = diff(catalog, mutation(name).hook(catalog), metadata=metadata)
    assert report.exit_code == 1, report.verdict
    assert rule in report.rules_with("failed"), report.verdict
    assert not report.errors
    for failure in report.failures:
        assert failure.violations
        assert failure.curl.startswith("curl ")
        assert failure.curl_b == failure.curl.replace(URL_A, URL_B)


def test_the_status_rules_come_from_the_oracle(catalog: Catalog):
    report = diff(catalog, mutation("unknown-name-400").hook(catalog))
    found = [f for f in report.failures if f.rule == "not-found"]
    assert found
    assert {f.subcheck for f in found} <= {"unknown-model", "unknown-llm", "malformed-model", "malformed-llm"}
    assert all(
        "A answered 404, B answered 400; the contract says 404" in f.violations[0].message for f in found
    )
    assert all(f.status == 404 for f in found)
    crashes = diff(catalog, mutation("long-token-crash").hook(catalog))
    (crash,) = [f for f in crashes.failures if f.rule == "no-server-error"][:1]
    assert "B answered 500" in crash.violations[0].message


def test_a_document_difference_says_where_and_both_values(catalog: Catalog):
    report = diff(catalog, mutation("index-swapped").hook(catalog))
    echo = next(f for f in report.failures if f.rule == "slug-echo")
    assert echo.violations[0].path == "/models/0/index"
    assert echo.violations[0].message == "A has 0, B has 1"
    order = next(f for f in report.failures if f.rule == "order-index" and f.request == echo.request)
    assert all(v.message.startswith("B breaks order-index, A does not: ") for v in order.violations)
    assert {v.path for v in order.violations} >= {"/models/0/index"}


def test_a_listing_difference_names_the_names(catalog: Catalog):
    report = diff(catalog, mutation("list-short-names").hook(catalog))
    failure = next(f for f in report.failures if f.rule == "list-names" and f.request == "GET /query_models")
    (violation,) = failure.violations
    assert violation.path == "/data/0"
    assert violation.message.startswith("A has ")


def test_metadata_counts_only_with_the_option(catalog: Catalog):
    for name in ("metadata-field-dropped", "global-below-sums"):
        report = diff(catalog, mutation(name).hook(catalog))
        assert report.exit_code == 0, (name, report.verdict)
    report = diff(catalog, mutation("metadata-field-dropped").hook(catalog), metadata=True)
    failure = next(f for f in report.failures if f.rule == "slug-echo")
    assert failure.violations[0].path == "/embedding_cost"
    assert "B has nothing" in failure.violations[0].message


def test_a_sorted_list_is_compared_as_a_set_without_metadata(catalog: Catalog):
    report = diff(catalog, mutation("sort-ignored").hook(catalog))
    assert report.exit_code == 0, report.verdict


# --- tokens --------------------------------------------------------------------------------------------


def _echo_token(request: Request, response: Response) -> Response:
    """A server that repeats the caller's token in its answers (so reports must redact it)."""
    if request.authorization is None or response.status != 200:
        return response
    document = json.loads(response.body)
    if isinstance(document, dict):
        document["caller"] = request.authorization
    return replace(response, body=json.dumps(document).encode())


def test_the_token_never_appears_in_output_or_reports(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DIFF_TOKEN", TOKEN)
    report = diff(catalog, _echo_token, token_env="DIFF_TOKEN")
    assert report.exit_code == 1
    assert any("authorization: <redacted>" in f.curl_b for f in report.failures)
    assert any("<redacted>" in v.message for f in report.failures for v in f.violations)
    paths = ReportPaths(tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.html")
    paths.write(report)
    for path in (paths.json, paths.junit, paths.html):
        assert path is not None
        assert TOKEN not in path.read_text()
    assert TOKEN not in shown(report)
    assert TOKEN not in repr(report)


def test_a_token_either_server_refuses_stops_the_run(catalog: Catalog, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DIFF_TOKEN", TOKEN)
    with pytest.raises(ConformanceUsageError, match=r"server B .* refused the token of --token-env"):
        diff(catalog, engine_b=Engine(catalog, tokens=["another"]), token_env="DIFF_TOKEN")


def test_without_a_token_requests_carrying_one_are_left_out_when_refused(catalog: Catalog):
    report = diff(catalog, engine_b=Engine(catalog, tokens=["another"]))
    assert report.exit_code == 0, report.verdict
    assert any("refused by B" in note and "were not compared" in note for note in report.notes)
    assert all("authorization" not in f.curl + f.curl_b for f in report.failures)


# --- unreachable and usage -----------------------------------------------------------------------------


class _Counting:
    def __init__(self, engine: Engine) -> None:
        self.inner = EngineSender(engine)
        self.sent: list[Request] = []

    def __call__(self, request: Request) -> Exchange:
        self.sent.append(request)
        return self.inner(request)


def _refusing(_request: Request) -> Exchange:
    raise SendError("ConnectError: [Errno 111] Connection refused")


def test_an_unreachable_server_stops_the_run_before_any_comparison(catalog: Catalog):
    a = _Counting(Engine(catalog))
    with pytest.raises(ConformanceUsageError, match=f"cannot reach {URL_B}/query_models"):
        run_diff(DiffOptions(URL_A, URL_B, workers=1), senders=(a, _refusing))
    assert [request.path for request in a.sent] == ["/query_models"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_unreachable_server_exits_2_with_one_line():
    url = f"http://127.0.0.1:{_free_port()}"
    result = CliRunner().invoke(cli, ["diff", url, url, "--request-timeout", "5"])
    assert result.exit_code == 2, result.output
    assert result.output.count("qmcontract: error:") == 1
    assert "cannot reach" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ftp://x", "http://y.test"], "is not an http:// or https:// URL"),
        (["http://x.test"], "Missing argument"),
        (["http://x.test", "http://y.test", "--slug", "short"], "is not a Query Model name"),
        (
            ["http://x.test", "http://y.test", "-H", "no colon"],
            "--header 'no colon': expected \"Name: value\"",
        ),
        (["http://x.test", "http://y.test", "-H", "x-a: b\r\nx-b: c"], 'expected "Name: value"'),
        (["http://x.test", "http://y.test", "-H", "x-\u03b1: 1"], 'expected "Name: value"'),
        (["http://x.test", "http://y.test", "-H", "x-a: \u00fc"], 'expected "Name: value"'),
        (["http://x.test", "http://y.test", "-H", "x a: 1"], 'expected "Name: value"'),
        (["http://x.test", "http://y.test", "--token-env", "QMCONTRACT_UNSET_VARIABLE"], "is not set"),
        (["http://x.test", "http://y.test", "--report", "/nonexistent/dir/r.json"], "does not exist"),
    ],
)
def test_cli_usage_errors_are_one_line(args: list[str], fragment: str):
    result = CliRunner().invoke(cli, ["diff", *args])
    assert result.exit_code == 2, result.output
    assert result.output.count("qmcontract: error:") == 1
    assert fragment in result.output
    assert "Traceback" not in result.output


# --- over loopback ---------------------------------------------------------------------------------------


def _asgi(engine: Engine) -> Any:
    """The engine as a bare ASGI app (the API at the root)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Request(
            scope["method"],
            scope["raw_path"].decode("latin-1"),
            scope["query_string"].decode("latin-1"),
            tuple(
                (key.decode("latin-1").lower(), value.decode("latin-1")) for key, value in scope["headers"]
            ),
            body,
        )
        response = engine.handle(request)
        headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in response.headers]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else response.body})

    return app


@contextmanager
def serving(engine: Engine) -> Iterator[str]:
    """Serve the engine on a free loopback port in a thread; stop it when the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_asgi(engine), log_config=None, access_log=False, lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture(scope="module")
def servers(catalog: Catalog) -> Iterator[tuple[str, str, str]]:
    """Three servers: the engine twice, and a variant that sends documents as text/plain."""
    broken = Engine(catalog, hook=mutation("json-as-text").hook(catalog))
    with serving(Engine(catalog)) as a, serving(Engine(catalog)) as b, serving(broken) as c:
        yield a, b, c


def test_cli_over_loopback_equal_servers(
    servers: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DIFF_TOKEN", TOKEN)
    a, b, _ = servers
    files = [tmp_path / "d.json", tmp_path / "d.xml", tmp_path / "d.html"]
    result = CliRunner().invoke(
        cli,
        [
            *("diff", a, b, "--token-env", "DIFF_TOKEN", "-H", "X-Trace: 1", "--metadata"),
            *("--report", str(files[0]), "--junit-xml", str(files[1]), "--html", str(files[2])),
        ],
    )
    assert result.exit_code == 0, result.output[-3000:]
    assert "Failures" not in result.output
    assert "Traceback" not in result.output
    data = json.loads(files[0].read_text())
    assert data["exit_code"] == 0
    assert data["failures"] == []
    assert data["title"] == "qmcontract diff"
    assert data["settings"]["token"] == "--token-env (accepted by both)"
    cases = ET.parse(files[1]).getroot().iter("testcase")
    assert not any(case.find("failure") is not None for case in cases)
    assert "no rule failed" in files[2].read_text()
    for text in (result.output, *(path.read_text() for path in files)):
        assert TOKEN not in text


def test_console_script_over_loopback_finds_the_broken_server(servers: tuple[str, str, str], tmp_path: Path):
    a, _, broken = servers
    script = Path(sys.executable).with_name("qmcontract")
    done = subprocess.run(
        [str(script), "diff", a, broken, "--report", str(tmp_path / "d.json"), "-H", "X-Trace: 7"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "comparing A" in done.stderr
    assert "content-type (success)" in done.stdout
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["exit_code"] == 1
    assert {failure["rule"] for failure in data["failures"]} == {"content-type"}
    first = data["failures"][0]
    assert first["curl"].split()[-1].startswith(a)
    assert first["curl_b"].split()[-1].startswith(broken)
    lines = [failure[key] for failure in data["failures"] for key in ("curl", "curl_b")]
    assert all("-H 'x-trace: 7'" in line for line in lines)


def _no_list(request: Request, response: Response) -> Response:
    return (
        Response(404, response.headers, b'{"code": 404, "message": "no such route"}')
        if request.path == "/query_models"
        else response
    )


def test_without_lists_or_slugs_there_is_nothing_to_compare(catalog: Catalog):
    with pytest.raises(ConformanceUsageError, match="no names to compare: pass the names"):
        diff(catalog, engine_b=Engine(catalog, hook=_no_list), engine_a=Engine(catalog, hook=_no_list))
    name = catalog.names()[0]
    report = diff(catalog, _no_list, slugs=(name,))
    assert report.exit_code == 1
    assert "list-names" in report.rules_with("failed")
    assert "slug-echo" in report.rules_with("ok")
