"""The conformance suite as pytest tests: one test per rule of the contract.

pytest contract_tests                                  # against the embedded mock server
pytest contract_tests --qm-server URL --qm-slug NAME   # against a live server

A rule that broke fails with every failure and its reproduction; one that did not run (not
exercised), cannot run (not applicable) or was left out (excluded) is skipped, saying which.
"""

from __future__ import annotations

import pytest

from qmcontract.report.model import Report
from qmcontract.report.text import format_failures
from qmcontract.rules import ALL_RULES


@pytest.mark.parametrize("rule", ALL_RULES)
def test_rule(rule: str, qm_report: Report) -> None:
    """The rule held on every request that exercised it."""
    row = next(row for row in qm_report.rows if row.rule == rule)
    if row.status == "failed":
        found = [failure for failure in qm_report.failures if failure.rule == rule]
        pytest.fail(
            f"{row.failed} request(s) broke {rule}:\n{format_failures(found, per_rule=None)}", pytrace=False
        )
    if row.status != "ok":
        subchecks = ", ".join(f"{sub.subcheck}: {sub.status}" for sub in row.subchecks if sub.status != "ok")
        pytest.skip(f"{rule} {row.status} ({subchecks})")
