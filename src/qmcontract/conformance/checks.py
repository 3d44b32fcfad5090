"""One plain function per exchange rule of the contract, plus the document rules.

Every check has the signature ``check(exchange, context) -> list[Violation] | None``:
``None`` means the rule does not apply to this exchange (it is not counted as checked),
an empty list means it applies and holds. Checks never raise on a malformed response.

The checks are orthogonal on purpose, so that one broken behaviour is reported under one
rule id: the status rules (``slug-echo``, ``not-found``, ``auth-required``,
``bad-request``) look only at the status and leave the body of an error to
``error-body``, a 5xx only to ``no-server-error``, and a request that carries ignored
parameters only to ``ignored-params``. What a request should get is decided by the same
parameter parser the reference engine uses (:mod:`qmcontract.params`), in the contract's
order of precedence 400 > 401 > 404.

The rules that compare several exchanges (``stable``, ``ignored-params``,
``metadata-window``) send the extra requests they need through ``context.send``; without a
sender they do not apply.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypeGuard

from qmcontract.conformance.exchange import ApiRequest, Exchange
from qmcontract.errors import Violation
from qmcontract.names import is_name
from qmcontract.params import BadParameter, parse_bool, parse_stats_params
from qmcontract.params import parse_instant as parse_datetime
from qmcontract.routes import query_values
from qmcontract.rules import DOCUMENT_RULES, EXCHANGE_RULES, METADATA_FIELDS
from qmcontract.validate import pointer, validate_query_model

#: The metadata fields that count usage; the contract lets them change between two requests.
COUNTERS: Final = METADATA_FIELDS[2:]
WINDOW_PARAMS: Final = ("from", "to")
IGNORABLE_PARAMS: Final = ("me", "from", "to")
RETRIEVE_PARAMS: Final = ("metadata", *IGNORABLE_PARAMS)
#: How far the ``metadata-window`` check widens a bounded window on each side.
WIDEN_BY: Final = timedelta(days=7)
_RELATIVE_TOLERANCE: Final = 1e-9

Sender = Callable[[ApiRequest], Exchange]


@dataclass(frozen=True)
class ConformanceContext:
    """What the checks know besides the exchange.

    ``known`` is the set of names that exist (None: unknown, so only slugs that are not
    names at all are expected to be 404); ``send`` sends a further request (None: the rules
    that need one do not apply).
    """

    known: frozenset[str] | None = None
    send: Sender | None = None


ExchangeCheck = Callable[[Exchange, ConformanceContext], "list[Violation] | None"]


# --- what the contract expects of a request ------------------------------------------------


def metadata_flag(request: ApiRequest) -> bool | None:
    """Whether the request asks for metadata; None when ``metadata`` is malformed or repeated."""
    given = query_values(request.query).get("metadata", [])
    if len(given) > 1:
        return None
    try:
        return parse_bool(given[0] if given else None, "metadata")
    except BadParameter:
        return None


def has_ignored_params(request: ApiRequest) -> bool:
    """True when ``metadata`` is absent or false and ``me``, ``from`` or ``to`` is given anyway."""
    return metadata_flag(request) is False and any(key in IGNORABLE_PARAMS for key, _ in request.params())


def _repeats_a_param(request: ApiRequest) -> bool:
    values = query_values(request.query)
    return any(len(values.get(key, ())) > 1 for key in RETRIEVE_PARAMS)


def expected_status(request: ApiRequest, known: frozenset[str] | None) -> int | None:
    """The status the contract requires for a retrieve request, or None when it does not say.

    The contract is silent on other methods, other routes and repeated parameters.
    """
    slug = request.slug
    if request.method != "GET" or slug is None or _repeats_a_param(request):
        return None
    try:
        params = parse_stats_params(request.query)
    except BadParameter:
        return 400
    if params.me and not request.authorization:
        return 401
    if not is_name(slug) or (known is not None and slug not in known):
        return 404
    return 200 if known is not None else None


def _status_violation(rule: str, exchange: Exchange, expected: int) -> list[Violation]:
    if exchange.status == expected:
        return []
    return [Violation(rule, "", f"expected status {expected}, got {exchange.status}")]


def _status_rule(exchange: Exchange, context: ConformanceContext, status: int) -> int | None:
    """The expected status when it is ``status`` and the exchange is judged on its status."""
    if exchange.status >= 500 or has_ignored_params(exchange.request):
        return None
    expected = expected_status(exchange.request, context.known)
    return expected if expected == status else None


# --- the status rules -----------------------------------------------------------------------


def slug_echo(exchange: Exchange, context: ConformanceContext) -> list[Violation] | None:
    """``slug-echo``: a 200 response's name is the slug; a known slug is answered 200."""
    slug = exchange.request.slug
    if slug is None or exchange.request.method != "GET":
        return None
    if exchange.status == 200:
        document = exchange.json_or_none()
        name = document.get("name") if isinstance(document, dict) else None
        if name == slug:
            return []
        return [Violation("slug-echo", "/name", f"expected the requested slug {slug}, got {name!r}")]
    expected = _status_rule(exchange, context, 200)
    return None if expected is None else _status_violation("slug-echo", exchange, expected)


