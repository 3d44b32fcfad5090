"""The report writers without a browser: HTML, JSON, JUnit and the console text.

Every writer is fed the same hand-built report (``report_sample``: 28 rules in every status,
7 failures under 3 rules) and must show the same statuses, spelled as in ``STATUSES``, and
the same failures: the table, the listing and every report count alike.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from qmcontract.errors import Violation, shown_pointer
from qmcontract.report.html import CSS, SCRIPT, render_html, write_html
from qmcontract.report.jsonfile import write_json
from qmcontract.report.junit import junit_tree, write_junit
from qmcontract.report.model import STATUSES, Failure, Report, RuleRow, SubcheckRow
from qmcontract.report.text import format_failures, plain_table, rich_table, show
from report_sample import HOSTILE, HOSTILE_PATH, sample_failures, sample_report, sample_rows

VOID = frozenset(
    {"meta", "link", "img", "br", "hr", "input", "source", "area", "base", "col", "embed", "wbr"}
)


# --- a tiny DOM, so the HTML is checked as a tree, not as a string ------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter(tag)

    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def select(self, tag: str, cls: str) -> list[Node]:
        return [node for node in self.iter(tag) if cls in node.classes()]

    def by_id(self, ident: str) -> Node:
        (node,) = [node for node in self.iter() if node.attrs.get("id") == ident]
        return node


class TreeBuilder(HTMLParser):
    """Builds a tree and insists that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def report() -> Report:
    return sample_report()


@pytest.fixture
def dom(report: Report) -> Node:
    return parse(render_html(report))


def facts_of(dom: Node) -> dict[str, str]:
    (facts,) = dom.select("dl", "facts")
    terms = [squash(dt.text()) for dt in facts.iter("dt")]
    values = [squash(dd.text()) for dd in facts.iter("dd")]
    assert len(terms) == len(values)
    return dict(zip(terms, values, strict=True))


def failures_of(report: Report, rule: str) -> list[Failure]:
    return [failure for failure in report.failures if failure.rule == rule]


# --- the sample itself ------------------------------------------------------------------------------


def test_the_sample_is_realistic(report: Report) -> None:
    statuses = Counter(row.status for row in report.rows)
    assert len(report.rows) == 28
    assert statuses == {"ok": 19, "failed": 3, "not exercised": 2, "not applicable": 3, "excluded": 1}
    assert all(row.failed == len(failures_of(report, row.rule)) for row in report.rows)
    assert max(len(f.violations) for f in report.failures) > 1
    assert any(v.path == "" for f in report.failures for v in f.violations)


# --- HTML ---------------------------------------------------------------------------------------------


def test_html_is_a_well_formed_page_with_the_header(report: Report, dom: Node) -> None:
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>\n")
    (html,) = dom.iter("html")
    assert html.attrs["lang"] == "en"
    assert any(meta.attrs.get("charset") == "utf-8" for meta in dom.iter("meta"))
    (title,) = dom.iter("title")
    assert title.text() == f"{report.title}: {report.target}"
    (h1,) = dom.iter("h1")
    assert h1.text() == report.title
    assert squash(dom.by_id("verdict").text()) == f"Verdict: {report.verdict}"
    shown = facts_of(dom)
    assert shown["Target"] == report.target
    assert shown["Exit code"] == "1 (a rule failed)"
    assert shown["Seed"] == "4242"
    assert shown["Requests"] == "1234"
    assert shown["Time"] == "7.2 s"
    assert shown["slugs"] == json.dumps(report.settings["slugs"])
    assert shown["rate_limit"] == "null"
    assert shown["headers"] == '{"x-trace": "<b>bold</b>"}'


def test_html_matrix_has_one_row_per_rule_with_its_subchecks(report: Report, dom: Node) -> None:
    table = dom.by_id("rules")
    header = [squash(th.text()) for th in next(table.iter("thead")).iter("th")]
    assert header == ["rule", "kind", "checked", "failed", "status", "sub-checks"]
    rows = list(next(table.iter("tbody")).iter("tr"))
    assert [tr.attrs["data-rule"] for tr in rows] == [row.rule for row in report.rows]
    for tr, row in zip(rows, report.rows, strict=True):
        (th,) = tr.iter("th")
        cells = [squash(td.text()) for td in tr.iter("td")]
        assert th.attrs["scope"] == "row"
        assert [th.text(), *cells[:4]] == [row.rule, row.kind, str(row.checked), str(row.failed), row.status]
        assert tr.attrs["data-status"] == row.status
        items = list(tr.iter("li"))
        assert [li.attrs["data-subcheck"] for li in items] == [sub.subcheck for sub in row.subchecks]
        for li, sub in zip(items, row.subchecks, strict=True):
            (status,) = li.select("span", "status")
            assert status.text() == sub.status
            assert f"{sub.checked} checked, {sub.failed} failed" in li.text()
            assert sub.note in li.text()


