"""Hostile input against the mock server, its control API and ``qmcontract serve`` (issue 10).

One table of cases per class of attack. Every case asserts the status, the contract error body
``{code, message}`` as ``application/json`` (for errors), and that ``/healthz`` still answers
afterwards. The memory classes run the server as a process of its own and assert that its
resident memory stays under :data:`MEMORY_BOUND` over its size before the attack; they, the
connection timeouts and the schemathesis run carry the ``slow`` marker (``pytest -m slow``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from qmcontract.cli import cli
from qmcontract.limits import HEAD_TIMEOUT_SECONDS, KEEP_ALIVE_SECONDS, MAX_BODY_BYTES, MAX_HEAD_BYTES
from qmcontract.resources import shipped_path
from qmcontract.routes import query_pairs, query_values
from qmcontract.server import running_server

STATIC = "2FgLFqAf8M6MTa6MtGLLwM"
JSON = {"content-type": "application/json"}
YAML = {"content-type": "application/yaml"}
SECRET = "sk-hostile-secret"
#: How far the server's resident memory may grow over its size before an attack (memo 16 MiB,
#: journal 16 MiB, one bounded body being parsed, and the allocator's slack).
MEMORY_BOUND = 96 * 1024 * 1024
#: How far it may peak meanwhile: parsing the largest YAML body (1 MiB, half a million nodes) takes about
#: 160 MiB for a moment; bodies are parsed one at a time, so this holds whatever the number of clients.
PEAK_BOUND = 256 * 1024 * 1024
DEFINITION = {
    "weight": {"type": "static"},
    "models": [{"id": "openai/gpt-5-nano", "mode": "generate", "weight": {"type": "static", "weight": 3}}],
}
#: A 349-byte YAML alias bomb: 9**7 "lol"s once expanded.
ALIAS_BOMB = (
    b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    b"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    b"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
)
DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE_INTEGER = b'{"weight": {"type": "static"}, "models": ' + b"1" * 5000 + b"}"
LONE_SURROGATE = b'{"weight": {"type": "static", "x": "\\ud800"}, "models": []}'
OVER_LIMIT = b" " * (MAX_BODY_BYTES + 1)


@dataclass(frozen=True)
class Case:
    """One hostile request and the answer it must get."""

    id: str
    target: str
    status: int
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    message: str = ""
    #: Another request whose status must follow (the attack must not break later requests).
    then: tuple[str, int] | None = None


def _chunks(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


POLICY = [
    Case(
        "cross-site-text-plain-post",
        "/__qmcontract/reset",
        403,
        "POST",
        {"origin": "http://evil.example", "content-type": "text/plain"},
        b"{}",
        "Origin",
    ),
    Case(
        "cross-site-form-post",
        "/__qmcontract/faults",
        403,
        "POST",
        {"content-type": "application/x-www-form-urlencoded"},
        b"status=503",
        "application/json",
    ),
    Case("bodyless-post", "/__qmcontract/reset", 403, "POST", {}, None, "got 'none'"),
    Case(
        "dns-rebinding-host",
        "/__qmcontract/journal",
        403,
        headers={"host": "evil.example:8000"},
        message="Host",
    ),
    Case(
        "rebinding-with-matching-origin",
        "/__qmcontract/journal",
        403,
        headers={"host": "evil.example", "origin": "http://evil.example"},
        message="Host",
    ),
    Case(
        "foreign-origin-read",
        "/__qmcontract/journal",
        403,
        headers={"origin": "http://evil.example"},
        message="Origin",
    ),
    Case("null-origin", "/__qmcontract/journal", 403, headers={"origin": "null"}, message="Origin"),
]

LIMITS = [
    Case("body-over-1-mib-post-model", "/query_models", 413, "POST", JSON, OVER_LIMIT, "1,048,576"),
    Case("body-over-1-mib-post-llm", "/query_llms", 413, "POST", JSON, OVER_LIMIT, "1,048,576"),
    Case("body-over-1-mib-on-a-get", f"/query_models/{STATIC}", 413, "GET", JSON, OVER_LIMIT, "1,048,576"),
    Case("body-over-1-mib-control", "/__qmcontract/models", 413, "POST", JSON, OVER_LIMIT, "1,048,576"),
    Case("body-over-1-mib-health", "/healthz", 413, "GET", {}, OVER_LIMIT, "1,048,576"),
    Case("body-over-1-mib-unknown-route", "/nowhere", 413, "POST", JSON, OVER_LIMIT, "1,048,576"),
    Case("chunked-body-10-mib", "/query_models", 413, "POST", JSON, b"[" * (10 * 1024 * 1024), "1,048,576"),
    Case("deep-nesting-api", "/query_models", 400, "POST", JSON, DEEP, "nested deeper than 64"),
    Case("deep-nesting-control", "/__qmcontract/models", 400, "POST", JSON, DEEP, "nested deeper than 64"),
    Case(
        "deep-nesting-control-yaml",
        "/__qmcontract/faults",
        400,
        "POST",
        YAML,
        b"- " * 1000 + b"x",
        "nested deeper than 64",
    ),
    Case("huge-integer-api", "/query_models", 400, "POST", JSON, HUGE_INTEGER, "4,300 digits"),
    Case("huge-integer-control", "/__qmcontract/models", 400, "POST", JSON, HUGE_INTEGER, "4,300 digits"),
    Case("lone-surrogate-api", "/query_models", 400, "POST", JSON, LONE_SURROGATE, "surrogate"),
    Case("lone-surrogate-control", "/__qmcontract/faults", 400, "POST", JSON, LONE_SURROGATE, "surrogate"),
    Case("alias-bomb-control", "/__qmcontract/models", 400, "POST", YAML, ALIAS_BOMB, "aliases"),
    Case("alias-bomb-api", "/query_models", 400, "POST", JSON, ALIAS_BOMB, "not JSON"),
    Case("alias-bomb-fault", "/__qmcontract/faults", 400, "POST", YAML, ALIAS_BOMB, "aliases"),
    Case("non-utf8-control", "/__qmcontract/models", 400, "POST", JSON, b"\xff\xfe{}", "UTF-8"),
    Case("non-utf8-api", "/query_models", 400, "POST", JSON, b"\xff\xfe{}", "UTF-8"),
    Case(
        "nan-in-definition",
        "/query_models",
        400,
        "POST",
        JSON,
        b'{"weight": {"type": "static"}, "models": [{"id": "openai/x", "mode": "generate",'
        b' "weight": {"type": "static", "weight": NaN}}]}',
        "weight-values",
    ),
]

NO_SERVER_ERROR = [
    Case("year-1-with-offset", f"/query_models/{STATIC}?metadata=true&from=0001-01-01T00:00:00%2B01:00", 200),
    Case("year-9999-with-offset", f"/query_models/{STATIC}?metadata=true&to=9999-12-31T23:59:59-01:00", 200),
    Case(
        "widest-offsets",
        "/query_models?sort=cost&from=0001-01-01T00:00:00%2B23:59&to=9999-12-31T23:59:59-23:59",
        200,
    ),
    Case("leap-second", f"/query_models/{STATIC}?metadata=true&from=2016-12-31T23:59:60Z", 200),
    Case(
        "long-fraction", f"/query_models/{STATIC}?metadata=true&from=2025-01-01T00:00:00.{'9' * 5000}Z", 200
    ),
    Case("year-0", f"/query_models/{STATIC}?metadata=true&from=0000-01-01T00:00:00Z", 400, message="from"),
    Case("offset-24-hours", f"/query_models/{STATIC}?metadata=true&from=2025-01-01T00:00:00%2B24:00", 400),
    Case("superscript-count", "/query_models?count=%C2%B2", 400, message="count"),
    Case("arabic-digit-offset", "/query_models?offset=%D9%A3", 400, message="offset"),
    Case("huge-offset", f"/query_models?offset={'9' * 4000}", 200),
    Case("huge-count", "/query_models?count=99999999999999999999", 400, message="count"),
    Case("nul-in-slug", f"/query_models/{STATIC}%00", 404),
    Case("newline-in-slug", "/query_models/x%0a", 404),
    Case("non-utf8-slug", "/query_models/%ff%fe", 404),
    Case("long-slug", f"/query_models/{'a' * 50_000}", 404),
    Case("dot-slug", "/query_models/..", 404),
    Case("nul-in-value", f"/query_models/{STATIC}?metadata=%00", 400),
    Case("non-utf8-value", f"/query_models/{STATIC}?metadata=true&from=%ff", 400),
    Case("control-chars-in-llm-name", "/query_llms/%01%02%7f", 404),
    Case(
        "huge-latency-fault",
        "/__qmcontract/faults",
        400,
        "POST",
        JSON,
        b'{"latency_ms": 1' + b"0" * 400 + b"}",
        "latency_ms",
        then=(f"/query_models/{STATIC}", 200),
    ),
    Case(
        "float-latency-fault",
        "/__qmcontract/faults",
        400,
        "POST",
        JSON,
        b'{"latency_ms": 1e400}',
        "latency_ms",
        then=(f"/query_models/{STATIC}", 200),
    ),
    Case(
        "huge-times-fault",
        "/__qmcontract/faults",
        400,
        "POST",
        JSON,
        b'{"status": 503, "times": 99999999999999999999999}',
        "times",
        then=(f"/query_models/{STATIC}", 200),
    ),
    Case(
        "huge-retry-after",
        "/__qmcontract/faults",
        400,
        "POST",
        JSON,
        b'{"status": 429, "retry_after": 99999999999999999999999}',
        "retry_after",
        then=(f"/query_models/{STATIC}", 200),
    ),
]

LOGS = [
    Case("forged-log-line", "/query_models/x%0a10.0.0.1%20POST%20/__qmcontract/reset%20200", 404),
    Case("secret-query-parameter", f"/query_models/{STATIC}?api_key={SECRET}&Auth_Token={SECRET}", 200),
    Case("long-query", f"/query_models/{STATIC}?q={'x' * 60_000}", 200),
]

CASES = [
    *(pytest.param(case, id=f"policy-{case.id}") for case in POLICY),
    *(pytest.param(case, id=f"limits-{case.id}") for case in LIMITS),
    *(pytest.param(case, id=f"no-500-{case.id}") for case in NO_SERVER_ERROR),
    *(pytest.param(case, id=f"logs-{case.id}") for case in LOGS),
]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as url:
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=60) as client:
        client.post("/__qmcontract/reset", headers=JSON).raise_for_status()
        yield client


def _send(http: httpx.Client, case: Case) -> httpx.Response:
    content: Any = case.body
    if case.id.startswith("chunked-"):
        content = _chunks(case.body or b"")
    return http.request(case.method, case.target, headers=case.headers, content=content)


def assert_error_body(response: httpx.Response, status: int, message: str = "") -> None:
    """A contract error: the status, ``application/json``, ``{code, message}`` with code = status."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == status
    assert message in str(body["message"])
    assert len(response.content) < 2_000


