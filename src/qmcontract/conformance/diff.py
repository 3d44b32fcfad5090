"""One diff run: the same requests to two servers, every difference filed under the rule it touches.

:func:`run_diff` is what ``qmcontract diff`` calls. It first reads both servers' lists (every
page), which decides whether both are reachable before anything is compared; checks the token
(one given with ``--token-env`` that either server refuses stops the run; without one, a made-up
probe token is tried, and when either server refuses it the requests that carry a token are left
out); then sends both servers the same requests: the list pages, and every probe family of the
conformance suite (:mod:`qmcontract.conformance.probes`) built for the names either server
lists, so every served document, the unknown and malformed names, and every parameter's
boundary cases. Each pair of answers is compared by :func:`~qmcontract.conformance.compare.compare`
and counted in a :class:`~qmcontract.report.ledger.Ledger`, so the verdict is a
:class:`~qmcontract.report.model.Report` like the conformance suite's: one row per rule with the
requests compared, one :class:`~qmcontract.report.model.Failure` per difference with two ``curl``
lines: ``curl`` repeats the request on A, ``curl_b`` on B (tokens redacted).

Sending is pluggable: pass ``senders`` (for instance two
:class:`~qmcontract.conformance.sender.EngineSender`) to compare in-process engines.
Anything that stops the run before it compares is a
:class:`~qmcontract.conformance.target.ConformanceUsageError`: one line, exit 2.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, Final

from qmcontract.conformance import exchange as build
from qmcontract.conformance.checks import Context, Sender, SendError
from qmcontract.conformance.compare import Comparison, compare, unanswered
from qmcontract.conformance.exchange import Exchange, curl, request_key
from qmcontract.conformance.expect import Knowledge
from qmcontract.conformance.judge import describe
from qmcontract.conformance.probes import FAMILIES, PROBE_TOKEN, Plan, probes, unknown_names
from qmcontract.conformance.sender import HttpSender
from qmcontract.conformance.subchecks import SUBCHECKS, Facts, Need, Outcome
from qmcontract.conformance.target import (
    ConformanceUsageError,
    list_everything,
    normalise_base_url,
    token_from_env,
)
from qmcontract.errors import Violation
from qmcontract.names import is_name
from qmcontract.redact import REDACTED, SECRET_HEADERS
from qmcontract.report.ledger import Ledger, Sent
from qmcontract.report.model import Report
from qmcontract.wire import Request, header_pairs

#: Rules a diff never touches: each compares one server's answers with each other.
NOT_COMPARED: Final = ("stable", "metadata-window")
#: Rules about usage figures: compared only with ``--metadata``.
FIGURE_RULES: Final = ("metadata-presence", "metadata-values", "list-sort")
#: Sub-checks that judge one server's answers against each other or against the contract alone
#: (an error body's shape, a list's form, the global totals' sums): no difference between two
#: answers can touch them, so a diff's table leaves them out.
ONE_SERVER_SUBCHECKS: Final = frozenset(
    {
        ("error-body", "shape"),
        ("list-names", "well-formed"),
        ("list-names", "unique"),
        ("list-names", "retrievable"),
        ("metadata-global", "non-negative"),
        ("metadata-global", "sums"),
    }
)
#: Rule -> the sub-checks a diff compares, and what each needs.
DIFF_SUBCHECKS: Final[dict[str, dict[str, Need]]] = {
    rule: {subcheck: need for subcheck, need in subs.items() if (rule, subcheck) not in ONE_SERVER_SUBCHECKS}
    for rule, subs in SUBCHECKS.items()
}
#: Requests sent to the servers at once by default (each to both), and how many pairs of answers
#: are held in memory before they are compared.
WORKERS: Final = 4
BATCH: Final = 64
Progress = Callable[[str], None]
Answer = Exchange | str


@dataclass(frozen=True)
class DiffOptions:
    """What ``qmcontract diff`` was asked to do."""

    url_a: str
    url_b: str
    slugs: tuple[str, ...] = ()
    token_env: str | None = None
    metadata: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    request_timeout: float = 30.0
    workers: int = WORKERS

    def check(self) -> None:
        """Raise ConformanceUsageError for options no run can use."""
        normalise_base_url(self.url_a)
        normalise_base_url(self.url_b)
        if not 0 < self.request_timeout <= 3600:
            raise ConformanceUsageError("--request-timeout must be more than 0 and at most 3600 seconds")
        if not 1 <= self.workers <= 64:
            raise ConformanceUsageError("workers must be from 1 to 64")
        bad = [slug for slug in self.slugs if not is_name(slug)]
        if bad:
            raise ConformanceUsageError(f"--slug {bad[0]!r} is not a Query Model name (22 base62 characters)")

    def excluded(self) -> tuple[str, ...]:
        """The rules left out of the table: never compared, and the figures' unless ``metadata``."""
        return NOT_COMPARED if self.metadata else (*NOT_COMPARED, *FIGURE_RULES)


