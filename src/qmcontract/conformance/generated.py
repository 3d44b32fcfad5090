"""The schemathesis part of a run: requests generated from ``openapi.yaml``, judged by every check.

Each operation of the spec is drawn in schemathesis's positive and negative modes, in-process
through hypothesis (no pytest, no example database, no shrinking: a run is a sample, and every
failure is already a reproducible request). Well-formed names are pointed at served names two
times in three, and the ``authorization`` header carries the run's token or nothing. Each case is
sent through the run's sender and judged by every check; three built-in schemathesis checks run
too, their failures counted under the contract rule that owns them:

- ``status_code_conformance`` (an undocumented status): the rule the oracle gives the request;
- ``content_type_conformance``: ``content-type``;
- ``response_schema_conformance``: ``error-body`` for errors, else the schema part of the rule
  that owns the answer (``schema``, ``list-names``, ``metadata-global``).

Left out: ``not_a_server_error`` (``no-server-error`` is ours), ``negative_data_rejection`` and
``positive_data_acceptance`` (false alarms on a correct server: an invalid ``to`` is rightly
ignored without ``metadata=true``; ``from`` after ``to`` is rightly refused, which a schema cannot
say), and the stateful and authorization checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response as SchemathesisResponse
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qmcontract.conformance.checks import Sender, SendError
from qmcontract.conformance.exchange import Exchange
from qmcontract.conformance.expect import Knowledge, expect
from qmcontract.conformance.judge import Judge
from qmcontract.conformance.subchecks import Outcome, broken
from qmcontract.httpx_adapter import wire_request
from qmcontract.names import is_name
from qmcontract.resources import spec_path

SOURCE: Final = "schemathesis"
BUILTIN_CHECKS: Final = (status_code_conformance, content_type_conformance, response_schema_conformance)
_NAME_PARAMETERS: Final = ("slug", "name")
_SCHEMA_OWNERS: Final = {
    "model": ("schema", "model"),
    "llm": ("schema", "llm"),
    "model-validate": ("schema", "post-model"),
    "llm-validate": ("schema", "post-llm"),
    "model-list": ("list-names", "well-formed"),
    "model-count": ("list-names", "count"),
    "metadata": ("metadata-global", "non-negative"),
}
_ERROR_OWNERS: Final = {400: "bad-request", 401: "auth-required", 404: "not-found"}
Progress = Callable[[str], None]
_MODES: Final[tuple[GenerationMode, ...]] = (GenerationMode("positive"), GenerationMode("negative"))


@dataclass(frozen=True)
class Generation:
    """What to generate: examples per operation and mode, the seed, and what to point cases at."""

    max_examples: int
    seed: int
    model_names: tuple[str, ...]
    llm_names: tuple[str, ...]
    token: str | None


def load_schema() -> Any:
    """The shipped openapi.yaml as a schemathesis schema, ignoring any ``schemathesis.toml``."""
    return schemathesis.openapi.from_path(spec_path(), config=SchemathesisConfig())


def run_generated(
    generation: Generation,
    *,
    send: Sender,
    judge: Judge,
    knowledge: Knowledge,
    base_url: str,
    progress: Progress | None = None,
) -> list[str]:
    """Generate, send and judge cases for every operation; return what could not be generated."""
    schema = load_schema()
    problems: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in _MODES:
            cases = _Cases(generation, send, judge, knowledge, base_url)
            try:
                _draw(operation, mode, generation, cases.handle)
            except Unsatisfiable:
                reason = f"no {mode.value} case to generate (hypothesis: Unsatisfiable)"
                problems.append(f"{operation.label}: {reason}")
            except Exception as exc:  # a strategy that cannot draw says nothing about the server
                reason = str(exc).split("\n", 1)[0][:200]
                problems.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {reason}")
            if progress is not None:
                progress(f"schemathesis: {operation.label} {mode.value}: {cases.count} cases")
    return problems


def _draw(
    operation: Any, mode: GenerationMode, generation: Generation, handle: Callable[[Any], None]
) -> None:
    @hypothesis_seed(generation.seed)
    @settings(
        max_examples=generation.max_examples,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(operation.as_strategy(generation_mode=mode))
    def each(case: Any) -> None:
        handle(case)

    each()


class _Cases:
    """Sends and judges the cases of one operation and mode."""

    def __init__(
        self, generation: Generation, send: Sender, judge: Judge, knowledge: Knowledge, base_url: str
    ) -> None:
        self._generation = generation
        self._send = send
        self._judge = judge
        self._knowledge = knowledge
        self._base = httpx.URL(base_url)
        self.count = 0

    def handle(self, case: Any) -> None:
        _point_at_served(case, self._generation)
        request = self._request_of(case)
        if request is None:
            return
        self.count += 1
        try:
            exchange = self._send(request)
        except SendError as exc:
            self._judge.no_answer(request, str(exc), SOURCE)
            return
        self._judge(exchange, SOURCE)
        outcomes = list(_builtin_outcomes(case, exchange, self._knowledge, str(self._base)))
        if outcomes:
            self._judge.record(request, exchange.status, outcomes, SOURCE)

    def _request_of(self, case: Any) -> Any:
        try:
            kwargs = case.as_transport_kwargs(base_url=str(self._base))
            outgoing = httpx.Request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                headers=kwargs.get("headers"),
                json=kwargs.get("json"),
                content=kwargs.get("data") if isinstance(kwargs.get("data"), (bytes, str)) else None,
            )
        except (ValueError, TypeError, UnicodeError, httpx.InvalidURL):
            return None  # a header or URL no client can send
        return wire_request(outgoing, self._base.path.rstrip("/"))


def _point_at_served(case: Any, generation: Generation) -> None:
    """Two well-formed names in three become served names (chosen by a hash: the seed still repeats)."""
    parameters = case.path_parameters or {}
    for key in _NAME_PARAMETERS:
        value = parameters.get(key)
        served = generation.llm_names if "llms" in str(case.path) else generation.model_names
        if isinstance(value, str) and is_name(value) and served:
            pick = int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")
            if pick % 3:
                parameters[key] = served[pick % len(served)]
    headers = case.headers
    if headers is not None and "authorization" in headers:
        if generation.token is None:
            del headers["authorization"]
        else:
            headers["authorization"] = generation.token


def _builtin_outcomes(
    case: Any, exchange: Exchange, knowledge: Knowledge, base_url: str
) -> Iterator[Outcome]:
    response = _as_schemathesis_response(exchange, base_url)
    for check in BUILTIN_CHECKS:
        try:
            case.validate_response(response, checks=[check])
        except AssertionError as failure:
            owner = _owner(check.__name__, exchange, knowledge)
            if owner is not None:
                yield broken(*owner, "", f"schemathesis {check.__name__}: {_describe(failure)}")
        except BaseException as group:
            failures = getattr(group, "exceptions", None)
            if not isinstance(failures, Sequence):
                raise
            owner = _owner(check.__name__, exchange, knowledge)
            if owner is not None:
                detail = "; ".join(_describe(failure) for failure in failures)
                yield broken(*owner, "", f"schemathesis {check.__name__}: {detail}")


def _owner(check: str, exchange: Exchange, knowledge: Knowledge) -> tuple[str, str] | None:
    """The contract rule and sub-check a built-in check's failure is counted under."""
    if exchange.status >= 500:
        return None  # no-server-error already says it
    if check == "content_type_conformance":
        return ("content-type", "error" if exchange.status >= 400 else "success")
    if check == "status_code_conformance":
        expected = expect(exchange.request, knowledge)
        if expected is None or expected.status not in _ERROR_OWNERS:
            return None
        return (_ERROR_OWNERS[expected.status], expected.subcheck)
    if exchange.status >= 400:
        return ("error-body", "shape")
    return _SCHEMA_OWNERS.get(exchange.kind or "")


def _describe(failure: BaseException) -> str:
    title = getattr(failure, "title", None) or type(failure).__name__
    message = str(getattr(failure, "message", "") or "").strip().splitlines()
    return f"{title}: {message[0]}" if message and message[0] != title else str(title)


def _as_schemathesis_response(exchange: Exchange, base_url: str) -> SchemathesisResponse:
    request = exchange.request
    prepared = requests.Request(request.method, base_url.rstrip("/") + request.target).prepare()
    headers: dict[str, list[str]] = {}
    for key, value in exchange.headers:
        headers.setdefault(key, []).append(value)
    return SchemathesisResponse(exchange.status, headers, exchange.body, prepared, 0.0, True)
