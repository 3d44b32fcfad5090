"""A realistic report built by hand, for the writers' tests (no runner, no server).

Every rule of the contract has a row (28), with sub-checks in every status: three failed rules
with several failures (one failure with several pointers, one at the root, one with no response,
one whose request path and message carry markup), rules not exercised for want of a token, the
training-table rules not applicable, one rule excluded. Each failed row's ``failed`` count equals
its failures, as the ledger guarantees.
"""

from __future__ import annotations

from qmcontract.errors import Violation
from qmcontract.report.model import Failure, Report, RuleRow, Status, SubcheckRow
from qmcontract.rules import ALL_RULES, DOCUMENT_RULES, FAMILY_RULES

BASE = "http://127.0.0.1:8765"
SLUG = "3Jw0C4bLvpM5fRrRpuTl2X"
HOSTILE = "<script>window.__pwned = 1</script>"
HOSTILE_PATH = '/query_models/<img src=x onerror="window.__pwned=2">'
TOKEN_HINT = "needs a token the server accepts: pass --token-env VAR"

#: Sub-checks per rule; the rules not named here have one sub-check, "answer".
SUBCHECKS: dict[str, tuple[str, ...]] = {
    "schema": ("model", "llm"),
    "no-server-error": ("from-to", "count-offset", "booleans", "slugs", "headers"),
    "bad-request": ("from-to", "count-offset", "booleans"),
    "metadata-window": ("wider-window", "me-within-all", "same-instant"),
    "auth-required": ("no-token", "me-without-token"),
    "list-names": ("well-formed", "unique", "retrievable", "count"),
    "list-sort": ("requests", "cost"),
    "training-table-presence": ("model", "llm"),
}
#: Rule -> the status of each of its sub-checks that is not "ok".
SPECIAL: dict[str, dict[str, Status]] = {
    "schema": {"model": "failed"},
    "no-server-error": {"from-to": "failed", "count-offset": "failed"},
    "bad-request": {"booleans": "failed"},
    "metadata-window": {"me-within-all": "not exercised"},
    "auth-required": {"me-without-token": "not exercised"},
    "training-table-presence": {"model": "not applicable", "llm": "not applicable"},
    "training-table-name": {"answer": "not applicable"},
    "training-table-index": {"answer": "not applicable"},
    "list-sort": {"requests": "excluded", "cost": "excluded"},
}


def curl(target: str, *, token: bool = False) -> str:
    """A curl line as the runner writes it (token redacted)."""
    header = "-H 'authorization: Bearer <redacted>' " if token else ""
    return f"curl -sS -i {header}'{BASE}{target}'"


def sample_failures() -> tuple[Failure, ...]:
    """Seven failures under three rules, in the order a run might find them."""
    model = f"/query_models/{SLUG}"
    return (
        Failure(
            "no-server-error",
            "from-to",
            (Violation("no-server-error", "", "the server answered 500 to a valid leap second"),),
            f"GET {model}?metadata=true&from=2016-12-31T23:59:60Z",
            500,
            curl(f"{model}?metadata=true&from=2016-12-31T23:59:60Z"),
            "boundary probe",
        ),
        Failure(
            "schema",
            "model",
            (
                Violation(
                    "schema", "/models/0/weight/type", "'tabel' is not one of ['static', 'training_table']"
                ),
                Violation("schema", "/llms/3/top_p", "1.5 is greater than the maximum of 1"),
                Violation("schema", "", "'created' is a required property"),
            ),
            f"GET {model}",
            200,
            curl(model),
            "list",
        ),
        Failure(
            "no-server-error",
            "count-offset",
            (Violation("no-server-error", "", "no response: the connection was closed"),),
            "GET /query_models?count=9999999999",
            None,
            curl("/query_models?count=9999999999"),
            "boundary probe",
        ),
        Failure(
            "bad-request",
            "booleans",
            (Violation("bad-request", "", "`metadata=yes` gave 200; expected 400"),),
            f"GET {model}?metadata=yes",
            200,
            curl(f"{model}?metadata=yes"),
            "boundary probe",
        ),
        Failure(
            "no-server-error",
            "from-to",
            (Violation("no-server-error", "/message", f"the error body echoes {HOSTILE} & more"),),
            f"GET {HOSTILE_PATH}?from=0001-01-01T00:00:00%2B01:00",
            502,
            curl(f"{HOSTILE_PATH}?from=0001-01-01T00:00:00%2B01:00", token=True),
            "boundary probe",
        ),
        Failure(
            "schema",
            "model",
            (Violation("schema", "/models", "[] should be non-empty"),),
            "GET /query_models/0000000000000000000001",
            200,
            curl("/query_models/0000000000000000000001"),
            "list",
        ),
        Failure(
            "bad-request",
            "booleans",
            (Violation("bad-request", "", "`me=TRUE&metadata=true` gave 200; expected 400"),),
            f"GET {model}?metadata=true&me=TRUE",
            200,
            curl(f"{model}?metadata=true&me=TRUE", token=True),
            "boundary probe",
        ),
    )


def _kind(rule: str) -> str:
    return "document" if rule in DOCUMENT_RULES else "family" if rule in FAMILY_RULES else "exchange"


def _subrow(rule: str, sub: str, failures: tuple[Failure, ...]) -> SubcheckRow:
    status = SPECIAL.get(rule, {}).get(sub, "ok")
    failed = sum(1 for f in failures if f.rule == rule and f.subcheck == sub)
    checked = {"ok": 12 + len(rule), "failed": 40 + failed}.get(status, 0)
    note = {"not exercised": TOKEN_HINT, "not applicable": "no served model has a training_table weight"}
    return SubcheckRow(sub, checked, failed, status, note.get(status, ""))


def _rule_status(rule: str, subs: tuple[SubcheckRow, ...]) -> Status:
    statuses = {sub.status for sub in subs}
    for status in ("excluded", "failed"):
        if status in statuses:
            return status  # type: ignore[return-value]
    if statuses == {"not applicable"}:
        return "not applicable"
    return "not exercised" if "not exercised" in statuses else "ok"


def sample_rows(failures: tuple[Failure, ...]) -> tuple[RuleRow, ...]:
    """One row per rule of the contract, in catalogue order."""
    rows = []
    for rule in ALL_RULES:
        subs = tuple(_subrow(rule, sub, failures) for sub in SUBCHECKS.get(rule, ("answer",)))
        checked = max((sub.checked for sub in subs), default=0)
        failed = sum(1 for f in failures if f.rule == rule)
        rows.append(RuleRow(rule, _kind(rule), checked, failed, _rule_status(rule, subs), subs))
    return tuple(rows)


def sample_report(**changes: object) -> Report:
    """The sample: 28 rules, 3 failed with 7 failures, 2 not exercised, 3 not applicable, 1 excluded."""
    failures = sample_failures()
    fields: dict[str, object] = {
        "title": "qmcontract conformance",
        "target": BASE,
        "rows": sample_rows(failures),
        "failures": failures,
        "requests": 1234,
        "seconds": 7.25,
        "seed": 4242,
        "errors": (),
        "notes": (
            "no --token-env: sent a made-up probe token; the server refused it",
            f"a note with markup {HOSTILE}",
        ),
        "settings": {
            "slugs": [SLUG],
            "exclude_rules": ["list-sort"],
            "request_timeout": 10.0,
            "rate_limit": None,
            "headers": {"x-trace": "<b>bold</b>"},
        },
    }
    fields.update(changes)
    return Report(**fields)  # type: ignore[arg-type]