@dataclass(frozen=True)
class Side:
    """One of the two servers: its label in messages, its URL, and how to send to it."""

    label: str
    base_url: str
    send: Sender = field(repr=False)


@dataclass(frozen=True)
class Listed:
    """What one server's list says: its names, whether that is all of them, the status of its first
    page, and the page requests it was read with."""

    names: tuple[str, ...]
    complete: bool
    status: int
    pages: tuple[Request, ...]


def run_diff(
    options: DiffOptions, *, senders: tuple[Sender, Sender] | None = None, progress: Progress | None = None
) -> Report:
    """Compare the server at ``options.url_a`` with the one at ``options.url_b`` (or answer through
    ``senders``, the URLs then only naming them in reports)."""
    options.check()
    token = token_from_env(options.token_env)
    started = time.perf_counter()
    with ExitStack() as stack:
        a, b = _sides(options, senders, stack)
        listed = (_listed(a), _listed(b))
        _some_names(listed, options.slugs)
        run = _Diff(options, (a, b), listed, _secrets(options, token), progress)
        run.decide_token(token)
        run.all()
    return run.report(time.perf_counter() - started)


def _sides(
    options: DiffOptions, senders: tuple[Sender, Sender] | None, stack: ExitStack
) -> tuple[Side, Side]:
    urls = (normalise_base_url(options.url_a), normalise_base_url(options.url_b))
    if senders is None:
        clients = tuple(
            HttpSender(url, headers=dict(options.headers), timeout=options.request_timeout) for url in urls
        )
        for client in clients:
            stack.callback(client.close)
        senders = (clients[0], clients[1])
    return Side("A", urls[0], senders[0]), Side("B", urls[1], senders[1])


def _secrets(options: DiffOptions, token: str | None) -> tuple[str, ...]:
    """Values never to be shown: the token, and any secret header given with ``-H``."""
    values = [token] if token else []
    values += [value for name, value in options.headers if name.lower() in SECRET_HEADERS and value]
    return tuple(values)


class _Recorder:
    """A sender that remembers the requests it sent (the list pages read to learn the names)."""

    def __init__(self, send: Sender) -> None:
        self._send = send
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Exchange:
        self.requests.append(request)
        return self._send(request)


def _listed(side: Side) -> Listed:
    """The names one server lists, every page; a usage error when it cannot be reached."""
    recorder = _Recorder(side.send)
    names, complete, status = list_everything(recorder, side.base_url)
    return Listed(tuple(names), complete, status, tuple(recorder.requests))


def _some_names(listed: tuple[Listed, Listed], slugs: Sequence[str]) -> None:
    """A usage error when neither server has a list to read names from and no ``--slug`` is given
    (two lists that answer and are empty are fine: two empty catalogues can be compared)."""
    if slugs or any(one.names or one.status == 200 for one in listed):
        return
    raise ConformanceUsageError(
        f"GET /query_models answered {listed[0].status} on A and {listed[1].status} on B, so there are no "
        "names to compare: pass the names of existing Query Models with --slug NAME"
    )


