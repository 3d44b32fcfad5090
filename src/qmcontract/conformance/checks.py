"""One plain function per rule of the contract: ``check(exchange, context) -> outcomes``.

Each check yields an :class:`~qmcontract.conformance.subchecks.Outcome` per sub-check it ran on
the exchange (nothing when the rule does not apply to it), and never raises on a malformed
response. The checks are orthogonal on purpose, so that one broken behaviour is reported under
one rule: the status rules look only at the status (what it must be comes from the oracle,
:mod:`qmcontract.conformance.expect`), an error's body is ``error-body``'s concern, a 5xx only
``no-server-error``'s, and a request carrying ignored parameters only ``ignored-params``'s.

Rules that compare several exchanges send what they need through ``context.send`` (a fresh
request) or ``context.fetch`` (a read shared by every check of the run); without them they do not
apply. The API family's rules live in :mod:`qmcontract.conformance.family`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from qmcontract.conformance import exchange as build
from qmcontract.conformance.exchange import Exchange, request_key
from qmcontract.conformance.expect import (
    Expectation,
    Knowledge,
    expect,
    has_ignored_params,
    instant,
    metadata_requested,
    write_instant,
)
from qmcontract.conformance.subchecks import Facts, Outcome, broken, held, judged
from qmcontract.errors import Violation
from qmcontract.limits import quoted
from qmcontract.routes import query_pairs
from qmcontract.rules import COUNTERS, DOCUMENT_RULES, LLM_RULES
from qmcontract.validate import pointer, validate_query_llm, validate_query_model
from qmcontract.wire import Request

Sender = Callable[[Request], Exchange]
#: How far ``metadata-window`` widens a bounded window on each side (seconds).
WIDEN_BY_SECONDS: Final = 7 * 86_400
_TOLERANCE: Final = 1e-9


class SendError(Exception):
    """A request got no response at all (refused, reset, timed out)."""


@dataclass
class Context:
    """What the checks know besides the exchange: names, facts, a token, and ways to ask again.

    ``send`` sends a request afresh; ``fetch`` returns the run's shared answer to a read (sent
    once, whatever check asks first). ``served`` is every served Query Model name when the run
    knows them all (for the global totals), else empty.
    """

    knowledge: Knowledge
    facts: Facts
    token: str | None = None
    send: Sender | None = None
    served: tuple[str, ...] = ()
    _cache: dict[str, Exchange | None] = field(default_factory=dict, repr=False)
    _seen: set[tuple[str, ...]] = field(default_factory=set, repr=False)
    _validated: dict[tuple[bool, bytes, bool | None], tuple[Violation, ...]] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def again(self, request: Request) -> Exchange | None:
        """A fresh answer, or None when there is no sender or no response."""
        if self.send is None:
            return None
        try:
            return self.send(request)
        except SendError:
            return None

    def document_violations(self, exchange: Exchange) -> tuple[Violation, ...]:
        """What the document rules find in a 200 body, read as its request asked: a Query Model, or
        one LLM entry on the ``/query_llms`` routes (each distinct body is validated once per run)."""
        entry = exchange.kind in ("llm", "llm-validate")
        metadata = metadata_requested(exchange.request)
        key = (entry, hashlib.blake2b(exchange.body, digest_size=16).digest(), metadata)
        with self._lock:
            found = self._validated.get(key)
        if found is None:
            validate = validate_query_llm if entry else validate_query_model
            found = tuple(validate(exchange.parsed, metadata=metadata))
            with self._lock:
                self._validated[key] = found
        return found

    def first_time(self, *key: str) -> bool:
        """True the first time a key is given: for checks that judge an object once per run."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def fetch(self, request: Request, *, read: int = 1) -> Exchange | None:
        """The run's shared answer to a read (``read=2``: a second, separate read), or None."""
        key = f"{read} {request_key(request)}"
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        answer = self.again(request)
        with self._lock:
            return self._cache.setdefault(key, answer)


Check = Callable[[Exchange, Context], Iterator[Outcome]]