@pytest.mark.parametrize("case", CASES)
def test_hostile_request(case: Case, http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qmcontract.access")
    response = _send(http, case)
    if case.status >= 400:
        assert_error_body(response, case.status, case.message)
    else:
        assert response.status_code == case.status, response.text[:500]
    if case.then is not None:
        assert http.get(case.then[0]).status_code == case.then[1]
    assert http.get("/healthz").json() == {"status": "ok"}
    _assert_logs_are_safe(caplog, http)


def _assert_logs_are_safe(caplog: pytest.LogCaptureFixture, http: httpx.Client) -> None:
    """No secret and no line break reaches a log line or the journal; long queries are cut."""
    lines = [record.getMessage() for record in caplog.records if record.name == "qmcontract.access"]
    journal = http.get("/__qmcontract/journal").json()["requests"]
    for line in lines:
        assert "\n" not in line
        assert SECRET not in line
        assert len(line) < 4_000
    for entry in journal:
        assert SECRET not in entry["query"]
        assert len(entry["query"]) < 1_100
        assert len(entry["path"]) < 1_100


def _access_lines(caplog: pytest.LogCaptureFixture, count: int = 1) -> list[str]:
    """The access lines logged so far, waiting for them: the server logs after it has answered."""
    deadline = time.monotonic() + 10
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "qmcontract.access"]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)