class _Diff:
    """The state of one diff: both servers, what they list, the ledger, and how answers compare."""

    def __init__(
        self,
        options: DiffOptions,
        sides: tuple[Side, Side],
        listed: tuple[Listed, Listed],
        secrets: tuple[str, ...],
        progress: Progress | None,
    ) -> None:
        self.options, self.sides, self.listed, self.secrets = options, sides, listed, secrets
        self.progress = progress
        self.ledger = Ledger(DIFF_SUBCHECKS, excluded=options.excluded())
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.token: str | None = None
        self.token_state = ""
        self.training_table = False
        self.silent = 0
        both = set(listed[0].names) & set(listed[1].names)
        self.names = tuple(
            dict.fromkeys(
                [
                    *options.slugs,
                    *(n for n in listed[0].names if n in both),
                    *listed[0].names,
                    *listed[1].names,
                ]
            )
        )
        self._served = set(options.slugs) | both
        self._listed_any = set(listed[0].names) | set(listed[1].names)
        self._unknown = frozenset(unknown_names())
        self._llms: set[str] = set()
        self.comparison = Comparison(Knowledge(self._model_known, self._llm_known), metadata=options.metadata)
        self._status_context = self.comparison.context()

    # --- what the run knows ----------------------------------------------------------------------------

    def _model_known(self, name: str) -> bool | None:
        """Served when both servers list it (or ``--slug`` names it); certainly not when it is one
        of the made-up unknown names, or when both lists are complete and neither holds it."""
        if name in self._served:
            return True
        complete = self.listed[0].complete and self.listed[1].complete
        if name in self._unknown or (complete and is_name(name) and name not in self._listed_any):
            return False
        return None

    def _llm_known(self, name: str) -> bool | None:
        """Served when both servers' documents of a Query Model hold it (learnt as they are compared)."""
        if name in self._llms:
            return True
        return False if name in self._unknown else None

    def _learn_llms(self, a: Exchange, b: Exchange) -> None:
        """Note the LLM entries that both answers to ``GET /query_models/{name}`` hold."""
        if a.kind != "model" or a.request.method != "GET":
            return
        held = [_entry_names(exchange) for exchange in (a, b)]
        self._llms |= held[0] & held[1]

    def decide_token(self, token: str | None) -> None:
        """A ``--token-env`` token both servers must take; else the probe token if both take it."""
        name = self.names[0] if self.names else unknown_names(1)[0]
        refused = [side for side in self.sides if _refuses(side, name, token or PROBE_TOKEN)]
        if token is not None and refused:
            side = refused[0]
            raise ConformanceUsageError(
                f"server {side.label} ({side.base_url}) refused the token of --token-env "
                f"(401 to GET /query_models/{name}?metadata=true&me=true)"
            )
        if refused:
            labels = " and ".join(side.label for side in refused)
            self.token_state = f"a made-up probe token (refused by {labels})"
            return
        self.token = token or PROBE_TOKEN
        self.token_state = f"{'--token-env' if token else 'a made-up probe token'} (accepted by both)"

    # --- the requests ---------------------------------------------------------------------------------

    def requests(self) -> dict[Request, str]:
        """Every request to compare, each once, with where it comes from."""
        chosen: dict[Request, str] = {}
        for request in (*self.listed[0].pages, *self.listed[1].pages):
            chosen.setdefault(request, "list pages")
        context = Context(self.comparison.knowledge, Facts(False, True), token=self.token, send=self._union)
        plan = Plan(self.names, self.token)
        for family in FAMILIES:
            for probe in probes(family, plan, context):
                chosen.setdefault(probe.request, f"probe {family}")
        if self.token is None:
            dropped = [request for request in chosen if request.authorization is not None]
            for request in dropped:
                del chosen[request]
            self.notes.append(
                f"{self.token_state}: the {len(dropped)} requests that carry a token were not compared; "
                "pass a token both servers accept with --token-env VAR"
            )
        return chosen

    def _union(self, request: Request) -> Exchange:
        """A's answer when it holds a document, else B's: what the probes read to build requests."""
        try:
            first: Exchange | None = self.sides[0].send(request)
        except SendError:
            first = None
        if first is not None and first.document() is not None:
            return first
        return self.sides[1].send(request)

    # --- comparing ----------------------------------------------------------------------------------

    def all(self) -> None:
        """Send every request to both servers and compare the answers, in order."""
        chosen = self.requests()
        a, b = self.sides
        self._say(
            f"comparing A {a.base_url} with B {b.base_url}: {len(self.names)} names "
            f"({len(self.listed[0].names)} listed by A, {len(self.listed[1].names)} by B), "
            f"{len(chosen)} requests"
        )
        items = list(chosen.items())
        with ExitStack() as stack:
            pool = (
                stack.enter_context(
                    ThreadPoolExecutor(self.options.workers, thread_name_prefix="qmcontract-diff")
                )
                if self.options.workers > 1
                else None
            )
            for start in range(0, len(items), BATCH):
                batch = items[start : start + BATCH]
                requests = [request for request, _ in batch]
                answers = pool.map(self._ask, requests) if pool is not None else map(self._ask, requests)
                for (request, source), pair in zip(batch, answers, strict=True):
                    self._record(request, source, pair)
        if self.silent:
            self.notes.append(f"{self.silent} requests got no response from either server (not compared)")

    def _ask(self, request: Request) -> tuple[Answer, Answer]:
        return _answer(self.sides[0], request), _answer(self.sides[1], request)

    def _record(self, request: Request, source: str, answers: tuple[Answer, Answer]) -> None:
        a, b = answers
        try:
            if isinstance(a, Exchange) and isinstance(b, Exchange):
                self.training_table |= _has_training_table(a) or _has_training_table(b)
                self._learn_llms(a, b)
                outcomes = compare(a, b, self.comparison, self._status_context)
            else:
                missing = unanswered(a, b)
                if missing is None:
                    self.silent += 1
                    return
                outcomes = [missing]
        except Exception as exc:  # a bug in a comparison must not hide the rest of the run
            self.errors.append(f"{source}: {describe(request)}: {type(exc).__name__}: {exc}")
            return
        self.ledger.count_request()
        status = a.status if isinstance(a, Exchange) else None
        extra = header_pairs(self.options.headers)
        a_line, b_line = (curl(request, side.base_url, extra) for side in self.sides)
        sent = Sent(request_key(request), describe(request), status, a_line, source, b_line)
        self.ledger.record([self._scrubbed(outcome) for outcome in outcomes], sent)

    def _scrubbed(self, outcome: Outcome) -> Outcome:
        """The outcome with any secret a server echoed back replaced by the redaction mark."""
        if not outcome.violations or not self.secrets:
            return outcome
        return replace(outcome, violations=tuple(_scrub(v, self.secrets) for v in outcome.violations))

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    # --- the verdict -----------------------------------------------------------------------------------

    def report(self, seconds: float) -> Report:
        """The verdict: one row per rule (requests compared), one failure per difference."""
        facts = Facts(training_table=self.training_table, token_accepted=self.token is not None)
        notes = list(self.notes)
        notes.append(f"not compared by a diff: {', '.join(NOT_COMPARED)} (run qmcontract conformance)")
        if not self.options.metadata:
            notes.append(
                f"usage figures are compared only with --metadata: {', '.join(FIGURE_RULES)} left out"
            )
        a, b = self.sides
        return Report(
            title="qmcontract diff",
            target=f"{a.base_url} vs {b.base_url}",
            rows=tuple(self.ledger.rows(facts)),
            failures=tuple(self.ledger.failures()),
            requests=self.ledger.requests,
            seconds=seconds,
            errors=tuple(self.errors),
            notes=tuple(notes),
            settings=self._settings(),
            exercise_required=False,
        )

    def _settings(self) -> dict[str, Any]:
        a, b = self.sides
        return {
            "server_a": a.base_url,
            "server_b": b.base_url,
            "names": len(self.names),
            "listed_by_a": f"{len(self.listed[0].names)}{'' if self.listed[0].complete else ' (incomplete)'}",
            "listed_by_b": f"{len(self.listed[1].names)}{'' if self.listed[1].complete else ' (incomplete)'}",
            "metadata": self.options.metadata,
            "token": self.token_state,
            "requests": "each compared request was sent to both servers",
        }


