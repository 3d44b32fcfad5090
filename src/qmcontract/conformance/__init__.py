"""The conformance suite: checks any server of the Query Model API family, rule by rule.

Modules, from values to the command:

- :mod:`.exchange`: a request as sent and the answer it got, and request builders;
- :mod:`.expect`: the oracle, the contract's tables written out as data;
- :mod:`.subchecks`: every rule's sub-checks and what each needs to apply;
- :mod:`.checks` and :mod:`.family`: one plain function per rule;
- :mod:`.judge`: every check on an exchange, recorded in the ledger (:mod:`qmcontract.report`);
- :mod:`.probes`: deterministic requests that make every sub-check apply;
- :mod:`.generated`: schemathesis's generated requests, judged by the same checks;
- :mod:`.target`, :mod:`.sender` and :mod:`.runner`: one run, from a URL to a report;
- :mod:`.mutations`: deliberately broken variants of the engine, to prove the suite (test-only);
- :mod:`.suite`: the same run as a pytest suite (``contract_tests/`` re-exports it).

Nothing heavy is imported here: schemathesis loads only for the generated part of a run.
"""
