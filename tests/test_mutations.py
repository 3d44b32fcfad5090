"""The suite's quality gate: every deliberately broken variant of our engine fails it, under its rule.

Each mutation (``qmcontract.conformance.mutations``) breaks exactly one rule through the engine's
response hook; a run against it (in-process, probes only: the probes are what must catch it) must
fail that rule and no other, with a reproduction for each failure.
"""

from __future__ import annotations

import pytest

from qmcontract.catalog import load_catalog
from qmcontract.conformance.mutations import MUTATIONS, Mutation, mutation
from qmcontract.conformance.runner import ConformanceOptions, run_conformance
from qmcontract.engine import Engine
from qmcontract.rules import ALL_RULES, DOCUMENT_RULES

#: Rules no server can break alone: breaking them breaks a name (llm-name or slug-echo) too.
NOT_BREAKABLE_ALONE = {"llm-count", "weight-match", "weight-values"}


def test_every_rule_a_server_can_break_alone_has_a_variant():
    assert len({m.name for m in MUTATIONS}) == len(MUTATIONS)
    assert {m.rule for m in MUTATIONS} <= set(ALL_RULES)
    assert {m.rule for m in MUTATIONS} == set(ALL_RULES) - NOT_BREAKABLE_ALONE
    assert set(DOCUMENT_RULES) >= NOT_BREAKABLE_ALONE
    with pytest.raises(KeyError, match="no mutation 'nope'"):
        mutation("nope")


@pytest.mark.parametrize("broken", MUTATIONS, ids=lambda m: m.name)
def test_each_broken_engine_fails_the_suite_under_its_rule(broken: Mutation):
    catalog = load_catalog()
    options = ConformanceOptions(max_examples=0, workers=1, seed=20251003, slugs=tuple(catalog.names()))
    report = run_conformance(options, engine=Engine(catalog, hook=broken.hook(catalog)))
    assert report.rules_with("failed") == (broken.rule,), [
        f"{f.rule} {f.request} {[v.message for v in f.violations][:1]}" for f in report.failures[:5]
    ]
    assert report.exit_code == 1
    assert not report.errors
    assert all(failure.curl.startswith("curl ") for failure in report.failures)
