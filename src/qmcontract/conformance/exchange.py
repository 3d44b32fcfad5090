"""The values the conformance checks read: a request as sent and the response it got.

Probes and schemathesis cases are both turned into an :class:`Exchange`, so one set of
checks judges both. A request is kept exactly as it went over the wire (path still
percent-encoded, query string raw), because the contract is about what the server saw.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote, urlencode

RETRIEVE_PREFIX: Final = "/query_models/"
#: Path segments below ``/query_models/`` that are other routes or path tricks, never slugs.
NOT_SLUGS: Final = frozenset({"", "count", ".", ".."})
REDACTED: Final = "<redacted>"
JSON_MEDIA_TYPE: Final = "application/json"


@dataclass(frozen=True)
class ApiRequest:
    """A request relative to the server's base URL: method, encoded path, raw query, token."""

    method: str
    path: str
    query: str = ""
    authorization: str | None = None

    @classmethod
    def retrieve(
        cls, slug: str, params: Iterable[tuple[str, str]] = (), *, authorization: str | None = None
    ) -> ApiRequest:
        """``GET /query_models/{slug}`` with these query parameters, encoded as a client would."""
        return cls("GET", RETRIEVE_PREFIX + quote(slug, safe=""), urlencode(list(params)), authorization)

    @property
    def slug(self) -> str | None:
        """The requested name when this is a retrieve request, else None."""
        if not self.path.startswith(RETRIEVE_PREFIX):
            return None
        rest = self.path[len(RETRIEVE_PREFIX) :]
        if "/" in rest:
            return None
        slug = unquote(rest)
        return None if slug in NOT_SLUGS else slug

    def params(self) -> list[tuple[str, str]]:
        """The query parameters in order, blank values kept."""
        return parse_qsl(self.query, keep_blank_values=True)

    def with_params(self, params: Iterable[tuple[str, str]]) -> ApiRequest:
        """The same request with another query string."""
        return replace(self, query=urlencode(list(params)))

    def without(self, *keys: str) -> ApiRequest:
        """The same request without the given query parameters."""
        return self.with_params((k, v) for k, v in self.params() if k not in keys)

    def url(self, base_url: str) -> str:
        """The absolute URL under ``base_url``."""
        return base_url.rstrip("/") + self.path + (f"?{self.query}" if self.query else "")

    def curl(self, base_url: str) -> str:
        """A ``curl`` command that repeats this request, with the token redacted."""
        parts = ["curl", "-sS", "-i"]
        if self.method != "GET":
            parts += ["-X", self.method]
        if self.authorization is not None:
            parts += ["-H", f"authorization: {REDACTED}"]
        parts.append(self.url(base_url))
        return shlex.join(parts)

    def key(self) -> str:
        """Identifies the request for counting; the token is reduced to its presence."""
        token = "" if self.authorization is None else " +authorization"
        return f"{self.method} {self.path}?{self.query}{token}"


@dataclass(frozen=True)
class Exchange:
    """A request and the response it got."""

    request: ApiRequest
    status: int
    content_type: str | None
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body)

    def json_or_none(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON (or is JSON ``null``)."""
        try:
            return self.json()
        except ValueError:
            return None

    def media_type(self) -> str | None:
        """The media type of the Content-Type header, lower-cased, without parameters."""
        if self.content_type is None:
            return None
        return self.content_type.split(";", 1)[0].strip().lower()
