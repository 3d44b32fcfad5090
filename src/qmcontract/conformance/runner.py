"""One conformance run: resolve the server, send the probes and generated cases, judge, report.

:func:`run_conformance` is what ``qmcontract conformance`` and the pytest suite call. It starts the
embedded mock server when no URL is given (or judges an in-process ``httpx`` transport, which is
how the tests check deliberately broken engines quickly), learns what the server serves, sends
every probe family and then schemathesis's generated cases, and returns a
:class:`~qmcontract.report.model.Report` whose exit code says 0 (every applicable sub-check ran and
held), 1 (a rule broke), 2 (the run could not complete) or 3 (nothing broke, but something did not
run). Anything that stops the run before it starts raises
:class:`~qmcontract.conformance.target.ConformanceUsageError`.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Final

from qmcontract.conformance.checks import Context, SendError
from qmcontract.conformance.exchange import model as model_request
from qmcontract.conformance.expect import Knowledge
from qmcontract.conformance.judge import Judge
from qmcontract.conformance.probes import FAMILIES, Plan, Probe, probes, unknown_names
from qmcontract.conformance.sender import EngineSender, HttpSender
from qmcontract.conformance.subchecks import SUBCHECKS, Facts
from qmcontract.conformance.target import (
    ConformanceUsageError,
    Target,
    embedded_server,
    normalise_base_url,
    resolve,
    token_from_env,
)
from qmcontract.engine import Engine
from qmcontract.limits import DEFAULT_MAX_EXAMPLES, MAX_EXAMPLES
from qmcontract.names import is_name
from qmcontract.report.ledger import Ledger
from qmcontract.report.model import Report
from qmcontract.rules import ALL_RULES
from qmcontract.wire import header_pairs

#: Served documents read up front to learn their LLMs (all of them, up to this many).
MAX_DOCUMENTS_READ: Final = 64
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConformanceOptions:
    """What ``qmcontract conformance`` was asked to do."""

    base_url: str | None = None
    slugs: tuple[str, ...] = ()
    token_env: str | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    workers: int = 4
    headers: tuple[tuple[str, str], ...] = ()
    request_timeout: float = 30.0
    rate_limit: float | None = None
    rules: tuple[str, ...] = ()
    exclude_rules: tuple[str, ...] = ()

    def excluded(self) -> frozenset[str]:
        """The rules left out: those not in ``rules`` (when given) and those in ``exclude_rules``."""
        unknown = sorted((set(self.rules) | set(self.exclude_rules)) - set(ALL_RULES))
        if unknown:
            raise ConformanceUsageError(
                f"unknown rule id(s) {', '.join(unknown)}; valid: {', '.join(ALL_RULES)}"
            )
        chosen = set(self.rules) or set(ALL_RULES)
        return frozenset((set(ALL_RULES) - chosen) | set(self.exclude_rules))

    def check(self) -> None:
        """Raise ConformanceUsageError for options no run can use."""
        if not 0 <= self.max_examples <= MAX_EXAMPLES:
            raise ConformanceUsageError(f"--max-examples must be from 0 to {MAX_EXAMPLES:,}")
        if not 1 <= self.workers <= 64:
            raise ConformanceUsageError("--workers must be from 1 to 64")
        if not 0 < self.request_timeout <= 3600:
            raise ConformanceUsageError("--request-timeout must be more than 0 and at most 3600 seconds")
        if self.rate_limit is not None and not 0 < self.rate_limit <= 1_000_000:
            raise ConformanceUsageError("--rate-limit must be more than 0 requests per second")
        self.excluded()


def run_conformance(
    options: ConformanceOptions,
    *,
    progress: Progress | None = None,
    engine: Engine | None = None,
) -> Report:
    """Run the suite against ``options.base_url`` (default: the embedded server; or an in-process
    ``engine``, which is how the tests judge deliberately broken engines quickly)."""
    options.check()
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    token = token_from_env(options.token_env)
    started = time.perf_counter()
    with ExitStack() as stack:
        ledger = Ledger(SUBCHECKS, excluded=options.excluded())
        sender = _sender(options, engine, ledger, stack)
        stack.callback(sender.close)
        target = resolve(
            sender, sender.base_url, options.slugs, token, embedded=engine is None and not options.base_url
        )
        run = _Run(options, target=target, ledger=ledger, sender=sender, seed=seed, progress=progress)
        run.all()
    return run.report(time.perf_counter() - started)


def _sender(
    options: ConformanceOptions, engine: Engine | None, ledger: Ledger, stack: ExitStack
) -> HttpSender | EngineSender:
    if engine is not None:
        return EngineSender(engine, on_send=ledger.count_request)
    base_url = (
        normalise_base_url(options.base_url) if options.base_url else stack.enter_context(embedded_server())
    )
    return HttpSender(
        base_url,
        headers=dict(options.headers),
        timeout=options.request_timeout,
        rate_limit=options.rate_limit,
        on_send=ledger.count_request,
    )


class _Run:
    """The state of one run: what it knows of the server, its ledger and its judge."""

    def __init__(
        self,
        options: ConformanceOptions,
        *,
        target: Target,
        ledger: Ledger,
        sender: HttpSender | EngineSender,
        seed: int,
        progress: Progress | None,
    ) -> None:
        self.options, self.target, self.ledger, self.sender, self.seed = options, target, ledger, sender, seed
        self.progress = progress
        self.errors: list[str] = []
        self.notes: list[str] = []
        self._unknown = frozenset(unknown_names())
        self._llms: set[str] = set()
        self._all_documents_read = False
        self.context = Context(
            Knowledge(self._model_known, self._llm_known, _accepted_tokens(options, target)),
            Facts(training_table=False, token_accepted=target.token_accepted),
            token=target.token if target.token_accepted else None,
            send=sender,
            served=target.served,
        )
        self.judge = Judge(ledger, self.context, target.base_url, extra_headers=header_pairs(options.headers))

    def _model_known(self, name: str) -> bool | None:
        if name in self.target.names:
            return True
        if (self.target.complete and is_name(name)) or name in self._unknown:
            return False
        return None

    def _llm_known(self, name: str) -> bool | None:
        if name in self._llms:
            return True
        if (self._all_documents_read and is_name(name)) or name in self._unknown:
            return False
        return None

    def all(self) -> None:
        """Learn the served documents, then run every probe family and the generated cases."""
        self._read_documents()
        where = "the embedded mock server" if self.target.embedded else self.target.base_url
        self._say(f"testing {where}: {len(self.target.names)} known names, seed {self.seed}")
        plan = Plan(self.target.probed, self.context.token or self.target.token)
        for family in FAMILIES:
            self._run_family(family, probes(family, plan, self.context))
        if self.options.max_examples:
            self._run_generated()

    def _read_documents(self) -> None:
        names = self.target.served or self.target.names
        training_table = False
        for name in names[:MAX_DOCUMENTS_READ]:
            answer = self.context.fetch(model_request(name))
            document = answer.document() if answer is not None else None
            if document is None:
                continue
            weight = document.get("weight")
            training_table |= isinstance(weight, dict) and weight.get("type") == "training_table"
            for entry in document.get("models", []) if isinstance(document.get("models"), list) else []:
                if isinstance(entry, dict) and is_name(entry.get("name")):
                    self._llms.add(entry["name"])
        self._all_documents_read = self.target.complete and len(names) <= MAX_DOCUMENTS_READ
        self.context.facts = Facts(training_table=training_table, token_accepted=self.target.token_accepted)

    def _run_family(self, family: str, batch: Sequence[Probe]) -> None:
        before = len(self.ledger.failures())
        if self.options.workers > 1:
            with ThreadPoolExecutor(self.options.workers, thread_name_prefix="qmcontract-probe") as pool:
                list(pool.map(self._probe, batch))
        else:
            for probe in batch:
                self._probe(probe)
        found = len(self.ledger.failures()) - before
        outcome = f"{found} new failure(s)" if found else "ok"
        sent = self.ledger.requests
        self._say(f"probes: {family:<11} {len(batch):>4} probes  {outcome:<18} {sent:>6} requests so far")

    def _probe(self, probe: Probe) -> None:
        source = f"probe {probe.family}"
        try:
            exchange = self.sender(probe.request)
        except SendError as exc:
            self.judge.no_answer(probe.request, str(exc), source)
            return
        try:
            self.judge(exchange, source)
        except Exception as exc:  # a bug in a check must not hide the rest of the run
            self.errors.append(
                f"{source}: {probe.request.method} {probe.request.target[:120]}: {type(exc).__name__}: {exc}"
            )

    def _run_generated(self) -> None:
        from qmcontract.conformance.generated import Generation, run_generated  # noqa: PLC0415 (schemathesis)

        generation = Generation(
            self.options.max_examples,
            self.seed,
            self.target.probed,
            tuple(sorted(self._llms))[:64],
            self.context.token,
        )
        with _scratch_hypothesis_storage():
            problems = run_generated(
                generation,
                send=self.sender,
                judge=self.judge,
                knowledge=self.context.knowledge,
                base_url=self.target.base_url,
                progress=self.progress,
            )
        self.notes += problems

    def _say(self, line: str) -> None:
        if self.progress is not None:
            self.progress(line)

    def report(self, seconds: float) -> Report:
        """The verdict of the run."""
        notes = list(self.notes)
        if not self.target.token_accepted:
            notes.insert(
                0,
                "the server refused the made-up probe token, so the me=true checks did not run: "
                "pass a real token with --token-env VAR",
            )
        return Report(
            title="qmcontract conformance",
            target="the embedded mock server" if self.target.embedded else self.target.base_url,
            rows=tuple(self.ledger.rows(self.context.facts)),
            failures=tuple(self.ledger.failures()),
            requests=self.ledger.requests,
            seconds=seconds,
            seed=self.seed,
            errors=tuple(self.errors),
            notes=tuple(notes),
            settings=self._settings(),
        )

    def _settings(self) -> dict[str, Any]:
        token = "--token-env" if self.options.token_env else "a made-up probe token"
        return {
            "known_names": len(self.target.names),
            "all_names_known": self.target.complete,
            "max_examples": self.options.max_examples,
            "workers": self.options.workers,
            "token": f"{token} ({'accepted' if self.target.token_accepted else 'refused'})",
            "excluded_rules": sorted(self.options.excluded()),
        }


def _accepted_tokens(options: ConformanceOptions, target: Target) -> frozenset[str] | None:
    """None when the server took a made-up token (so it takes any); else the token it took, if any."""
    if options.token_env is None and target.token_accepted:
        return None
    return frozenset({target.token}) if target.token_accepted and target.token else frozenset()


@contextmanager
def _scratch_hypothesis_storage() -> Iterator[None]:
    """Keep hypothesis's files (it caches even without a database) out of the working directory."""
    variable = "HYPOTHESIS_STORAGE_DIRECTORY"
    if os.environ.get(variable):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="qmcontract-hypothesis-") as scratch:
        os.environ[variable] = scratch
        try:
            yield
        finally:
            with contextlib.suppress(KeyError):
                del os.environ[variable]
