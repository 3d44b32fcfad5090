"""What the control API changes, kept where every worker of one server sees it.

Run-time models, scheduled faults and the request journal live in a :class:`Store`. One
process keeps them in memory (:class:`MemoryStore`). Several worker processes share one
:class:`SqliteStore` (SQLite in WAL mode, in a temporary directory the supervisor names), so
what one worker is told holds for all of them: a fault scheduled for 3 requests fails exactly
3 requests, whichever workers answer them.

Run-time models are read incrementally: :meth:`Store.sync` says how many resets and models
there have been, and :meth:`Store.added_models` returns only those after a given count, so a
worker adds the 500th model as cheaply as the first.

The journal is bounded by count and by bytes (:data:`~qmcontract.limits.JOURNAL_BYTES`); its
entries never hold a token (only whether ``authorization`` was sent). A request is recorded as
it was :class:`Seen` (one cheap tuple per request); secret query values are redacted and long
paths and queries cut by :func:`journal_entry`, before anything leaves the process: when the
journal is read from memory, or when an entry is written to the shared SQLite file.
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, NamedTuple, Protocol

from qmcontract.faults import Fault, FaultPlan
from qmcontract.limits import JOURNAL_BYTES
from qmcontract.redact import REDACTED, cut, redact_query

#: Most entries the journal keeps (oldest go first), besides its bound in bytes.
JOURNAL_LIMIT: Final = 10_000
#: Bytes an entry is counted for besides its path and query (the other fields, the container).
ENTRY_OVERHEAD: Final = 200


class Generation(NamedTuple):
    """How many times the run-time models were reset, and how many were added since."""

    resets: int
    models: int


class JournalEntry(NamedTuple):
    """One request the server answered (control, health and spec requests excepted).

    ``status`` is None when the connection was dropped on purpose; ``authorization`` only says
    whether the header was sent. A named tuple: one is built per request, and a tuple of plain
    values is cheap to build and left alone by the garbage collector.
    """

    method: str
    path: str
    query: str
    status: int | None
    authorization: bool
    time: float
    worker: int

    @property
    def size(self) -> int:
        """The bytes this entry is counted for against the journal's bound."""
        return len(self.path) + len(self.query) + ENTRY_OVERHEAD

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


#: A request as the server saw it: method, path, raw query string, status (None: dropped),
#: whether ``authorization`` was sent, and the time. A plain tuple: one is built per request.
Seen = tuple[str, str, bytes, int | None, bool, float]


def seen_size(request: Seen) -> int:
    """The bytes a recorded request is counted for against the journal's bound."""
    return len(request[1]) + len(request[2]) + ENTRY_OVERHEAD


def journal_entry(request: Seen, worker: int) -> JournalEntry:
    """The journal's record of a request: secret query values redacted, long paths and queries cut."""
    method, path, query, status, authorization, when = request
    shown = cut(redact_query(query.decode("latin-1"))) if query else ""
    return JournalEntry(method, cut(path), shown, status, authorization, when, worker)


