"""The conformance suite: targeted probes, schemathesis-generated requests, and rule coverage.

Run it with ``qmcontract conformance [URL]``, or with pytest from a checkout
(``pytest contract_tests [--qm-base-url URL --qm-slug NAME ...]``).
"""

from __future__ import annotations

from typing import Any

import pytest

from qmcontract.conformance.probes import FAMILIES
from qmcontract.conformance.report import format_failures
from qmcontract.conformance.suite.plugin import SCHEMA, SuiteRun


@pytest.mark.parametrize("family", FAMILIES)
def test_probes(family: str, qm_run: SuiteRun) -> None:
    """Every rule on the deterministic probes of one family."""
    failures = qm_run.probe(family)
    if failures:
        pytest.fail(format_failures(failures, per_rule=None), pytrace=False)


@SCHEMA.parametrize()  # type: ignore[untyped-decorator]
def test_generated_requests(case: Any, qm_run: SuiteRun) -> None:
    """Every rule, and the built-in schemathesis checks the contract supports, on generated requests."""
    qm_run.call_and_check(case)


def test_every_rule_was_exercised(request: pytest.FixtureRequest, qm_run: SuiteRun) -> None:
    """Each rule of the contract was checked at least once (only when the whole suite ran)."""
    names = {getattr(item, "originalname", item.name) for item in request.session.items}
    probes = sum(1 for item in request.session.items if getattr(item, "originalname", "") == "test_probes")
    if probes < len(FAMILIES) or "test_generated_requests" not in names:
        pytest.skip("only part of the suite was selected")
    idle = [row.rule for row in qm_run.ledger.rows() if row.checked == 0]
    assert not idle, f"rules never exercised: {', '.join(idle)}"
