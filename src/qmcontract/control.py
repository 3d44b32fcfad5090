"""The mock server's control API (``/__qmcontract/...``) and the state it changes.

Tests written in any language drive the server through it, WireMock-style: add a Query Model
at run time, schedule faults for the next N requests, read and reset the request journal.

That state lives in a :class:`Store`. One worker keeps it in memory (:class:`MemoryStore`:
a bounded deque and a :class:`~qmcontract.faults.FaultPlan`). Several worker processes share
one :class:`SqliteStore` (SQLite in WAL mode, in a temporary directory the supervisor names
through an environment variable), so what one worker is told holds for all of them: a fault
scheduled for 3 requests fails exactly 3 requests, whichever workers answer them.

The journal never holds a token: only whether an ``authorization`` header was sent.
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

from qmcontract.catalog import Catalog
from qmcontract.errors import InputError, InvalidDefinition
from qmcontract.faults import Fault, FaultPlan
from qmcontract.inputs import parse_json_or_yaml
from qmcontract.wire import Request, Response, encode_json, error_response, json_response

CONTROL_PREFIX: Final = "/__qmcontract"
REDACTED: Final = "<redacted>"
JOURNAL_LIMIT: Final = 10_000
DEFAULT_FAULT_PREFIX: Final = "/query_models"
TOO_MANY_REQUESTS: Final = 429
_FAULT_FIELDS: Final = frozenset(
    {"status", "retry_after", "latency_ms", "malformed_body", "drop_connection", "times", "path_prefix"}
)


class JournalEntry(NamedTuple):
    """One request the server answered (control, health and spec requests excepted).

    ``status`` is None when the connection was dropped on purpose; ``authorization`` only says
    whether the header was sent, so no token ever reaches the journal. A named tuple rather
    than a dataclass: it is built on every request, and a tuple of plain values is cheaper to
    build and is left alone by the garbage collector once the journal holds thousands.
    """

    method: str
    path: str
    query: str
    status: int | None
    authorization: bool
    time: float
    worker: int

    def to_json(self) -> dict[str, Any]:
        """The entry as the control API shows it."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "authorization": REDACTED if self.authorization else None,
            "time": _rfc3339(self.time),
            "worker": self.worker,
        }


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store(Protocol):
    """What the control API changes, kept where every worker of one server sees it."""

    def sync(self) -> int:
        """Catch up with changes made elsewhere; the generation of the run-time models."""

    def added_models(self) -> list[dict[str, Any]]:
        """The documents added at run time, oldest first."""

    def add_model(self, document: Mapping[str, Any]) -> None:
        """Keep a document added at run time (already built and valid)."""

    def schedule(self, fault: Fault, *, times: int, path_prefix: str) -> None:
        """Give ``fault`` to the next ``times`` requests under ``path_prefix``."""

    def take_fault(self, path: str) -> Fault | None:
        """The fault for this request, if one is scheduled (first scheduled, first served)."""

    def pending_faults(self) -> int:
        """How many faulty requests are still scheduled."""

    def clear_faults(self) -> None:
        """Forget every scheduled fault."""

    def record(self, entry: JournalEntry) -> None:
        """Append to the journal (bounded: the oldest entries go first)."""

    def journal(self) -> list[JournalEntry]:
        """The journal, oldest first."""

    def clear_journal(self) -> None:
        """Empty the journal."""

    def reset(self) -> None:
        """Forget run-time models, faults and the journal."""

    def close(self) -> None:
        """Release what the store holds open."""


class MemoryStore:
    """The state of a one-process server: cheap appends, nothing shared."""

    def __init__(self, *, journal_limit: int = JOURNAL_LIMIT) -> None:
        self._journal: collections.deque[JournalEntry] = collections.deque(maxlen=journal_limit)
        self._faults = FaultPlan()
        self._models: list[dict[str, Any]] = []
        self._generation = 0
        self._lock = threading.Lock()

    def sync(self) -> int:
        return self._generation

    def added_models(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._models)

    def add_model(self, document: Mapping[str, Any]) -> None:
        with self._lock:
            self._models.append(dict(document))
            self._generation += 1

    def schedule(self, fault: Fault, *, times: int, path_prefix: str) -> None:
        self._faults.schedule(fault, times=times, path_prefix=path_prefix)

    def take_fault(self, path: str) -> Fault | None:
        return self._faults.take(path)

    def pending_faults(self) -> int:
        return self._faults.pending()

    def clear_faults(self) -> None:
        self._faults.clear()

    def record(self, entry: JournalEntry) -> None:
        self._journal.append(entry)

    def journal(self) -> list[JournalEntry]:
        return list(self._journal)

    def clear_journal(self) -> None:
        self._journal.clear()

    def reset(self) -> None:
        self.clear_faults()
        self.clear_journal()
        with self._lock:
            self._models.clear()
            self._generation += 1

    def close(self) -> None:
        """Nothing to release."""


