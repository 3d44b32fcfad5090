"""``--self-check``: what is wrong with a response the server is about to send, by rule id.

One function, :func:`self_check`, so that the checks behind it can be replaced in one place
(the conformance checks are to be called from here).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema_rs

from qmcontract.errors import Violation
from qmcontract.params import BadParameter, parse_stats_params
from qmcontract.routes import route_of
from qmcontract.spec import component_schema, load_spec
from qmcontract.validate import validate_query_model
from qmcontract.wire import JSON_CONTENT_TYPE, Request, Response


def self_check(request: Request, response: Response) -> list[Violation]:
    """What is wrong with a response the server is about to send, by the contract's rule ids.

    Checks the content type, error bodies, documented statuses, and every 200 retrieve
    document with the validator (schema, names, order, metadata presence) and ``slug-echo``.
    """
    headers = dict(response.headers)
    if headers.get("content-type") != JSON_CONTENT_TYPE:
        return [
            Violation(
                "content-type", "", f"expected {JSON_CONTENT_TYPE}, got {headers.get('content-type')!r}"
            )
        ]
    try:
        body = json.loads(response.body)
    except ValueError:
        rule = "error-body" if response.status >= 400 else "schema"
        return [Violation(rule, "", "the body is not JSON")]
    if response.status >= 400:
        return _error_violations(response.status, body)
    return _success_violations(request, body)


def _error_violations(status: int, body: Any) -> list[Violation]:
    violations = []
    if not _error_validator().is_valid(body):
        violations.append(Violation("error-body", "", f"not a {{code, message}} error body: {body!r:.200}"))
    elif body["code"] != status:
        violations.append(Violation("error-body", "/code", f"expected {status}, got {body['code']!r}"))
    if status >= 500:
        violations.append(Violation("no-server-error", "", f"status {status}"))
    elif status not in _documented_statuses():
        violations.append(Violation("schema", "", f"status {status} is not documented in openapi.yaml"))
    return violations


def _success_violations(request: Request, body: Any) -> list[Violation]:
    route = route_of(request.path)
    kind = route.kind(request.method)
    if kind in ("model-list", "model-count"):
        return _listing_violations("count" if kind == "model-count" else "", body)
    if kind != "model":
        return []
    rest = route.name or ""
    try:
        metadata = parse_stats_params(request.query).metadata
    except BadParameter:
        return [Violation("bad-request", "", "a malformed request was answered with 200")]
    violations = validate_query_model(body, metadata=metadata)
    if isinstance(body, dict) and body.get("name") != rest:
        violations.append(Violation("slug-echo", "/name", f"expected {rest!r}, got {body.get('name')!r}"))
    return violations


def _listing_violations(rest: str, body: Any) -> list[Violation]:
    if rest == "count":
        valid = isinstance(body, dict) and isinstance(body.get("count"), int) and body["count"] >= 0
        return [] if valid else [Violation("schema", "", f'expected {{"count": n}}, got {body!r:.200}')]
    names = body.get("data") if isinstance(body, dict) else None
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return []
    return [Violation("schema", "/data", f'expected {{"data": [names]}}, got {body!r:.200}')]


@functools.cache
def _error_validator() -> Any:
    return jsonschema_rs.Draft202012Validator(component_schema("Error"))


@functools.cache
def _documented_statuses() -> frozenset[int]:
    responses = load_spec()["paths"]["/query_models/{slug}"]["get"]["responses"]
    return frozenset(int(status) for status in responses if status.isdigit())
