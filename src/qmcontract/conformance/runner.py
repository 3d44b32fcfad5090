"""Runs the shipped conformance suite with pytest and turns its ledger into a result.

:func:`run_conformance` resolves the target first (so that a bad option or an unreachable
server stops the run with one line before pytest starts), then runs the suite shipped in
:mod:`qmcontract.conformance.suite` with its own pytest configuration, handing it the target
and a :class:`~qmcontract.conformance.ledger.Ledger` through a plugin. JUnit XML comes from
pytest's ``--junit-xml``.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from rich.console import Console

from qmcontract.conformance import DEFAULT_MAX_EXAMPLES
from qmcontract.conformance.ledger import Failure, Ledger, RuleRow
from qmcontract.conformance.report import format_failures, rich_table
from qmcontract.conformance.suite.plugin import PROVIDED_KEY, Provided
from qmcontract.conformance.target import (
    ConformanceUsageError,
    Target,
    embedded_target,
    resolve_live_target,
    token_from_env,
)
from qmcontract.engine import ResponseHook

SUITE_DIR: Final = Path(__file__).resolve().parent / "suite"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConformanceOptions:
    """What ``qmcontract conformance`` was asked to do."""

    base_url: str | None = None
    slugs: tuple[str, ...] = ()
    token_env: str | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    junit_xml: Path | None = None
    workers: int = 1


@dataclass(frozen=True)
class ConformanceResult:
    """The outcome of a run: the rule table, the failures and anything that stopped a test."""

    base_url: str
    embedded: bool
    slugs: tuple[str, ...]
    seed: int
    max_examples: int
    rows: tuple[RuleRow, ...]
    failures: tuple[Failure, ...]
    errors: tuple[str, ...]
    requests: int
    seconds: float

    @property
    def failed_rules(self) -> tuple[str, ...]:
        """Rules broken at least once."""
        return tuple(row.rule for row in self.rows if row.failed)

    @property
    def unexercised_rules(self) -> tuple[str, ...]:
        """Rules that no request exercised, so the run cannot say they hold."""
        return tuple(row.rule for row in self.rows if not row.checked)

    @property
    def ok(self) -> bool:
        """Every rule was checked and holds, and nothing else went wrong."""
        return not (self.failed_rules or self.unexercised_rules or self.errors)

    def to_json(self) -> dict[str, Any]:
        """The JSON report (``--report``)."""
        return {
            "ok": self.ok,
            "base_url": self.base_url,
            "embedded": self.embedded,
            "slugs": list(self.slugs),
            "seed": self.seed,
            "max_examples": self.max_examples,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rules": [row.to_json() for row in self.rows],
            "failed_rules": list(self.failed_rules),
            "unexercised_rules": list(self.unexercised_rules),
            "failures": [failure.to_json() for failure in self.failures],
            "errors": list(self.errors),
        }

    def write_json(self, path: Path) -> None:
        """Write the JSON report to ``path``."""
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class _RunnerPlugin:
    """Hands the target and ledger to the suite; reports progress and anything that is not a rule."""

    provided: Provided
    progress: Progress | None
    errors: list[str] = field(default_factory=list)

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[PROVIDED_KEY] = self.provided

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid or 'collection'}: {_first_line(str(report.longrepr))}")

    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        excinfo = call.excinfo
        if excinfo is None or excinfo.errisinstance((pytest.skip.Exception, pytest.fail.Exception)):
            return
        if not _is_rule_failure(excinfo.value):
            self.errors.append(
                f"{item.nodeid} ({call.when}): {excinfo.typename}: {_first_line(str(excinfo.value))}"
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.progress is None or not (report.when == "call" or report.outcome != "passed"):
            return
        if report.when == "teardown" and report.passed:
            return
        outcome = "FAILED" if report.failed else report.outcome
        requests = self.provided.ledger.requests
        self.progress(f"{_label(report.nodeid):<44} {outcome:<8} {requests:>6} requests so far")


def _is_rule_failure(exc: BaseException) -> bool:
    """An assertion, or a group of them (schemathesis and hypothesis group several failures)."""
    if isinstance(exc, AssertionError):
        return True
    inner = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and bool(inner) and all(_is_rule_failure(e) for e in inner)


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def _label(nodeid: str) -> str:
    name = nodeid.rsplit("::", 1)[-1]
    if name.startswith("test_probes["):
        return f"probes: {name[len('test_probes[') : -1]}"
    if name.startswith("test_generated_requests"):
        return "schemathesis: generated requests"
    return "every rule exercised" if name.startswith("test_every_rule") else name


def pytest_args(options: ConformanceOptions, seed: int) -> list[str]:
    """The pytest command line that runs the shipped suite (``-c`` keeps any project's config out)."""
    args = [
        str(SUITE_DIR),
        "-c",
        str(SUITE_DIR / "pytest.ini"),
        "--rootdir",
        str(SUITE_DIR),
        "-p",
        "no:terminal",
        "-p",
        "no:qmcontract",
        "-p",
        "no:randomly",
        "--assert=plain",
        "--qm-max-examples",
        str(options.max_examples),
        "--qm-seed",
        str(seed),
        "--qm-workers",
        str(options.workers),
    ]
    if options.junit_xml is not None:
        args += ["--junit-xml", str(options.junit_xml)]
    return args


@contextmanager
def _target(options: ConformanceOptions, hook: ResponseHook | None) -> Iterator[Target]:
    token = token_from_env(options.token_env)
    if options.base_url is None:
        with embedded_target(token=token, slugs=options.slugs, hook=hook) as target:
            yield target
        return
    if hook is not None:
        raise ConformanceUsageError("a response hook only applies to the embedded server")
    yield resolve_live_target(options.base_url, options.slugs, token)


def run_conformance(
    options: ConformanceOptions, *, progress: Progress | None = None, hook: ResponseHook | None = None
) -> ConformanceResult:
    """Run the conformance suite against ``options.base_url`` (default: the embedded server).

    ``hook`` is test-only: it rewrites every response of the embedded server, which is how
    the mutation test builds deliberately broken servers. Raises
    :class:`~qmcontract.conformance.target.ConformanceUsageError` before any test runs when the
    options are unusable or the server cannot be reached.
    """
    if options.max_examples < 1 or options.workers < 1:
        raise ConformanceUsageError("--max-examples and --workers must be at least 1")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    started = time.perf_counter()
    with _target(options, hook) as target:
        ledger = Ledger()
        plugin = _RunnerPlugin(Provided(target, ledger), progress)
        if progress is not None:
            where = "the embedded mock server" if target.embedded else target.base_url
            progress(f"testing {where} ({len(target.slugs)} known names, seed {seed})")
        exit_code = pytest.main(pytest_args(options, seed), plugins=[plugin])
    errors = list(plugin.errors)
    if exit_code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        errors.append(f"pytest stopped with exit code {int(exit_code)}")
    return ConformanceResult(
        base_url=target.base_url,
        embedded=target.embedded,
        slugs=target.slugs,
        seed=seed,
        max_examples=options.max_examples,
        rows=tuple(ledger.rows()),
        failures=tuple(ledger.failures()),
        errors=tuple(errors),
        requests=ledger.requests,
        seconds=time.perf_counter() - started,
    )


@contextmanager
def scratch_hypothesis_storage() -> Iterator[None]:
    """Keep hypothesis's files (it caches constants even without a database) out of the cwd.

    For a fresh process such as the CLI: hypothesis fixes its storage directory on first use.
    """
    variable = "HYPOTHESIS_STORAGE_DIRECTORY"
    previous = os.environ.get(variable)
    with tempfile.TemporaryDirectory(prefix="qmcontract-hypothesis-") as scratch:
        os.environ[variable] = previous or scratch
        try:
            yield
        finally:
            if previous is None:
                del os.environ[variable]


def show_result(result: ConformanceResult, console: Console | None = None) -> None:
    """Print the rule table, then each failure with its reproduction, then a one-line verdict."""
    console = console if console is not None else Console(highlight=False, soft_wrap=True)
    where = "embedded mock server" if result.embedded else result.base_url
    title = f"qmcontract conformance: {where}"
    console.print(rich_table(result.rows, title=title))
    if result.failures:
        console.print("\n[bold]Failures[/] (rule, JSON pointer, why; then a reproduction):", markup=True)
        console.print(format_failures(result.failures), markup=False)
    for error in result.errors:
        console.print(f"error: {error}", markup=False)
    console.print(
        f"\n{result.requests} requests in {result.seconds:.1f} s, seed {result.seed} "
        f"(repeat with --seed {result.seed})",
        markup=False,
    )
    console.print(_verdict(result), markup=False)


def _verdict(result: ConformanceResult) -> str:
    if result.ok:
        return f"all {len(result.rows)} rules hold"
    parts = []
    if result.failed_rules:
        parts.append(f"broken: {', '.join(result.failed_rules)}")
    if result.unexercised_rules:
        parts.append(f"never exercised: {', '.join(result.unexercised_rules)}")
    if result.errors:
        parts.append(f"{len(result.errors)} test error(s)")
    return "; ".join(parts)
