"""The conformance suite: the same tests `qmcontract conformance` runs from the installed package.

pytest contract_tests                                   # against the embedded mock server
pytest contract_tests --qm-base-url URL --qm-slug NAME  # against a live server
"""

from qmcontract.conformance.suite.test_conformance import (
    test_every_rule_was_exercised,
    test_generated_requests,
    test_probes,
)

__all__ = ["test_every_rule_was_exercised", "test_generated_requests", "test_probes"]
