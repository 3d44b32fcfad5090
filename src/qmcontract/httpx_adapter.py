"""Between httpx and the engine: an httpx request as the engine reads it, its answer as httpx returns it.

The in-process faces (the respx mock, and the conformance run over an in-process engine through
``httpx.MockTransport``) call these two functions, so an engine answers an httpx client exactly
as the server would.
"""

from __future__ import annotations

import httpx

from qmcontract.engine import Engine
from qmcontract.wire import Request, Response, header_pairs


def wire_request(request: httpx.Request, base_path: str = "") -> Request:
    """The request as the engine reads it: the raw path relative to ``base_path``, the raw query."""
    raw_path = request.url.raw_path.decode("ascii")
    path, _, query = raw_path.partition("?")
    relative = path[len(base_path) :] if base_path and path.startswith(base_path) else path
    return Request(
        request.method, relative, query, header_pairs(request.headers.multi_items()), request.read()
    )


def httpx_response(response: Response, request: httpx.Request) -> httpx.Response:
    """The engine's answer as an httpx response (no body for HEAD, a content-length always)."""
    body = b"" if request.method == "HEAD" else response.body
    headers = (*response.headers, ("content-length", str(len(response.body))))
    return httpx.Response(response.status, headers=headers, content=body, request=request)


def engine_transport(engine: Engine, base_path: str = "") -> httpx.MockTransport:
    """An httpx transport answered in-process by an engine."""
    return httpx.MockTransport(
        lambda request: httpx_response(engine.handle(wire_request(request, base_path)), request)
    )
