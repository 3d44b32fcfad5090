"""Every tool a user checks answers with agrees with qmcontract's validator on every answer of our server.

The answers: every served Query Model with and without metadata, every served LLM entry, the list,
the count, the global metadata, the POST answers and the error answers, straight from the mock
server; and answers broken on purpose, which the server's response hook sends in place of the
engine's. For each, ``jsonschema``, ``jsonschema-rs``, openapi-core, schemathesis'
``response_schema_conformance`` and Prism's validating proxy (``prism proxy openapi.yaml URL
--errors``) give a verdict, and every verdict must be the one the case states, which is the verdict
of qmcontract's own schema stage (the schema failures and the all-or-none metadata fields that
``validate_query_model``/``validate_query_llm`` report). What a schema cannot see (hashes, whether the
request asked for metadata, ``code`` equal to the status) is the validator's alone, and the cases say
so.

Prism comes from the npm registry (``.ci/prism-agreement`` installs it into ``.ci/node/``); without it
the Prism test skips, unless ``QMCONTRACT_REQUIRE_PRISM=1`` makes the missing tool a failure.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jsonschema
import jsonschema_rs
import pytest
import schemathesis
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.transport import Response as SchemathesisResponse

from qmcontract import validate_query_llm, validate_query_model
from qmcontract.catalog import load_catalog
from qmcontract.limits import MAX_BODY_BYTES, MAX_STRING_LENGTH
from qmcontract.resources import spec_path
from qmcontract.rules import GLOBAL_METADATA_FIELDS, METADATA_FIELDS
from qmcontract.schema_check import schema_errors
from qmcontract.server import running_server
from qmcontract.spec import component_schema, load_spec, response_schema
from qmcontract.wire import Request, Response, encode_json, json_response

REPO = Path(__file__).resolve().parents[1]
STATIC = "2FgLFqAf8M6MTa6MtGLLwM"
TRAINING_TABLE = "5KlLvcRDxfbEwHKwoVF1tI"
UNSERVED = "0000000000000000000000"
STOPS_PAST_THE_LIMIT = MAX_BODY_BYTES // MAX_STRING_LENGTH + 1
AUTHORIZATION = (("authorization", "Bearer sk-test"),)
WINDOW = "from=2025-10-01T00:00:00Z&to=2025-12-01T00:00:00Z"
REVERSED = "metadata=true&from=2025-12-01T00:00:00Z&to=2025-10-01T00:00:00Z"
METADATA: dict[str, Any] = {
    "user_id": "user_0531228200",
    "created": "2025-10-23T16:31:56Z",
    "requests": 6839,
    "chat_completion_tokens": 1186127,
    "chat_prompt_tokens": 4342078,
    "chat_cost": 18.173172,
    "embedding_completion_tokens": 0,
    "embedding_prompt_tokens": 0,
    "embedding_cost": 0.0,
}
#: The operations that answer a Query Model document, and those that answer one LLM entry.
MODEL = "/query_models/{slug}"
LLM = "/query_llms/{name}"
MODEL_ROUTES = ((MODEL, "GET"), ("/query_models", "POST"))
LLM_ROUTES = ((LLM, "GET"), ("/query_llms", "POST"))


@dataclass(frozen=True)
class Case:
    """One request, the answer it gets (the engine's, or ``served`` in its place) and the verdict due.

    ``valid``: whether every tool must accept the answer. ``rule``: for an answer broken in a way only
    the validator sees, the rule it reports. ``prism``: whether Prism forwards the request at all (its
    own request validation refuses some that our server answers with 400).
    """

    label: str
    method: str
    template: str
    path: str
    query: str = ""
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    served: tuple[int, Any] | None = None
    valid: bool = True
    prism: bool = True
    rule: str | None = None

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    @property
    def metadata(self) -> bool:
        return "metadata=true" in self.query


def _get(label: str, template: str, path: str, query: str = "", **extra: Any) -> Case:
    return Case(label, "GET", template, path, query, **extra)


def _post(label: str, path: str, body: Any, query: str = "", *, auth: bool = False, **extra: Any) -> Case:
    raw = body if isinstance(body, bytes) else encode_json(body)
    headers = (("content-type", "application/json"), *(AUTHORIZATION if auth else ()))
    return Case(label, "POST", path, path, query, raw, headers, **extra)


# --- the answers of our server ----------------------------------------------------------------------


def served_cases() -> list[Case]:
    """Every answer the server gives to the family's routes, as the engine writes it."""
    catalog = load_catalog()
    cases: list[Case] = []
    for name in catalog.names():
        route, document = f"/query_models/{name}", catalog.get(name)
        cases.append(_get(f"model {name}", MODEL, route))
        cases.append(_get(f"model {name} metadata", MODEL, route, "metadata=true"))
        cases.append(_post(f"post model {name}", "/query_models", document))
        # Posting an entry back answers exactly GET /query_llms/{name}: one per model is enough.
        first = document["models"][0]["name"]
        cases.append(_post(f"post llm {first} of {name}", "/query_llms", catalog.llm(first)))
    for name in catalog.llm_names():
        route = f"/query_llms/{name}"
        cases.append(_get(f"llm {name}", LLM, route))
        cases.append(_get(f"llm {name} metadata", LLM, route, "metadata=true"))
    model, llm = catalog.get(STATIC), catalog.get(TRAINING_TABLE)["models"][0]
    cases += [
        _get("model me", MODEL, f"/query_models/{STATIC}", "metadata=true&me=true", headers=AUTHORIZATION),
        _get("model window", MODEL, f"/query_models/{STATIC}", f"metadata=true&{WINDOW}"),
        _get("llm me", LLM, f"/query_llms/{llm['name']}", "metadata=true&me=true", headers=AUTHORIZATION),
        _post("post model metadata", "/query_models", model, "metadata=true"),
        _post("post model me", "/query_models", model, f"metadata=true&me=true&{WINDOW}", auth=True),
        _post("post llm metadata", "/query_llms", catalog.llm(llm["name"]), "metadata=true"),
        _get("list", "/query_models", "/query_models"),
        _get("list empty values", "/query_models", "/query_models", "count=&offset=&sort=&me="),
        _get("list page", "/query_models", "/query_models", "count=5&offset=3"),
        _get("list none", "/query_models", "/query_models", "count=0"),
        _get("list past the end", "/query_models", "/query_models", "offset=99999999999999999999"),
        _get("list sorted", "/query_models", "/query_models", f"sort=cost&{WINDOW}"),
        _get("list created", "/query_models", "/query_models", "sort=created&count=1000"),
        _get("list me", "/query_models", "/query_models", "me=true&sort=tokens", headers=AUTHORIZATION),
        _get("count", "/query_models/count", "/query_models/count"),
        _get("metadata", "/metadata", "/metadata"),
    ]
    return cases + error_cases()


def error_cases() -> list[Case]:
    """An answer of each error status on each route that has it."""
    model = f"/query_models/{STATIC}"
    llm = f"/query_llms/{load_catalog().llm_names()[0]}"
    definition = {
        "weight": {"type": "static"},
        "models": [{"id": "a", "mode": "generate", "weight": {"type": "static", "weight": 1}}],
    }
    mismatched = {
        "weight": {"type": "static"},
        "models": [
            {
                "id": "a",
                "mode": "generate",
                "weight": {"type": "training_table", "base_weight": 1, "min_weight": 2, "max_weight": 3},
            }
        ],
    }
    # distinct 4,096-character stop strings, enough to pass 1 MiB even as compact JSON
    huge = {
        "id": "a",
        "mode": "generate",
        "stop": [f"{i:04d}" * (MAX_STRING_LENGTH // 4) for i in range(STOPS_PAST_THE_LIMIT)],
        "weight": {"type": "static", "weight": 1},
    }
    return [
        _get("400 model window", MODEL, model, REVERSED),
        _get("400 model boolean", MODEL, model, "metadata=yes", prism=False),
        _get("400 model twice", MODEL, model, "metadata=true&metadata=false", prism=False),
        _get("400 llm window", LLM, llm, REVERSED),
        _get("400 list window", "/query_models", "/query_models", WINDOW.replace("10-01", "12-02")),
        _get("400 list count", "/query_models", "/query_models", "count=1001", prism=False),
        _get("400 list sort", "/query_models", "/query_models", "sort=Cost", prism=False),
        _post("400 post model rules", "/query_models", mismatched),
        _post("400 post model not json", "/query_models", b"{", prism=False),
        _post("400 post llm rules", "/query_llms", mismatched["models"][0]),
        _post("400 post llm window", "/query_llms", definition["models"][0], REVERSED),
        _get("401 model", MODEL, model, "metadata=true&me=true"),
        _get("401 llm", LLM, llm, "metadata=true&me=true"),
        _get("401 list", "/query_models", "/query_models", "me=true"),
        _post("401 post model", "/query_models", definition, "metadata=true&me=true"),
        _post("401 post llm", "/query_llms", definition["models"][0], "metadata=true&me=true"),
        _get("404 model", MODEL, f"/query_models/{UNSERVED}"),
        _get("404 model not a name", MODEL, "/query_models/nope", prism=False),
        _get("404 llm", LLM, f"/query_llms/{UNSERVED}"),
        _post("404 post model", "/query_models", definition, "metadata=true"),
        _post("404 post llm", "/query_llms", definition["models"][0], "metadata=true"),
        _post("413 post llm", "/query_llms", huge),
        _post("413 post model", "/query_models", {"weight": {"type": "static"}, "models": [huge]}),
    ]


# --- answers broken on purpose ------------------------------------------------------------------------


def broken_cases() -> list[Case]:
    """Answers the server's hook sends in place of the engine's, each with the verdict it is due."""
    catalog = load_catalog()
    static, table = catalog.get(STATIC), catalog.get(TRAINING_TABLE)
    entry = catalog.llm(static["models"][0]["name"])
    assert entry is not None
    with_metadata = {**static, **METADATA}
    cases: list[Case] = []

    def model(
        label: str, document: Any, *, valid: bool, metadata: bool = True, rule: str | None = None
    ) -> None:
        query = f"metadata={'true' if metadata else 'false'}&case={len(cases)}"
        served = (200, document)
        route = f"/query_models/{STATIC}"
        cases.append(_get(label, MODEL, route, query, served=served, valid=valid, rule=rule))

    def llm_model(label: str, change: Callable[[dict[str, Any]], None], *, valid: bool = False) -> None:
        document = copy.deepcopy(table)
        change(document["models"][0])
        model(label, document, valid=valid, metadata=False)

    def other(label: str, template: str, path: str, status: int, body: Any) -> None:
        cases.append(_get(label, template, path, f"case={len(cases)}", served=(status, body), valid=False))

    model("unknown top-level field", {**with_metadata, "extra": 1}, valid=False)
    model("metadata: one field missing", _without(with_metadata, "chat_cost"), valid=False)
    model("no metadata: one field present", {**static, "requests": 1}, valid=False, metadata=False)
    model("requests negative", {**with_metadata, "requests": -1}, valid=False)
    model("requests beyond 64 bits", {**with_metadata, "requests": 2**64}, valid=False)
    model("created not a date-time", {**with_metadata, "created": "yesterday"}, valid=False)
    model("cost as a string", {**with_metadata, "chat_cost": "1"}, valid=False)
    model("user_id empty", {**with_metadata, "user_id": ""}, valid=False)
    model("name of 21 characters", {**static, "name": STATIC[:21]}, valid=False, metadata=False)
    model("models empty", {**static, "models": []}, valid=False, metadata=False)
    model("model weight unknown field", {**static, "weight": {"type": "static", "x": 1}}, valid=False)
    model("top 0", {**table, "weight": {**table["weight"], "top": 0}}, valid=False, metadata=False)
    model("training_table_name null", {**table, "training_table_name": None}, valid=False, metadata=False)
    llm_model("llm unknown field", lambda llm: llm.update(extra=1))
    llm_model("llm index as a string", lambda llm: llm.update(index="0"))
    llm_model("llm weight 0", lambda llm: llm.update(weight={"type": "static", "weight": 0}))
    llm_model("llm id too long", lambda llm: llm.update(id="x" * (MAX_STRING_LENGTH + 1)))
    llm_model("llm stop repeated", lambda llm: llm.update(stop=["a", "a"]))
    llm_model("llm logit_bias key 01", lambda llm: llm.update(logit_bias={"01": 1}))
    llm_model("llm temperature 3", lambda llm: llm.update(temperature=3))
    llm_model("llm index 0.0 is an integer", lambda llm: llm.update(index=0.0), valid=True)
    # What only the validator sees: names, training-table presence, and metadata the request did not ask for.
    model(
        "wrong but well-formed name",
        {**static, "name": UNSERVED},
        valid=True,
        metadata=False,
        rule="model-name",
    )
    model(
        "training_table_name on a static model",
        {**with_metadata, "training_table_name": STATIC},
        valid=True,
        rule="training-table-presence",
    )
    model("metadata although not asked", with_metadata, valid=True, metadata=False, rule="metadata-presence")
    llm_route = f"/query_llms/{entry['name']}"
    for label, document, rule in (
        ("entry with an index", {**entry, "index": 0}, None),
        ("entry with partial metadata", {**entry, "requests": 1}, None),
        ("entry with an unknown field", {**entry, "extra": 1}, None),
        ("entry with a null training_table_name", {**entry, "training_table_name": None}, None),
        ("entry with a wrong but well-formed name", {**entry, "name": UNSERVED}, "llm-name"),
    ):
        served, valid = (200, document), rule is not None
        query = f"case={len(cases)}"
        cases.append(_get(label, LLM, llm_route, query, served=served, valid=valid, rule=rule))
    names = catalog.names()
    other("list with a repeated name", "/query_models", "/query_models", 200, {"data": [names[0], names[0]]})
    other("list with a bad name", "/query_models", "/query_models", 200, {"data": ["not-a-name"]})
    other("list with an unknown field", "/query_models", "/query_models", 200, {"data": [], "next": None})
    other("list of 1001", "/query_models", "/query_models", 200, {"data": [f"{i:022d}" for i in range(1001)]})
    other("list as an object", "/query_models", "/query_models", 200, {"data": {names[0]: 1}})
    other("count negative", "/query_models/count", "/query_models/count", 200, {"count": -1})
    other("count a fraction", "/query_models/count", "/query_models/count", 200, {"count": 13.5})
    other("count a boolean", "/query_models/count", "/query_models/count", 200, {"count": True})
    other("count as a string", "/query_models/count", "/query_models/count", 200, {"count": "13"})
    totals = dict.fromkeys(GLOBAL_METADATA_FIELDS, 1)
    other("metadata missing a total", "/metadata", "/metadata", 200, _without(totals, "query_cost"))
    other("metadata negative cost", "/metadata", "/metadata", 200, {**totals, "chat_cost": -0.5})
    other("metadata cost as a string", "/metadata", "/metadata", 200, {**totals, "chat_cost": "0.5"})
    other("metadata unknown field", "/metadata", "/metadata", 200, {**totals, "extra": 1})
    missing = f"/query_models/{UNSERVED}"
    other("error code as a string", MODEL, missing, 404, {"code": "404", "message": "x"})
    other("error without message", MODEL, missing, 404, {"code": 404})
    other(
        "error with an unknown field",
        MODEL,
        missing,
        404,
        {"code": 404, "message": "x", "x": 1},
    )
    cases.append(
        _get(
            "error code differs from the status",
            MODEL,
            missing,
            f"case={len(cases)}",
            served=(404, {"code": 400, "message": "x"}),
            valid=True,
        )
    )
    cases.append(
        _post(
            "post answer with an unknown field",
            "/query_models",
            static,
            f"case={len(cases)}",
            served=(200, {**static, "extra": 1}),
            valid=False,
        )
    )
    return cases


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != key}


ALL_CASES: list[Case] = served_cases() + broken_cases()


def _hook(cases: list[Case]) -> Callable[[Request, Response], Response]:
    replies = {(c.method, c.path, c.query): c.served for c in cases if c.served is not None}

    def hook(request: Request, response: Response) -> Response:
        served = replies.get((request.method, request.path, request.query))
        if served is None:
            return response
        status, body = served
        return json_response(status, json.dumps(body).encode())

    return hook


def _send(client: httpx.Client, case: Case) -> httpx.Response:
    return client.request(case.method, case.target, content=case.body or None, headers=dict(case.headers))


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with running_server(load_catalog(), hook=_hook(ALL_CASES), access_log=False) as url:
        yield url


@pytest.fixture(scope="module")
def answers(upstream: str) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=upstream, timeout=30) as client:
        return {case.label: _send(client, case) for case in ALL_CASES}


# --- qmcontract's own verdict ---------------------------------------------------------------------------


def _partial_metadata(document: Any) -> bool:
    present = [key for key in METADATA_FIELDS if isinstance(document, dict) and key in document]
    return 0 < len(present) < len(METADATA_FIELDS)


def test_the_labels_are_unique() -> None:
    assert len({case.label for case in ALL_CASES}) == len(ALL_CASES)
    assert len({(c.method, c.target) for c in ALL_CASES if c.served is not None}) == len(broken_cases())


def test_every_status_of_every_route_is_among_the_answers(answers: dict[str, httpx.Response]) -> None:
    seen = {(c.template, c.method.lower(), str(answers[c.label].status_code)) for c in ALL_CASES}
    for path, item in load_spec()["paths"].items():
        for method, operation in item.items():
            if method == "description":
                continue
            for status in operation["responses"]:
                assert (path, method, status) in seen, (path, method, status)


def test_the_validator_gives_each_answer_its_verdict(answers: dict[str, httpx.Response]) -> None:
    """Served answers break no rule; the schema stage of the validator gives each case its verdict."""
    for case in ALL_CASES:
        response = answers[case.label]
        body = response.json()
        assert response.headers["content-type"] == "application/json", case.label
        if case.served is None and response.status_code >= 400:
            assert body["code"] == response.status_code, case.label
        operation = (case.template, case.method)
        if response.status_code != 200 or operation not in (*MODEL_ROUTES, *LLM_ROUTES):
            continue
        kind = "document" if operation in MODEL_ROUTES else "llm"
        validate = validate_query_model if kind == "document" else validate_query_llm
        violations = validate(body, metadata=case.metadata)
        schema_stage = not schema_errors(body, kind=kind) and not _partial_metadata(body)
        assert schema_stage == case.valid, (case.label, violations)
        if case.valid:
            assert {v.rule for v in violations} == ({case.rule} if case.rule else set()), case.label
        else:
            assert violations, case.label


def test_405_bodies_are_error_bodies(upstream: str) -> None:
    checkers = (
        jsonschema.Draft202012Validator(component_schema("Error")),
        jsonschema_rs.validator_for(component_schema("Error")),
    )
    for method, path in (("GET", "/query_llms"), ("PUT", f"/query_models/{STATIC}"), ("POST", "/metadata")):
        response = httpx.request(method, upstream + path)
        assert response.status_code == 405
        assert all(checker.is_valid(response.json()) for checker in checkers)


# --- the tools' verdicts ---------------------------------------------------------------------------------

Verdict = Callable[[Case, httpx.Response], list[str]]


@functools.cache
def _python_validators(template: str, method: str, status: int) -> tuple[Any, Any]:
    schema = response_schema(template, method, status)
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER), jsonschema_rs.validator_for(
        schema, validate_formats=True
    )


