"""The HTML report: one self-contained page a person reads, filters and shares.

The page holds its CSS and script inline and names no URL, so it reads the same from a CI
artifact, an e-mail attachment or a laptop with no network; its Content-Security-Policy
allows only that inline CSS and script (by hash), so even a bug in escaping could neither
run a script nor fetch anything. Every value from the run (rule ids, requests, messages,
``curl`` lines, settings) is HTML-escaped: a server's answer may well contain ``<script>``.

It shows the header (title, target, verdict, exit code, seed, requests, time, settings), the
rule matrix (kind, checked, failed, status, and each sub-check with its status, spelled as in
:data:`~qmcontract.report.model.STATUSES`), every failure collapsed in a ``<details>`` (JSON
pointers, the root shown as ``(root)``, with their reasons, and the ``curl`` line, two for a
diff), and the notes and errors. Without script every row and failure is shown; with it, a rule
and a status filter hide the other rules' rows and failures.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any, Final

from qmcontract import __version__
from qmcontract.errors import shown_pointer
from qmcontract.report.model import (
    EXIT_FAILED,
    EXIT_NOT_EXERCISED,
    EXIT_OK,
    EXIT_USAGE,
    STATUSES,
    Failure,
    Report,
    RuleRow,
    SubcheckRow,
)

EXIT_MEANINGS: Final = {
    EXIT_OK: "every applicable sub-check ran and held",
    EXIT_FAILED: "a rule failed",
    EXIT_USAGE: "the run could not complete",
    EXIT_NOT_EXERCISED: "nothing failed, but an applicable sub-check was not exercised",
}

CSS: Final = """
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fff; --muted: #505050; --line: #c8c8c8;
  --code: #f2f2f2; --ok: #176b2c; --failed: #b00020; --warn: #7a4a00; --dim: #505050; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8e8; --bg: #161616; --muted: #b0b0b0; --line: #474747; --code: #242424;
    --ok: #7bd88f; --failed: #ff8a94; --warn: #f0bd5a; --dim: #b0b0b0; } }
[hidden] { display: none !important; }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg);
  max-width: 80rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.5rem; margin: .2rem 0; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .3rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.verdict { font-size: 1.1rem; }
