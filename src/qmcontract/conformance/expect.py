"""The oracle: what the contract says a request must get, read straight from the contract's tables.

An oracle must not share the code it judges, so nothing here calls the engine's parameter parser
(:mod:`qmcontract.params`): the boundary table of ``shared/contract.md`` is written out again as
data below (:data:`BOOLEANS`, :data:`DATE_TIME`, :data:`LIST_PARAMETERS`...), and a request is
judged against it. Only the route (:func:`qmcontract.routes.route_of`) and, for POST bodies, the
core's own builder (the contract's executable definition of a valid Query Model) are shared.

The answer is an :class:`Expectation`: a status (400 > 401 > 404 > 200, the first that applies)
and the sub-check of the rule that owns it, or None where the contract does not say.
"""

from __future__ import annotations

import json
import re
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final

from qmcontract.errors import InvalidDefinition
from qmcontract.model import build_query_llm, build_query_model, llm_without_computed, model_without_computed
from qmcontract.names import is_name
from qmcontract.routes import RouteKind, query_pairs, route_of
from qmcontract.wire import Request

#: ``true``/``false`` exactly: ``True``, ``TRUE``, ``1``, ``yes`` are malformed.
BOOLEANS: Final = frozenset({"true", "false"})
#: RFC 3339 as the boundary table accepts it: ``T``/``t``, any fraction, ``Z``/``z`` or an offset.
DATE_TIME: Final = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)
#: Upper bounds of the fields of a date-time (a leap second 60 is accepted).
DATE_TIME_BOUNDS: Final = {"hour": 23, "minute": 59, "second": 60, "offset_hour": 23, "offset_minute": 59}
SORT_VALUES: Final = frozenset(
    {"created", "tokens", "completion_tokens", "prompt_tokens", "cost", "requests"}
)
ASCII_DIGITS: Final = re.compile(r"[0-9]+")
LIST_MAX_COUNT: Final = 1000
#: The instants a window may hold; anything beyond is clamped to them.
FIRST_INSTANT: Final = (date(1, 1, 1).toordinal() * 86_400, Decimal(0))
LAST_INSTANT: Final = (date(9999, 12, 31).toordinal() * 86_400 + 86_399, Decimal(1))


@dataclass(frozen=True)
class Expectation:
    """The status the contract requires, the sub-check that owns it, and why."""

    status: int
    subcheck: str
    reason: str


@dataclass(frozen=True)
class Knowledge:
    """What the run knows of the server: which names exist, and which tokens it accepts.

    ``model_known``/``llm_known`` answer True (served), False (certainly not served) or None
    (cannot tell). ``accepted_tokens`` is None when the server takes any non-empty token, as the
    contract's mock does; a server that checks tokens accepts only those known here, and what it
    answers to any other token is not the contract's to say.
    """

    Lookup = Callable[[str], "bool | None"]

    model_known: Lookup
    llm_known: Lookup
    accepted_tokens: frozenset[str] | None = None

    def authorization(self, request: Request) -> str:
        """``absent``, ``accepted`` or ``unknown`` (a token the server may refuse)."""
        token = request.authorization
        if token is None:
            return "absent"
        return "accepted" if self.accepted_tokens is None or token in self.accepted_tokens else "unknown"


class _Decided(Exception):
    """Reading the request has decided its answer (None: the contract does not say)."""

    def __init__(self, expectation: Expectation | None) -> None:
        super().__init__(expectation.reason if expectation is not None else "not the contract's to say")
        self.expectation = expectation


class _Malformed(_Decided):
    """A parameter breaks the boundary table: the request must get 400."""

    def __init__(self, subcheck: str, reason: str) -> None:
        super().__init__(Expectation(400, subcheck, reason))
        self.subcheck = subcheck


def expect(request: Request, knowledge: Knowledge) -> Expectation | None:
    """The status the contract requires for this request, or None where it does not say."""
    kind = route_of(request.path).kind(request.method)
    judge = _JUDGES.get(kind) if kind is not None else None
    return judge(request, knowledge) if judge is not None else None


# --- reading values as the boundary table says -------------------------------------------------