def jsonschema_verdict(case: Case, response: httpx.Response) -> list[str]:
    checker, _ = _python_validators(case.template, case.method, response.status_code)
    return [error.message[:200] for error in checker.iter_errors(response.json())]


def jsonschema_rs_verdict(case: Case, response: httpx.Response) -> list[str]:
    _, checker = _python_validators(case.template, case.method, response.status_code)
    return [error.message[:200] for error in checker.iter_errors(response.json())]


@functools.cache
def _openapi_core() -> OpenAPI:
    return OpenAPI.from_dict(copy.deepcopy(load_spec()))


def openapi_core_verdict(case: Case, response: httpx.Response) -> list[str]:
    server = load_spec()["servers"][0]["url"]
    request = MockRequest(server, case.method.lower(), case.path, args=dict(parse_qsl(case.query)))
    answer = MockResponse(
        response.content, response.status_code, content_type=response.headers["content-type"]
    )
    try:
        _openapi_core().validate_response(request, answer)
    except Exception as exc:  # openapi-core reports every failure as an exception of its own
        return [f"{type(exc).__name__}: {exc}"[:300]]
    return []


@functools.cache
def _schemathesis() -> Any:
    return schemathesis.openapi.from_dict(copy.deepcopy(load_spec()))


def schemathesis_verdict(case: Case, response: httpx.Response) -> list[str]:
    operation = _schemathesis()[case.template][case.method]
    try:
        operation.validate_response(SchemathesisResponse.from_httpx(response, verify=False))
    except (Failure, FailureGroup) as exc:
        return [str(exc)[:300]]
    return []


