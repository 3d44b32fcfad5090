"""The ledger of a run: which sub-check of which rule ran on which request, and what failed.

Counting is by distinct request, per rule and per sub-check, so a check run twice on one request
counts once. Every failure is kept (their number is bounded by the requests sent), so the table,
the console listing and every report count the same failures. Thread-safe: probes are checked
from several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from qmcontract.conformance.subchecks import Facts, Need, Outcome
from qmcontract.report.model import Failure, RuleRow, Status, SubcheckRow
from qmcontract.rules import DOCUMENT_RULES, FAMILY_RULES

TOKEN_HINT = "needs a token the server accepts: pass --token-env VAR"


@dataclass(frozen=True)
class Sent:
    """What a failure needs to say about the request it happened on."""

    key: str
    request: str
    status: int | None
    curl: str
    source: str
    curl_b: str = ""


class Ledger:
    """Per rule and sub-check: the requests checked and failed, and the failures."""

    def __init__(self, subchecks: Mapping[str, Mapping[str, Need]], *, excluded: Iterable[str] = ()) -> None:
        self._subchecks = subchecks
        self._excluded = frozenset(excluded)
        self._lock = threading.Lock()
        self._checked: dict[tuple[str, str], set[str]] = {}
        self._failed: dict[tuple[str, str], set[str]] = {}
        self._failures: dict[tuple[str, str], Failure] = {}
        self._requests = 0

    def count_request(self, n: int = 1) -> None:
        """Note that ``n`` more requests were sent."""
        with self._lock:
            self._requests += n

    @property
    def requests(self) -> int:
        """How many requests were sent."""
        with self._lock:
            return self._requests

    def record(self, outcomes: Iterable[Outcome], sent: Sent) -> list[Failure]:
        """Note the sub-checks run on one request; return the failures that are new."""
        fresh: list[Failure] = []
        with self._lock:
            for outcome in outcomes:
                if outcome.rule in self._excluded:
                    continue
                place = (outcome.rule, outcome.subcheck)
                self._checked.setdefault(place, set()).add(sent.key)
                if outcome.violations:
                    self._failed.setdefault(place, set()).add(sent.key)
                    fresh.extend(self._keep(outcome, sent))
        return fresh

    def _keep(self, outcome: Outcome, sent: Sent) -> list[Failure]:
        identity = (outcome.rule, sent.key)
        known = self._failures.get(identity)
        if known is None:
            failure = Failure(
                outcome.rule,
                outcome.subcheck,
                outcome.violations,
                sent.request,
                sent.status,
                sent.curl,
                sent.source,
                sent.curl_b,
            )
            self._failures[identity] = failure
            return [failure]
        extra = tuple(v for v in outcome.violations if v not in known.violations)
        if extra:
            self._failures[identity] = replace(known, violations=known.violations + extra)
        return []

    def failures(self) -> list[Failure]:
        """Every failure, in the order found."""
        with self._lock:
            return list(self._failures.values())

    def rows(self, facts: Facts) -> list[RuleRow]:
        """One row per rule, in catalogue order, each with its sub-checks and status."""
        with self._lock:
            return [self._row(rule, subs, facts) for rule, subs in self._subchecks.items()]

    def _row(self, rule: str, subs: Mapping[str, Need], facts: Facts) -> RuleRow:
        kind = "document" if rule in DOCUMENT_RULES else "family" if rule in FAMILY_RULES else "exchange"
        sub_rows = tuple(self._sub_row(rule, subcheck, need, facts) for subcheck, need in subs.items())
        checked = set().union(*(self._checked.get((rule, s), set()) for s in subs))
        failed = set().union(*(self._failed.get((rule, s), set()) for s in subs))
        return RuleRow(rule, kind, len(checked), len(failed), self._rule_status(rule, sub_rows), sub_rows)

    def _sub_row(self, rule: str, subcheck: str, need: Need, facts: Facts) -> SubcheckRow:
        checked = len(self._checked.get((rule, subcheck), ()))
        failed = len(self._failed.get((rule, subcheck), ()))
        status: Status
        note = ""
        if rule in self._excluded:
            status = "excluded"
        elif failed:
            status = "failed"
        elif not facts.applies(need):
            status, note = "not applicable", "no served model has a training_table weight"
        elif checked:
            status = "ok"
        else:
            status = "not exercised"
            note = "" if facts.can_run(need) else TOKEN_HINT
        return SubcheckRow(subcheck, checked, failed, status, note)

    def _rule_status(self, rule: str, subs: tuple[SubcheckRow, ...]) -> Status:
        if rule in self._excluded:
            return "excluded"
        statuses = {row.status for row in subs}
        if "failed" in statuses:
            return "failed"
        if statuses == {"not applicable"}:
            return "not applicable"
        if "not exercised" in statuses:
            return "not exercised"
        return "ok"