def _values(query: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in query_pairs(query):
        if value:
            values.setdefault(key, []).append(value)
    return values


def _one(values: dict[str, list[str]], key: str) -> str | None:
    given = values.get(key, [])
    if len(given) > 1:
        raise _Malformed("repeated", f"`{key}` is given {len(given)} times")
    return given[0] if given else None


def _flag(values: dict[str, list[str]], key: str) -> bool:
    value = _one(values, key)
    if value is not None and value not in BOOLEANS:
        raise _Malformed(key, f"`{key}` is {value!r}, not true or false")
    return value == "true"


Instant = tuple[int, Decimal]


def instant(text: str) -> Instant | None:
    """A date-time as (seconds, fraction) after its offset, clamped to years 1-9999; None if malformed."""
    match = DATE_TIME.fullmatch(text)
    if match is None:
        return None
    parts = {
        key: int(value)
        for key, value in match.groupdict().items()
        if value and key not in ("sign", "fraction")
    }
    if any(parts.get(key, 0) > bound for key, bound in DATE_TIME_BOUNDS.items()):
        return None
    year, month, day = parts["year"], parts["month"], parts["day"]
    if year == 0 or not 1 <= month <= 12 or not 1 <= day <= monthrange(year, month)[1]:
        return None
    offset = (parts.get("offset_hour", 0) * 3600 + parts.get("offset_minute", 0) * 60) * (
        -1 if match["sign"] == "-" else 1
    )
    seconds = date(year, month, day).toordinal() * 86_400 + parts["hour"] * 3600 + parts["minute"] * 60
    moment = (seconds + parts["second"] - offset, Decimal(f"0.{match['fraction'] or 0}"))
    return max(FIRST_INSTANT, min(LAST_INSTANT, moment))


def _window(values: dict[str, list[str]]) -> None:
    moments = {}
    for key in ("from", "to"):
        text = _one(values, key)
        if text is not None:
            moment = instant(text)
            if moment is None:
                raise _Malformed(key, f"`{key}` is not an RFC 3339 date-time: {text[:80]!r}")
            moments[key] = moment
    if "from" in moments and "to" in moments and moments["from"] > moments["to"]:
        raise _Malformed("window", "`from` is later than `to`")


def _digits(values: dict[str, list[str]], key: str, maximum: int | None) -> None:
    value = _one(values, key)
    if value is None:
        return
    if ASCII_DIGITS.fullmatch(value) is None:
        raise _Malformed(key, f"`{key}` is {value[:80]!r}, not ASCII digits")
    significant = value.lstrip("0")
    if maximum is not None and (len(significant) > len(str(maximum)) or int(significant or 0) > maximum):
        raise _Malformed(key, f"`{key}` is {value[:80]!r}, above {maximum}")


# --- one judge per route ---------------------------------------------------------------------------


def _stats_parameters(values: dict[str, list[str]]) -> tuple[bool, bool]:
    """``metadata`` always; ``me``, ``from``, ``to`` only with ``metadata=true``: (metadata, me)."""
    if not _flag(values, "metadata"):
        return False, False
    me = _flag(values, "me")
    _window(values)
    return True, me


def _authorize(request: Request, knowledge: Knowledge, me: bool, route: str) -> None:
    """Decide 401 for ``me=true`` without authorization; decide nothing for a token the server
    may refuse (what it answers then is not the contract's to say)."""
    authorization = knowledge.authorization(request)
    if me and authorization == "absent":
        raise _Decided(Expectation(401, route, "me=true with no authorization"))
    if authorization == "unknown":
        raise _Decided(None)


def _served(knowledge: Knowledge, kind: str, name: str) -> bool | None:
    return (knowledge.model_known if kind == "model" else knowledge.llm_known)(name)


def _named(kind: str) -> Callable[[Request, Knowledge], Expectation | None]:
    """The judge of ``GET /query_models/{name}`` or ``GET /query_llms/{name}``: 400, 401, 404, 200."""

    def judge(request: Request, knowledge: Knowledge) -> Expectation | None:
        try:
            _, me = _stats_parameters(_values(request.query))
            _authorize(request, knowledge, me, kind)
        except _Decided as decided:
            return decided.expectation
        name = route_of(request.path).name or ""
        if not is_name(name):
            return Expectation(404, f"malformed-{kind}", f"{name[:40]!r} is not a name")
        known = _served(knowledge, kind, name)
        if known is False:
            return Expectation(404, f"unknown-{kind}", f"{name} is not served")
        return Expectation(200, kind, f"{name} is served") if known else None

    return judge


def _list(request: Request, knowledge: Knowledge) -> Expectation | None:
    values = _values(request.query)
    try:
        _digits(values, "count", LIST_MAX_COUNT)
        _digits(values, "offset", None)
        sort = _one(values, "sort")
        if sort is not None and sort not in SORT_VALUES:
            raise _Malformed("sort", f"`sort` is {sort[:80]!r}, not one of the six values")
        me = _flag(values, "me")
        _window(values)
        _authorize(request, knowledge, me, "list")
    except _Decided as decided:
        return decided.expectation
    return Expectation(200, "list", "a well-formed list request")


def _always_ok(_request: Request, _knowledge: Knowledge) -> Expectation:
    return Expectation(200, "read", "this route takes no parameters")


def _posted(kind: str) -> Callable[[Request, Knowledge], Expectation | None]:
    """The judge of ``POST /query_models`` or ``POST /query_llms``: parameters, body, then name."""

    def judge(request: Request, knowledge: Knowledge) -> Expectation | None:
        try:
            metadata, me = _stats_parameters(_values(request.query))
            name = _built_name(kind, request.body)
            _authorize(request, knowledge, me, f"post-{kind}")
        except _Decided as decided:
            return decided.expectation
        if not metadata:
            return Expectation(200, f"post-{kind}", "a valid definition")
        known = _served(knowledge, kind, name)
        if known is False:
            return Expectation(404, f"unserved-{kind}", f"metadata of {name}, which is not served")
        return Expectation(200, f"post-{kind}", "a served definition") if known else None

    return judge


def _built_name(kind: str, body: bytes) -> str:
    """The name a POST body builds to; decides 400 when it is not a valid definition."""
    try:
        value: Any = json.loads(body)
        built = (
            build_query_model(model_without_computed(value))
            if kind == "model"
            else build_query_llm(llm_without_computed(value))
        )
    except (ValueError, InvalidDefinition, RecursionError):
        raise _Malformed("body", "the body is not a valid definition") from None
    name: str = built["name"]
    return name


_JUDGES: Final[dict[RouteKind, Callable[[Request, Knowledge], Expectation | None]]] = {
    "model": _named("model"),
    "llm": _named("llm"),
    "model-list": _list,
    "model-count": _always_ok,
    "metadata": _always_ok,
    "model-validate": _posted("model"),
    "llm-validate": _posted("llm"),
}


def has_ignored_params(request: Request) -> bool:
    """True on a Query Model or Query LLM route when ``metadata`` is absent or false and ``me``,
    ``from`` or ``to`` is given anyway (the contract says they change nothing then)."""
    kind = route_of(request.path).kind(request.method)
    if kind not in ("model", "llm", "model-validate", "llm-validate"):
        return False
    values = _values(request.query)
    try:
        metadata = _flag(values, "metadata")
    except _Malformed:
        return False
    return not metadata and any(key in ("me", "from", "to") for key, _ in query_pairs(request.query))


def metadata_requested(request: Request) -> bool | None:
    """Whether the request asks for metadata: None when ``metadata`` is malformed or repeated."""
    try:
        return _flag(_values(request.query), "metadata")
    except _Malformed:
        return None


def write_instant(moment: Instant, *, offset_minutes: int = 0) -> str | None:
    """An instant written as RFC 3339 at a UTC offset; None when that falls outside years 1-9999.

    Used to say the same instant another way (``metadata-window``) and to widen a window.
    """
    seconds, fraction = moment
    local = seconds + offset_minutes * 60
    days, rest = divmod(local, 86_400)
    if not date(1, 1, 1).toordinal() <= days <= date(9999, 12, 31).toordinal() or fraction >= 1:
        return None
    day = date.fromordinal(days)
    digits = format(fraction, "f").partition(".")[2].rstrip("0")
    hours, minutes = divmod(abs(offset_minutes), 60)
    zone = "Z" if offset_minutes == 0 else f"{'+' if offset_minutes > 0 else '-'}{hours:02d}:{minutes:02d}"
    clock = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{day.isoformat()}T{clock}{'.' + digits if digits else ''}{zone}"
