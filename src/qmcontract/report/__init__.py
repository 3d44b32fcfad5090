"""The verdict of a run and how it is shown: one model, one ledger, four writers.

``qmcontract conformance``, ``diff``, ``proxy`` and ``check-traffic`` all count checks in a
:class:`~qmcontract.report.ledger.Ledger`, turn it into a :class:`~qmcontract.report.model.Report`,
and hand that to the same writers: the console table (:mod:`.text`), JSON (:mod:`.jsonfile`),
JUnit XML (:mod:`.junit`) and a self-contained HTML page (:mod:`.html`). One spelling of every
status everywhere: ``ok``, ``failed``, ``not exercised``, ``not applicable``, ``excluded``.
"""
