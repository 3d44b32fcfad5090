"""An httpx request as the engine reads it.

The schemathesis cases of a conformance run are httpx requests; judging one calls the same
parser (:func:`qmcontract.routes.route_of`) as a request the server receives.
"""

from __future__ import annotations

import httpx

from qmcontract.wire import Request, header_pairs


def wire_request(request: httpx.Request, base_path: str = "") -> Request:
    """The request as the engine reads it: the raw path relative to ``base_path``, the raw query."""
    raw_path = request.url.raw_path.decode("ascii")
    path, _, query = raw_path.partition("?")
    relative = path[len(base_path) :] if base_path and path.startswith(base_path) else path
    return Request(
        request.method, relative, query, header_pairs(request.headers.multi_items()), request.read()
    )
