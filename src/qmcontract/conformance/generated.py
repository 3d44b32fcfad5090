"""The schemathesis part of the suite: the schema, our checks registered with schemathesis, and
the built-in checks that the contract supports.

Each exchange rule is a schemathesis check of its own (``qmcontract_<rule>``), a plain
``(ctx, response, case)`` function that runs the rule's function from
:mod:`qmcontract.conformance.checks`. What a check needs besides the response (the known
names, a sender for the rules that compare exchanges, the ledger) is the *active run*,
set around each call by :func:`active_run`. Outside a run they judge what a response alone can
show, for example in a plain schemathesis run::

    SCHEMATHESIS_HOOKS=qmcontract.conformance.generated \
        schemathesis run openapi.yaml --url URL --checks qmcontract_error_body,qmcontract_document_rules

Built-in checks that run, and the rule each one's failures are counted under:
``not_a_server_error`` (``no-server-error``), ``status_code_conformance`` (the status rule
of the request, see :func:`~qmcontract.conformance.checks.expected_status`),
``content_type_conformance`` (``content-type``) and ``response_schema_conformance``
(``error-body`` for errors, else the document rule that owns the failing part).
Left out, because the contract does not support them: ``negative_data_rejection`` and
``positive_data_acceptance`` (false alarms on a correct server: an invalid ``to`` is
rightly ignored without ``metadata=true``, and ``from`` after ``to`` is rightly rejected,
which a schema cannot express), ``unsupported_method`` and
``allow_header_conformance`` (the contract covers GET only), ``missing_required_header``
and ``response_headers_conformance`` (the spec declares neither), and the stateful and
authorization checks (one read-only operation, optional authorization).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qmcontract.conformance.checks import (
    EXCHANGE_CHECKS,
    ConformanceContext,
    document_rules,
    expected_status,
    has_ignored_params,
)
from qmcontract.conformance.exchange import ApiRequest, Exchange
from qmcontract.conformance.ledger import Ledger
from qmcontract.errors import Violation
from qmcontract.names import is_name
from qmcontract.resources import spec_path
from qmcontract.rules import DOCUMENT_RULES

SOURCE: Final = "schemathesis"
_STATUS_RULES: Final = {200: "slug-echo", 400: "bad-request", 401: "auth-required", 404: "not-found"}

CheckFunction = Callable[[Any, Any, Any], "bool | None"]


@dataclass(frozen=True)
class ActiveRun:
    """What our schemathesis checks need from the run they belong to."""

    context: ConformanceContext
    ledger: Ledger
    base_url: str


_ACTIVE: ContextVar[ActiveRun | None] = ContextVar("qmcontract_conformance_run", default=None)


@contextmanager
def active_run(run: ActiveRun) -> Iterator[None]:
    """Make ``run`` the one our schemathesis checks report to, for the duration of a call."""
    token = _ACTIVE.set(run)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def load_schema() -> Any:
    """The shipped openapi.yaml as a schemathesis schema, ignoring any ``schemathesis.toml``."""
    return schemathesis.openapi.from_path(spec_path(), config=SchemathesisConfig())


def configure_schema(schema: Any, *, max_examples: int, seed: int, base_url: str | None = None) -> None:
    """Set what one run generates: examples per mode, the seed, no example database, no shrinking."""
    config = schema.config
    config.generation.update(max_examples=max_examples, database="none", no_shrink=True)
    config.seed = seed
    if base_url is not None:
        config.update(base_url=base_url)


def prepare_case(case: Any, known: Sequence[str], token: str | None) -> None:
    """Point two thirds of the well-formed slugs at known names; send the real token or none.

    The choice is a hash of the generated slug, so a seed still reproduces the run.
    """
    slug = case.path_parameters.get("slug") if case.path_parameters else None
    if isinstance(slug, str) and is_name(slug) and known:
        pick = int.from_bytes(hashlib.blake2b(slug.encode(), digest_size=8).digest(), "big")
        if pick % 3:
            case.path_parameters["slug"] = known[pick % len(known)]
    headers = case.headers
    if headers is not None and "authorization" in headers:
        if token is None:
            del headers["authorization"]
        else:
            headers["authorization"] = token


def exchange_of(response: Any, base_url: str | None) -> Exchange:
    """The exchange a schemathesis response records, relative to ``base_url``."""
    prepared = response.request
    split = urlsplit(str(prepared.url))
    base_path = urlsplit(base_url).path.rstrip("/") if base_url else ""
    path = split.path[len(base_path) :] if base_path and split.path.startswith(base_path) else split.path
    authorization = _text(prepared.headers.get("authorization"))
    content_types = response.headers.get("content-type") or [None]
    request = ApiRequest(str(prepared.method), path, split.query, authorization)
    return Exchange(request, response.status_code, content_types[0], response.content)


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def _settle(exchange: Exchange, results: list[tuple[str, list[Violation]]]) -> None:
    """Record results in the active run, then fail like a schemathesis check when any rule broke."""
    run = _ACTIVE.get()
    if run is not None:
        request = exchange.request
        run.ledger.record_all(results, key=request.key(), curl=request.curl(run.base_url), source=SOURCE)
    broken = [violation for _, violations in results for violation in violations]
    if broken:
        raise AssertionError("\n".join(str(violation) for violation in broken))


def _judge(rule: str, response: Any) -> None:
    run = _ACTIVE.get()
    exchange = exchange_of(response, run.base_url if run else None)
    found = EXCHANGE_CHECKS[rule](exchange, run.context if run else ConformanceContext())
    _settle(exchange, [] if found is None else [(rule, found)])


@schemathesis.check
def qmcontract_slug_echo(_ctx: Any, response: Any, _case: Any) -> None:
    """``slug-echo``: a 200 response's name is the slug; a known slug is answered 200."""
    _judge("slug-echo", response)