def not_found(exchange: Exchange, context: ConformanceContext) -> list[Violation] | None:
    """``not-found``: an unknown slug gives 404 (its body is ``error-body``'s concern)."""
    expected = _status_rule(exchange, context, 404)
    return None if expected is None else _status_violation("not-found", exchange, expected)


def auth_required(exchange: Exchange, context: ConformanceContext) -> list[Violation] | None:
    """``auth-required``: ``metadata=true&me=true`` without authorization gives 401."""
    expected = _status_rule(exchange, context, 401)
    return None if expected is None else _status_violation("auth-required", exchange, expected)


def bad_request(exchange: Exchange, context: ConformanceContext) -> list[Violation] | None:
    """``bad-request``: malformed parameters (and ``from`` after ``to``) give 400."""
    expected = _status_rule(exchange, context, 400)
    return None if expected is None else _status_violation("bad-request", exchange, expected)


# --- body and header rules -------------------------------------------------------------------


def error_body(exchange: Exchange, _context: ConformanceContext) -> list[Violation] | None:
    """``error-body``: every 4xx/5xx body is JSON ``{code, message}`` with ``code`` the status."""
    if exchange.status < 400:
        return None
    try:
        body = exchange.json()
    except ValueError:
        return [Violation("error-body", "", f"the {exchange.status} body is not JSON")]
    if not isinstance(body, dict):
        return [Violation("error-body", "", f"expected a JSON object, got {type(body).__name__}")]
    return list(_error_fields(body, exchange.status))


def _error_fields(body: dict[str, Any], status: int) -> Iterator[Violation]:
    code = body.get("code")
    if "code" not in body:
        yield Violation("error-body", "/code", "missing")
    elif not isinstance(code, int) or isinstance(code, bool) or code != status:
        yield Violation(
            "error-body", "/code", f"expected the HTTP status {status} as an integer, got {code!r}"
        )
    if "message" not in body:
        yield Violation("error-body", "/message", "missing")
    elif not isinstance(body["message"], (str, dict)):
        yield Violation("error-body", "/message", f"expected a string or an object, got {body['message']!r}")
    for key in sorted(set(body) - {"code", "message"}):
        yield Violation("error-body", pointer((key,)), "unknown field in an error body")


def content_type(exchange: Exchange, _context: ConformanceContext) -> list[Violation] | None:
    """``content-type``: every JSON body is sent as ``application/json``."""
    if not exchange.body or exchange.json_or_none() is None:
        return None
    media_type = exchange.media_type()
    if media_type == "application/json":
        return []
    return [Violation("content-type", "", f"a JSON body sent as {exchange.content_type!r}")]


def no_server_error(exchange: Exchange, _context: ConformanceContext) -> list[Violation] | None:
    """``no-server-error``: no request, however malformed, gets a 5xx."""
    if exchange.status < 500:
        return []
    return [Violation("no-server-error", "", f"got {exchange.status}")]


# --- rules that compare several exchanges ----------------------------------------------------


def _document(exchange: Exchange) -> dict[str, Any] | None:
    if exchange.status != 200:
        return None
    document = exchange.json_or_none()
    return document if isinstance(document, dict) else None


def _resend(context: ConformanceContext, request: ApiRequest) -> Exchange | None:
    if context.send is None:
        return None
    try:
        return context.send(request)
    except Exception:  # a failed re-send proves nothing about the rule being checked
        return None


