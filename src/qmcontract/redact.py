"""Secrets never leave the process: one redaction mark, one list of secret names, one log escape.

Logs, journals, recorded calls, reports and ``curl`` reproductions all go through these
functions, so a token is redacted the same way everywhere and a log line can never be forged
by a control character in a request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_plus

from qmcontract.limits import MAX_LOGGED_QUERY

REDACTED: Final = "<redacted>"
#: Headers whose values are secrets.
SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
#: A query parameter whose name contains one of these (any case) holds a secret.
SECRET_PARAM_WORDS: Final = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "auth",
    "session",
    "credential",
)
_UNPRINTABLE: Final = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]|[\u2028\u2029\u200b-\u200f]")


def is_secret_header(name: str) -> bool:
    """True for a header whose value must never be shown."""
    return name.lower() in SECRET_HEADERS


def is_secret_param(name: str) -> bool:
    """True for a query parameter whose value must never be shown."""
    lowered = unquote_plus(name).lower()
    return any(word in lowered for word in SECRET_PARAM_WORDS)


def redact_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Header pairs with every secret value replaced by the redaction mark."""
    return tuple((key, REDACTED if is_secret_header(key) else value) for key, value in headers)


def redact_query(query: str) -> str:
    """A raw query string with the value of every secret parameter replaced by the redaction mark."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if equals and is_secret_param(name) else part)
    return "&".join(parts)


def escape_for_log(text: str) -> str:
    """Control and non-printable characters written as escapes (``\\x0a``): one request, one line."""
    return _UNPRINTABLE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def cut(text: str, limit: int = MAX_LOGGED_QUERY) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more]"


def loggable_target(path: str, query: str) -> str:
    """A request target as logs show it: secrets redacted, long queries cut, control characters escaped."""
    shown = cut(redact_query(query))
    return escape_for_log(path + ("?" + shown if shown else ""))
