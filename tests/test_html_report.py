"""The HTML report in a real headless browser: it renders, expands, filters, and fetches nothing.

Debian's chromium (``/usr/bin/chromium``) driven by playwright; no browser is downloaded. The
page is opened from a ``file://`` URL; every request the browser makes is routed through a
handler that lets only that URL through and records the rest, so "no network request" is
checked, not assumed (the last test shows the handler does see a page's fetches). Skips where
``/usr/bin/chromium`` is absent; ``.ci/browser-test`` fails when it skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from qmcontract.errors import shown_pointer
from qmcontract.report.html import write_html
from qmcontract.report.model import Report
from report_sample import HOSTILE, HOSTILE_PATH, sample_report

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-background-networking"]


@dataclass
class Opened:
    """A page holding the report, and everything it did that it should not have."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def assert_quiet(self) -> None:
        assert self.requests == [], f"the page asked for {self.requests}"
        assert self.problems == []
        assert self.page.evaluate("typeof window.__pwned") == "undefined"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium package to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is absent (the dev extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def report() -> Report:
    return sample_report()


def open_page(browser: Any, path: Path, *, script: bool = True) -> Iterator[Opened]:
    context = browser.new_context(java_script_enabled=script, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(5_000)
    opened = Opened(context.new_page(), path.as_uri())

    def route(route: Any) -> None:
        if route.request.url == opened.url:
            route.continue_()
        else:
            opened.requests.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    context.on("websocket", lambda ws: opened.requests.append(ws.url))
    opened.page.on("console", lambda m: m.type == "error" and opened.problems.append(m.text))
    opened.page.on("pageerror", lambda error: opened.problems.append(str(error)))
    opened.page.on("dialog", lambda dialog: (opened.problems.append(dialog.message), dialog.dismiss()))
    opened.page.goto(opened.url)
    yield opened
    context.close()


@pytest.fixture
def opened(browser: Any, report: Report, tmp_path: Path) -> Iterator[Opened]:
    path = tmp_path / "report.html"
    write_html(report, path)
    yield from open_page(browser, path)


def visible_rules(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#rules tbody tr", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.dataset.rule)"
    )


def visible_failures(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "details.failure", "ds => ds.filter(d => d.offsetParent !== null).map(d => d.dataset.rule)"
    )


def test_page_renders_with_title_verdict_and_failing_rules(opened: Opened, report: Report) -> None:
    page = opened.page
    assert page.title() == f"{report.title}: {report.target}"
    assert page.locator("h1").inner_text() == report.title
    assert page.locator("#verdict").inner_text() == f"Verdict: {report.verdict}"
    assert visible_rules(page) == [row.rule for row in report.rows]
    for rule in report.rules_with("failed"):
        row = page.locator(f'#rules tbody tr[data-rule="{rule}"]')
        assert row.is_visible()
        assert row.locator("td").nth(3).inner_text() == "failed"
    assert page.locator("#filters").is_visible()
    assert page.locator("#filter-shown").inner_text() == "28 of 28 rules, 7 of 7 failures shown"
    opened.assert_quiet()


def test_expanding_a_failure_shows_pointer_reason_and_curl(opened: Opened, report: Report) -> None:
    page = opened.page
    failure = next(f for f in report.failures if len(f.violations) > 1)
    details = page.locator(f'details.failure[data-rule="{failure.rule}"]').first
    curl = details.locator("pre.curl")
    assert not curl.is_visible()
    details.locator("summary").click()
    assert curl.is_visible()
    assert curl.inner_text() == failure.curl
    cells = details.locator("tbody tr td")
    shown = [cells.nth(i).inner_text() for i in range(cells.count())]
    assert shown == [text for v in failure.violations for text in (shown_pointer(v.path), v.message)]
    assert "(root)" in shown
    opened.assert_quiet()


def test_markup_in_a_failure_is_text(opened: Opened, report: Report) -> None:
    page = opened.page
    details = page.locator("details.failure", has_text="window.__pwned = 1")
    details.locator("summary").click()
    assert HOSTILE_PATH in details.locator("summary").inner_text()
    assert HOSTILE in details.locator("tbody").inner_text()
    assert page.locator("details.failure img, details.failure script").count() == 0
    assert HOSTILE in page.locator("#notes").inner_text()
    opened.assert_quiet()


def test_rule_filter_hides_other_rules(opened: Opened, report: Report) -> None:
    page = opened.page
    page.select_option("#filter-rule", "schema")
    assert visible_rules(page) == ["schema"]
    assert visible_failures(page) == ["schema", "schema"]
    assert page.locator("#filter-shown").inner_text() == "1 of 28 rules, 2 of 7 failures shown"
    page.select_option("#filter-rule", "llm-count")
    assert visible_rules(page) == ["llm-count"]
    assert visible_failures(page) == []
    page.select_option("#filter-rule", "")
    assert visible_rules(page) == [row.rule for row in report.rows]
    assert len(visible_failures(page)) == len(report.failures)
    opened.assert_quiet()


def test_status_filter_shows_one_status(opened: Opened, report: Report) -> None:
    page = opened.page
    page.select_option("#filter-status", "not exercised")
    assert visible_rules(page) == list(report.rules_with("not exercised"))
    assert visible_failures(page) == []
    page.select_option("#filter-status", "failed")
    assert visible_rules(page) == list(report.rules_with("failed"))
    assert len(visible_failures(page)) == len(report.failures)
    page.select_option("#filter-rule", "bad-request")
    assert visible_failures(page) == ["bad-request", "bad-request"]
    opened.assert_quiet()


def test_expand_all_opens_every_failure(opened: Opened, report: Report) -> None:
    page = opened.page
    button = page.locator("#expand-all")
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    assert page.locator("pre.curl:visible").count() == len(report.failures)
    button.click()
    assert page.locator("pre.curl:visible").count() == 0
    opened.assert_quiet()


def test_without_script_everything_is_shown(browser: Any, report: Report, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(report, path)
    for opened in open_page(browser, path, script=False):
        assert not opened.page.locator("#filters").is_visible()
        assert visible_rules(opened.page) == [row.rule for row in report.rows]
        assert len(visible_failures(opened.page)) == len(report.failures)
        opened.assert_quiet()


def test_the_listener_sees_a_page_that_fetches(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "fetches.html"
    path.write_text(
        '<img src="http://127.0.0.1:9/x.png"><link rel="stylesheet" href="https://example.org/x.css">'
    )
    for opened in open_page(browser, path):
        opened.page.wait_for_load_state("load")
        assert sorted(opened.requests) == ["http://127.0.0.1:9/x.png", "https://example.org/x.css"]