_CONTROL_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 0), generation INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES (0, 0);
CREATE TABLE IF NOT EXISTS models (id INTEGER PRIMARY KEY, document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY, fault TEXT NOT NULL, remaining INTEGER NOT NULL, path_prefix TEXT NOT NULL
);
"""
_JOURNAL_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT, path TEXT, query TEXT, status INTEGER,
    authorization INTEGER, time REAL, worker INTEGER
);
"""
_TRIM_EVERY: Final = 1000


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    return connection


class SqliteStore:
    """The state of a server with several worker processes, in two SQLite files (WAL mode).

    Control state (models, faults) and the journal live in separate files, so that journal
    appends do not make every worker re-read the control state: a worker re-reads it only
    when ``PRAGMA data_version`` says another process changed it. Taking a fault is one
    ``BEGIN IMMEDIATE`` transaction, so a fault scheduled for N requests fails exactly N.
    """

    def __init__(self, directory: str | Path, *, journal_limit: int = JOURNAL_LIMIT) -> None:
        self.directory = Path(directory)
        self._limit = journal_limit
        self._control = _connect(self.directory / "control.db")
        self._journal = _connect(self.directory / "journal.db")
        self._control.executescript(_CONTROL_SCHEMA)
        self._journal.executescript(_JOURNAL_SCHEMA)
        self._lock = threading.Lock()
        self._data_version = -1
        self._generation = 0
        self._pending = 0

    def sync(self) -> int:
        with self._lock:
            version = self._control.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self._data_version = version
                self._reload()
            return self._generation

    def _reload(self) -> None:
        row = self._control.execute(
            "SELECT generation, (SELECT COALESCE(SUM(remaining), 0) FROM faults) FROM meta"
        ).fetchone()
        self._generation, self._pending = int(row[0]), int(row[1])

    def added_models(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._control.execute("SELECT document FROM models ORDER BY id").fetchall()
        return [json.loads(row[0]) for row in rows]

    def add_model(self, document: Mapping[str, Any]) -> None:
        self._write(
            ("INSERT INTO models (document) VALUES (?)", (json.dumps(document),)),
            ("UPDATE meta SET generation = generation + 1", ()),
        )

    def schedule(self, fault: Fault, *, times: int, path_prefix: str) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        self._write(
            (
                "INSERT INTO faults (fault, remaining, path_prefix) VALUES (?, ?, ?)",
                (json.dumps(asdict(fault)), times, path_prefix),
            ),
        )

    def _write(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        with self._lock:
            self._control.execute("BEGIN IMMEDIATE")
            try:
                for sql, parameters in statements:
                    self._control.execute(sql, parameters)
                self._reload()
                self._control.execute("COMMIT")
            except BaseException:
                self._control.execute("ROLLBACK")
                raise

    def take_fault(self, path: str) -> Fault | None:
        if not self._pending:
            return None
        with self._lock:
            self._control.execute("BEGIN IMMEDIATE")
            try:
                fault = self._take(path)
                self._reload()
            finally:
                self._control.execute("COMMIT")
        return fault

    def _take(self, path: str) -> Fault | None:
        rows = self._control.execute("SELECT id, fault, remaining, path_prefix FROM faults ORDER BY id")
        for fault_id, fault, remaining, prefix in rows.fetchall():
            if path.startswith(prefix):
                if remaining > 1:
                    self._control.execute(
                        "UPDATE faults SET remaining = ? WHERE id = ?", (remaining - 1, fault_id)
                    )
                else:
                    self._control.execute("DELETE FROM faults WHERE id = ?", (fault_id,))
                return Fault(**json.loads(fault))
        return None

    def pending_faults(self) -> int:
        self.sync()
        return self._pending

    def clear_faults(self) -> None:
        self._write(("DELETE FROM faults", ()))

    def record(self, entry: JournalEntry) -> None:
        with self._lock:
            cursor = self._journal.execute(
                "INSERT INTO journal (method, path, query, status, authorization, time, worker)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.method,
                    entry.path,
                    entry.query,
                    entry.status,
                    int(entry.authorization),
                    entry.time,
                    entry.worker,
                ),
            )
            seq = cursor.lastrowid or 0
            if seq % _TRIM_EVERY == 0:
                self._journal.execute("DELETE FROM journal WHERE seq <= ?", (seq - self._limit,))

    def journal(self) -> list[JournalEntry]:
        with self._lock:
            rows = self._journal.execute(
                "SELECT method, path, query, status, authorization, time, worker FROM journal"
                " ORDER BY seq DESC LIMIT ?",
                (self._limit,),
            ).fetchall()
        return [
            JournalEntry(method, path, query, status, bool(auth), when, worker)
            for method, path, query, status, auth, when, worker in reversed(rows)
        ]

    def clear_journal(self) -> None:
        with self._lock:
            self._journal.execute("DELETE FROM journal")

    def reset(self) -> None:
        self.clear_journal()
        self._write(
            ("DELETE FROM faults", ()),
            ("DELETE FROM models", ()),
            ("UPDATE meta SET generation = generation + 1", ()),
        )

    def close(self) -> None:
        with self._lock:
            self._control.close()
            self._journal.close()


class ControlRequestError(ValueError):
    """A control request that cannot be carried out: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlApi:
    """Answers ``/__qmcontract/...`` requests; ``add`` puts a document into the live catalogue."""

    def __init__(self, store: Store, *, catalog_of: CatalogSource, spec: bytes) -> None:
        self._store = store
        self._catalog_of = catalog_of
        self._spec = spec
        self._routes: dict[tuple[str, str], Handler] = {
            ("GET", "/models"): self._list_models,
            ("POST", "/models"): self._add_model,
            ("GET", "/faults"): self._pending,
            ("POST", "/faults"): self._schedule,
            ("DELETE", "/faults"): self._clear_faults,
            ("GET", "/journal"): self._journal,
            ("DELETE", "/journal"): self._clear_journal,
            ("POST", "/reset"): self._reset,
            ("GET", "/openapi.yaml"): self._openapi,
        }

    def handle(self, request: Request, body: bytes) -> Response:
        """The control API's response to one request under ``/__qmcontract``."""
        route = (request.method, request.path[len(CONTROL_PREFIX) :].rstrip("/"))
        handler = self._routes.get(route)
        if handler is None:
            allowed = sorted(method for method, path in self._routes if path == route[1])
            if allowed:
                response = error_response(405, f"{request.method} is not allowed on {request.path}")
                return replace(response, headers=(*response.headers, ("allow", ", ".join(allowed))))
            return error_response(404, f"no control route {request.path}")
        try:
            return handler(body)
        except ControlRequestError as exc:
            return error_response(exc.status, str(exc))

    def _list_models(self, _body: bytes) -> Response:
        names = [document["name"] for document in self._store.added_models()]
        return _ok({"data": names})

    def _add_model(self, body: bytes) -> Response:
        definition = _parse_body(body)
        if not isinstance(definition, dict):
            raise ControlRequestError(400, "the body must be a Query Model definition (a JSON object)")
        try:
            document = self._catalog_of().copy().add(definition)
        except InvalidDefinition as exc:
            return _invalid(exc)
        self._store.add_model(document)
        return json_response(201, encode_json(document))

    def _schedule(self, body: bytes) -> Response:
        fault, times, prefix = parse_fault_request(_parse_body(body))
        self._store.schedule(fault, times=times, path_prefix=prefix)
        return json_response(201, encode_json({"pending": self._store.pending_faults()}))

    def _pending(self, _body: bytes) -> Response:
        return _ok({"pending": self._store.pending_faults()})

    def _clear_faults(self, _body: bytes) -> Response:
        self._store.clear_faults()
        return _ok({"pending": 0})

    def _journal(self, _body: bytes) -> Response:
        return _ok({"requests": [entry.to_json() for entry in self._store.journal()]})

    def _clear_journal(self, _body: bytes) -> Response:
        self._store.clear_journal()
        return _ok({"requests": []})

    def _reset(self, _body: bytes) -> Response:
        self._store.reset()
        return _ok({"reset": True})

    def _openapi(self, _body: bytes) -> Response:
        return Response(200, (("content-type", "application/yaml"),), self._spec)


class CatalogSource(Protocol):
    """Returns the catalogue currently served (run-time additions go into it)."""

    def __call__(self) -> Catalog: ...


class Handler(Protocol):
    """One control route: the request body in, a response out."""

    def __call__(self, body: bytes, /) -> Response: ...


def _ok(value: Any) -> Response:
    return json_response(200, encode_json(value))


def _invalid(exc: InvalidDefinition) -> Response:
    violations = [{"rule": v.rule, "path": v.path, "message": v.message} for v in exc.violations]
    body = {
        "code": 422,
        "message": f"invalid Query Model definition ({len(violations)} violation(s))",
        "violations": violations,
    }
    return json_response(422, encode_json(body))


def _parse_body(body: bytes) -> Any:
    if not body.strip():
        raise ControlRequestError(400, "the request body is empty; expected JSON or YAML")
    try:
        return parse_json_or_yaml(body.decode("utf-8"), source="request body")
    except UnicodeDecodeError:
        raise ControlRequestError(400, "the request body is not UTF-8") from None
    except InputError as exc:
        raise ControlRequestError(400, str(exc)) from None


def parse_fault_request(value: Any) -> tuple[Fault, int, str]:
    """``{status, retry_after, latency_ms, malformed_body, drop_connection, times, path_prefix}``.

    Returns the fault, how many requests get it, and the path prefix they must have.
    """
    if not isinstance(value, dict):
        raise ControlRequestError(400, "the body must be a JSON object describing the fault")
    unknown = sorted(set(value) - _FAULT_FIELDS)
    if unknown:
        raise ControlRequestError(400, f"unknown fault field(s): {', '.join(unknown)}")
    times = _integer(value, "times", 1, minimum=1)
    prefix = value.get("path_prefix", DEFAULT_FAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ControlRequestError(400, "`path_prefix` must be a path starting with /")
    status = _optional_integer(value, "status")
    retry_after = _optional_integer(value, "retry_after")
    if status == TOO_MANY_REQUESTS and retry_after is None:
        retry_after = 1
    try:
        fault = Fault(
            status=status,
            retry_after=retry_after,
            latency_ms=_integer(value, "latency_ms", 0, minimum=0),
            malformed_body=_boolean(value, "malformed_body"),
            transport="drop_connection" if _boolean(value, "drop_connection") else None,
        )
    except ValueError as exc:
        raise ControlRequestError(400, str(exc)) from None
    if fault == Fault():
        raise ControlRequestError(
            400, "the fault changes nothing: give status, latency_ms, malformed_body or drop_connection"
        )
    return fault, times, prefix


def _integer(value: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    given = value.get(key, default)
    if isinstance(given, bool) or not isinstance(given, int) or given < minimum:
        raise ControlRequestError(400, f"`{key}` must be an integer >= {minimum}, got {given!r}")
    return given


def _optional_integer(value: Mapping[str, Any], key: str) -> int | None:
    if value.get(key) is None:
        return None
    return _integer(value, key, 0, minimum=0)


def _boolean(value: Mapping[str, Any], key: str) -> bool:
    given = value.get(key, False)
    if not isinstance(given, bool):
        raise ControlRequestError(400, f"`{key}` must be true or false, got {given!r}")
    return given


def journal_entry(request: Request, status: int | None, *, worker: int) -> JournalEntry:
    """The journal's record of a request: the token itself is never kept."""
    return JournalEntry(
        request.method,
        request.path,
        request.query,
        status,
        request.header("authorization") is not None,
        time.time(),
        worker,
    )


def current_worker() -> int:
    """The id the journal gives this worker process."""
    return os.getpid()
