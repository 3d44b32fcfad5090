"""Loads the suite's plugin when pytest runs this directory (``qmcontract conformance`` does)."""

from qmcontract.conformance.suite.plugin import *  # noqa: F403