def _rfc3339(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store(Protocol):
    """What the control API changes, kept where every worker of one server sees it."""

    def sync(self) -> Generation:
        """Catch up with changes made elsewhere."""

    def added_models(self, start: int = 0) -> list[dict[str, Any]]:
        """The documents added at run time since the last reset, oldest first, from the ``start``-th on."""

    def add_model(self, document: Mapping[str, Any]) -> None:
        """Keep a document added at run time (already built and valid)."""

    def schedule(self, fault: Fault, *, times: int, path_prefix: str) -> None:
        """Give ``fault`` to the next ``times`` requests under ``path_prefix``."""

    def take_fault(self, path: str) -> Fault | None:
        """The fault for this request, if one is scheduled (first scheduled, first served)."""

    def faults_scheduled(self) -> bool:
        """Whether any fault may be scheduled, as of the last :meth:`sync` (cheap: for the hot path)."""

    def pending_faults(self) -> int:
        """How many faulty requests are still scheduled."""

    def clear_faults(self) -> None:
        """Forget every scheduled fault."""

    def record(self, request: Seen) -> None:
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

    def __init__(self, *, journal_limit: int = JOURNAL_LIMIT, journal_bytes: int = JOURNAL_BYTES) -> None:
        self._journal: collections.deque[Seen] = collections.deque()
        self._worker = os.getpid()
        self._journal_limit = journal_limit
        self._journal_bytes = journal_bytes
        self._journal_size = 0
        self._faults = FaultPlan()
        self._models: list[dict[str, Any]] = []
        self._generation = Generation(0, 0)
        self._lock = threading.Lock()

    def sync(self) -> Generation:
        return self._generation

    def added_models(self, start: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return self._models[start:]

    def add_model(self, document: Mapping[str, Any]) -> None:
        with self._lock:
            self._models.append(dict(document))
            self._generation = Generation(self._generation.resets, len(self._models))

    def schedule(self, fault: Fault, *, times: int, path_prefix: str) -> None:
        self._faults.schedule(fault, times=times, path_prefix=path_prefix)

    def take_fault(self, path: str) -> Fault | None:
        return self._faults.take(path)

    def faults_scheduled(self) -> bool:
        return self._faults.any()

    def pending_faults(self) -> int:
        return self._faults.pending()

    def clear_faults(self) -> None:
        self._faults.clear()

    def record(self, request: Seen) -> None:
        with self._lock:
            self._journal.append(request)
            self._journal_size += len(request[1]) + len(request[2]) + ENTRY_OVERHEAD
            if len(self._journal) > self._journal_limit or self._journal_size > self._journal_bytes:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        while len(self._journal) > self._journal_limit or self._journal_size > self._journal_bytes:
            self._journal_size -= seen_size(self._journal.popleft())

    def journal(self) -> list[JournalEntry]:
        with self._lock:
            requests = list(self._journal)
        return [journal_entry(request, self._worker) for request in requests]

    def clear_journal(self) -> None:
        with self._lock:
            self._journal.clear()
            self._journal_size = 0

    def reset(self) -> None:
        self.clear_faults()
        self.clear_journal()
        with self._lock:
            self._models = []
            self._generation = Generation(self._generation.resets + 1, 0)

    def close(self) -> None:
        """Nothing to release."""


_CONTROL_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 0), resets INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES (0, 0);
CREATE TABLE IF NOT EXISTS models (id INTEGER PRIMARY KEY, document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY, fault TEXT NOT NULL, remaining INTEGER NOT NULL, path_prefix TEXT NOT NULL
);
"""
_JOURNAL_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, method TEXT, path TEXT, query TEXT, status INTEGER,
    authorization INTEGER, time REAL, worker INTEGER, size INTEGER NOT NULL
);
"""
_TRIM_EVERY: Final = 500
#: The newest entries, each with the bytes of the entries newer than it (itself included).
_NEWEST: Final = (
    "SELECT seq, method, path, query, status, authorization, time, worker,"
    " SUM(size) OVER (ORDER BY seq DESC) AS total FROM journal ORDER BY seq DESC LIMIT ?"
)


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

    def __init__(
        self, directory: str | Path, *, journal_limit: int = JOURNAL_LIMIT, journal_bytes: int = JOURNAL_BYTES
    ) -> None:
        self.directory = Path(directory)
        self._limit = journal_limit
        self._bytes = journal_bytes
        self._control = _connect(self.directory / "control.db")
        self._journal = _connect(self.directory / "journal.db")
        self._control.executescript(_CONTROL_SCHEMA)
        self._journal.executescript(_JOURNAL_SCHEMA)
        self._lock = threading.Lock()
        self._data_version = -1
        self._worker = os.getpid()
        self._generation = Generation(0, 0)
        self._pending = 0

    def sync(self) -> Generation:
        with self._lock:
            version = self._control.execute("PRAGMA data_version").fetchone()[0]
            if version != self._data_version:
                self._data_version = version
                self._reload()
            return self._generation

    def _reload(self) -> None:
        row = self._control.execute(
            "SELECT resets, (SELECT COUNT(*) FROM models),"
            " (SELECT COALESCE(SUM(remaining), 0) FROM faults) FROM meta"
        ).fetchone()
        self._generation, self._pending = Generation(int(row[0]), int(row[1])), int(row[2])

    def added_models(self, start: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._control.execute(
                "SELECT document FROM models ORDER BY id LIMIT -1 OFFSET ?", (start,)
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def add_model(self, document: Mapping[str, Any]) -> None:
        self._write(("INSERT INTO models (document) VALUES (?)", (json.dumps(document),)))

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

    def faults_scheduled(self) -> bool:
        return bool(self._pending)

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

    def record(self, request: Seen) -> None:
        entry = journal_entry(request, self._worker)
        with self._lock:
            cursor = self._journal.execute(
                "INSERT INTO journal (method, path, query, status, authorization, time, worker, size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*entry[:4], int(entry.authorization), entry.time, entry.worker, entry.size),
            )
            if (cursor.lastrowid or 0) % _TRIM_EVERY == 0:
                self._trim()

    def _trim(self) -> None:
        """Delete what the bounds leave out (run every few hundred appends, by whichever worker)."""
        self._journal.execute(
            "DELETE FROM journal WHERE seq <"
            f" COALESCE((SELECT MIN(seq) FROM ({_NEWEST}) WHERE total <= ?), 0)",
            (self._limit, self._bytes),
        )

    def journal(self) -> list[JournalEntry]:
        with self._lock:
            rows = self._journal.execute(
                f"SELECT * FROM ({_NEWEST}) WHERE total <= ?", (self._limit, self._bytes)
            )
            entries = [
                JournalEntry(method, path, query, status, bool(auth), when, worker)
                for _seq, method, path, query, status, auth, when, worker, _total in rows.fetchall()
            ]
        entries.reverse()
        return entries

    def clear_journal(self) -> None:
        with self._lock:
            self._journal.execute("DELETE FROM journal")

    def reset(self) -> None:
        self.clear_journal()
        self._write(
            ("DELETE FROM faults", ()),
            ("DELETE FROM models", ()),
            ("UPDATE meta SET resets = resets + 1", ()),
        )

    def close(self) -> None:
        with self._lock:
            self._control.close()
            self._journal.close()