#: The rule that owns "this request must succeed", per route.
_SUCCESS_OWNERS: Final = {
    "model": ("slug-echo", "known-model"),
    "llm": ("llm-lookup", "entry"),
    "model-list": ("list-names", "answered"),
    "model-count": ("list-names", "count"),
    "metadata": ("metadata-global", "answered"),
    "model-validate": ("validate-echo", "query_models"),
    "llm-validate": ("validate-echo", "query_llms"),
}
#: Error expectations: status -> the rule that owns it.
_ERROR_OWNERS: Final = {400: "bad-request", 401: "auth-required", 404: "not-found"}


# --- status rules -------------------------------------------------------------------------------


def status_rules(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``bad-request``, ``auth-required``, ``not-found`` and the success owners, from the oracle."""
    request = exchange.request
    if exchange.status >= 500 or has_ignored_params(request):
        return
    expected = expect(request, context.knowledge)
    if expected is None:
        return
    if expected.status in _ERROR_OWNERS:
        yield _status_outcome(_ERROR_OWNERS[expected.status], expected.subcheck, exchange, expected)
        return
    yield from _success_outcomes(exchange, expected)


def _status_outcome(rule: str, subcheck: str, exchange: Exchange, expected: Expectation) -> Outcome:
    if exchange.status == expected.status:
        return held(rule, subcheck)
    return broken(
        rule, subcheck, "", f"expected status {expected.status} ({expected.reason}), got {exchange.status}"
    )


def _success_outcomes(exchange: Exchange, expected: Expectation) -> Iterator[Outcome]:
    kind = exchange.kind or ""
    read = _read_parameters(exchange.request, kind)
    if exchange.status == 400 and read:
        for parameter in read:
            yield broken("bad-request", parameter, "", f"a valid request was refused: {expected.reason}")
        return
    if exchange.status == 401 and exchange.request.authorization is None and kind != "metadata":
        yield broken("auth-required", "only-with-me", "", "401 although me=true was not asked for")
        return
    for parameter in read:
        yield held("bad-request", parameter)
    if kind in ("model", "llm", "model-list", "model-validate", "llm-validate") and not _authorized(exchange):
        yield held("auth-required", "only-with-me")
    rule, subcheck = _SUCCESS_OWNERS[kind]
    yield _status_outcome(rule, subcheck, exchange, expected)


def _authorized(exchange: Exchange) -> bool:
    return exchange.request.authorization is not None


def _read_parameters(request: Request, kind: str) -> list[str]:
    """The parameters present in a request that its route reads (sub-checks of ``bad-request``)."""
    given = {key for key, value in query_pairs(request.query) if value}
    if kind == "model-list":
        return [key for key in ("count", "offset", "sort", "me", "from", "to") if key in given]
    if kind not in ("model", "llm", "model-validate", "llm-validate"):
        return []
    read = ["metadata"] if "metadata" in given else []
    if metadata_requested(request):
        read += [key for key in ("me", "from", "to") if key in given]
    return [*read, "body"] if kind.endswith("validate") else read


# --- answers of named objects -----------------------------------------------------------------------


def slug_echo(exchange: Exchange, _context: Context) -> Iterator[Outcome]:
    """``slug-echo``: a 200 answer's name is the requested name (Query Models and Query LLMs)."""
    kind, document = exchange.kind, exchange.document()
    if kind not in ("model", "llm") or exchange.status != 200 or exchange.request.method != "GET":
        return
    wanted = exchange.route.name
    name = document.get("name") if document is not None else None
    if name == wanted:
        yield held("slug-echo", kind)
    else:
        yield broken(
            "slug-echo", kind, "/name", f"expected the requested name {quoted(wanted)}, got {quoted(name)}"
        )


def document_rules(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """Every document rule on a 200 answer carrying a Query Model or a Query LLM."""
    face = _document_face(exchange)
    if face is None:
        return
    metadata = metadata_requested(exchange.request)
    if exchange.parsed is None:
        yield broken("schema", face, "", "the 200 body is not JSON")
        return
    is_llm = face in ("llm", "post-llm")
    found = context.document_violations(exchange)
    rules = (*LLM_RULES, "weight-values") if is_llm else tuple(DOCUMENT_RULES)
    for rule in rules:
        if rule.startswith("metadata-"):
            continue
        yield judged(rule, face, [v for v in found if v.rule == rule])
    if metadata is not None:
        where = "post" if face.startswith("post") else face
        for rule in ("metadata-presence", "metadata-values"):
            yield judged(rule, where, [v for v in found if v.rule == rule])


def _document_face(exchange: Exchange) -> str | None:
    if exchange.status != 200 or exchange.request.method == "HEAD":
        return None
    return {"model": "model", "llm": "llm", "model-validate": "post-model", "llm-validate": "post-llm"}.get(
        exchange.kind or ""
    )


# --- bodies and headers -------------------------------------------------------------------------------


def error_body(exchange: Exchange, _context: Context) -> Iterator[Outcome]:
    """``error-body``: every 4xx/5xx body is JSON ``{code, message}`` with ``code`` the status."""
    if exchange.status < 400:
        return
    body = exchange.parsed
    if not isinstance(body, dict):
        shown = "not JSON" if body is None else f"JSON {type(body).__name__}"
        yield broken(
            "error-body", "shape", "", f"the {exchange.status} body is {shown}, not {{code, message}}"
        )
        return
    problems = [
        Violation("error-body", pointer((key,)), "unknown field in an error body")
        for key in body
        if key not in ("code", "message")
    ]
    if not isinstance(body.get("message"), (str, dict)):
        problems.append(
            Violation(
                "error-body", "/message", f"expected a string or an object, got {quoted(body.get('message'))}"
            )
        )
    yield judged("error-body", "shape", problems)
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code == exchange.status:
        yield held("error-body", "code")
    else:
        yield broken(
            "error-body",
            "code",
            "/code",
            f"expected the HTTP status {exchange.status} as an integer, got {quoted(code)}",
        )


def content_type(exchange: Exchange, _context: Context) -> Iterator[Outcome]:
    """``content-type``: every JSON body is sent as ``application/json``."""
    if not exchange.body or exchange.parsed is None or exchange.request.method == "HEAD":
        return
    subcheck = "error" if exchange.status >= 400 else "success"
    if exchange.media_type() == "application/json":
        yield held("content-type", subcheck)
    else:
        yield broken("content-type", subcheck, "", f"a JSON body sent as {quoted(exchange.content_type)}")


def no_server_error(exchange: Exchange, _context: Context) -> Iterator[Outcome]:
    """``no-server-error``: no request, however malformed, gets a 5xx."""
    if exchange.status < 500:
        yield held("no-server-error", "no-5xx")
    else:
        yield broken("no-server-error", "no-5xx", "", f"got {exchange.status}")


# --- rules that ask again ------------------------------------------------------------------------------


def first_difference(left: Any, right: Any, at: str = "") -> str | None:
    """JSON pointer of the first place where two JSON values differ, or None when they are equal.

    Values compare as JSON values: key order does not count, and neither does ``1`` against ``1.0``.
    """
    if left == right:
        return None
    if isinstance(left, dict) and isinstance(right, dict):
        pairs = [
            (f"{at}{pointer((key,))}", left.get(key, _ABSENT), right.get(key, _ABSENT))
            for key in sorted(set(left) | set(right), key=str)
        ]
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        pairs = [(f"{at}/{index}", a, b) for index, (a, b) in enumerate(zip(left, right, strict=True))]
    else:
        return at
    return next(
        (found for where, a, b in pairs if (found := first_difference(a, b, where)) is not None), None
    )


_ABSENT = object()


def _without_counters(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {key: item for key, item in value.items() if key not in COUNTERS}


_STABLE_FACES: Final = {"model": "model", "llm": "llm", "model-list": "list", "metadata": "metadata"}


def stable(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``stable``: the same read twice gives the same document (usage counters aside)."""
    face = _STABLE_FACES.get(exchange.kind or "")
    first = exchange.document()
    if face is None or first is None or exchange.request.method != "GET":
        return
    again = context.again(exchange.request)
    if again is None:
        return
    second = again.document()
    if second is None:
        yield broken("stable", face, "", f"the same request first got 200, then {again.status}")
        return
    counters_vary = face in ("model", "llm")
    if counters_vary:
        first, second = _without_counters(first), _without_counters(second)
    where = first_difference(first, second)
    if where is None:
        yield held("stable", face)
    else:
        yield broken("stable", face, where, "differs between two identical requests")


_IGNORED_FACES: Final = {"model": "model", "llm": "llm", "model-validate": "post", "llm-validate": "post"}


def ignored_params(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``ignored-params``: without ``metadata=true``, ``me``/``from``/``to`` change nothing."""
    request = exchange.request
    face = _IGNORED_FACES.get(exchange.kind or "")
    if face is None or exchange.status >= 500 or not has_ignored_params(request):
        return
    kept = [(key, value) for key, value in query_pairs(request.query) if key not in ("me", "from", "to")]
    plain = context.again(build.with_params(request, kept))
    if plain is None or plain.status >= 500:
        return
    if plain.status != exchange.status:
        yield broken(
            "ignored-params",
            face,
            "",
            f"got {exchange.status}, but {plain.status} without the ignored me/from/to",
        )
        return
    where = first_difference(exchange.parsed, plain.parsed) if plain.status == 200 else None
    if where is None:
        yield held("ignored-params", face)
    else:
        yield broken("ignored-params", face, where, "differs from the answer without the ignored me/from/to")


def metadata_window(exchange: Exchange, context: Context) -> Iterator[Outcome]:
    """``metadata-window``: a wider window never lowers a figure, the same instant written another
    way gives the same figures, and ``me=true`` never reports more than all users."""
    narrow = exchange.document()
    if (
        exchange.kind not in ("model", "llm")
        or narrow is None
        or metadata_requested(exchange.request) is not True
    ):
        return
    params = list(query_pairs(exchange.request.query))
    for subcheck, label, variant in _window_variants(params):
        reference = context.again(build.with_params(exchange.request, variant))
        document = reference.document() if reference is not None else None
        if document is None:
            continue
        if subcheck == "same-instant":
            yield judged("metadata-window", subcheck, list(_not_equal(narrow, document, label)))
        else:
            yield judged("metadata-window", subcheck, list(_not_above(narrow, document, label)))
    if dict(params).get("me") == "true" and exchange.request.authorization is not None:
        all_users = [(key, value) for key, value in params if key != "me"]
        reference = context.again(build.with_params(exchange.request, all_users))
        document = reference.document() if reference is not None else None
        if document is not None:
            yield judged("metadata-window", "me-not-above", list(_not_above(narrow, document, "all users")))


Params = list[tuple[str, str]]


def _window_variants(params: Params) -> Iterator[tuple[str, str, Params]]:
    """(sub-check, label, parameters): the unbounded window, the widened one, the same instants."""
    bounds = {key: value for key, value in params if key in ("from", "to") and value}
    moments = {key: instant(value) for key, value in bounds.items()}
    if not bounds or any(moment is None for moment in moments.values()):
        return
    others = [(key, value) for key, value in params if key not in ("from", "to")]
    yield "unbounded", "the unbounded window", others
    widened = {
        key: write_instant((moment[0] + (WIDEN_BY_SECONDS if key == "to" else -WIDEN_BY_SECONDS), moment[1]))
        for key, moment in moments.items()
        if moment is not None
    }
    if all(widened.values()):
        yield "wider", "a window wider by 7 days", others + [(k, v) for k, v in widened.items() if v]
    respelled = {
        key: write_instant(moment, offset_minutes=60) for key, moment in moments.items() if moment is not None
    }
    if all(respelled.values()) and respelled != bounds:
        yield (
            "same-instant",
            f"the same window written {respelled}",
            others + [(k, v) for k, v in respelled.items() if v],
        )


def _figure(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _not_above(narrow: Mapping[str, Any], wide: Mapping[str, Any], label: str) -> Iterator[Violation]:
    for key in COUNTERS:
        low, high = _figure(narrow.get(key)), _figure(wide.get(key))
        if low is not None and high is not None and low > high * (1 + _TOLERANCE) + 1e-12:
            yield Violation(
                "metadata-window", f"/{key}", f"{low} is more than the {high} reported for {label}"
            )


def _not_equal(first: Mapping[str, Any], second: Mapping[str, Any], label: str) -> Iterator[Violation]:
    for key in COUNTERS:
        if first.get(key) != second.get(key):
            yield Violation(
                "metadata-window", f"/{key}", f"{first.get(key)} here, {second.get(key)} for {label}"
            )


#: Every exchange check of the contract's core, in catalogue order (document rules last).
EXCHANGE_CHECKS: Final[tuple[Check, ...]] = (
    status_rules,
    slug_echo,
    ignored_params,
    error_body,
    content_type,
    stable,
    metadata_window,
    no_server_error,
    document_rules,
)