TOOLS: dict[str, Verdict] = {
    "jsonschema": jsonschema_verdict,
    "jsonschema-rs": jsonschema_rs_verdict,
    "openapi-core": openapi_core_verdict,
    "schemathesis": schemathesis_verdict,
}


def _disagreements(verdict: Verdict, responses: dict[str, httpx.Response], cases: list[Case]) -> list[str]:
    found = []
    for case in cases:
        problems = verdict(case, responses[case.label])
        if (not problems) != case.valid:
            said = "; ".join(problems) if problems else "valid"
            found.append(f"{case.label}: expected {'valid' if case.valid else 'invalid'}, got {said}")
    return found


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_the_tool_agrees_with_the_validator(tool: str, answers: dict[str, httpx.Response]) -> None:
    assert _disagreements(TOOLS[tool], answers, ALL_CASES) == []


# --- Prism's validating proxy ---------------------------------------------------------------------------


def _prism_executable() -> str | None:
    candidates = [os.environ.get("QMCONTRACT_PRISM"), str(REPO / ".ci/node/node_modules/.bin/prism")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("prism")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _prism_proxy(executable: str, upstream: str) -> Iterator[str]:
    """``prism proxy openapi.yaml UPSTREAM --errors`` on a free loopback port, stopped afterwards."""
    port = _free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [
                executable,
                "proxy",
                str(spec_path()),
                upstream,
                "--errors",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-v",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for(url, process, log)
            yield url
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"prism stopped while starting: {log.read().decode(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url + "/query_models/count", timeout=5)
            return  # any answer: prism is listening
        time.sleep(0.2)
    pytest.fail(f"prism did not answer at {url} within {timeout:.0f} s")


def _portable(value: Any) -> bool:
    """Whether a JavaScript program forwards this JSON unchanged: it reads integer-like object keys
    into ascending numeric order, so ``logit_bias`` keys in another order come out reordered (and the
    LLM then has another name)."""
    if isinstance(value, dict):
        bias = value.get("logit_bias")
        keys = list(bias) if isinstance(bias, dict) else []
        ordered = keys == sorted(keys, key=lambda key: int(key) if key.isdigit() else -1)
        return ordered and all(_portable(item) for item in value.values())
    if isinstance(value, list):
        return all(_portable(item) for item in value)
    return True


def prism_verdict(case: Case, direct: httpx.Response, proxied: httpx.Response) -> list[str]:
    """Prism's verdict on the answer it forwarded: its violations, or none when it passed the answer on."""
    if proxied.headers.get("content-type", "").startswith("application/problem+json"):
        problem = proxied.json()
        violations = problem.get("validation", [])
        refused = [v for v in violations if v.get("location", [""])[0] != "response"]
        assert not refused, f"prism refused the request itself: {refused}"
        return [f"{v.get('code')}: {v.get('message')}" for v in violations] or [str(problem.get("title"))]
    assert proxied.status_code == direct.status_code, case.label
    if not case.body or _portable(json.loads(case.body)):
        assert proxied.json() == direct.json(), case.label
    return []


@pytest.fixture
def prism() -> str:
    """Prism's executable; skips without it (fails with ``QMCONTRACT_REQUIRE_PRISM=1``)."""
    executable = _prism_executable()
    if executable is None:
        message = "prism is not installed (run .ci/prism-agreement, or set QMCONTRACT_PRISM)"
        if os.environ.get("QMCONTRACT_REQUIRE_PRISM") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return executable


@pytest.mark.slow
def test_prism_agrees_with_the_validator(
    prism: str, upstream: str, answers: dict[str, httpx.Response]
) -> None:
    cases = [case for case in ALL_CASES if case.prism]
    with _prism_proxy(prism, upstream) as proxy, httpx.Client(base_url=proxy, timeout=60) as client:
        proxied = {case.label: _send(client, case) for case in cases}

    def verdict(case: Case, response: httpx.Response) -> list[str]:
        return prism_verdict(case, answers[case.label], response)

    assert _disagreements(verdict, proxied, cases) == []