def first_difference(left: Any, right: Any, at: str = "") -> str | None:
    """JSON pointer of the first place where two JSON values differ, or None when equal."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            where = f"{at}/{pointer((key,))[1:]}"
            if key not in left or key not in right:
                return where
            found = first_difference(left[key], right[key], where)
            if found is not None:
                return found
        return None
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            found = first_difference(a, b, f"{at}/{index}")
            if found is not None:
                return found
        return None
    same = left == right and type(left) is type(right)
    return None if same else (at or "/")


def stable(exchange: Exchange, context: ConformanceContext) -> list[Violation] | None:
    """``stable``: the same request twice gives the same document, metadata counters aside."""
    first = _document(exchange)
    if first is None or exchange.request.slug is None:
        return None
    again = _resend(context, exchange.request)
    if again is None:
        return None
    second = _document(again)
    if second is None:
        return [Violation("stable", "", f"the same request first got 200, then {again.status}")]
    where = first_difference(_without_counters(first), _without_counters(second))
    if where is None:
        return []
    return [Violation("stable", where, "differs between two identical requests")]


def _without_counters(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in COUNTERS}


def ignored_params(exchange: Exchange, context: ConformanceContext) -> list[Violation] | None:
    """``ignored-params``: without ``metadata=true``, ``me``/``from``/``to`` change nothing."""
    request = exchange.request
    if request.slug is None or exchange.status >= 500 or not has_ignored_params(request):
        return None
    plain = _resend(context, request.without(*IGNORABLE_PARAMS))
    if plain is None or plain.status >= 500:
        return None
    if plain.status != exchange.status:
        return [
            Violation(
                "ignored-params",
                "",
                f"got {exchange.status}, but {plain.status} without the ignored me/from/to",
            )
        ]
    where = first_difference(exchange.json_or_none(), plain.json_or_none()) if plain.status == 200 else None
    if where is None:
        return []
    return [Violation("ignored-params", where, "differs from the response without the ignored me/from/to")]


def metadata_window(exchange: Exchange, context: ConformanceContext) -> list[Violation] | None:
    """``metadata-window``: a wider window never lowers a figure; ``me`` never exceeds all users.

    Compares the response with the same request over the unbounded window, over the
    window widened by :data:`WIDEN_BY` on each given side, and (with ``me=true``) for all
    users over the same window.
    """
    narrow = _document(exchange)
    request = exchange.request
    if narrow is None or request.slug is None or metadata_flag(request) is not True:
        return None
    if context.send is None:
        return None
    violations: list[Violation] = []
    for label, wider in _wider_requests(request):
        reference = _resend(context, wider)
        document = _document(reference) if reference is not None else None
        if document is not None:
            violations.extend(_not_above(narrow, document, label))
    return violations


def _wider_requests(request: ApiRequest) -> Iterator[tuple[str, ApiRequest]]:
    params = request.params()
    given = {key for key, value in params if key in WINDOW_PARAMS and value}
    if given:
        yield "the unbounded window", request.without(*WINDOW_PARAMS)
        widened = [(key, _widen(key, value)) for key, value in params]
        if all(value is not None for _, value in widened) and widened != params:
            yield "a window wider by 7 days", request.with_params((k, v) for k, v in widened if v is not None)
    values = query_values(request.query)
    if values.get("me") == ["true"]:
        yield "all users over the same window", request.without("me")


def _widen(key: str, value: str) -> str | None:
    """The bound moved outwards by WIDEN_BY; None when it is not a date-time."""
    if key not in WINDOW_PARAMS or not value:
        return value
    try:
        moment = parse_datetime(value, key)
        if moment is None:
            return value
        moved: datetime = moment - WIDEN_BY if key == "from" else moment + WIDEN_BY
    except (BadParameter, OverflowError):
        return None
    return moved.isoformat()


def _not_above(narrow: Mapping[str, Any], wide: Mapping[str, Any], label: str) -> Iterator[Violation]:
    for key in COUNTERS:
        low, high = narrow.get(key), wide.get(key)
        if _is_figure(low) and _is_figure(high) and low > high * (1 + _RELATIVE_TOLERANCE) + 1e-12:
            yield Violation("metadata-window", f"/{key}", f"{low} is more than {high} reported for {label}")


def _is_figure(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- the document rules ---------------------------------------------------------------------


def document_rules(exchange: Exchange, _context: ConformanceContext) -> list[Violation] | None:
    """Every document rule, on a 200 retrieve response, through :func:`validate_query_model`.

    ``metadata-presence`` is checked against whether the request asked for metadata.
    """
    request = exchange.request
    if exchange.status != 200 or request.slug is None or request.method != "GET":
        return None
    try:
        document = exchange.json()
    except ValueError:
        return [Violation("schema", "", "the 200 body is not JSON")]
    return validate_query_model(document, metadata=metadata_flag(request))


#: The exchange rules, in the order of the contract's catalogue.
EXCHANGE_CHECKS: Final[Mapping[str, ExchangeCheck]] = {
    "slug-echo": slug_echo,
    "not-found": not_found,
    "auth-required": auth_required,
    "bad-request": bad_request,
    "ignored-params": ignored_params,
    "error-body": error_body,
    "content-type": content_type,
    "stable": stable,
    "metadata-window": metadata_window,
    "no-server-error": no_server_error,
}
assert tuple(EXCHANGE_CHECKS) == tuple(EXCHANGE_RULES)

#: Rule id -> violations, for every rule that applied to one exchange.
Evaluation = dict[str, list[Violation]]


def evaluate(exchange: Exchange, context: ConformanceContext) -> Evaluation:
    """Run every check on one exchange; the result names each rule that applied."""
    result: Evaluation = {}
    for rule, check in EXCHANGE_CHECKS.items():
        found = check(exchange, context)
        if found is not None:
            result[rule] = found
    documents = document_rules(exchange, context)
    if documents is not None:
        for rule in DOCUMENT_RULES:
            result[rule] = [v for v in documents if v.rule == rule]
    return result
