"""``qmcontract proxy``: invisible to clients, and a judge of what passes through it.

The upstream is our own mock server (``running_server``), correct or broken on purpose by one
mutation per rule family; an echoing pytest-httpserver checks what exactly goes upstream.
Everything runs on 127.0.0.1 and free ports.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request as WerkzeugRequest
from werkzeug import Response as WerkzeugResponse

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.cli import cli
from qmcontract.conformance.mutations import mutation
from qmcontract.engine import Engine
from qmcontract.limits import MAX_BODY_BYTES, MAX_HEAD_BYTES, MAX_JUDGED_BODY_BYTES
from qmcontract.proxy import running_proxy
from qmcontract.proxy.app import end_to_end
from qmcontract.server import running_server
from qmcontract.wire import Request

TOKEN = "Bearer sk-proxy-test-secret"
WINDOW = (("metadata", "true"), ("from", "2025-10-01T00:00:00Z"), ("to", "2025-11-03T00:00:00Z"))
REVERSED = (("metadata", "true"), ("from", "2025-11-01T00:00:00Z"), ("to", "2025-10-01T00:00:00Z"))
SHIFTED = (("metadata", "true"), ("from", "2025-10-01T01:00:00+01:00"), ("to", "2025-11-03T01:00:00+01:00"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def upstream(catalog: Catalog) -> Iterator[str]:
    with running_server(catalog, access_log=False) as url:
        yield url


def session(catalog: Catalog) -> list[tuple[str, str, dict[str, str], bytes | None]]:
    """A client's requests: every route, errors, a POST, windows written two ways, repeats."""
    name = _used_in_window(catalog)
    document = catalog.get(name)
    assert document is not None
    definition = {"weight": document["weight"], "models": document["models"]}
    llm = document["models"][0]["name"]
    auth = {"authorization": TOKEN}
    return [
        ("GET", "/query_models", {}, None),
        ("GET", "/query_models?count=2&sort=cost", {}, None),
        ("GET", "/query_models/count", {}, None),
        ("GET", "/metadata", {}, None),
        ("GET", f"/query_models/{name}", {}, None),
        ("GET", f"/query_models/{name}", {"x-client": "b"}, None),
        ("GET", f"/query_models/{name}?metadata=true", {}, None),
        ("GET", f"/query_models/{name}?metadata=true", {}, None),
        ("GET", f"/query_models/{name}?{httpx.QueryParams(WINDOW)}", {}, None),
        ("GET", f"/query_models/{name}?{httpx.QueryParams(SHIFTED)}", {}, None),
        ("GET", f"/query_models/{name}?{httpx.QueryParams(WINDOW)}&me=true", auth, None),
        ("GET", f"/query_models/{name}?metadata=true&me=true", {}, None),
        ("GET", f"/query_models/{name}?from=garbage", {}, None),
        ("GET", f"/query_models/{name}?metadata=true&from=2025-10-01T00:00:60Z", {}, None),
        (
            "GET",
            f"/query_models/{name}?metadata=true&from=2025-11-01T00:00:00Z&to=2025-10-01T00:00:00Z",
            {},
            None,
        ),
        ("GET", f"/query_models/{name}?metadata=yes", {}, None),
        ("GET", "/query_models/not-a-name", {}, None),
        ("GET", f"/query_llms/{llm}", {}, None),
        ("HEAD", f"/query_models/{name}", {}, None),
        ("HEAD", "/query_models/not-a-name", {}, None),
        ("DELETE", f"/query_models/{name}", {}, None),
        ("POST", "/query_models", {"content-type": "application/json"}, json.dumps(definition).encode()),
        ("POST", "/query_models", {"content-type": "application/json"}, b"{not json"),
        ("GET", "/healthz", {}, None),
    ]


def _used_in_window(catalog: Catalog) -> str:
    """A served model with usage inside WINDOW, so that figures can differ between spellings of it."""
    engine = Engine(catalog)
    for name in catalog.names():
        answer = engine.handle(Request("GET", f"/query_models/{name}", str(httpx.QueryParams(WINDOW))))
        if answer.json()["requests"] > 0:
            return name
    raise AssertionError("no served model has usage in WINDOW")


def replay(base: str, requests: list[tuple[str, str, dict[str, str], bytes | None]]) -> list[httpx.Response]:
    with httpx.Client(base_url=base, timeout=10) as client:
        return [client.request(m, path, headers=headers, content=body) for m, path, headers, body in requests]