ul.counts { list-style: none; display: flex; flex-wrap: wrap; gap: .3rem 1.2rem; padding: 0; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; color: var(--muted); padding-bottom: .3rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
thead th { border-bottom-width: 2px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
ul.subchecks { list-style: none; margin: 0; padding: 0; }
.note, .counts-of { color: var(--muted); }
.status { font-weight: 600; }
.status-ok { color: var(--ok); }
.status-failed { color: var(--failed); }
.status-not-exercised { color: var(--warn); }
.status-not-applicable, .status-excluded { color: var(--dim); font-weight: 400; }
.filters { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; margin: .8rem 0;
  padding: .5rem .7rem; border: 1px solid var(--line); border-radius: 4px; }
select, button { font: inherit; }
details.failure { border: 1px solid var(--line); border-radius: 4px; margin: .4rem 0; padding: .3rem .7rem; }
details.failure > summary { cursor: pointer; overflow-wrap: anywhere; }
details.failure[open] > summary { margin-bottom: .4rem; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; }
pre { background: var(--code); padding: .5rem .7rem; white-space: pre-wrap; overflow-wrap: anywhere; }
td code { overflow-wrap: anywhere; }
table.violations th:first-child { width: 35%; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: .85rem; }
"""

SCRIPT: Final = """
(() => {
  const rule = document.getElementById("filter-rule");
  const status = document.getElementById("filter-status");
  const shown = document.getElementById("filter-shown");
  const expand = document.getElementById("expand-all");
  const rows = Array.from(document.querySelectorAll("#rules tbody tr"));
  const groups = Array.from(document.querySelectorAll("section.rule-failures"));
  const total = document.querySelectorAll("details.failure").length;
  function apply() {
    const visible = new Set();
    for (const row of rows) {
      const keep = (!rule.value || row.dataset.rule === rule.value)
        && (!status.value || row.dataset.status === status.value);
      row.hidden = !keep;
      if (keep) visible.add(row.dataset.rule);
    }
    const filtered = Boolean(rule.value || status.value);
    let failures = 0;
    for (const group of groups) {
      group.hidden = filtered && !visible.has(group.dataset.rule);
      if (!group.hidden) failures += group.querySelectorAll("details.failure").length;
    }
    shown.textContent = `${visible.size} of ${rows.length} rules, ${failures} of ${total} failures shown`;
  }
  function toggleAll() {
    const open = expand.getAttribute("aria-pressed") !== "true";
    for (const details of document.querySelectorAll("details.failure")) details.open = open;
    expand.setAttribute("aria-pressed", String(open));
    expand.textContent = open ? "Collapse all failures" : "Expand all failures";
  }
  rule.addEventListener("change", apply);
  status.addEventListener("change", apply);
  expand.addEventListener("click", toggleAll);
  document.getElementById("filters").hidden = false;
  apply();
})();
"""


def write_html(report: Report, path: Path) -> None:
    """Write the report as one self-contained UTF-8 HTML file."""
    path.write_text(render_html(report), encoding="utf-8")


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    return "\n".join(
        [
            _head(report),
            _header(report),
            "<main>",
            _filters(report),
            _matrix(report.rows),
            _failures(report),
            _messages("Notes", "notes", report.notes),
            _messages("Errors", "errors", report.errors),
            "</main>",
            f"<footer>Written by qmcontract {_e(__version__)}.</footer>",
            f"<script>{SCRIPT}</script>",
            "</body>\n</html>\n",
        ]
    )


def _status(status: str) -> str:
    """A status in its one spelling, coloured by a class named after it (the text says it too)."""
    return f'<span class="status status-{_e(status.replace(" ", "-"))}">{_e(status)}</span>'


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _head(report: Report) -> str:
    policy = (
        f"default-src 'none'; style-src {_csp_hash(CSS)}; script-src {_csp_hash(SCRIPT)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(policy)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(report.title)}: {_e(report.target)}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>"
    )


def _header(report: Report) -> str:
    seed = "none" if report.seed is None else str(report.seed)
    facts = [
        ("Target", _e(report.target)),
        ("Exit code", f"{report.exit_code} ({_e(_meaning(report))})"),
        ("Seed", _e(seed)),
        ("Requests", _e(report.requests)),
        ("Time", f"{report.seconds:.1f} s"),
    ]
    facts += [(_e(key), _e(_setting(value))) for key, value in report.settings.items()]
    listing = "\n".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    return (
        f"<header>\n<h1>{_e(report.title)}</h1>\n"
        f'<p class="verdict" id="verdict"><strong>Verdict:</strong> {_e(report.verdict)}</p>\n'
        f'<dl class="facts">\n{listing}\n</dl>\n{_counts(report)}\n</header>'
    )


def _meaning(report: Report) -> str:
    """What the exit code says; 0 without ``exercise_required`` (a diff) says only that nothing failed."""
    if report.exit_code == EXIT_OK and not report.exercise_required:
        return "no rule failed"
    return EXIT_MEANINGS.get(report.exit_code, "")


def _setting(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _counts(report: Report) -> str:
    items = [
        f"<li>{sum(1 for row in report.rows if row.status == status)} {_status(status)}</li>"
        for status in STATUSES
    ]
    items.append(f'<li><span class="counts-of">failures:</span> {len(report.failures)}</li>')
    label = f"{len(report.rows)} rules by status"
    return f'<ul class="counts" aria-label="{_e(label)}">\n' + "\n".join(items) + "\n</ul>"


def _filters(report: Report) -> str:
    rules = "".join(f'<option value="{_e(row.rule)}">{_e(row.rule)}</option>' for row in report.rows)
    statuses = "".join(f'<option value="{_e(status)}">{_e(status)}</option>' for status in STATUSES)
    return (
        '<div class="filters" id="filters" role="search" aria-label="Filter rules and failures" hidden>\n'
        '<label for="filter-rule">Rule</label>\n'
        f'<select id="filter-rule"><option value="">all rules</option>{rules}</select>\n'
        '<label for="filter-status">Status</label>\n'
        f'<select id="filter-status"><option value="">all statuses</option>{statuses}</select>\n'
        '<button type="button" id="expand-all" aria-pressed="false">Expand all failures</button>\n'
        '<output id="filter-shown" aria-live="polite"></output>\n</div>'
    )


def _matrix(rows: Iterable[RuleRow]) -> str:
    head = "".join(_column(name) for name in ("rule", "kind", "checked", "failed", "status", "sub-checks"))
    body = "\n".join(_rule_row(row) for row in rows)
    return (
        '<section aria-labelledby="rules-title">\n<h2 id="rules-title">Rules</h2>\n<table id="rules">\n'
        "<caption>One row per rule: the requests it checked and failed on, its status, "
        "and each of its sub-checks.</caption>\n"
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n</section>"
    )


def _column(name: str) -> str:
    align = ' class="num"' if name in ("checked", "failed") else ""
    return f'<th scope="col"{align}>{name}</th>'


def _rule_row(row: RuleRow) -> str:
    failed = _e(row.failed)
    if row.failed:
        failed = f'<a href="#failures-{_e(row.rule)}">{failed}</a>'
    subs = "".join(_subcheck(sub) for sub in row.subchecks)
    return (
        f'<tr data-rule="{_e(row.rule)}" data-status="{_e(row.status)}">'
        f'<th scope="row">{_e(row.rule)}</th><td>{_e(row.kind)}</td>'
        f'<td class="num">{_e(row.checked)}</td><td class="num">{failed}</td>'
        f'<td>{_status(row.status)}</td><td><ul class="subchecks">{subs}</ul></td></tr>'
    )


def _subcheck(sub: SubcheckRow) -> str:
    note = f' <span class="note">({_e(sub.note)})</span>' if sub.note else ""
    return (
        f'<li data-subcheck="{_e(sub.subcheck)}">{_e(sub.subcheck)}: {_status(sub.status)} '
        f'<span class="note">{_e(sub.checked)} checked, {_e(sub.failed)} failed</span>{note}</li>'
    )


def _failures(report: Report) -> str:
    if not report.failures:
        return '<section id="failures">\n<h2>Failures</h2>\n<p>No failures.</p>\n</section>'
    groups = "\n".join(_rule_failures(rule, found) for rule, found in _by_rule(report).items())
    return (
        '<section id="failures" aria-labelledby="failures-title">\n'
        f'<h2 id="failures-title">Failures ({len(report.failures)})</h2>\n'
        "<p>Each failure is collapsed: open it for the JSON pointers, the reasons, and a "
        "<code>curl</code> command that repeats the request.</p>\n"
        f"{groups}\n</section>"
    )


def _by_rule(report: Report) -> dict[str, list[Failure]]:
    """Failures grouped by rule, in table order (rules missing from the table last)."""
    groups: dict[str, list[Failure]] = {row.rule: [] for row in report.rows}
    for failure in report.failures:
        groups.setdefault(failure.rule, []).append(failure)
    return {rule: found for rule, found in groups.items() if found}


def _rule_failures(rule: str, found: list[Failure]) -> str:
    items = "\n".join(_failure(failure) for failure in found)
    plural = "" if len(found) == 1 else "s"
    return (
        f'<section class="rule-failures" id="failures-{_e(rule)}" data-rule="{_e(rule)}">\n'
        f"<h3>{_e(rule)}: {len(found)} failure{plural}</h3>\n{items}\n</section>"
    )


def _failure(failure: Failure) -> str:
    answer = "no response" if failure.status is None else str(failure.status)
    rows = "\n".join(
        f"<tr><td><code>{_e(shown_pointer(v.path))}</code></td><td>{_e(v.message)}</td></tr>"
        for v in failure.violations
    )
    source = f'<p class="note">source: {_e(failure.source)}</p>\n' if failure.source else ""
    return (
        f'<details class="failure" data-rule="{_e(failure.rule)}" data-subcheck="{_e(failure.subcheck)}">\n'
        f"<summary><strong>{_e(failure.rule)}</strong> ({_e(failure.subcheck)}) "
        f"<code>{_e(failure.request)}</code> &rarr; {_e(answer)}</summary>\n"
        '<table class="violations">\n<thead><tr><th scope="col">JSON pointer</th>'
        f'<th scope="col">reason</th></tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>\n'
        f"{_repeat(failure)}\n{source}</details>"
    )


def _repeat(failure: Failure) -> str:
    """The ``curl`` line; a diff's failure has two, one per server."""
    if not failure.curl_b:
        return f'<p>Repeat it:</p>\n<pre class="curl"><code>{_e(failure.curl)}</code></pre>'
    return (
        f'<p>Repeat it on server A:</p>\n<pre class="curl"><code>{_e(failure.curl)}</code></pre>\n'
        f'<p>Repeat it on server B:</p>\n<pre class="curl curl-b"><code>{_e(failure.curl_b)}</code></pre>'
    )


def _messages(title: str, key: str, lines: Iterable[str]) -> str:
    items = "\n".join(f"<li>{_e(line)}</li>" for line in lines)
    if not items:
        return ""
    return f'<section id="{key}">\n<h2>{title}</h2>\n<ul>\n{items}\n</ul>\n</section>'
