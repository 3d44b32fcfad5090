"""Our checks inside a plain schemathesis run, for teams that already run schemathesis::

    SCHEMATHESIS_HOOKS=qmcontract.conformance.schemathesis_hooks \\
        schemathesis run openapi.yaml --url URL --checks qmcontract_error_body,qmcontract_document_rules

Each check judges the one response it is given with the same functions ``qmcontract conformance``
runs (nothing is sent again, so the rules that compare several answers do not apply here, and the
oracle knows no served name: unknown names are judged only when they are malformed). Operations
whose path is not a route of the API family are left alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

import schemathesis

from qmcontract.conformance import checks
from qmcontract.conformance.checks import Check, Context
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.expect import Knowledge
from qmcontract.conformance.subchecks import Facts
from qmcontract.routes import route_of
from qmcontract.wire import Request, header_pairs

_UNKNOWN: Final = Knowledge(lambda _name: None, lambda _name: None, frozenset())


def exchange_of(response: Any) -> Exchange:
    """The exchange a schemathesis response records (the path as sent, from the server's root)."""
    prepared = response.request
    split = urlsplit(str(prepared.url))
    headers = header_pairs(
        (str(k), v.decode("latin-1") if isinstance(v, bytes) else str(v)) for k, v in prepared.headers.items()
    )
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body or b""
    answer = header_pairs((key, value) for key, values in response.headers.items() for value in values)
    return Exchange(
        Request(str(prepared.method), split.path, split.query, headers, body),
        response.status_code,
        answer,
        response.content,
    )


def _judge(case: Any, response: Any, judges: Iterable[Check]) -> None:
    """Raise with every violation; an operation outside the API family (a server's own routes
    in another spec of the same run) is not this contract's to judge."""
    if not route_of(case.operation.path).exists:
        return
    exchange, context = exchange_of(response), Context(_UNKNOWN, Facts(True, False))
    broken = [v for check in judges for outcome in check(exchange, context) for v in outcome.violations]
    if broken:
        raise AssertionError("\n".join(f"{v.rule}: {v}" for v in broken))


@schemathesis.check
def qmcontract_error_body(_ctx: Any, response: Any, case: Any) -> None:
    """``error-body``: every 4xx/5xx body is ``{code, message}`` with ``code`` the status."""
    _judge(case, response, [checks.error_body])


@schemathesis.check
def qmcontract_content_type(_ctx: Any, response: Any, case: Any) -> None:
    """``content-type``: every JSON body is sent as ``application/json``."""
    _judge(case, response, [checks.content_type])


@schemathesis.check
def qmcontract_status(_ctx: Any, response: Any, case: Any) -> None:
    """``bad-request``, ``auth-required``, ``not-found``: the status the contract's tables require."""
    _judge(case, response, [checks.status_rules])


@schemathesis.check
def qmcontract_document_rules(_ctx: Any, response: Any, case: Any) -> None:
    """Every document rule (and ``slug-echo``) on a 200 answer carrying a Query Model or LLM."""
    _judge(case, response, [checks.document_rules, checks.slug_echo])


@schemathesis.check
def qmcontract_no_server_error(_ctx: Any, response: Any, case: Any) -> None:
    """``no-server-error``: no request gets a 5xx."""
    _judge(case, response, [checks.no_server_error])
