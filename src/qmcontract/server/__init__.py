"""The mock server: the API family over HTTP for clients written in any language (``qmcontract serve``).

::

    options.py     ServerOptions: every option, built and checked in one place
    app.py         the ASGI app over the engine (bounded bodies, faults, journal, memo)
    control.py     the control API under /__qmcontract and its access policy
    store.py       the control API's state: MemoryStore (one process), SqliteStore (workers)
    protocol.py    uvicorn's httptools protocol with a bounded, timed request head
    process.py     serve(), worker processes, running_server() for tests
    access_log.py  access lines (redacted, escaped) and where they go
    self_check.py  --self-check: what is wrong with a response about to be sent

Needs the ``server`` extra (uvicorn with httptools).
"""

from qmcontract.extras import ensure_extra

ensure_extra("server", "the mock server")

from qmcontract.server.app import QueryModelServer, create_app  # noqa: E402
from qmcontract.server.options import ServerError, ServerOptions  # noqa: E402

# The worker factory uvicorn imports by name (``qmcontract.server:app_from_environment`` also works).
from qmcontract.server.process import app_from_environment, running_server, serve  # noqa: E402, F401

__all__ = [
    "QueryModelServer",
    "ServerError",
    "ServerOptions",
    "create_app",
    "running_server",
    "serve",
]
