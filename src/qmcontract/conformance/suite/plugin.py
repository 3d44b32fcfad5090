"""The conformance suite's pytest plugin: options, one run per session, the rule table.

Options: ``--qm-server URL`` (the server under test; default: the embedded mock server),
``--qm-slug NAME`` (repeatable), ``--qm-token-env VAR``, ``--qm-max-examples N``, ``--qm-seed S``
and ``--qm-workers N``. The session runs :func:`~qmcontract.conformance.runner.run_conformance`
once and each test reads its verdict for one rule; nothing is kept at module level.
"""

from __future__ import annotations

from typing import Any, Final

import pytest

from qmcontract.conformance.runner import ConformanceOptions, run_conformance
from qmcontract.conformance.target import ConformanceUsageError
from qmcontract.limits import DEFAULT_MAX_EXAMPLES
from qmcontract.report.model import Report
from qmcontract.report.text import plain_table

__all__ = ["pytest_addoption", "pytest_terminal_summary", "qm_report"]

_REPORT_KEY: Final = pytest.StashKey[Report]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The suite's options."""
    group = parser.getgroup("qmcontract-conformance", "qmcontract conformance suite")
    group.addoption("--qm-server", metavar="URL", help="server to test (default: the embedded mock server)")
    group.addoption(
        "--qm-slug", metavar="NAME", action="append", default=[], help="a served Query Model (repeatable)"
    )
    group.addoption("--qm-token-env", metavar="VAR", help="environment variable holding an API token")
    group.addoption(
        "--qm-max-examples",
        metavar="N",
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        help=f"schemathesis examples per operation and mode (default {DEFAULT_MAX_EXAMPLES})",
    )
    group.addoption(
        "--qm-seed", metavar="S", type=int, help="seed of the generated requests (default: random)"
    )
    group.addoption("--qm-workers", metavar="N", type=int, default=4, help="threads sending the probes")


def _options(config: pytest.Config) -> ConformanceOptions:
    return ConformanceOptions(
        base_url=config.getoption("qm_server"),
        slugs=tuple(config.getoption("qm_slug")),
        token_env=config.getoption("qm_token_env"),
        max_examples=config.getoption("qm_max_examples"),
        seed=config.getoption("qm_seed"),
        workers=config.getoption("qm_workers"),
    )


@pytest.fixture(scope="session")
def qm_report(request: pytest.FixtureRequest) -> Report:
    """The verdict of one conformance run against the server under test, made once per session."""
    try:
        report = run_conformance(_options(request.config))
    except ConformanceUsageError as exc:
        pytest.exit(f"qmcontract conformance: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    request.config.stash[_REPORT_KEY] = report
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The rule table and the verdict, after the tests."""
    report = config.stash.get(_REPORT_KEY, None)
    if report is None:
        return
    terminalreporter.section("qmcontract conformance: rules")
    for line in plain_table(report.rows).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"{report.requests} requests, seed {report.seed}: {report.verdict}")
