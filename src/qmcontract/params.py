"""The query parameters of GET /query_models/{slug}, parsed exactly as the contract reads them.

An empty value means absent (the official SDK sends unset options that way). ``metadata``
is always parsed; ``me``, ``from`` and ``to`` only when ``metadata=true``, since the API
ignores them otherwise, however malformed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


class BadParameter(ValueError):
    """A query parameter is malformed: the request gets a 400."""


@dataclass(frozen=True)
class RetrieveParams:
    """What a retrieve request asks for, once parsed."""

    metadata: bool = False
    me: bool = False
    start: datetime | None = None
    end: datetime | None = None


def query_values(query: str) -> dict[str, list[str]]:
    """Non-empty values of each parameter, in order."""
    values: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if value != "":
            values.setdefault(key, []).append(value)
    return values


def _single(values: dict[str, list[str]], key: str) -> str | None:
    given = values.get(key)
    if not given:
        return None
    if len(given) > 1:
        raise BadParameter(f"`{key}` is given {len(given)} times")
    return given[0]


def parse_bool(text: str | None, key: str) -> bool:
    """``true`` or ``false`` exactly; absent is false."""
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise BadParameter(f"`{key}` must be `true` or `false`, got {text!r}")


def parse_datetime(text: str | None, key: str) -> datetime | None:
    """An RFC 3339 date-time with a time zone, or None when absent."""
    if text is None:
        return None
    if not _RFC3339.fullmatch(text):
        raise BadParameter(f"`{key}` must be an RFC 3339 date-time, got {text!r}")
    try:
        parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00").replace(" ", "T"))
    except ValueError as exc:
        raise BadParameter(f"`{key}` is not a real date-time: {exc}") from None
    return parsed.astimezone(timezone.utc)


def parse_retrieve_params(query: str) -> RetrieveParams:
    """Parse the query string of a retrieve request; raises BadParameter for a 400."""
    values = query_values(query)
    if not parse_bool(_single(values, "metadata"), "metadata"):
        return RetrieveParams()
    me = parse_bool(_single(values, "me"), "me")
    start = parse_datetime(_single(values, "from"), "from")
    end = parse_datetime(_single(values, "to"), "to")
    if start is not None and end is not None and start > end:
        raise BadParameter("`from` is later than `to`")
    return RetrieveParams(metadata=True, me=me, start=start, end=end)


def parse_count(text: str | None, key: str, *, default: int, maximum: int) -> int:
    """A non-negative integer list parameter such as ``count`` or ``offset``."""
    if text is None:
        return default
    if not text.isdigit() or int(text) > maximum:
        raise BadParameter(f"`{key}` must be an integer from 0 to {maximum}, got {text!r}")
    return int(text)
