"""Loads the suite's plugin when pytest runs this directory."""

from qmcontract.conformance.suite.plugin import *  # noqa: F403