def test_html_spells_every_status_as_the_model(report: Report, dom: Node) -> None:
    spans = dom.select("span", "status")
    assert {span.text() for span in spans} == set(STATUSES)
    for span in spans:
        assert f"status-{span.text().replace(' ', '-')}" in span.classes()
    options = [option.attrs["value"] for option in dom.by_id("filter-status").iter("option")]
    assert options == ["", *STATUSES]
    page = render_html(report).lower()
    for wrong in ("not_exercised", "not-exercised<", "notexercised", "skipped", "passed", "n/a"):
        assert wrong not in page


def test_html_counts_equal_the_rows(report: Report, dom: Node) -> None:
    (counts,) = dom.select("ul", "counts")
    items = [squash(li.text()) for li in counts.iter("li")]
    expected = [f"{sum(1 for r in report.rows if r.status == s)} {s}" for s in STATUSES]
    assert items == [*expected, f"failures: {len(report.failures)}"]
    assert squash(dom.by_id("failures-title").text()) == f"Failures ({len(report.failures)})"
    assert len(list(dom.select("details", "failure"))) == len(report.failures)
    for row in report.rows:
        found = [d for d in dom.select("details", "failure") if d.attrs["data-rule"] == row.rule]
        assert len(found) == row.failed
        if row.failed:
            group = dom.by_id(f"failures-{row.rule}")
            heading = next(group.iter("h3")).text()
            assert heading == f"{row.rule}: {row.failed} failure{'s' if row.failed > 1 else ''}"
            (link,) = [a for a in dom.iter("a") if a.attrs["href"] == f"#failures-{row.rule}"]
            assert link.text() == str(row.failed)


def test_html_failures_are_collapsed_and_complete(report: Report, dom: Node) -> None:
    for details, failure in zip(dom.select("details", "failure"), _html_order(report), strict=True):
        assert "open" not in details.attrs
        assert details.attrs["data-rule"] == failure.rule
        summary = squash(next(details.iter("summary")).text())
        answer = "no response" if failure.status is None else str(failure.status)
        assert summary == squash(f"{failure.rule} ({failure.subcheck}) {failure.request} \u2192 {answer}")
        body = next(details.iter("tbody"))
        pairs = [tuple(td.text() for td in tr.iter("td")) for tr in body.iter("tr")]
        assert pairs == [(shown_pointer(v.path), v.message) for v in failure.violations]
        (curl,) = details.select("pre", "curl")
        assert curl.text() == failure.curl
        assert f"source: {failure.source}" in details.text()
    pointers = {td.text() for td in dom.iter("code")}
    assert "(root)" in pointers
    assert "" not in pointers


def _html_order(report: Report) -> list[Failure]:
    return [f for row in report.rows for f in failures_of(report, row.rule)]


def test_html_shows_notes_errors_and_no_failures() -> None:
    clean = sample_report(
        rows=tuple(replace(row, failed=0, status="ok") for row in sample_rows(())),
        failures=(),
        errors=("the server at http://127.0.0.1:1 refused the connection",),
        notes=("a note",),
        seed=None,
        settings={},
    )
    dom = parse(render_html(clean))
    assert squash(dom.by_id("failures").text()) == "Failures No failures."
    assert [li.text() for li in dom.by_id("errors").iter("li")] == list(clean.errors)
    assert [li.text() for li in dom.by_id("notes").iter("li")] == ["a note"]
    assert facts_of(dom) == {
        "Target": clean.target,
        "Exit code": "2 (the run could not complete)",
        "Seed": "none",
        "Requests": "1234",
        "Time": "7.2 s",
    }


def test_html_shows_a_failure_whose_rule_has_no_row(report: Report) -> None:
    orphan = replace(report.failures[0], rule="unlisted-rule")
    dom = parse(render_html(replace(report, failures=(*report.failures, orphan))))
    (details,) = [d for d in dom.select("details", "failure") if d.attrs["data-rule"] == "unlisted-rule"]
    assert next(details.select("pre", "curl")[0].iter("code")).text() == orphan.curl
    last = dom.select("section", "rule-failures")[-1]
    assert last.attrs["data-rule"] == "unlisted-rule"