def test_forged_log_line_is_escaped(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qmcontract.access")
    http.get("/query_models/x%0a10.0.0.1%20POST%20/__qmcontract/reset%20200")
    (line,) = _access_lines(caplog)
    assert line.startswith("127.0.0.1 GET /query_models/x\\x0a10.0.0.1 POST /__qmcontract/reset 200 404 ")


def test_secrets_are_redacted_in_the_journal_and_the_log(
    http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qmcontract.access")
    http.get(f"/query_models/{STATIC}?api_key={SECRET}&x=1&Session={SECRET}&passwd={SECRET}")
    (line,) = _access_lines(caplog)
    shown = "api_key=<redacted>&x=1&Session=<redacted>&passwd=<redacted>"
    assert f"?{shown} 200" in line
    assert http.get("/__qmcontract/journal").json()["requests"][0]["query"] == shown


# --- the request head, on raw sockets ----------------------------------------------------------------


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _exchange(url: str, head: bytes, *, timeout: float = 30) -> bytes:
    """Send raw bytes, then read until the server closes; what a broken client would see."""
    with socket.create_connection(_host_port(url), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(head)
        received = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65_536):
                received += chunk
    return received


def _status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    assert headers[b"content-type"] == b"application/json"
    return int(lines[0].split()[1]), json.loads(body)


HUGE_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
HEADS = [
    pytest.param(HUGE_HEADER, 431, id="8-mib-header"),
    pytest.param(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: b\r\n" * 20_000 + b"\r\n",
        431,
        id="many-headers",
    ),
    pytest.param(
        b"GET /" + b"a" * (MAX_HEAD_BYTES + 1) + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, id="long-target"
    ),
    pytest.param(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * (MAX_HEAD_BYTES - 20) + b"\r\n\r\n",
        431,
        id="head-just-over-in-one-packet",
    ),
    pytest.param(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="non-ascii-target"),
    pytest.param(b"NOT HTTP AT ALL\r\n\r\n", 400, id="garbage"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, id="negative-length"),
]


@pytest.mark.parametrize(("head", "status"), HEADS)
def test_hostile_request_heads(server: str, head: bytes, status: int) -> None:
    raw = _exchange(server, head)
    if raw:
        answered, body = _status_and_body(raw)
        assert answered == status
        assert set(body) == {"code", "message"}
        assert body["code"] == status
    with httpx.Client(base_url=server) as http:
        assert http.get("/healthz").json() == {"status": "ok"}


def test_a_head_within_the_bound_is_served(server: str) -> None:
    with httpx.Client(base_url=server) as http:
        response = http.get("/healthz", headers={"x-fill": "a" * (MAX_HEAD_BYTES - 2_000)})
    assert response.status_code == 200


def test_a_chunked_body_over_the_bound_is_refused(http: httpx.Client) -> None:
    response = http.post("/__qmcontract/models", headers=JSON, content=_chunks(b"[" * (2 * MAX_BODY_BYTES)))
    assert_error_body(response, 413, "1,048,576")
    assert http.get("/healthz").status_code == 200


# --- connection timeouts (slow) ------------------------------------------------------------------------


@pytest.mark.slow
def test_an_incomplete_head_is_dropped_after_the_head_timeout(server: str) -> None:
    with socket.create_connection(_host_port(server), timeout=HEAD_TIMEOUT_SECONDS * 3) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        assert sock.recv(1024) == b""
        assert time.monotonic() - started >= HEAD_TIMEOUT_SECONDS - 1
    with httpx.Client(base_url=server) as http:
        assert http.get("/healthz").status_code == 200


@pytest.mark.slow
def test_a_silent_connection_is_dropped_after_the_head_timeout(server: str) -> None:
    with socket.create_connection(_host_port(server), timeout=HEAD_TIMEOUT_SECONDS * 3) as sock:
        assert sock.recv(1024) == b""


@pytest.mark.slow
def test_an_idle_keep_alive_connection_closes(server: str) -> None:
    with socket.create_connection(_host_port(server), timeout=KEEP_ALIVE_SECONDS * 4) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = sock.recv(65_536)
        assert answer.startswith(b"HTTP/1.1 200")
        assert sock.recv(1024) == b""


# --- qmcontract serve: unreadable catalogues ---------------------------------------------------------


def _catalogue(tmp_path: Path, name: str, content: bytes) -> Path:
    directory = tmp_path / "catalogue"
    directory.mkdir()
    (directory / name).write_bytes(content)
    return directory


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.json", b"[" * 2000 + b"]" * 2000, "nested deeper than 64"),
        ("bomb.yaml", ALIAS_BOMB, "aliases"),
        ("huge.json", HUGE_INTEGER, "4,300 digits"),
        ("latin1.yaml", b"weight: {type: static}\nmodels: []\nx: \xe9\xff\n", "not UTF-8"),
        ("surrogate.json", LONE_SURROGATE, "surrogate"),
        ("empty.yaml", b"", "empty"),
        ("list.yaml", b"- 1\n- 2\n", "definition"),
    ],
)
def test_serve_refuses_an_unreadable_catalogue_in_one_line(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    result = CliRunner().invoke(
        cli, ["serve", "--port", "0", "--catalog", str(_catalogue(tmp_path, name, content))]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("qmcontract: error: ")
    assert result.output.count("\n") == 1
    assert message in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("inside", [False, True], ids=["fifo-as-catalogue", "fifo-in-catalogue"])
def test_serve_never_reads_a_fifo(tmp_path: Path, inside: bool) -> None:
    directory = tmp_path / "catalogue"
    directory.mkdir()
    fifo = directory / "definition.yaml" if inside else tmp_path / "fifo"
    os.mkfifo(fifo)
    result = CliRunner().invoke(
        cli, ["serve", "--port", "0", "--catalog", str(directory if inside else fifo)]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("qmcontract: error: ")
    assert result.output.count("\n") == 1


def test_serve_reports_several_broken_files_in_one_line(tmp_path: Path) -> None:
    directory = _catalogue(tmp_path, "a.yaml", ALIAS_BOMB)
    (directory / "b.json").write_bytes(b"[" * 2000)
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--catalog", str(directory)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "a.yaml" in result.output
    assert "b.json" in result.output


# --- memory (slow): the server as a process of its own ----------------------------------------------


def _memory(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process now (``VmRSS``) or at its highest so far (``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field}")


@contextlib.contextmanager
def _server_process() -> Iterator[tuple[str, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-c", "from qmcontract.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _large_definition() -> dict[str, Any]:
    """A definition of about 900 KB (128 LLMs with long stop sequences), under the 1 MiB body bound."""
    return {
        "weight": {"type": "static"},
        "models": [
            {
                "id": f"openai/model-{index}",
                "mode": "generate",
                "stop": ["s" * 4000 + str(index), "t" * 3000],
                "weight": {"type": "static", "weight": 1},
            }
            for index in range(128)
        ],
    }


def _many_long_queries(http: httpx.Client) -> None:
    """1,500 requests with 60 KB query strings (sent raw: httpx spends ~10 ms quoting each URL)."""
    with socket.create_connection(_host_port(str(http.base_url).rstrip("/")), timeout=60) as sock:
        reader = sock.makefile("rb")
        for index in range(1500):
            target = f"/query_models/{STATIC}?n={index}&q={'x' * 60_000}"
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status = reader.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            reader.read(length)


def _large_documents_with_metadata(http: httpx.Client) -> None:
    added = http.post("/__qmcontract/models", json=_large_definition())
    assert added.status_code == 201
    name = added.json()["name"]
    for index in range(200):
        assert http.get(f"/query_models/{name}?metadata=true&n={index}").status_code == 200


def _alias_bombs(http: httpx.Client) -> None:
    for _ in range(50):
        assert_error_body(http.post("/__qmcontract/models", headers=YAML, content=ALIAS_BOMB), 400, "aliases")


def _huge_heads(http: httpx.Client) -> None:
    url = str(http.base_url).rstrip("/")
    for _ in range(10):
        raw = _exchange(url, HUGE_HEADER)
        assert not raw or _status_and_body(raw)[0] == 431


def _huge_bodies(http: httpx.Client) -> None:
    for _ in range(5):
        try:
            response = http.post("/query_models", headers=JSON, content=b"[" * (20 * 1024 * 1024))
        except httpx.TransportError:
            continue  # past 16 MiB the server closes: the client may see the reset before the 413
        assert_error_body(response, 413, "1,048,576")


def _largest_yaml_bodies(http: httpx.Client) -> None:
    body = ("[" + ",".join(["a"] * 400_000) + "]").encode()[: MAX_BODY_BYTES - 10]
    body = body[: body.rfind(b",")] + b"]"
    for _ in range(3):
        assert_error_body(http.post("/__qmcontract/models", headers=YAML, content=body), 400, "definition")


MEMORY_CASES: list[Callable[[httpx.Client], None]] = [
    _many_long_queries,
    _large_documents_with_metadata,
    _alias_bombs,
    _huge_heads,
    _huge_bodies,
    _largest_yaml_bodies,
]


def test_long_queries_are_decoded_but_not_kept() -> None:
    """The decoded-query cache keeps short queries only: 60 KB queries cannot fill memory."""
    long_query = "q=" + "x" * 60_000
    assert query_pairs(long_query) == (("q", "x" * 60_000),)
    assert query_pairs(long_query) is not query_pairs(long_query)
    short_query = "metadata=true&from=2026-01-01T00%3A00%3A00Z"
    assert query_pairs(short_query) is query_pairs(short_query)
    assert query_values(short_query) == {"metadata": ["true"], "from": ["2026-01-01T00:00:00Z"]}


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("attack", MEMORY_CASES, ids=[case.__name__.strip("_") for case in MEMORY_CASES])
def test_resident_memory_stays_bounded(attack: Callable[[httpx.Client], None]) -> None:
    with _server_process() as (url, pid), httpx.Client(base_url=url, timeout=120) as http:
        for _ in range(50):
            http.get(f"/query_models/{STATIC}?metadata=true")
        before = _memory(pid)
        attack(http)
        after, peak = _memory(pid), _memory(pid, "VmHWM")
        assert http.get("/healthz").json() == {"status": "ok"}
    assert after - before <= MEMORY_BOUND, f"grew by {(after - before) / 2**20:.0f} MiB"
    assert peak - before <= PEAK_BOUND, f"peaked {(peak - before) / 2**20:.0f} MiB above"


# --- schemathesis against the control API (slow) -------------------------------------------------------

# The API family's routes (the list and count, which openapi-control.yaml used to describe) are tested
# against openapi.yaml; here only the control API and the server's own routes.
CONTROL_SCHEMA = schemathesis.openapi.from_path(shipped_path("openapi-control.yaml")).exclude(
    path_regex="^/query_models"
)
# positive_data_acceptance: any object is a schema-valid body of POST /models, yet a definition with
# violations is refused (422), and a fault that changes nothing (400) cannot be told apart by a schema;
# negative_data_rejection: schemathesis counts a body sent with a content type it chose as negative.
CONTROL_EXCLUDED_CHECKS: list[schemathesis.CheckFunction] = [
    positive_data_acceptance,
    negative_data_rejection,
]


CONTROL_OPERATIONS = sum(1 for _ in CONTROL_SCHEMA.get_all_operations())
#: Statuses the control API gave over the whole run, and the operations whose run is done. Kept at
#: module level: pytest-xdist may tear the module's fixtures down and set them up again mid-run.
CONTROL_STATUSES: Counter[int] = Counter()
CONTROL_DONE: set[str] = set()


@pytest.fixture(scope="module")
def control_server() -> Iterator[str]:
    """A server for the schemathesis run; once every operation has run, the statuses are checked."""
    with running_server(access_log=False) as url:
        yield url
    if len(CONTROL_DONE) == CONTROL_OPERATIONS:
        assert {200, 201, 400, 403} <= set(CONTROL_STATUSES), dict(CONTROL_STATUSES)


@pytest.mark.slow
@CONTROL_SCHEMA.parametrize()
@settings(
    max_examples=60, database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
def test_schemathesis_finds_no_server_error_in_the_control_api(
    case: schemathesis.Case[Any], control_server: str
) -> None:
    try:
        response = case.call_and_validate(base_url=control_server, excluded_checks=CONTROL_EXCLUDED_CHECKS)
        CONTROL_STATUSES[response.status_code] += 1
    finally:
        httpx.delete(f"{control_server}/__qmcontract/faults").raise_for_status()
        CONTROL_DONE.add(case.operation.label)
