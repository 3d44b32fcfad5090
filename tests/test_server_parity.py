"""The server answers every case of contract.md exactly as the respx mock does.

One list of cases drives both faces: each case is sent through ``mock_query_models()`` and
through the running server (reset before each case), and the outcomes must be identical:
status, content type, ``Retry-After`` and the body bytes, or the same transport error.
Both faces call the same engine, so any difference is a bug in one of the adapters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.faults import TransportFault
from qmcontract.respx_mock import mock_query_models
from qmcontract.server import running_server

STATIC = "2FgLFqAf8M6MTa6MtGLLwM"  # facts worked example 1: three static-weight LLMs
TRAINING = "5KlLvcRDxfbEwHKwoVF1tI"  # facts worked example 2: training-table weights
LARGE = "7A2VSVjfUfLs4zFmUNIApA"  # 128 LLMs
UNKNOWN = "0000000000000000000000"
WINDOW = "from=2025-10-01T00:00:00Z&to=2025-11-01T00:00:00Z"
AUTH = {"authorization": "Bearer sk-parity-token"}
ADDED = {
    "weight": {"type": "static"},
    "models": [{"id": "openai/gpt-5-nano", "mode": "generate", "weight": {"type": "static", "weight": 2}}],
}


@dataclass(frozen=True)
class Case:
    """One request, optionally preceded by a scheduled fault or a run-time model."""

    id: str
    target: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    fault: dict[str, Any] | None = None
    add: dict[str, Any] | None = None


CASES = [
    # slug-echo, stable: the stored document
    Case("static", f"/query_models/{STATIC}"),
    Case("training-table", f"/query_models/{TRAINING}"),
    Case("128-llms", f"/query_models/{LARGE}"),
    Case("trailing-slash", f"/query_models/{STATIC}/"),
    Case("head", f"/query_models/{STATIC}", method="HEAD"),
    Case("authorization-without-metadata", f"/query_models/{STATIC}", headers=AUTH),
    # metadata-presence, metadata-window
    Case("metadata", f"/query_models/{STATIC}?metadata=true"),
    Case("metadata-training-table", f"/query_models/{TRAINING}?metadata=true"),
    Case("metadata-false", f"/query_models/{STATIC}?metadata=false"),
    Case("metadata-empty-is-absent", f"/query_models/{STATIC}?metadata="),
    Case("metadata-window", f"/query_models/{STATIC}?metadata=true&{WINDOW}"),
    Case("metadata-empty-window", f"/query_models/{STATIC}?metadata=true&from=&to="),
    Case("metadata-me", f"/query_models/{STATIC}?metadata=true&me=true", headers=AUTH),
    Case("metadata-me-false", f"/query_models/{STATIC}?metadata=true&me=false"),
    Case("metadata-me-empty", f"/query_models/{STATIC}?metadata=true&me="),
    Case("metadata-me-window", f"/query_models/{TRAINING}?metadata=true&me=true&{WINDOW}", headers=AUTH),
    # bad-request
    Case("metadata-malformed", f"/query_models/{STATIC}?metadata=yes"),
    Case("metadata-upper-case", f"/query_models/{STATIC}?metadata=TRUE"),
    Case("metadata-twice", f"/query_models/{STATIC}?metadata=true&metadata=true"),
    Case("me-malformed", f"/query_models/{STATIC}?metadata=true&me=1"),
    Case("from-malformed", f"/query_models/{STATIC}?metadata=true&from=yesterday"),
    Case("to-without-zone", f"/query_models/{STATIC}?metadata=true&to=2025-10-01T00:00:00"),
    Case(
        "from-after-to",
        f"/query_models/{STATIC}?metadata=true&from=2025-11-01T00:00:00Z&to=2025-10-01T00:00:00Z",
    ),
    # auth-required
    Case("me-without-authorization", f"/query_models/{STATIC}?metadata=true&me=true"),
    # ignored-params
    Case("me-without-metadata", f"/query_models/{STATIC}?me=true"),
    Case("garbage-without-metadata", f"/query_models/{STATIC}?me=maybe&from=soon&to=later"),
    Case("garbage-with-metadata-false", f"/query_models/{STATIC}?metadata=false&me=1&from=x&to=y"),
    # not-found
    Case("unknown", f"/query_models/{UNKNOWN}"),
    Case("short-slug", "/query_models/abc"),
    Case("non-base62-slug", "/query_models/2FgLFqAf8M6MTa6MtGLLw-"),
    Case("nested-path", f"/query_models/{STATIC}/models"),
    # precedence: 400 > 401 > 404
    Case("400-before-404", f"/query_models/{UNKNOWN}?metadata=nope"),
    Case("401-before-404", f"/query_models/{UNKNOWN}?metadata=true&me=true"),
    Case("400-before-401", f"/query_models/{STATIC}?metadata=true&me=true&from=bad"),
    # sibling routes
    Case("count", "/query_models/count"),
    Case("list", "/query_models"),
    Case("list-page", "/query_models?count=3&offset=2"),
    Case("list-bad-count", "/query_models?count=many"),
    Case("list-count-too-large", "/query_models?count=5000"),
    # faults scheduled through each face's own API
    Case("fault-503", f"/query_models/{STATIC}", fault={"status": 503, "retry_after": 2}),
    Case("fault-429-default-retry-after", f"/query_models/{STATIC}", fault={"status": 429}),
    Case("fault-500", f"/query_models/{STATIC}?metadata=true", fault={"status": 500}),
    Case("fault-malformed-body", f"/query_models/{STATIC}", fault={"malformed_body": True}),
    Case("fault-latency", f"/query_models/{STATIC}", fault={"latency_ms": 20}),
    Case("fault-dropped-connection", f"/query_models/{STATIC}", fault={"drop_connection": True}),
    Case(
        "fault-other-prefix-untouched",
        f"/query_models/{STATIC}",
        fault={"status": 503, "path_prefix": f"/query_models/{UNKNOWN}"},
    ),
    # a model added at run time
    Case("added-model", "/query_models/{added}", add=ADDED),
]

Outcome = tuple[Any, ...]


def _outcome(send: Any) -> Outcome:
    try:
        response: httpx.Response = send()
    except httpx.TransportError as exc:
        return ("transport error", type(exc).__name__)
    headers = response.headers
    return (response.status_code, headers.get("content-type"), headers.get("retry-after"), response.content)


def _request(client: httpx.Client, case: Case, name: str | None) -> Outcome:
    target = case.target.format(added=name)
    return _outcome(lambda: client.request(case.method, target, headers=case.headers))


def through_mock(case: Case, catalog: Catalog) -> Outcome:
    # A case may leave its fault unused on purpose (fault-other-prefix-untouched).
    mock = mock_query_models(catalog.copy(), assert_all_faults_used=False)
    with mock, httpx.Client(base_url=mock.base_url) as client:
        name = mock.add(case.add)["name"] if case.add is not None else None
        if case.fault is not None:
            fault = dict(case.fault)
            transport: TransportFault | None = (
                "drop_connection" if fault.pop("drop_connection", False) else None
            )
            mock.fail_next(**fault, transport=transport)
        return _request(client, case, name)


def through_server(case: Case, client: httpx.Client) -> Outcome:
    client.post("/__qmcontract/reset", headers={"content-type": "application/json"}).raise_for_status()
    name = None
    if case.add is not None:
        added = client.post("/__qmcontract/models", json=case.add)
        assert added.status_code == 201, added.text
        name = added.json()["name"]
    if case.fault is not None:
        assert client.post("/__qmcontract/faults", json=case.fault).status_code == 201
    return _request(client, case, name)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def server(catalog: Catalog) -> Iterator[httpx.Client]:
    with running_server(catalog, access_log=False) as url, httpx.Client(base_url=url) as client:
        yield client


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_server_answers_like_the_respx_mock(case: Case, catalog: Catalog, server: httpx.Client) -> None:
    expected = through_mock(case, catalog)
    assert through_server(case, server) == expected


def test_the_cases_cover_every_outcome(catalog: Catalog) -> None:
    statuses = {through_mock(case, catalog)[0] for case in CASES}
    assert statuses == {200, 400, 401, 404, 429, 500, 503, "transport error"}
