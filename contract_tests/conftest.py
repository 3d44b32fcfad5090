"""The conformance suite's plugin, shared with the copy shipped in the package."""

from qmcontract.conformance.suite.plugin import *  # noqa: F403
