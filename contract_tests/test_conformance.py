"""The conformance suite: the same tests the installed package ships.

pytest contract_tests                                  # against the embedded mock server
pytest contract_tests --qm-server URL --qm-slug NAME   # against a live server
"""

from qmcontract.conformance.suite.test_conformance import test_rule

__all__ = ["test_rule"]
