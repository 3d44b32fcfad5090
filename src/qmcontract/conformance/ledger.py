"""The ledger of a conformance run: which rules were checked on which requests, and what failed.

Counting is by distinct request, per rule, so that hypothesis replaying a case or two
checks attributing a failure to the same rule never count twice. Thread-safe: probes are
checked from several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from qmcontract.errors import Violation
from qmcontract.rules import ALL_RULES, DOCUMENT_RULES

#: At most this many failures are kept per rule (the counts stay exact).
MAX_FAILURES_PER_RULE: Final = 50


@dataclass(frozen=True)
class Failure:
    """One broken rule on one request: where in the response, why, and how to repeat it."""

    rule: str
    pointer: str
    message: str
    curl: str
    source: str

    def to_json(self) -> dict[str, str]:
        """The failure as a JSON object."""
        return {
            "rule": self.rule,
            "pointer": self.pointer,
            "message": self.message,
            "curl": self.curl,
            "source": self.source,
        }


@dataclass(frozen=True)
class RuleRow:
    """One line of the rule table."""

    rule: str
    kind: str
    checked: int
    failed: int

    @property
    def status(self) -> str:
        """``ok``, ``failed`` or ``not exercised``."""
        if self.failed:
            return "failed"
        return "ok" if self.checked else "not exercised"

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "checked": self.checked,
            "failed": self.failed,
            "status": self.status,
        }


class Ledger:
    """Per-rule counts of checked and failed requests, the failures, and the requests sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked: dict[str, set[str]] = {rule: set() for rule in ALL_RULES}
        self._failed: dict[str, set[str]] = {rule: set() for rule in ALL_RULES}
        self._failures: dict[tuple[str, str, str, str], Failure] = {}
        self._kept: dict[str, int] = dict.fromkeys(ALL_RULES, 0)
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

    def record(
        self, rule: str, key: str, violations: Sequence[Violation], *, curl: str, source: str
    ) -> list[Failure]:
        """Note that ``rule`` was checked on the request ``key``; return the new failures."""
        fresh: list[Failure] = []
        with self._lock:
            self._checked.setdefault(rule, set()).add(key)
            if not violations:
                return fresh
            self._failed.setdefault(rule, set()).add(key)
            for violation in violations:
                identity = (rule, key, violation.path, violation.message)
                if identity in self._failures or self._kept.get(rule, 0) >= MAX_FAILURES_PER_RULE:
                    continue
                failure = Failure(rule, violation.path, violation.message, curl, source)
                self._failures[identity] = failure
                self._kept[rule] = self._kept.get(rule, 0) + 1
                fresh.append(failure)
        return fresh

    def record_all(
        self, results: Iterable[tuple[str, Sequence[Violation]]], *, key: str, curl: str, source: str
    ) -> list[Failure]:
        """:meth:`record` for several rules checked on one request."""
        fresh: list[Failure] = []
        for rule, violations in results:
            fresh.extend(self.record(rule, key, violations, curl=curl, source=source))
        return fresh

    def rows(self) -> list[RuleRow]:
        """One row per rule of the contract (document rules first), then any other rule seen."""
        with self._lock:
            rules = list(ALL_RULES) + sorted(set(self._checked) - set(ALL_RULES))
            return [
                RuleRow(
                    rule,
                    "document" if rule in DOCUMENT_RULES else "exchange",
                    len(self._checked.get(rule, ())),
                    len(self._failed.get(rule, ())),
                )
                for rule in rules
            ]

    def failures(self) -> list[Failure]:
        """The failures kept, in the order they were found."""
        with self._lock:
            return list(self._failures.values())
