"""The conformance suite: checks any server of ``GET /query_models/{slug}`` rule by rule.

Modules, from values to the command:

- :mod:`~qmcontract.conformance.exchange`: a request as sent and the response it got;
- :mod:`~qmcontract.conformance.checks`: one plain function per exchange rule, plus the
  document rules through :func:`qmcontract.validate_query_model`;
- :mod:`~qmcontract.conformance.probes`: deterministic requests that make every rule apply;
- :mod:`~qmcontract.conformance.generated`: the schemathesis part (our checks registered
  with schemathesis, and the built-in checks the contract supports);
- :mod:`~qmcontract.conformance.ledger` and :mod:`~qmcontract.conformance.report`: counts per
  rule, failures with a JSON pointer and a ``curl`` reproduction;
- :mod:`~qmcontract.conformance.suite`: the pytest suite, shipped so that an installed
  wheel can run it (``contract_tests/`` in the repository re-exports it);
- :mod:`~qmcontract.conformance.runner`: runs the suite for ``qmcontract conformance``;
- :mod:`~qmcontract.conformance.mutations`: deliberately broken variants of the mock server,
  one per rule, for testing the suite itself (test-only; nothing enables them by default).

This package imports nothing heavy itself: schemathesis loads only with the suite.
"""

from __future__ import annotations

from typing import Final

#: schemathesis examples per generation mode in a default run (fits < 60 s on 2 cores).
DEFAULT_MAX_EXAMPLES: Final = 100

__all__ = ["DEFAULT_MAX_EXAMPLES"]
