"""The suite's quality gate: every deliberately broken variant of our server fails it, under its rule.

Each mutation (``qmcontract.conformance.mutations``) breaks exactly one rule through the
server's response hook; a run against it must report that rule and no other. Runs are
small (few generated examples, fixed seed): the targeted probes do the catching.
"""

from __future__ import annotations

import pytest

from qmcontract.catalog import Catalog, load_catalog
from qmcontract.conformance.mutations import MUTATIONS, Mutation, mutation
from qmcontract.conformance.runner import ConformanceOptions, run_conformance
from qmcontract.rules import ALL_RULES, DOCUMENT_RULES, EXCHANGE_RULES

OPTIONS = ConformanceOptions(max_examples=5, seed=20251003)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_there_are_enough_mutations_and_each_names_a_contract_rule():
    assert len(MUTATIONS) >= 15
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    assert {m.rule for m in MUTATIONS} <= set(ALL_RULES)
    assert set(EXCHANGE_RULES) <= {m.rule for m in MUTATIONS}
    assert len({m.rule for m in MUTATIONS} & set(DOCUMENT_RULES)) >= 8
    with pytest.raises(KeyError, match="no mutation 'nope'"):
        mutation("nope")


@pytest.mark.parametrize("broken", MUTATIONS, ids=lambda m: m.name)
def test_each_broken_server_fails_the_suite_under_its_rule(broken: Mutation, catalog: Catalog):
    result = run_conformance(OPTIONS, hook=broken.hook(catalog))
    assert not result.errors
    assert result.failed_rules == (broken.rule,), [
        f"{f.rule} {f.pointer} {f.message}" for f in result.failures[:5]
    ]
    assert not result.unexercised_rules
    assert not result.ok
    assert all(failure.rule == broken.rule for failure in result.failures)
    assert all(failure.curl.startswith("curl ") for failure in result.failures)
