"""How a conformance run is shown: the rule table (plain text or rich) and the failures.

A failure reads ``rule  /json/pointer  explanation`` followed by a ``curl`` command that
repeats the request, with any token shown as ``<redacted>``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from rich.table import Table

from qmcontract.conformance.ledger import Failure, RuleRow

#: Failures shown per rule on the terminal; the JSON report keeps more.
SHOWN_PER_RULE: Final = 3
_MARKS: Final = {"ok": "ok", "failed": "FAILED", "not exercised": "NOT EXERCISED"}


def plain_table(rows: Sequence[RuleRow]) -> str:
    """The rule table as fixed-width text."""
    width = max(len(row.rule) for row in rows)
    lines = [f"{'rule':<{width}}  {'kind':<8}  {'checked':>7}  {'failed':>6}  status"]
    for row in rows:
        lines.append(
            f"{row.rule:<{width}}  {row.kind:<8}  {row.checked:>7}  {row.failed:>6}  {_MARKS[row.status]}"
        )
    return "\n".join(lines)


def rich_table(rows: Sequence[RuleRow], *, title: str = "qmcontract conformance") -> Table:
    """The rule table for a rich console."""
    table = Table(title=title, title_justify="left")
    table.add_column("rule")
    table.add_column("kind")
    table.add_column("checked", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("status")
    styles = {"ok": "green", "failed": "bold red", "not exercised": "yellow"}
    for row in rows:
        status = f"[{styles[row.status]}]{_MARKS[row.status]}[/]"
        table.add_row(row.rule, row.kind, str(row.checked), str(row.failed), status)
    return table


def failure_lines(failure: Failure) -> list[str]:
    """One failure: the rule, the pointer and why, then the reproduction."""
    return [f"{failure.rule}  {failure.pointer or '/'}  {failure.message}", f"    {failure.curl}"]


def format_failures(failures: Sequence[Failure], *, per_rule: int | None = SHOWN_PER_RULE) -> str:
    """Failures grouped by rule, at most ``per_rule`` each (None: all)."""
    by_rule: dict[str, list[Failure]] = defaultdict(list)
    for failure in failures:
        by_rule[failure.rule].append(failure)
    lines: list[str] = []
    for rule, found in by_rule.items():
        shown = found if per_rule is None else found[:per_rule]
        for failure in shown:
            lines.extend(failure_lines(failure))
        if len(found) > len(shown):
            lines.append(f"    ... and {len(found) - len(shown)} more {rule} failure(s) (see --report)")
    return "\n".join(lines)
