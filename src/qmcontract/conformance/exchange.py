"""What the checks read: a request as it was sent, and the response it got.

Probes, schemathesis cases, proxied traffic and recordings all become an :class:`Exchange`, so one
set of checks judges them all. The request is a :class:`qmcontract.wire.Request`, kept as it went
over the wire (path percent-encoded, query raw); :func:`qmcontract.routes.route_of` tells its route.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Final
from urllib.parse import quote, urlencode

from qmcontract.redact import REDACTED, is_secret_header, redact_query
from qmcontract.routes import LLMS_PATH, METADATA_PATH, MODELS_PATH, Route, RouteKind, route_of
from qmcontract.wire import JSON_CONTENT_TYPE, Headers, Request

Params = Iterable[tuple[str, str]]
#: Characters of a body a ``curl`` reproduction carries.
CURL_BODY_LIMIT: Final = 4096


@dataclass(frozen=True)
class Exchange:
    """A request and the response it got."""

    request: Request
    status: int
    headers: Headers
    body: bytes

    @cached_property
    def route(self) -> Route:
        """The route of the request's path."""
        return route_of(self.request.path)

    @property
    def kind(self) -> RouteKind | None:
        """The route the request reached, or None (no route, or a method the path does not allow)."""
        return self.route.kind(self.request.method)

    @property
    def content_type(self) -> str | None:
        """The Content-Type header as sent."""
        return next((value for key, value in self.headers if key == "content-type"), None)

    def media_type(self) -> str | None:
        """The media type of the Content-Type header, lower-cased, without parameters."""
        if self.content_type is None:
            return None
        return self.content_type.split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.body)

    @cached_property
    def parsed(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON (or is JSON ``null``)."""
        try:
            return self.json()
        except ValueError:
            return None

    def document(self) -> dict[str, Any] | None:
        """The body as a JSON object when the status is 200, else None."""
        parsed = self.parsed
        return parsed if self.status == 200 and isinstance(parsed, dict) else None


# --- building requests as a client would send them -------------------------------------------------


def get(
    path: str, params: Params = (), *, authorization: str | None = None, headers: Headers = ()
) -> Request:
    """A GET request with these query parameters, encoded as a client would."""
    auth = (("authorization", authorization),) if authorization is not None else ()
    return Request("GET", path, urlencode(list(params)), (*headers, *auth))


def model(name: str, params: Params = (), **options: Any) -> Request:
    """``GET /query_models/{name}``, the name percent-encoded."""
    return get(f"{MODELS_PATH}/{quote(name, safe='')}", params, **options)


def llm(name: str, params: Params = (), **options: Any) -> Request:
    """``GET /query_llms/{name}``."""
    return get(f"{LLMS_PATH}/{quote(name, safe='')}", params, **options)


def listing(params: Params = (), **options: Any) -> Request:
    """``GET /query_models``."""
    return get(MODELS_PATH, params, **options)


def count() -> Request:
    """``GET /query_models/count``."""
    return get(f"{MODELS_PATH}/count")


def global_metadata() -> Request:
    """``GET /metadata``."""
    return get(METADATA_PATH)


def post(path: str, body: Any, params: Params = (), *, authorization: str | None = None) -> Request:
    """A POST of a JSON body, pretty-printed as the official SDK sends it."""
    auth = (("authorization", authorization),) if authorization is not None else ()
    headers = (("content-type", JSON_CONTENT_TYPE), *auth)
    data = (
        json.dumps(body, indent=2, ensure_ascii=False).encode("utf-8")
        if not isinstance(body, bytes)
        else body
    )
    return Request("POST", path, urlencode(list(params)), headers, data)


def with_params(request: Request, params: Params) -> Request:
    """The same request with another query string."""
    return replace(request, query=urlencode(list(params)))


def with_authorization(request: Request, authorization: str | None) -> Request:
    """The same request with another (or no) ``authorization`` header."""
    headers = tuple((key, value) for key, value in request.headers if key != "authorization")
    if authorization is not None:
        headers = (*headers, ("authorization", authorization))
    return replace(request, headers=headers)


def with_headers(request: Request, extra: Mapping[str, str]) -> Request:
    """The same request with extra headers (names lower-cased); existing ones of those names replaced."""
    names = {key.lower() for key in extra}
    kept = tuple((key, value) for key, value in request.headers if key not in names)
    return replace(request, headers=(*kept, *((key.lower(), value) for key, value in extra.items())))


# --- naming and repeating a request -------------------------------------------------------------------


def request_key(request: Request) -> str:
    """Identifies a request for counting: method, target, which headers were sent, a hash of the body.

    A token is reduced to its presence, so two requests that differ only in their token count once.
    """
    headers = ",".join(sorted(key for key, _ in request.headers))
    body = hashlib.blake2b(request.body, digest_size=8).hexdigest() if request.body else ""
    return f"{request.method} {request.target} [{headers}] {body}".rstrip()


def sent_headers(request: Request, extra_headers: Headers) -> Headers:
    """The headers a request goes out with: the sender's extras it does not set itself, then its own."""
    own = {key for key, _ in request.headers}
    return (*((key, value) for key, value in extra_headers if key not in own), *request.headers)


def curl(request: Request, base_url: str, extra_headers: Headers = ()) -> str:
    """A ``curl`` command that repeats the request, secrets shown as ``<redacted>``.

    ``extra_headers`` are those the sender adds to every request (``-H``); the request's own win.
    """
    parts = ["curl", "-sS", "-i"]
    if request.method != "GET":
        parts += ["-X", request.method]
    for key, value in sent_headers(request, extra_headers):
        parts += ["-H", f"{key}: {REDACTED if is_secret_header(key) else value}"]
    if request.body:
        text = request.body.decode("utf-8", "replace")
        parts += ["--data-raw", text if len(text) <= CURL_BODY_LIMIT else text[:CURL_BODY_LIMIT] + "..."]
    query = redact_query(request.query)
    parts.append(base_url.rstrip("/") + request.path + (f"?{query}" if query else ""))
    return shlex.join(parts)