def test_html_renders_a_report_with_no_rules() -> None:
    empty = Report("qmcontract diff", "a vs b", rows=(), failures=(), requests=0, seconds=0.0)
    dom = parse(render_html(empty))
    assert list(next(dom.by_id("rules").iter("tbody")).iter("tr")) == []
    assert "errors" not in render_html(empty)


def test_html_escapes_everything(report: Report) -> None:
    marked = "<b>x</b>&\"'"
    odd = Failure(marked, marked, (Violation(marked, marked, marked),), marked, 500, marked, marked)
    row = RuleRow(marked, marked, 1, 1, "failed", (SubcheckRow(marked, 1, 1, "failed", marked),))
    hostile = replace(
        report,
        title=marked,
        target=HOSTILE,
        rows=(*report.rows, row),
        failures=(*report.failures, odd),
        notes=(HOSTILE,),
        errors=(marked,),
        settings={marked: HOSTILE},
    )
    page = render_html(hostile)
    dom = parse(page)
    assert HOSTILE not in page
    assert HOSTILE_PATH not in page
    assert "<b>" not in page
    assert [node.tag for node in dom.iter("script")] == ["script"]
    assert next(dom.iter("script")).text() == SCRIPT
    assert list(dom.iter("img")) == []
    assert list(dom.iter("b")) == []
    text = dom.text()
    assert HOSTILE in text
    assert HOSTILE_PATH in text
    assert text.count(marked) >= 10
    assert dom.by_id(f"failures-{marked}").attrs["data-rule"] == marked
    assert any(option.attrs["value"] == marked for option in dom.by_id("filter-rule").iter("option"))


def test_html_is_self_contained(dom: Node) -> None:
    for tag in ("link", "img", "iframe", "object", "embed", "base", "audio", "video", "source", "form"):
        assert list(dom.iter(tag)) == [], tag
    for node in dom.iter():
        assert "src" not in node.attrs
        assert (node.attrs.get("href") or "#").startswith("#")
        assert not any(name.startswith("on") for name in node.attrs), node.tag
    assert "url(" not in CSS
    assert "@import" not in CSS
    assert not re.search(r"fetch|XMLHttpRequest|import\(|https?:", SCRIPT)