def _answer(side: Side, request: Request) -> Answer:
    """The side's answer, or the error text when it gave none."""
    try:
        return side.send(request)
    except SendError as exc:
        return str(exc)


def _refuses(side: Side, name: str, token: str) -> bool:
    """Whether the server answers 401 to a ``me=true`` request carrying ``token``."""
    request = build.model(name, [("metadata", "true"), ("me", "true")], authorization=token)
    try:
        return side.send(request).status == 401
    except SendError as exc:
        raise ConformanceUsageError(f"cannot reach {side.base_url}{request.path}: {exc}") from None


def _has_training_table(exchange: Exchange) -> bool:
    document = exchange.document() if exchange.kind == "model" else None
    weight = document.get("weight") if document is not None else None
    return isinstance(weight, dict) and weight.get("type") == "training_table"


def _entry_names(exchange: Exchange) -> set[str]:
    document = exchange.document()
    entries = document.get("models") if document is not None else None
    if not isinstance(entries, list):
        return set()
    return {entry["name"] for entry in entries if isinstance(entry, dict) and is_name(entry.get("name"))}


def _scrub(violation: Violation, secrets: Sequence[str]) -> Violation:
    message = violation.message
    for secret in secrets:
        message = message.replace(secret, REDACTED)
    return Violation(violation.rule, violation.path, message)
