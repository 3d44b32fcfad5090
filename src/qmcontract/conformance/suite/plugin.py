"""The conformance suite's pytest plugin: options, the session that knows the server, the rule table.

Options: ``--qm-base-url URL`` (default: start the embedded mock server), ``--qm-slug NAME``
(repeatable; default: ``GET /query_models`` of the server), ``--qm-token-env VAR``,
``--qm-max-examples N``, ``--qm-seed S`` and ``--qm-workers N`` (probe threads).
``qmcontract conformance`` hands over an already resolved target and its own ledger through
:data:`PROVIDED_KEY`; run directly (``pytest contract_tests``), the plugin resolves them.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Final

import pytest

from qmcontract.conformance import DEFAULT_MAX_EXAMPLES
from qmcontract.conformance.checks import ConformanceContext
from qmcontract.conformance.generated import (
    ALL_CHECKS,
    ActiveRun,
    active_run,
    configure_schema,
    load_schema,
    prepare_case,
)
from qmcontract.conformance.ledger import Failure, Ledger
from qmcontract.conformance.probes import HttpSender, build_probes, run_probes
from qmcontract.conformance.report import plain_table
from qmcontract.conformance.target import (
    ConformanceUsageError,
    Target,
    embedded_target,
    resolve_live_target,
    token_from_env,
)

__all__ = [
    "PROVIDED_KEY",
    "SCHEMA",
    "Provided",
    "SuiteRun",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_report_header",
    "pytest_terminal_summary",
    "qm_run",
]

REQUEST_TIMEOUT: Final = 30.0
LAST_TEST: Final = "test_every_rule_was_exercised"


@dataclass(frozen=True)
class Provided:
    """A target and ledger handed over by ``qmcontract conformance``."""

    target: Target
    ledger: Ledger


PROVIDED_KEY: Final = pytest.StashKey[Provided]()
_LEDGER_KEY: Final = pytest.StashKey[Ledger]()
_SEED_KEY: Final = pytest.StashKey[int]()

#: schemathesis's pytest integration binds tests to a schema object when their module is
#: imported, before any fixture can run; ``pytest_configure`` sets its options per session.
SCHEMA: Final = load_schema()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The suite's options."""
    group = parser.getgroup("qmcontract-conformance", "qmcontract conformance suite")
    # qmcontract's own plugin (entry point, loaded first) may own the same option, same default.
    with contextlib.suppress(ValueError):
        group.addoption(
            "--qm-base-url", metavar="URL", help="server to test (default: the embedded mock server)"
        )
    group.addoption(
        "--qm-slug",
        metavar="NAME",
        action="append",
        default=[],
        help="name of an existing Query Model (repeatable; default: GET /query_models)",
    )
    group.addoption("--qm-token-env", metavar="VAR", help="environment variable holding an API token")
    group.addoption(
        "--qm-max-examples",
        metavar="N",
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        help=f"schemathesis examples per generation mode (default {DEFAULT_MAX_EXAMPLES})",
    )
    group.addoption(
        "--qm-seed", metavar="S", type=int, help="seed of the generated requests (default: random)"
    )
    group.addoption("--qm-workers", metavar="N", type=int, default=1, help="threads sending the probes")


def pytest_configure(config: pytest.Config) -> None:
    """Fix the seed and configure the schemathesis schema for this session."""
    seed = config.getoption("qm_seed")
    config.stash[_SEED_KEY] = seed if seed is not None else random.SystemRandom().randrange(2**32)
    max_examples = config.getoption("qm_max_examples")
    if max_examples < 1:
        raise pytest.UsageError("--qm-max-examples must be at least 1")
    if config.getoption("qm_workers") < 1:
        raise pytest.UsageError("--qm-workers must be at least 1")
    configure_schema(SCHEMA, max_examples=max_examples, seed=config.stash[_SEED_KEY])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the rule-coverage test last, whatever order the tests were imported in."""
    items.sort(key=lambda item: getattr(item, "originalname", item.name) == LAST_TEST)


def pytest_report_header(config: pytest.Config) -> str:
    """The seed, so that a run can be repeated."""
    examples = config.getoption("qm_max_examples")
    return f"qmcontract conformance: seed {config.stash[_SEED_KEY]}, max examples {examples}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The rule table, when pytest runs the suite itself (the CLI prints its own)."""
    ledger = config.stash.get(_LEDGER_KEY, None)
    if ledger is None or PROVIDED_KEY in config.stash:
        return
    terminalreporter.section("qmcontract conformance: rules")
    for line in plain_table(ledger.rows()).splitlines():
        terminalreporter.write_line(line)


class SuiteRun:
    """The session's view of the server under test: target, ledger, sender and check context."""

    def __init__(self, target: Target, ledger: Ledger, sender: HttpSender, *, workers: int) -> None:
        self.target = target
        self.ledger = ledger
        self.sender = sender
        self.workers = workers
        self.context = ConformanceContext(frozenset(target.slugs), sender)
        self.probes = build_probes(target.slugs, target.token)
        self._active = ActiveRun(self.context, ledger, target.base_url)

    def probe(self, family: str) -> list[Failure]:
        """Run one family of probes; return its failures."""
        return run_probes(self.probes[family], self.sender, self.context, self.ledger, workers=self.workers)

    def call_and_check(self, case: Any) -> None:
        """Send a generated case and run every check on it (raises on a broken rule)."""
        prepare_case(case, self.target.slugs, self.target.token)
        self.ledger.count_request()
        with active_run(self._active):
            case.call_and_validate(
                base_url=self.target.base_url, checks=list(ALL_CHECKS), timeout=REQUEST_TIMEOUT
            )


@pytest.fixture(scope="session")
def qm_run(request: pytest.FixtureRequest) -> Iterator[SuiteRun]:
    """The server under test, resolved once per session (or handed over by the CLI)."""
    config = request.config
    provided = config.stash.get(PROVIDED_KEY, None)
    with ExitStack() as stack:
        if provided is not None:
            target, ledger = provided.target, provided.ledger
        else:
            target = stack.enter_context(_target_from_options(config))
            ledger = config.stash.setdefault(_LEDGER_KEY, Ledger())
        configure_schema(
            SCHEMA,
            max_examples=config.getoption("qm_max_examples"),
            seed=config.stash[_SEED_KEY],
            base_url=target.base_url,
        )
        sender = HttpSender(target.base_url, ledger, timeout=REQUEST_TIMEOUT)
        stack.callback(sender.close)
        yield SuiteRun(target, ledger, sender, workers=config.getoption("qm_workers"))


@contextmanager
def _target_from_options(config: pytest.Config) -> Iterator[Target]:
    url, slugs = config.getoption("qm_base_url"), config.getoption("qm_slug")
    try:
        token = token_from_env(config.getoption("qm_token_env"))
        if url is not None:
            yield resolve_live_target(url, slugs, token)
            return
    except ConformanceUsageError as exc:
        pytest.exit(f"qmcontract conformance: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    with embedded_target(token=token, slugs=slugs) as target:
        yield target
