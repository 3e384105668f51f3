"""OpenCode's stored sessions, and the list of what Heliograph already exported.

OpenCode 1.x keeps sessions in ``<data>/opencode.db`` (SQLite: ``session``, ``message`` and
``part`` tables, each object's JSON in ``data``), where ``<data>`` is
``$XDG_DATA_HOME/opencode`` (``~/.local/share/opencode``). Older releases wrote JSON files
under ``<data>/storage/`` (``session/<project>/<id>.json``, ``message/<session>/<id>.json``,
``part/<message>/<id>.json``); both are read, the database read-only. ``ExportedLedger``
is a file of request ids, one a line, so that a re-import or a restarted watcher hands
nothing twice to the spool (the ids are stable, so a lost ledger only costs a re-send,
which Helicone and the receiver deduplicate).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from heliograph.capture.agents.opencode import SessionHistory

__all__ = ["ExportedLedger", "OpenCodeStore", "StoredSession", "default_data_dir"]

log = logging.getLogger("heliograph.opencode")

JSON = dict[str, Any]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/opencode``, else ``~/.local/share/opencode`` (as OpenCode resolves it)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opencode"


@dataclasses.dataclass(frozen=True)
class StoredSession:
    id: str
    parent_id: str | None
    title: str
    updated_ms: float


def _loads(text: str | bytes) -> JSON:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


class OpenCodeStore:
    """Read-only access to an OpenCode data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.db_path = data_dir / "opencode.db"
        self.storage = data_dir / "storage"

    def exists(self) -> bool:
        return self.db_path.is_file() or self.storage.is_dir()

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection | None]:
        if not self.db_path.is_file():
            yield None
            return
        conn = sqlite3.connect(f"{self.db_path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            yield conn
        finally:
            conn.close()

    def sessions(self, since_ms: float = 0.0) -> list[StoredSession]:
        """Sessions updated at or after ``since_ms``, parents before their subagents."""
        found: dict[str, StoredSession] = {}
        with self._db() as db:
            if db is not None:
                rows = db.execute(
                    "SELECT id, parent_id, title, time_updated FROM session "
                    "WHERE time_updated >= ? ORDER BY time_created",
                    (since_ms,),
                )
                for sid, parent, title, updated in rows:
                    found[sid] = StoredSession(sid, parent, title, float(updated))
        for path in sorted(self.storage.glob("session/*/ses_*.json")):
            info = _loads(path.read_bytes())
            updated = float((info.get("time") or {}).get("updated") or 0)
            if info.get("id") and info["id"] not in found and updated >= since_ms:
                sid = str(info["id"])
                found[sid] = StoredSession(
                    sid, info.get("parentID"), str(info.get("title") or ""), updated
                )
        return sorted(found.values(), key=lambda s: (s.parent_id is not None, s.id))

    def history(self, session_id: str) -> SessionHistory | None:
        """One session with its messages and parts, or None if this folder does not have it."""
        with self._db() as db:
            if db is not None:
                found = self._from_db(db, session_id)
                if found is not None:
                    return found
        return self._from_files(session_id)

    def _from_db(self, db: sqlite3.Connection, session_id: str) -> SessionHistory | None:
        row = db.execute(
            "SELECT id, parent_id, title, directory, time_created, time_updated "
            "FROM session WHERE id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        info: JSON = {
            "id": row[0],
            "title": row[2],
            "directory": row[3],
            "time": {"created": row[4], "updated": row[5]},
        }
        if row[1]:
            info["parentID"] = row[1]
        parts: dict[str, list[JSON]] = {}
        for pid, mid, data in db.execute(
            "SELECT id, message_id, data FROM part WHERE session_id = ? ORDER BY id", (session_id,)
        ):
            parts.setdefault(mid, []).append(
                {**_loads(data), "id": pid, "messageID": mid, "sessionID": session_id}
            )
        messages = [
            ({**_loads(data), "id": mid, "sessionID": session_id}, parts.get(mid, []))
            for mid, data in db.execute(
                "SELECT id, data FROM message WHERE session_id = ? ORDER BY id", (session_id,)
            )
        ]
        return SessionHistory(info, messages)

    def _from_files(self, session_id: str) -> SessionHistory | None:
        infos = list(self.storage.glob(f"session/*/{session_id}.json"))
        if not infos:
            return None
        messages = []
        for path in sorted(self.storage.glob(f"message/{session_id}/msg_*.json")):
            info = _loads(path.read_bytes())
            mid = str(info.get("id") or path.stem)
            parts = [
                _loads(p.read_bytes()) for p in sorted(self.storage.glob(f"part/{mid}/prt_*.json"))
            ]
            messages.append((info, [p for p in parts if p.get("id")]))
        return SessionHistory(_loads(infos[0].read_bytes()), messages)


class ExportedLedger:
    """Request ids already spooled, kept in a file (one id a line) across runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ids: set[str] = set()
        with contextlib.suppress(FileNotFoundError):
            self._ids = {line.strip() for line in path.read_text().splitlines() if line.strip()}

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, request_id: str) -> None:
        if request_id in self._ids:
            return
        self._ids.add(request_id)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            fd = os.open(self.path, flags, 0o600)
            try:
                os.write(fd, (request_id + "\n").encode())
            finally:
                os.close(fd)
        except OSError as exc:  # the id is stable: at worst it is sent again, then deduplicated
            log.warning("cannot record an exported id in %s: %s", self.path, exc)
