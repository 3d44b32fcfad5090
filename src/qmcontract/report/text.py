"""The console face of a report: the rule table, the failures with their reproductions, the verdict.

A failure reads ``rule  /json/pointer  why`` (the root pointer shows as ``(root)``), followed by
a ``curl`` command that repeats the request with any token shown as ``<redacted>`` (a diff's
failure has two: server A's, then server B's). The table and
the listing count the same failures; the listing shows a few per rule and says how many more the
reports hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from rich.console import Console
from rich.table import Table

from qmcontract.errors import shown_pointer
from qmcontract.report.model import Failure, Report, RuleRow

#: Failures shown per rule on the terminal; the reports keep all of them.
SHOWN_PER_RULE: Final = 3
STYLES: Final = {
    "ok": "green",
    "failed": "bold red",
    "not exercised": "yellow",
    "not applicable": "dim",
    "excluded": "dim",
}


def plain_table(rows: Sequence[RuleRow]) -> str:
    """The rule table as fixed-width text."""
    width = max((len(row.rule) for row in rows), default=len("rule"))
    lines = [f"{'rule':<{width}}  {'kind':<8}  {'checked':>7}  {'failed':>6}  {'sub-checks':>10}  status"]
    for row in rows:
        counts = f"{row.checked:>7}  {row.failed:>6}  {_ran(row):>10}"
        lines.append(f"{row.rule:<{width}}  {row.kind:<8}  {counts}  {row.status}")
    return "\n".join(lines)


def _ran(row: RuleRow) -> str:
    applicable = [sub for sub in row.subchecks if sub.status not in ("not applicable", "excluded")]
    ran = [sub for sub in applicable if sub.checked]
    return f"{len(ran)}/{len(applicable)}"


def rich_table(report: Report) -> Table:
    """The rule table for a rich console."""
    table = Table(title=f"{report.title}: {report.target}", title_justify="left")
    for column, justify in (("rule", "left"), ("kind", "left"), ("checked", "right"), ("failed", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("sub-checks run", justify="right")
    table.add_column("status")
    for row in report.rows:
        status = f"[{STYLES[row.status]}]{row.status}[/]"
        table.add_row(row.rule, row.kind, str(row.checked), str(row.failed), _ran(row), status)
    return table


def failure_lines(failure: Failure) -> list[str]:
    """One failure: the rule, each pointer and why, then the reproduction."""
    head = f"{failure.rule} ({failure.subcheck})  {failure.request}  -> {failure.status or 'no response'}"
    lines = [head]
    lines += [f"    {shown_pointer(v.path)}  {v.message}" for v in failure.violations]
    lines.append(f"    {failure.curl}")
    if failure.curl_b:
        lines.append(f"    {failure.curl_b}")
    return lines


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
            lines.append(
                f"    ... {len(found)} {rule} failures in all, {len(found) - len(shown)} more in the reports"
            )
    return "\n".join(lines)


def not_exercised_lines(report: Report) -> list[str]:
    """Each applicable sub-check that did not run, with why when known."""
    lines = []
    for row in report.rows:
        for sub in row.subchecks:
            if sub.status == "not exercised":
                lines.append(
                    f"{row.rule} ({sub.subcheck}): not exercised{f': {sub.note}' if sub.note else ''}"
                )
    return lines


def show(report: Report, console: Console | None = None) -> None:
    """Print the table, the failures, what did not run, the totals and the verdict."""
    console = console if console is not None else Console(highlight=False, soft_wrap=True)
    console.print(rich_table(report))
    if report.failures:
        console.print(
            "\n[bold]Failures[/] (rule and sub-check, request; JSON pointer and why; a reproduction):"
        )
        console.print(format_failures(report.failures), markup=False)
    missing = not_exercised_lines(report)
    if missing:
        console.print("\n[bold]Not exercised[/]:")
        console.print("\n".join(missing), markup=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False)
    for error in report.errors:
        console.print(f"error: {error}", markup=False)
    seed = f", seed {report.seed} (repeat with --seed {report.seed})" if report.seed is not None else ""
    console.print(f"\n{report.requests} requests in {report.seconds:.1f} s{seed}", markup=False)
    console.print(report.verdict, markup=False)
