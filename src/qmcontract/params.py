"""The query parameters of the API family, read exactly as the contract's boundary table says.

An empty value means absent (the official SDK sends unset options that way); a parameter given
twice with non-empty values is a bad request where it is read. Digits are ASCII digits only
(``²`` and ``٣`` are not numbers here), and nothing is ever converted to a number before its
length is known to be sane, so no input can raise anything but :class:`BadParameter`.

On the Query Model and Query LLM routes ``metadata`` is always read, and ``me``, ``from`` and
``to`` only with ``metadata=true``; the list reads ``count``, ``offset``, ``sort``, ``me``,
``from`` and ``to`` always.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Final, Literal

from qmcontract.limits import quoted
from qmcontract.routes import query_values

SortKey = Literal["created", "tokens", "completion_tokens", "prompt_tokens", "cost", "requests"]
SORT_KEYS: Final[tuple[SortKey, ...]] = (
    "created",
    "tokens",
    "completion_tokens",
    "prompt_tokens",
    "cost",
    "requests",
)
LIST_DEFAULT_COUNT: Final = 100
LIST_MAX_COUNT: Final = 1000
_UTC: Final = timezone.utc
_EPOCH: Final = date(1970, 1, 1).toordinal()
_FIRST_SECOND: Final = (date(1, 1, 1).toordinal() - _EPOCH) * 86_400
_LAST_SECOND: Final = (date(9999, 12, 31).toordinal() - _EPOCH) * 86_400 + 86_399
_DATE_TIME: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_DIGITS: Final = re.compile(r"[0-9]+")


class BadParameter(ValueError):
    """A query parameter is malformed: the request gets a 400 with this message."""


@dataclass(frozen=True)
class Window:
    """A statistics window; None means unbounded on that side."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class StatsParams:
    """What a Query Model or Query LLM request asks for, once parsed."""

    metadata: bool = False
    me: bool = False
    window: Window = Window()


@dataclass(frozen=True)
class ListParams:
    """What a list request asks for, once parsed."""

    count: int = LIST_DEFAULT_COUNT
    offset: int = 0
    sort: SortKey | None = None
    me: bool = False
    window: Window = Window()


class Query:
    """A query string's non-empty values, read one parameter at a time."""

    def __init__(self, query: str) -> None:
        self._values = query_values(query)

    def single(self, key: str) -> str | None:
        """The parameter's value, None when absent; BadParameter when given twice."""
        given = self._values.get(key)
        if not given:
            return None
        if len(given) > 1:
            raise BadParameter(f"`{key}` is given {len(given)} times")
        return given[0]


def parse_bool(text: str | None, key: str) -> bool:
    """``true`` or ``false`` exactly (absent is false); ``True``, ``1``, ``yes`` are malformed."""
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise BadParameter(f"`{key}` must be `true` or `false`, got {quoted(text)}")


def parse_instant(text: str | None, key: str) -> datetime | None:
    """An RFC 3339 date-time as a UTC instant, or None when absent.

    Years 0001 to 9999; second 60 reads as the next second; a fraction of any length is cut to
    microseconds; an instant that the offset moves before year 1 or after year 9999 is clamped.
    """
    return None if text is None else _read_instant(text, key)[0]


def _read_instant(text: str, key: str) -> tuple[datetime, tuple[int, Decimal]]:
    """The instant, and an exact key to order it by (the fraction kept to its last digit)."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise BadParameter(f"`{key}` must be an RFC 3339 date-time, got {quoted(text)}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, sign, offset_hours, offset_minutes = match.groups()[6:]
    offset = 0
    if sign is not None:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise BadParameter(f"`{key}` has an offset beyond ±23:59, got {quoted(text)}")
        offset = (int(offset_hours) * 60 + int(offset_minutes)) * 60 * (1 if sign == "+" else -1)
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= monthrange(year, month)[1]):
        raise BadParameter(f"`{key}` is not a calendar date, got {quoted(text)}")
    if hour > 23 or minute > 59 or second > 60:
        raise BadParameter(f"`{key}` is not a time of day, got {quoted(text)}")
    days = date(year, month, day).toordinal() - _EPOCH
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
    exact = Decimal(f"0.{fraction or 0}")
    if seconds < _FIRST_SECOND:
        return _instant(_FIRST_SECOND, 0), (_FIRST_SECOND, Decimal(0))
    if seconds > _LAST_SECOND:
        return _instant(_LAST_SECOND, 999_999), (_LAST_SECOND, Decimal(1))
    return _instant(seconds, int((fraction or "0")[:6].ljust(6, "0"))), (seconds, exact)


def _instant(seconds: int, micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=_UTC) + timedelta(seconds=seconds, microseconds=micros)


def parse_window(query: Query) -> Window:
    """``from`` and ``to``; BadParameter when malformed or when ``from`` is later than ``to``.

    The order is decided on the exact instants, so a ``from`` later than ``to`` by a fraction
    finer than a microsecond is still a bad request.
    """
    given = {key: query.single(key) for key in ("from", "to")}
    read = {key: _read_instant(text, key) for key, text in given.items() if text is not None}
    if "from" in read and "to" in read and read["from"][1] > read["to"][1]:
        raise BadParameter("`from` is later than `to`")
    start, end = read.get("from"), read.get("to")
    return Window(start[0] if start else None, end[0] if end else None)


def parse_stats_params(query: str) -> StatsParams:
    """The parameters of a Query Model or Query LLM route; BadParameter for a 400."""
    parsed = Query(query)
    if not parse_bool(parsed.single("metadata"), "metadata"):
        return StatsParams()
    me = parse_bool(parsed.single("me"), "me")
    return StatsParams(metadata=True, me=me, window=parse_window(parsed))


def parse_list_params(query: str) -> ListParams:
    """The parameters of ``GET /query_models``; BadParameter for a 400."""
    parsed = Query(query)
    count = _digits(parsed.single("count"), "count", LIST_DEFAULT_COUNT, maximum=LIST_MAX_COUNT)
    offset = _digits(parsed.single("offset"), "offset", 0, maximum=None)
    sort = _sort_key(parsed.single("sort"))
    me = parse_bool(parsed.single("me"), "me")
    return ListParams(count, offset, sort, me, parse_window(parsed))


def _sort_key(text: str | None) -> SortKey | None:
    for key in SORT_KEYS:
        if text == key:
            return key
    if text is None:
        return None
    raise BadParameter(f"`sort` must be one of {', '.join(SORT_KEYS)}, got {quoted(text)}")


#: An offset with more digits than this is past the end of any list.
_LONGEST_OFFSET: Final = 18


def _digits(text: str | None, key: str, default: int, *, maximum: int | None) -> int:
    """ASCII digits (leading zeros allowed) up to ``maximum``; any size when ``maximum`` is None."""
    if text is None:
        return default
    if _DIGITS.fullmatch(text) is None:
        raise BadParameter(f"`{key}` must be ASCII digits, got {quoted(text)}")
    significant = text.lstrip("0") or "0"
    if maximum is None:
        return int(significant) if len(significant) <= _LONGEST_OFFSET else 10**_LONGEST_OFFSET
    if len(significant) > len(str(maximum)) or int(significant) > maximum:
        raise BadParameter(f"`{key}` must be at most {maximum}, got {quoted(text)}")
    return int(significant)
