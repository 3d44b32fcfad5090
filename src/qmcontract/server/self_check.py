"""``--self-check``: what is wrong with an answer the server is about to send, by rule id.

It calls the conformance checks themselves (:func:`qmcontract.conformance.judge.evaluate`), so the
server and ``qmcontract conformance`` can never judge one answer two ways. The server knows what it
serves and which tokens it takes; nothing is sent again, so the rules that compare several answers
(``stable``, ``metadata-window``, ``list-sort``, ...) do not apply here.
"""

from __future__ import annotations

from collections.abc import Collection

from qmcontract.catalog import Catalog
from qmcontract.conformance.checks import Context
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.expect import Knowledge
from qmcontract.conformance.judge import evaluate
from qmcontract.conformance.subchecks import Facts
from qmcontract.errors import Violation
from qmcontract.wire import Request, Response


def self_check(
    request: Request, response: Response, catalog: Catalog | None = None, tokens: Collection[str] = ()
) -> list[Violation]:
    """Every rule the answer breaks; ``catalog`` is what the server serves (None: names judged by form)."""
    knowledge = Knowledge(
        _known(catalog, "model"),
        _known(catalog, "llm"),
        frozenset(tokens) if tokens else None,
    )
    exchange = Exchange(request, response.status, response.headers, response.body)
    outcomes = evaluate(exchange, Context(knowledge, Facts(training_table=True, token_accepted=True)))
    return [violation for outcome in outcomes for violation in outcome.violations]


def _known(catalog: Catalog | None, kind: str) -> Knowledge.Lookup:
    if catalog is None:
        return lambda _name: None
    if kind == "model":
        return lambda name: catalog.stored(name) is not None
    return lambda name: catalog.stored_llm(name) is not None
