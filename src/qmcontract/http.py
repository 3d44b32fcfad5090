"""The plain request and response values the engine speaks; every face adapts to them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

JSON_CONTENT_TYPE: Final = "application/json"
_STATUS_TEXT: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    """An HTTP request as the engine sees it: path relative to the API root, raw query."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value, case-insensitively; an empty value counts as absent."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted and value:
                return value
        return None


@dataclass(frozen=True)
class Response:
    """Status, headers (lower-case names) and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as the API (Rust serde_json) writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_response(status: int, body: bytes) -> Response:
    """A JSON response from already encoded bytes."""
    return Response(status, (("content-type", JSON_CONTENT_TYPE),), body)


def method_not_allowed(method: str, path: str) -> Response:
    """A 405 error body that names the allowed methods (RFC 9110)."""
    refused = error_response(405, f"{method} is not allowed on {path}")
    return Response(405, (*refused.headers, ("allow", "GET, HEAD")), refused.body)


def error_response(status: int, message: str | Mapping[str, Any] | None = None) -> Response:
    """The contract's error body: ``{"code": status, "message": ...}``."""
    text = message if message is not None else _STATUS_TEXT.get(status, "Error")
    return json_response(status, encode_json({"code": status, "message": text}))
