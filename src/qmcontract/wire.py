"""The plain request and response values every face speaks: the engine, the mocks, the server, the checks.

A :class:`Request` is kept as it went over the wire: the path still percent-encoded and relative
to the API root, the query string raw, header names lower-case. :mod:`qmcontract.routes` reads it,
once, into what a route needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

JSON_CONTENT_TYPE: Final = "application/json"
YAML_CONTENT_TYPE: Final = "application/yaml"
STATUS_TEXT: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

Headers = tuple[tuple[str, str], ...]
#: A method, or a header name: an HTTP token (RFC 9110, section 5.6.2).
HTTP_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: A header value this toolkit sends: printable ASCII and tabs (no CR, LF or NUL).
HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")
#: The longest method a recording may hold.
MAX_METHOD_LENGTH: Final = 32


def is_method(text: str) -> bool:
    """True for a well-formed HTTP method of at most :data:`MAX_METHOD_LENGTH` characters."""
    return len(text) <= MAX_METHOD_LENGTH and HTTP_TOKEN.fullmatch(text) is not None


def header_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Headers:
    """Header pairs with lower-case names, from a mapping or pairs."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((key.lower(), value) for key, value in items)


@dataclass(frozen=True)
class Request:
    """An HTTP request relative to the API root: method, encoded path, raw query, headers, body."""

    method: str
    path: str
    query: str = ""
    headers: Headers = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value (names compared lower-case); an empty value counts as absent."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted and value:
                return value
        return None

    @property
    def authorization(self) -> str | None:
        """The ``authorization`` header, or None when absent or empty."""
        return self.header("authorization")

    @property
    def target(self) -> str:
        """Path and query as on the request line."""
        return self.path + (f"?{self.query}" if self.query else "")


@dataclass(frozen=True)
class Response:
    """Status, headers (lower-case names) and body bytes."""

    status: int
    headers: Headers
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as the API (Rust serde_json) writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, body: bytes, *extra: tuple[str, str]) -> Response:
    """A JSON response from already encoded bytes, with any extra headers."""
    return Response(status, (("content-type", JSON_CONTENT_TYPE), *extra), body)


def error_response(
    status: int, message: str | Mapping[str, Any] | None = None, *extra: tuple[str, str]
) -> Response:
    """The contract's error body: ``{"code": status, "message": ...}``."""
    text = message if message is not None else STATUS_TEXT.get(status, "Error")
    return json_response(status, encode_json({"code": status, "message": text}), *extra)


def method_not_allowed(method: str, path: str, allowed: Iterable[str]) -> Response:
    """A 405 error body that names the allowed methods (RFC 9110)."""
    allow = ", ".join(allowed)
    return error_response(405, f"{method} is not allowed on {path}; allowed: {allow}", ("allow", allow))
