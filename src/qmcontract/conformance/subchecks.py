"""Every rule's sub-checks, what each needs to apply, and the outcome a check reports.

A verdict is honest only if it says what ran: each rule is split into sub-checks (``bad-request``
into one per parameter, ``metadata-window`` into the widened window, the unbounded window, the
same instant written twice and ``me`` against all users, ...). A sub-check that never ran is
``not exercised``; one whose inputs the served data never holds (training-table rules when only
static models are served) is ``not applicable``; one that needs an accepted token is not
exercised when the server refused every token the run had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from qmcontract.errors import Violation
from qmcontract.rules import ALL_RULES

Need = Literal["always", "token", "training-table"]
ALWAYS: Final[Need] = "always"
TOKEN: Final[Need] = "token"
TRAINING_TABLE: Final[Need] = "training-table"

_DOCUMENT_FACES: Final = ("model", "llm", "post-model", "post-llm")
_MODEL_FACES: Final = ("model", "post-model")


def _faces(faces: tuple[str, ...], need: Need = ALWAYS) -> dict[str, Need]:
    return dict.fromkeys(faces, need)


#: Rule id -> sub-check id -> what the sub-check needs to apply.
SUBCHECKS: Final[dict[str, dict[str, Need]]] = {
    "schema": _faces(_DOCUMENT_FACES),
    "llm-count": _faces(_MODEL_FACES),
    "llm-name": _faces(_DOCUMENT_FACES),
    "model-name": _faces(_MODEL_FACES),
    "order-index": _faces(_MODEL_FACES),
    "weight-match": _faces(_MODEL_FACES),
    "weight-values": _faces(_DOCUMENT_FACES),
    "training-table-presence": _faces(_DOCUMENT_FACES),
    "training-table-name": _faces(_DOCUMENT_FACES, TRAINING_TABLE),
    "training-table-index": _faces(_MODEL_FACES, TRAINING_TABLE),
    "llm-params": _faces(_DOCUMENT_FACES),
    "metadata-presence": _faces(("model", "llm", "post")),
    "metadata-values": _faces(("model", "llm", "post")),
    "slug-echo": _faces(("model", "llm", "known-model")),
    "not-found": _faces(
        ("malformed-model", "unknown-model", "malformed-llm", "unknown-llm", "unserved-model", "unserved-llm")
    ),
    "auth-required": _faces(("model", "llm", "list", "post-model", "post-llm", "only-with-me")),
    "bad-request": _faces(
        ("metadata", "me", "from", "to", "window", "repeated", "count", "offset", "sort", "body")
    ),
    "ignored-params": _faces(("model", "llm", "post")),
    "error-body": _faces(("shape", "code")),
    "content-type": _faces(("success", "error")),
    "stable": _faces(("model", "llm", "list", "metadata")),
    "metadata-window": {**_faces(("unbounded", "wider", "same-instant")), "me-not-above": TOKEN},
    "no-server-error": _faces(("no-5xx",)),
    "validate-echo": _faces(("query_models", "query_llms")),
    "llm-lookup": _faces(("entry",)),
    "list-names": _faces(("answered", "well-formed", "unique", "retrievable", "count")),
    "list-sort": {
        **_faces(("created", "tokens", "completion_tokens", "prompt_tokens", "cost", "requests")),
        "me": TOKEN,
    },
    "metadata-global": _faces(("answered", "non-negative", "sums")),
}
assert set(SUBCHECKS) == set(ALL_RULES), sorted(set(ALL_RULES) ^ set(SUBCHECKS))


@dataclass(frozen=True)
class Outcome:
    """One sub-check run on one exchange: held when ``violations`` is empty."""

    rule: str
    subcheck: str
    violations: tuple[Violation, ...] = ()

    def __post_init__(self) -> None:
        if self.subcheck not in SUBCHECKS.get(self.rule, {}):
            raise ValueError(f"unknown sub-check {self.rule}/{self.subcheck}")


def held(rule: str, subcheck: str) -> Outcome:
    """A sub-check that ran and held."""
    return Outcome(rule, subcheck)


def broken(rule: str, subcheck: str, path: str, message: str) -> Outcome:
    """A sub-check that ran and failed once, at a JSON pointer."""
    return Outcome(rule, subcheck, (Violation(rule, path, message),))


def judged(rule: str, subcheck: str, violations: list[Violation]) -> Outcome:
    """A sub-check that ran, with whatever it found."""
    return Outcome(rule, subcheck, tuple(violations))


@dataclass(frozen=True)
class Facts:
    """What the served data and the run's token allow to be checked."""

    training_table: bool
    token_accepted: bool

    def applies(self, need: Need) -> bool:
        """Whether a sub-check with this need can apply at all (else: not applicable)."""
        return need != TRAINING_TABLE or self.training_table

    def can_run(self, need: Need) -> bool:
        """Whether the run can exercise it (a refused token leaves ``me`` checks unexercised)."""
        return need != TOKEN or self.token_accepted
