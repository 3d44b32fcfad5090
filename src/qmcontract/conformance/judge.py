"""Judging an exchange: every check of every rule, recorded in the run's ledger.

Probes, schemathesis cases, the proxy's traffic and recordings all go through :class:`Judge`, so
one set of checks decides every verdict; :func:`evaluate` runs the same checks without a ledger
(the mock server's ``--self-check`` calls it with no sender, so rules that must ask again do not
apply there).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from qmcontract.conformance.checks import EXCHANGE_CHECKS, Check, Context
from qmcontract.conformance.exchange import Exchange, curl, request_key
from qmcontract.conformance.family import FAMILY_CHECKS
from qmcontract.conformance.subchecks import Outcome, broken
from qmcontract.redact import loggable_target
from qmcontract.report.ledger import Ledger, Sent
from qmcontract.report.model import Failure
from qmcontract.wire import Headers, Request

#: Every check of the contract, the family's included.
ALL_CHECKS: Final[tuple[Check, ...]] = (*EXCHANGE_CHECKS, *FAMILY_CHECKS)


def evaluate(exchange: Exchange, context: Context, checks: Iterable[Check] = ALL_CHECKS) -> list[Outcome]:
    """Every sub-check the checks ran on one exchange."""
    return [outcome for check in checks for outcome in check(exchange, context)]


def describe(request: Request) -> str:
    """A request in one line, as reports show it: secrets redacted, control characters escaped."""
    return f"{request.method} {loggable_target(request.path, request.query)}"


class Judge:
    """Runs every check on an exchange and records what it found.

    ``extra_headers`` are those the sender adds to every request: the ``curl`` lines repeat them.
    """

    def __init__(
        self,
        ledger: Ledger,
        context: Context,
        base_url: str,
        checks: Iterable[Check] = ALL_CHECKS,
        *,
        extra_headers: Headers = (),
    ) -> None:
        self.ledger = ledger
        self.context = context
        self.base_url = base_url
        self.extra_headers = extra_headers
        self._checks = tuple(checks)

    def __call__(self, exchange: Exchange, source: str) -> list[Failure]:
        """Judge one exchange; return the failures it adds."""
        return self.record(
            exchange.request, exchange.status, evaluate(exchange, self.context, self._checks), source
        )

    def record(
        self, request: Request, status: int | None, outcomes: Iterable[Outcome], source: str
    ) -> list[Failure]:
        """Record outcomes found on a request (by our checks or another tool's)."""
        line = curl(request, self.base_url, self.extra_headers)
        sent = Sent(request_key(request), describe(request), status, line, source)
        return self.ledger.record(outcomes, sent)

    def no_answer(self, request: Request, error: str, source: str) -> list[Failure]:
        """A request that got no response at all: a server error."""
        return self.record(
            request, None, [broken("no-server-error", "no-5xx", "", f"no response: {error}")], source
        )
