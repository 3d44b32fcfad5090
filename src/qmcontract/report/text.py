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
from typing import Any, Final

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


def rich_table(report: Report) -> Any:
    """The rule table for a rich console (rich comes with the conformance and server extras)."""
    from rich.table import Table  # noqa: PLC0415

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


def show(report: Report, console: Any = None) -> None:
    """Print the table, the failures, what did not run, the totals and the verdict.

    On a rich console (the given one, else stdout's when rich is installed: it comes with the
    conformance and server extras), or as plain text.
    """
    if console is None:
        try:
            from rich.console import Console  # noqa: PLC0415
        except ImportError:
            print(f"{report.title}: {report.target}\n{plain_table(report.rows)}")
            print("\n".join(_tail(report)))
            return
        console = Console(highlight=False, soft_wrap=True)
    console.print(rich_table(report))
    console.print("\n".join(_tail(report)), markup=False)


def _tail(report: Report) -> list[str]:
    lines: list[str] = []
    if report.failures:
        lines += ["", "Failures (rule and sub-check, request; JSON pointer and why; a reproduction):"]
        lines.append(format_failures(report.failures))
    missing = not_exercised_lines(report)
    if missing:
        lines += ["", "Not exercised:", *missing]
    lines += [f"note: {note}" for note in report.notes]
    lines += [f"error: {error}" for error in report.errors]
    seed = f", seed {report.seed} (repeat with --seed {report.seed})" if report.seed is not None else ""
    lines += ["", f"{report.requests} requests in {report.seconds:.1f} s{seed}", report.verdict]
    return lines