def _without_date(response: httpx.Response) -> list[tuple[str, str]]:
    return [(key, value) for key, value in response.headers.multi_items() if key != "date"]


# --- invisible --------------------------------------------------------------------------------------


def test_the_proxy_is_invisible_and_quiet_on_correct_traffic(catalog: Catalog, upstream: str, tmp_path: Path):
    requests = session(catalog)
    logged: list[str] = []
    record = tmp_path / "traffic.jsonl"
    direct = replay(upstream, requests)
    with running_proxy(upstream, record=record, log=logged.append) as proxy:
        through = replay(proxy.url, requests)
    for (method, path, _, _), a, b in zip(requests, direct, through, strict=True):
        assert (b.status_code, b.content) == (a.status_code, a.content), f"{method} {path}"
        assert _without_date(b) == _without_date(a), f"{method} {path}"
    report = proxy.report
    assert report is not None
    assert report.failures == ()
    assert logged == []
    assert report.exit_code == 0
    assert "24 exchanges: 22 judged, 1 not on the API's routes" in report.notes[0] or report.notes[
        0
    ].startswith(f"{len(requests)} exchanges")
    ran = {row.rule: row for row in report.rows}
    for rule in ("stable", "metadata-window", "ignored-params", "bad-request", "not-found", "schema"):
        assert ran[rule].checked > 0, rule
    lines = record.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(requests)
    assert TOKEN.split()[1] not in record.read_text(encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-traffic", str(record)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{len(requests)} exchanges" in result.stdout


def test_an_unreachable_upstream_gets_502_with_a_contract_body():
    with running_proxy("http://127.0.0.1:9/api", timeout=5) as proxy:
        answer = httpx.get(proxy.url + "/query_models/count", timeout=10)
        other = httpx.get(proxy.url + "/elsewhere", timeout=10)
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == 502
    assert "cannot be reached" in body["message"]
    assert other.status_code == 502
    report = proxy.report
    assert report is not None
    assert [failure.rule for failure in report.failures] == ["no-server-error"]
    assert report.exit_code == 1


# --- what goes upstream and what comes back ----------------------------------------------------------


def test_headers_pass_through_and_hop_by_hop_headers_do_not(httpserver: HTTPServer):
    seen: list[WerkzeugRequest] = []

    def answer(request: WerkzeugRequest) -> WerkzeugResponse:
        seen.append(request)
        return WerkzeugResponse(
            b'{"count": 3}',
            headers=[("Content-Type", "application/json"), ("X-Upstream", "1"), ("X-Upstream", "2")],
        )

    httpserver.expect_request("/api/query_models/count").respond_with_handler(answer)
    direct = httpx.get(httpserver.url_for("/api/query_models/count"))
    seen.clear()
    with running_proxy(httpserver.url_for("/api")) as proxy:
        response = httpx.get(
            proxy.url + "/query_models/count?a=%3A1&b=x+y",
            headers={
                "authorization": TOKEN,
                "x-custom": "kept",
                "connection": "keep-alive, x-hop",
                "x-hop": "dropped",
                "keep-alive": "timeout=5",
                "te": "trailers",
            },
        )
    assert response.status_code == 200
    assert response.headers.get_list("x-upstream") == ["1", "2"]
    end_to_end_direct = [pair for pair in _without_date(direct) if pair[0] != "connection"]
    assert _without_date(response) == end_to_end_direct  # nothing added, only hop-by-hop dropped
    request = seen[0]
    assert request.full_path == "/api/query_models/count?a=%3A1&b=x+y"
    assert request.headers["authorization"] == TOKEN
    assert request.headers["x-custom"] == "kept"
    assert request.headers["host"] == httpserver.url_for("/").split("//")[1].rstrip("/")
    for hop in ("x-hop", "keep-alive", "te"):
        assert hop not in request.headers


def test_encoded_bodies_pass_through_as_sent_and_are_judged_decoded(httpserver: HTTPServer):
    body = json.dumps({"code": 404, "message": "not found"}).encode()
    zipped = gzip.compress(body)
    httpserver.expect_request("/query_models/x").respond_with_response(
        WerkzeugResponse(
            zipped, status=404, headers=[("Content-Type", "text/plain"), ("Content-Encoding", "gzip")]
        )
    )
    with (
        running_proxy(httpserver.url_for("/")) as proxy,
        httpx.stream("GET", proxy.url + "/query_models/x") as r,
    ):
        raw = b"".join(r.iter_raw())
    assert raw == zipped
    report = proxy.report
    assert report is not None
    assert [failure.rule for failure in report.failures] == ["content-type"]  # JSON sent as text/plain


def test_large_answers_are_streamed_and_counted_not_judged(httpserver: HTTPServer):
    big = b"[" + b"1," * (MAX_JUDGED_BODY_BYTES // 2) + b"1]"
    httpserver.expect_request("/query_models").respond_with_data(big, content_type="application/json")
    with running_proxy(httpserver.url_for("/")) as proxy:
        response = httpx.get(proxy.url + "/query_models", timeout=30)
    assert response.content == big
    report = proxy.report
    assert report is not None
    assert report.settings["not judged: response body not kept"] == 1
    assert report.failures == ()


def test_a_request_body_over_the_limit_gets_413_and_never_goes_upstream(httpserver: HTTPServer):
    with running_proxy(httpserver.url_for("/")) as proxy:
        response = httpx.post(proxy.url + "/query_models", content=b"x" * (MAX_BODY_BYTES + 1), timeout=30)
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert httpserver.log == []


def test_a_request_head_over_the_limit_gets_431_and_the_proxy_keeps_serving(httpserver: HTTPServer):
    httpserver.expect_request("/query_models/count").respond_with_json({"count": 0})
    with running_proxy(httpserver.url_for("/")) as proxy:
        huge = httpx.get(proxy.url + "/query_models/count", headers={"x-big": "a" * (MAX_HEAD_BYTES + 1)})
        after = httpx.get(proxy.url + "/query_models/count")
    assert huge.status_code == 431
    assert huge.json()["code"] == 431
    assert after.status_code == 200
    assert len(httpserver.log) == 1


def test_end_to_end_drops_exactly_the_hop_by_hop_headers():
    headers = [
        (b"Connection", b"close, X-Private"),
        (b"x-private", b"1"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Upgrade", b"h2c"),
        (b"Proxy-Connection", b"keep-alive"),
        (b"Content-Type", b"application/json"),
        (b"Authorization", b"t"),
        (b"Trailer", b"x"),
    ]
    assert end_to_end(headers) == [
        (b"Content-Type", b"application/json"),
        (b"Authorization", b"t"),
        (b"Trailer", b"x"),
    ]


# --- a judge of broken servers --------------------------------------------------------------------------

#: One deliberately broken server per rule family, and the rule the proxy must report.
VARIANTS = {
    "echo-other-model": "slug-echo",
    "unknown-name-400": "not-found",
    "me-without-token": "auth-required",
    "from-after-to-accepted": "bad-request",
    "ignored-from-checked": "ignored-params",
    "error-without-code": "error-body",
    "json-as-text": "content-type",
    "unstable-created": "stable",
    "offset-misread": "metadata-window",
    "leap-second-crash": "no-server-error",
    "list-short-names": "list-names",
    "unknown-field": "schema",
    "index-swapped": "order-index",
    "llm-weight-changed": "llm-name",
}


#: Variants run by default; the others are marked slow (``.ci/run`` runs them as its second step).
FAST_VARIANTS = (
    "echo-other-model",
    "error-without-code",
    "unstable-created",
    "offset-misread",
    "unknown-field",
)


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        pytest.param(name, rule, marks=() if name in FAST_VARIANTS else pytest.mark.slow)
        for name, rule in VARIANTS.items()
    ],
)
def test_a_broken_server_is_reported_under_its_rule(catalog: Catalog, name: str, rule: str):
    broken = mutation(name)
    logged: list[str] = []
    with (
        running_server(catalog, hook=broken.hook(catalog), access_log=False) as url,
        running_proxy(url, log=logged.append) as proxy,
    ):
        replay(proxy.url, session(catalog))
    report = proxy.report
    assert report is not None
    assert report.exit_code == 1
    assert rule in {failure.rule for failure in report.failures}
    line = next(line for line in logged if line.startswith(f"violation: {rule} "))
    assert "curl " in line
    assert TOKEN.split()[1] not in "\n".join(logged)
    assert all("\n" not in entry and "\x1b" not in entry for entry in logged)


# --- the command, as a process -------------------------------------------------------------------------


def _start(upstream: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        "-c",
        "from qmcontract.cli import main; main()",
        "proxy",
        "--upstream",
        upstream,
    ]
    process = subprocess.Popen(
        [*command, "--port", "0", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"on (http://127\.0\.0\.1:\d+) ->", line)
    assert found, line
    return process, found.group(1)


@pytest.mark.parametrize(("sig", "broken"), [(signal.SIGINT, False), (signal.SIGTERM, True)])
def test_the_command_reports_and_exits_on_a_signal(catalog: Catalog, tmp_path: Path, sig: int, broken: bool):
    hook = mutation("json-as-text").hook(catalog) if broken else None
    report = tmp_path / "proxy.json"
    with running_server(catalog, hook=hook, access_log=False) as url:
        process, proxy = _start(url, "--report", str(report), "--junit-xml", str(tmp_path / "p.xml"))
        try:
            for _ in range(3):
                assert httpx.get(f"{proxy}/query_models/{catalog.names()[1]}", timeout=10).status_code == 200
            time.sleep(0.2)
            process.send_signal(sig)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == (1 if broken else 0), stderr
    assert "Traceback" not in stderr
    assert "rules hold" in stdout
    assert ("violation: content-type" in stderr) is broken
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["title"] == "qmcontract proxy"
    assert data["exit_code"] == (1 if broken else 0)
    assert data["settings"]["judged"] == 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--upstream", "ftp://x"], "expected an http:// or https:// URL"),
        (["--upstream", "http://127.0.0.1:9", "--report", "/missing/dir/r.json"], "does not exist"),
        (["--upstream", "http://127.0.0.1:9", "--record", "/missing/dir/r.jsonl"], "does not exist"),
        (["--port", "1"], "Missing option '--upstream'"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], fragment: str):
    result = CliRunner().invoke(cli, ["proxy", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert result.output.count("qmcontract: error:") == 1


# --- framings other than content-length --------------------------------------------------------------

ANSWERS = {
    b"/chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
    ),
    b"/until-close": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nall of it",
    b"/head": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n",
    b"/204": b"HTTP/1.1 204 No Content\r\nX-Kept: yes\r\n\r\n",
    b"/once": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nonce",
    b"/silent": b"",
    b"/stalls": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhalf",
}


class _RawHandler(socketserver.BaseRequestHandler):
    """Answers each request on a connection with the bytes above; after ``/until-close`` and
    ``/once`` it closes the connection (``/once`` without saying so: a kept-alive connection the
    proxy will find closed when it reuses it)."""

    def handle(self) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = self.request.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            self.request.sendall(ANSWERS[path])
            if path in (b"/silent", b"/stalls"):
                time.sleep(3)  # longer than the proxy waits
                return
            if path in (b"/until-close", b"/once"):
                time.sleep(0.05)
                return


@pytest.fixture
def raw_upstream() -> Iterator[str]:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RawHandler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


def test_an_upstream_that_does_not_answer_in_time_gets_504_and_one_that_stalls_is_cut_off(raw_upstream: str):
    with (
        running_proxy(raw_upstream, timeout=0.5) as proxy,
        httpx.Client(base_url=proxy.url, timeout=10) as client,
    ):
        silent = client.get("/silent")
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/stalls")
    assert silent.status_code == 504
    assert silent.json()["code"] == 504
    assert "did not answer in time: timed out: UpstreamTimeout" in silent.json()["message"]


def test_every_framing_of_an_answer_is_relayed(raw_upstream: str):
    with (
        running_proxy(raw_upstream, timeout=10) as proxy,
        httpx.Client(base_url=proxy.url, timeout=10) as client,
    ):
        for _ in range(2):  # the second round reuses kept-alive connections
            chunked = client.get("/chunked")
            assert (chunked.status_code, chunked.content) == (200, b'{"a":1}')
            assert chunked.headers["content-type"] == "application/json"
            closing = client.get("/until-close")
            assert (closing.status_code, closing.content) == (200, b"all of it")
            head = client.head("/head")
            assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "10")
            empty = client.get("/204")
            assert (empty.status_code, empty.headers["x-kept"]) == (204, "yes")
            for _ in range(3):  # closed under the proxy after each answer: retried on a new connection
                once = client.get("/once")
                assert (once.status_code, once.content) == (200, b"once")
                time.sleep(0.1)