@schemathesis.check
def qmcontract_not_found(_ctx: Any, response: Any, _case: Any) -> None:
    """``not-found``: an unknown slug gives 404."""
    _judge("not-found", response)


@schemathesis.check
def qmcontract_auth_required(_ctx: Any, response: Any, _case: Any) -> None:
    """``auth-required``: ``metadata=true&me=true`` without authorization gives 401."""
    _judge("auth-required", response)


@schemathesis.check
def qmcontract_bad_request(_ctx: Any, response: Any, _case: Any) -> None:
    """``bad-request``: malformed parameters give 400."""
    _judge("bad-request", response)


@schemathesis.check
def qmcontract_ignored_params(_ctx: Any, response: Any, _case: Any) -> None:
    """``ignored-params``: without ``metadata=true``, ``me``/``from``/``to`` change nothing."""
    _judge("ignored-params", response)


@schemathesis.check
def qmcontract_error_body(_ctx: Any, response: Any, _case: Any) -> None:
    """``error-body``: every 4xx/5xx body is ``{code, message}`` with ``code`` the status."""
    _judge("error-body", response)


@schemathesis.check
def qmcontract_content_type(_ctx: Any, response: Any, _case: Any) -> None:
    """``content-type``: every JSON body is sent as ``application/json``."""
    _judge("content-type", response)


@schemathesis.check
def qmcontract_stable(_ctx: Any, response: Any, _case: Any) -> None:
    """``stable``: the same request twice gives the same document, counters aside."""
    _judge("stable", response)


@schemathesis.check
def qmcontract_metadata_window(_ctx: Any, response: Any, _case: Any) -> None:
    """``metadata-window``: a wider window never lowers a figure; ``me`` never exceeds all users."""
    _judge("metadata-window", response)


@schemathesis.check
def qmcontract_no_server_error(_ctx: Any, response: Any, _case: Any) -> None:
    """``no-server-error``: no request gets a 5xx."""
    _judge("no-server-error", response)


@schemathesis.check
def qmcontract_document_rules(_ctx: Any, response: Any, _case: Any) -> None:
    """Every document rule on a 200 retrieve response, through ``validate_query_model``."""
    run = _ACTIVE.get()
    exchange = exchange_of(response, run.base_url if run else None)
    found = document_rules(exchange, run.context if run else ConformanceContext())
    if found is None:
        return
    _settle(exchange, [(rule, [v for v in found if v.rule == rule]) for rule in DOCUMENT_RULES])


#: Our checks, one per exchange rule in the contract's order, then the document rules.
QMCONTRACT_CHECKS: Final[tuple[CheckFunction, ...]] = (
    qmcontract_slug_echo,
    qmcontract_not_found,
    qmcontract_auth_required,
    qmcontract_bad_request,
    qmcontract_ignored_params,
    qmcontract_error_body,
    qmcontract_content_type,
    qmcontract_stable,
    qmcontract_metadata_window,
    qmcontract_no_server_error,
    qmcontract_document_rules,
)


# --- built-in checks, with their failures counted under a rule id ----------------------------


def builtin_rules(check_name: str, exchange: Exchange, known: frozenset[str] | None) -> list[str]:
    """The rule ids a failure of a built-in check is counted under."""
    if check_name == "not_a_server_error" or exchange.status >= 500:
        return ["no-server-error"]
    if check_name == "content_type_conformance":
        return ["content-type"]
    if check_name == "status_code_conformance":
        if has_ignored_params(exchange.request):
            return ["ignored-params"]
        rule = _STATUS_RULES.get(expected_status(exchange.request, known) or 0)
        return [rule or f"schemathesis:{check_name}"]
    if check_name == "response_schema_conformance" and exchange.status >= 400:
        return ["error-body"]
    found = document_rules(exchange, ConformanceContext(known))
    rules = sorted({violation.rule for violation in found or ()})
    return rules or ["schema"]


def _counted(check: CheckFunction) -> CheckFunction:
    name: str = check.__name__

    def counted(ctx: Any, response: Any, case: Any) -> bool | None:
        try:
            return check(ctx, response, case)
        except AssertionError as exc:
            run = _ACTIVE.get()
            if run is not None:
                exchange = exchange_of(response, run.base_url)
                message = f"schemathesis {name}: {_describe(exc)}"
                request = exchange.request
                for rule in builtin_rules(name, exchange, run.context.known):
                    run.ledger.record(
                        rule,
                        request.key(),
                        [Violation(rule, "", message)],
                        curl=request.curl(run.base_url),
                        source=SOURCE,
                    )
            raise

    counted.__name__ = name
    counted.__doc__ = check.__doc__
    return counted


def _describe(exc: BaseException) -> str:
    """A schemathesis failure in one line: its title, then the first line of its message."""
    title = getattr(exc, "title", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    first = message.strip().splitlines()[0] if message.strip() else ""
    return f"{title}: {first}" if first and first != title else str(title)


#: The built-in checks the contract supports, wrapped so that their failures reach the ledger.
BUILTIN_CHECKS: Final[tuple[CheckFunction, ...]] = tuple(
    _counted(check)
    for check in (
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    )
)
ALL_CHECKS: Final = (*BUILTIN_CHECKS, *QMCONTRACT_CHECKS)
