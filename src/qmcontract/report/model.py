"""What a run found: rule rows with their sub-checks, failures, and the exit code they mean."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from qmcontract.errors import Violation

Status = Literal["ok", "failed", "not exercised", "not applicable", "excluded"]
STATUSES: Final[tuple[Status, ...]] = ("ok", "failed", "not exercised", "not applicable", "excluded")
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_EXERCISED: Final = 3


@dataclass(frozen=True)
class Failure:
    """One rule broken on one request: where in the answer, why, and how to repeat it.

    ``curl_b`` is set by a diff only: the same request to server B (``curl`` then repeats it on
    server A, and ``status`` is A's answer).
    """

    rule: str
    subcheck: str
    violations: tuple[Violation, ...]
    request: str
    status: int | None
    curl: str
    source: str
    curl_b: str = ""

    def to_json(self) -> dict[str, Any]:
        """The failure as a JSON object (the root pointer is ``""``; ``curl_b`` only from a diff)."""
        found = {
            "rule": self.rule,
            "subcheck": self.subcheck,
            "request": self.request,
            "status": self.status,
            "violations": [{"pointer": v.path, "message": v.message} for v in self.violations],
            "curl": self.curl,
            "source": self.source,
        }
        return {**found, "curl_b": self.curl_b} if self.curl_b else found


@dataclass(frozen=True)
class SubcheckRow:
    """One sub-check of a rule: how often it ran and failed, and its status."""

    subcheck: str
    checked: int
    failed: int
    status: Status
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object."""
        return {
            "subcheck": self.subcheck,
            "checked": self.checked,
            "failed": self.failed,
            "status": self.status,
            "note": self.note,
        }


@dataclass(frozen=True)
class RuleRow:
    """One line of the rule table: requests checked and failed, and the rule's status."""

    rule: str
    kind: str
    checked: int
    failed: int
    status: Status
    subchecks: tuple[SubcheckRow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON object."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "checked": self.checked,
            "failed": self.failed,
            "status": self.status,
            "subchecks": [row.to_json() for row in self.subchecks],
        }


@dataclass(frozen=True)
class Report:
    """The verdict of one run, for every writer.

    ``exercise_required``: whether an applicable sub-check that did not run makes the exit code 3
    (a conformance run promises to exercise every rule); a diff sets it False, since it compares
    what both servers answered and a rule neither answer touched is no difference.
    """

    title: str
    target: str
    rows: tuple[RuleRow, ...]
    failures: tuple[Failure, ...]
    requests: int
    seconds: float
    seed: int | None = None
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    exercise_required: bool = True

    def rules_with(self, status: Status) -> tuple[str, ...]:
        """The rules in one status."""
        return tuple(row.rule for row in self.rows if row.status == status)

    @property
    def exit_code(self) -> int:
        """0 all held and ran; 1 a rule failed; 2 the run could not complete; 3 something did not run
        (only when ``exercise_required``)."""
        if self.rules_with("failed"):
            return EXIT_FAILED
        if self.errors:
            return EXIT_USAGE
        if self.exercise_required and self.rules_with("not exercised"):
            return EXIT_NOT_EXERCISED
        return EXIT_OK

    @property
    def verdict(self) -> str:
        """One line: what held, what broke, what did not run."""
        counts = {status: len(self.rules_with(status)) for status in STATUSES}
        parts = [f"{counts['ok']} rules hold"]
        if counts["failed"]:
            parts.append(f"{counts['failed']} failed: {', '.join(self.rules_with('failed'))}")
        if counts["not exercised"]:
            parts.append(
                f"{counts['not exercised']} not exercised: {', '.join(self.rules_with('not exercised'))}"
            )
        for status in ("not applicable", "excluded"):
            if counts[status]:
                parts.append(f"{counts[status]} {status}")
        if self.errors:
            parts.append(f"{len(self.errors)} error(s)")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "title": self.title,
            "target": self.target,
            "exit_code": self.exit_code,
            "verdict": self.verdict,
            "seed": self.seed,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "settings": self.settings,
            "rules": [row.to_json() for row in self.rows],
            "failures": [failure.to_json() for failure in self.failures],
            "errors": list(self.errors),
            "notes": list(self.notes),
        }