def test_html_policy_allows_only_its_own_css_and_script(dom: Node) -> None:
    (meta,) = [m for m in dom.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    policy = dict(part.strip().split(" ", 1) for part in (meta.attrs["content"] or "").split(";"))

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert policy["default-src"] == "'none'"
    assert policy["style-src"] == digest(next(dom.iter("style")).text())
    assert policy["script-src"] == digest(next(dom.iter("script")).text())
    assert len(list(dom.iter("style"))) == 1
    assert not any("style" in node.attrs for node in dom.iter())


def test_html_filters_are_labelled_and_hidden_without_script(report: Report, dom: Node) -> None:
    filters = dom.by_id("filters")
    assert "hidden" in filters.attrs
    assert filters.attrs["role"] == "search"
    labels = {label.attrs["for"] for label in filters.iter("label")}
    assert labels == {"filter-rule", "filter-status"}
    rules = [option.attrs["value"] for option in dom.by_id("filter-rule").iter("option")]
    assert rules == ["", *(row.rule for row in report.rows)]


def test_write_html_writes_the_page(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(report, path)
    assert path.read_bytes() == render_html(report).encode("utf-8")


# --- JSON --------------------------------------------------------------------------------------------


def test_json_report_holds_everything(report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(report, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(report.to_json()))
    assert data["exit_code"] == 1
    assert data["verdict"] == report.verdict
    assert data["seed"] == 4242
    assert [rule["rule"] for rule in data["rules"]] == [row.rule for row in report.rows]
    statuses = {rule["status"] for rule in data["rules"]}
    statuses |= {sub["status"] for rule in data["rules"] for sub in rule["subchecks"]}
    assert statuses == set(STATUSES)
    assert len(data["failures"]) == len(report.failures)
    pointers = {v["pointer"] for f in data["failures"] for v in f["violations"]}
    assert "" in pointers
    assert "(root)" not in pointers
    assert HOSTILE in path.read_text(encoding="utf-8")


# --- JUnit --------------------------------------------------------------------------------------------


def _suite(report: Report, tmp_path: Path) -> ET.Element:
    path = tmp_path / "junit.xml"
    write_junit(report, path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root
    return suite


def test_junit_has_one_testcase_per_rule(report: Report, tmp_path: Path) -> None:
    suite = _suite(report, tmp_path)
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [row.rule for row in report.rows]
    assert [case.get("classname") for case in cases] == [f"qmcontract.{row.kind}" for row in report.rows]
    for case, row in zip(cases, report.rows, strict=True):
        children = [child.tag for child in case]
        expected = {"ok": [], "failed": ["failure"]}.get(row.status, ["skipped"])
        assert children == expected, row.rule
        if row.status not in ("ok", "failed"):
            message = case.find("skipped").get("message")  # type: ignore[union-attr]
            assert message.startswith(f"{row.status} (")  # type: ignore[union-attr]


def test_junit_failure_lists_every_failure_of_its_rule(report: Report, tmp_path: Path) -> None:
    suite = _suite(report, tmp_path)
    for case in suite.findall("testcase"):
        failure = case.find("failure")
        if failure is None:
            continue
        rule = case.get("name")
        found = failures_of(report, rule or "")
        text = failure.text or ""
        assert failure.get("type") == rule
        assert failure.get("message") == f"{len(found)} request(s) broke {rule}"
        assert sum(line.startswith(f"{rule} (") for line in text.splitlines()) == len(found)
        for one in found:
            assert one.request in text
            assert one.curl in text
            for violation in one.violations:
                assert f"{shown_pointer(violation.path)}  {violation.message}" in text


def test_junit_suite_counts(report: Report, tmp_path: Path) -> None:
    suite = _suite(report, tmp_path)
    assert suite.get("tests") == str(len(suite.findall("testcase"))) == "28"
    assert suite.get("failures") == "3" == str(len(suite.findall("testcase/failure")))
    assert suite.get("skipped") == "6" == str(len(suite.findall("testcase/skipped")))
    assert suite.get("errors") == "0"
    assert suite.get("time") == "7.250"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == {"target": report.target, "seed": "4242"}


def test_junit_counts_run_errors_as_testcases(report: Report, tmp_path: Path) -> None:
    suite = _suite(replace(report, errors=("unreachable", "refused token")), tmp_path)
    assert suite.get("errors") == "2" == str(len(suite.findall("testcase/error")))
    assert suite.get("tests") == str(len(suite.findall("testcase"))) == "30"


def test_junit_is_valid_xml_with_markup_in_messages(report: Report) -> None:
    tree = junit_tree(report)
    text = ET.tostring(tree.getroot(), encoding="unicode")
    assert HOSTILE not in text
    assert HOSTILE in "".join(ET.fromstring(text).itertext())


# --- text ---------------------------------------------------------------------------------------------


def _table_rows(table: str) -> dict[str, tuple[int, str]]:
    """Rule -> (failed, status) read back from a rendered table."""
    found = {}
    pattern = re.compile(r"^\W*(\S+)\W+(document|exchange|family)\W+(\d+)\W+(\d+)\W+\d+/\d+\W+([a-z ]+?)\W*$")
    for line in table.splitlines():
        match = pattern.match(line)
        if match:
            found[match[1]] = (int(match[4]), match[5])
    return found


def test_plain_table_has_one_line_per_rule(report: Report) -> None:
    table = plain_table(report.rows)
    assert len(table.splitlines()) == 1 + len(report.rows)
    assert _table_rows(table) == {row.rule: (row.failed, row.status) for row in report.rows}
    assert plain_table(()) == plain_table(()).splitlines()[0]


def test_rich_table_has_one_line_per_rule(report: Report) -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(rich_table(report))
    table = console.file.getvalue()  # type: ignore[attr-defined]
    assert _table_rows(table) == {row.rule: (row.failed, row.status) for row in report.rows}


def _listed(listing: str, rule: str) -> int:
    return sum(line.startswith(f"{rule} (") for line in listing.splitlines())


def many_failures() -> Report:
    """The sample with six more no-server-error failures (nine in all)."""
    base = sample_failures()
    extra = tuple(replace(base[0], request=f"{base[0].request}&n={n}") for n in range(6))
    failures = base + extra
    return sample_report(rows=sample_rows(failures), failures=failures)


def test_listing_shows_a_few_and_counts_all() -> None:
    report = many_failures()
    listing = format_failures(report.failures)
    assert _listed(listing, "no-server-error") == 3
    assert "... 9 no-server-error failures in all, 6 more in the reports" in listing
    assert _listed(listing, "schema") == 2
    assert "schema failures in all" not in listing


def test_console_output_shows_everything_once() -> None:
    report = many_failures()
    console = Console(file=io.StringIO(), width=200, color_system=None)
    show(report, console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert out.strip().endswith(report.verdict)
    assert "1234 requests in 7.2 s, seed 4242 (repeat with --seed 4242)" in out
    assert HOSTILE in out
    assert "auth-required (me-without-token): not exercised: needs a token" in out
    assert "(root)" in out


@pytest.mark.parametrize("report", [sample_report(), many_failures()], ids=["sample", "many"])
def test_every_writer_counts_the_same_failures(report: Report, tmp_path: Path) -> None:
    write_json(report, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    suite = _suite(report, tmp_path)
    dom = parse(render_html(report))
    table = _table_rows(plain_table(report.rows))
    listing = format_failures(report.failures, per_rule=None)
    for row in report.rows:
        counts = {
            "row": row.failed,
            "table": table[row.rule][0],
            "listing": _listed(listing, row.rule),
            "json": sum(f["rule"] == row.rule for f in data["failures"]),
            "json row": next(r["failed"] for r in data["rules"] if r["rule"] == row.rule),
            "junit": sum(
                _listed(f.text or "", row.rule)
                for case in suite.findall("testcase")
                if case.get("name") == row.rule
                for f in case.findall("failure")
            ),
            "html": sum(d.attrs["data-rule"] == row.rule for d in dom.select("details", "failure")),
        }
        assert set(counts.values()) == {row.failed}, (row.rule, counts)


# --- a diff's report: two curl lines per failure, and no exit 3 ---------------------------------------

CURL_A = "curl -sS -i http://a.example.test/query_models/x"
CURL_B = "curl -sS -i http://b.example.test/query_models/x"


def diff_report(report: Report) -> Report:
    """The sample as a diff would make it: each failure repeated on two servers."""
    failures = tuple(replace(f, curl=CURL_A, curl_b=CURL_B) for f in report.failures)
    return replace(report, title="qmcontract diff", failures=failures, exercise_required=False)


def test_every_writer_shows_both_curl_lines_of_a_diff(report: Report, tmp_path: Path) -> None:
    diffed = diff_report(report)
    lines = format_failures(diffed.failures, per_rule=None).splitlines()
    assert lines.count(f"    {CURL_A}") == len(diffed.failures)
    assert [lines[i + 1] for i, line in enumerate(lines) if line == f"    {CURL_A}"] == [
        f"    {CURL_B}"
    ] * len(diffed.failures)
    data = diffed.to_json()
    assert all((f["curl"], f["curl_b"]) == (CURL_A, CURL_B) for f in data["failures"])
    for details in parse(render_html(diffed)).select("details", "failure"):
        assert [pre.text() for pre in details.select("pre", "curl")] == [CURL_A, CURL_B]
        assert "Repeat it on server A:" in details.text()
        assert "Repeat it on server B:" in details.text()
    text = "".join(f.text or "" for f in _suite(diffed, tmp_path).iter("failure"))
    assert text.count(CURL_B) == len(diffed.failures)


def test_a_report_of_one_server_has_no_second_curl(report: Report) -> None:
    assert all("curl_b" not in f for f in report.to_json()["failures"])
    assert all(
        len(d.select("pre", "curl")) == 1 for d in parse(render_html(report)).select("details", "failure")
    )


def test_without_exercise_required_what_did_not_run_is_not_exit_3(report: Report) -> None:
    passed = replace(report, failures=(), rows=tuple(replace(r, status="not exercised") for r in report.rows))
    assert passed.exit_code == 3
    diffed = replace(passed, exercise_required=False)
    assert diffed.exit_code == 0
    assert replace(diffed, errors=("boom",)).exit_code == 2
    assert diff_report(report).exit_code == 1
    facts = next(parse(render_html(diffed)).iter("dl"))
    cells = [node for node in facts.children if isinstance(node, Node)]
    shown = {dt.text(): dd.text() for dt, dd in zip(cells[::2], cells[1::2], strict=True)}
    assert shown["Exit code"] == "0 (no rule failed)"
