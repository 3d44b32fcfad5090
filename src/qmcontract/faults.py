"""Faults a mock can inject: error statuses, latency, malformed bodies, broken connections.

A :class:`Fault` says what goes wrong; a :class:`FaultPlan` hands faults to the next N
matching requests. Status and body faults are applied here, to the engine's response;
latency and transport faults (``connect_error``, ``read_timeout``, ``drop_connection``)
can only be acted out by the face that owns the transport (the respx mock or the server).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Final, Literal

from qmcontract.routes import RouteKind
from qmcontract.wire import Response, error_response

TransportFault = Literal["connect_error", "read_timeout", "drop_connection"]
TRANSPORT_FAULTS: Final = ("connect_error", "read_timeout", "drop_connection")
MALFORMED_BODY: Final = b'{"name": "truncated'
#: The ``Retry-After`` (seconds) a scheduled 429 sends unless told otherwise.
DEFAULT_RETRY_AFTER: Final = 1


@dataclass(frozen=True)
class Fault:
    """One thing going wrong with a request.

    ``status`` replaces the response by an error body of that status (``retry_after``
    adds the header, as a 429 or 503 would); ``latency_ms`` delays the answer;
    ``malformed_body`` sends invalid JSON; ``transport`` breaks the exchange itself.
    """

    status: int | None = None
    retry_after: int | None = None
    latency_ms: int = 0
    malformed_body: bool = False
    transport: TransportFault | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be 400-599, got {self.status}")
        if self.transport is not None and self.transport not in TRANSPORT_FAULTS:
            raise ValueError(f"transport fault must be one of {', '.join(TRANSPORT_FAULTS)}")
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")

    def __str__(self) -> str:
        parts = [f"status {self.status}"] if self.status is not None else []
        parts += [f"latency {self.latency_ms} ms"] if self.latency_ms else []
        parts += ["malformed body"] if self.malformed_body else []
        parts += [f"transport {self.transport}"] if self.transport is not None else []
        return ", ".join(parts) or "no fault"

    def apply(self, response: Response) -> Response:
        """The response as this fault changes it (latency and transport are not applied here)."""
        if self.status is not None:
            response = error_response(self.status, _FAULT_MESSAGES.get(self.status, "injected fault"))
            if self.retry_after is not None:
                response = replace(
                    response, headers=(*response.headers, ("retry-after", str(self.retry_after)))
                )
        if self.malformed_body:
            response = replace(response, body=MALFORMED_BODY)
        return response


_FAULT_MESSAGES: Final = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class _Scheduled:
    fault: Fault
    remaining: int
    path_prefix: str
    route: RouteKind | None = None
    name: str | None = None

    def matches(self, path: str, route: RouteKind | None, name: str | None) -> bool:
        return (
            path.startswith(self.path_prefix)
            and (self.route is None or self.route == route)
            and (self.name is None or self.name == name)
        )

    def __str__(self) -> str:
        where = [f"path {self.path_prefix}*"] if self.path_prefix != "/" else []
        where += [f"route {self.route}"] if self.route is not None else []
        where += [f"name {self.name}"] if self.name is not None else []
        return f"{self.fault} x{self.remaining}" + (f" ({', '.join(where)})" if where else "")


class FaultPlan:
    """Faults scheduled for the next N matching requests. Thread-safe.

    A request matches when its path starts with the fault's ``path_prefix`` and, when the fault
    names them, its route kind and its decoded ``{name}`` (as :func:`qmcontract.routes.route_of`
    reads them) are the fault's.
    """

    def __init__(self) -> None:
        self._scheduled: list[_Scheduled] = []
        self._lock = threading.Lock()

    def schedule(
        self,
        fault: Fault,
        *,
        times: int = 1,
        path_prefix: str = "/",
        route: RouteKind | None = None,
        name: str | None = None,
    ) -> None:
        """Give ``fault`` to the next ``times`` requests under ``path_prefix`` (and ``route``, ``name``)."""
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._scheduled.append(_Scheduled(fault, times, path_prefix, route, name))

    def take(self, path: str, *, route: RouteKind | None = None, name: str | None = None) -> Fault | None:
        """The fault for this request, if any (first scheduled, first served)."""
        if not self._scheduled:
            return None  # the common case, without taking the lock
        with self._lock:
            for item in self._scheduled:
                if item.matches(path, route, name):
                    item.remaining -= 1
                    if item.remaining == 0:
                        self._scheduled.remove(item)
                    return item.fault
        return None

    def any(self) -> bool:
        """Whether any fault is scheduled (without taking the lock: a cheap look for hot paths)."""
        return bool(self._scheduled)

    def pending(self) -> int:
        """How many faulty requests are still scheduled."""
        with self._lock:
            return sum(item.remaining for item in self._scheduled)

    def unused(self) -> list[str]:
        """One line per fault still scheduled: what it is, how many times more, and what it targets."""
        with self._lock:
            return [str(item) for item in self._scheduled]

    def clear(self) -> None:
        """Forget every scheduled fault."""
        with self._lock:
            self._scheduled.clear()
