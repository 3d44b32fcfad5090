"""A validating reverse proxy (``qmcontract proxy``): invisible to clients, it judges what passes.

::

    app.py       the ASGI app: forwards every request upstream, streams the answer back unchanged,
                 records it and queues it for the judge, which runs after the answer is sent
    upstream.py  keep-alive HTTP/1.1 connections to upstream, answers parsed by httptools
    run.py       the uvicorn server, SIGINT/SIGTERM, the report at the end

Needs the ``server`` extra (uvicorn with httptools).
"""

from qmcontract.extras import ensure_extra

ensure_extra("server", "qmcontract proxy")

from qmcontract.proxy.app import HOP_BY_HOP, ProxyApp  # noqa: E402
from qmcontract.proxy.run import (  # noqa: E402
    ProxyError,
    ProxyOptions,
    ProxyResult,
    run_proxy,
    running_proxy,
)

__all__ = [
    "HOP_BY_HOP",
    "ProxyApp",
    "ProxyError",
    "ProxyOptions",
    "ProxyResult",
    "run_proxy",
    "running_proxy",
]
