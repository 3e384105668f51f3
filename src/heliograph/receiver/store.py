"""SQLite storage for received logs: one row per request id, plus a few counters.

The request id is the primary key and a conflicting insert does nothing, so a log sent
twice (a delivery retry after a lost response) is stored once and counted as a duplicate.
The database runs in WAL mode with ``synchronous=NORMAL``: a crash of this process loses
nothing committed, a power cut at most the last moments. One connection serves every
thread behind a lock; SQLite serialises writers anyway, and the lock keeps ``:memory:``
databases usable from the server's worker threads. Triggers keep the session summaries
and the property index (``summary``) in the same transaction as each insert.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import orjson

from heliograph.errors import UsageError
from heliograph.receiver.schema import (
    ADDED_COLUMNS,
    COLUMNS,
    FILTER_COLUMNS,
    INSERT,
    SCHEMA,
    StoredRequest,
    request_item,
    session_item,
)
from heliograph.receiver.summary import install as install_summaries
from heliograph.receiver.views import session_search

__all__ = ["Store", "StoredRequest"]

T = TypeVar("T")

_SESSION_FIELDS = (
    "s.session_id, s.session_name, s.created_at, s.latest_request_created_at, "
    "s.total_requests, s.prompt_tokens, s.completion_tokens, s.total_cost"
)


class Store:
    """The receiver's database. Safe to share between threads; close it when done.

    ::

        with Store(tmp_path / "receiver.sqlite3") as store:
            store.insert(row)          # False if the request id was already stored
            store.query_requests({"session_id": "s-1"}, limit=10)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            _create_private(Path(self.path))
        self._lock = threading.Lock()
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(SCHEMA)
            _add_missing_columns(conn)
            install_summaries(conn)
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; later calls raise ``UsageError``. Closing twice is fine."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise UsageError(f"the receiver store {self.path} is closed")
        return self._conn

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query`` on the connection under the store's lock (see ``views``)."""
        with self._lock:
            return query(self._db())

    def insert(self, row: StoredRequest) -> bool:
        """Store ``row``; False (and one more duplicate counted) if its id is already stored."""
        values = [getattr(row, name) for name in COLUMNS]
        values[COLUMNS.index("properties")] = orjson.dumps(row.properties).decode()
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                inserted = db.execute(INSERT, values).rowcount == 1
                if not inserted:
                    self._bump(db, "duplicates")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return inserted

    def count_rejection(self, reason: str) -> None:
        """Count one log refused for ``reason`` (e.g. ``unauthorized``), for ``stats``."""
        with self._lock:
            self._bump(self._db(), f"rejected:{reason}")

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1",
            (name,),
        )

    def count(self) -> int:
        """How many requests are stored."""
        with self._lock:
            return int(self._db().execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        """``{"requests": n, "duplicates": n, "rejected": {reason: n}}``."""
        with self._lock:
            db = self._db()
            requests = int(db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        rejected = {
            name.removeprefix("rejected:"): int(value)
            for name, value in sorted(counters.items())
            if name.startswith("rejected:")
        }
        return {
            "requests": requests,
            "duplicates": int(counters.get("duplicates", 0)),
            "rejected": rejected,
        }

    def get_request(self, request_id: str) -> dict[str, Any] | None:
        """One request in the read API's shape, or None."""
        with self._lock:
            row = (
                self._db()
                .execute("SELECT * FROM requests WHERE request_id = ?", (request_id,))
                .fetchone()
            )
        return None if row is None else request_item(row)

    def query_requests(
        self,
        filters: Mapping[str, object] | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        descending: bool = True,
    ) -> list[dict[str, Any]]:
        """Requests matching every filter (exact match; keys from ``FILTER_COLUMNS``)."""
        clauses, params = [], []
        for key, value in (filters or {}).items():
            if key not in FILTER_COLUMNS:
                raise ValueError(f"unknown filter {key!r}")
            clauses.append(f"{FILTER_COLUMNS[key]} = ?")
            params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if descending else "ASC"
        sql = (
            f"SELECT * FROM requests {where} "
            f"ORDER BY request_created_at {order}, rowid {order} LIMIT ? OFFSET ?"
        )
        with self._lock:
            rows = self._db().execute(sql, [*params, limit, offset]).fetchall()
        return [request_item(row) for row in rows]

    def query_sessions(
        self, search: str | None = None, *, offset: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Session summaries, latest activity first; ``search`` matches id or any name."""
        where, params = session_search(search)
        sql = (
            f"SELECT {_SESSION_FIELDS} FROM sessions AS s {where} "
            "ORDER BY s.latest_request_created_at DESC, s.session_id LIMIT ? OFFSET ?"
        )
        with self._lock:
            rows = self._db().execute(sql, [*params, limit, offset]).fetchall()
        return [session_item(row) for row in rows]

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """A session's summary plus its requests, oldest first; None if unknown."""
        with self._lock:
            db = self._db()
            summary = db.execute(
                f"SELECT {_SESSION_FIELDS} FROM sessions AS s WHERE s.session_id = ?",
                (session_id,),
            ).fetchone()
            rows = db.execute(
                "SELECT * FROM requests WHERE session_id = ? ORDER BY request_created_at, rowid",
                (session_id,),
            ).fetchall()
        if summary is None:
            return None
        return {**session_item(summary), "requests": [request_item(row) for row in rows]}


def _create_private(path: Path) -> None:
    """Create the database file 0600 (its folder 0700) before SQLite opens it.

    SQLite gives the ``-wal`` and ``-shm`` files the permissions of the database file, so
    they are private too. An existing database of ours is made private as well.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except PermissionError:
        return  # a database we may only read (sessions --db): SQLite opens it read-only
    try:
        with contextlib.suppress(PermissionError):  # someone else's file: leave it be
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a database made by an older receiver up to the current columns."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
    for name, kind in ADDED_COLUMNS.items():
        if name not in present:
            conn.execute(f"ALTER TABLE requests ADD COLUMN {name} {kind}")
