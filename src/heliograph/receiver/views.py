"""The dashboard's queries: pages of sessions and requests, one session as a tree.

Each function takes a connection (run them through ``Store.read``) and answers from an
index, whatever the size of the database:

- sessions are paged by offset over ``sessions_by_activity``: there are thousands of
  sessions, not millions, and numbered pages with a total suit a list people browse;
- requests are paged by keyset (``request_created_at``, ``rowid``), newest first: an
  offset into a million rows would walk them all, a cursor starts where the page ended
  and stays put while new logs arrive;
- a filter on one column uses that column's index, a property filter reads
  ``request_properties``, and the text search is a ``LIKE`` over both bodies. ``LIKE``
  scans, but newest first and only until the page is full, and it finds any substring
  the way Helicone's body search does; FTS5 would answer rare words faster but only
  whole tokens, would roughly double the database and would tokenise every 10 MB body
  on the insert path, which the receiver keeps cheap.

Items here carry epoch milliseconds and no bodies (the request view reads the full
item from ``/v1/request/{id}``), so a page stays small.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import orjson

__all__ = [
    "RequestFilter",
    "decode_cursor",
    "latest_change",
    "request_page",
    "session_detail",
    "session_tree",
    "sessions_page",
]

_REQUEST_COLUMNS = """
    r.rowid AS row_key, r.request_id, r.provider, r.model, r.status, r.user_id, r.session_id,
    r.session_name, r.session_path, r.properties, r.request_created_at,
    r.response_created_at, r.delay_ms, r.time_to_first_token, r.prompt_tokens,
    r.completion_tokens, r.total_tokens, r.prompt_cache_read_tokens,
    r.prompt_cache_write_tokens, r.cost
"""

_SESSION_COLUMNS = """
    s.session_id, s.session_name, s.created_at, s.latest_request_created_at,
    s.latest_response_created_at, s.total_requests, s.prompt_tokens, s.completion_tokens,
    s.total_tokens, s.total_cost
"""


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards escaped (use with ``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclasses.dataclass(frozen=True, slots=True)
class RequestFilter:
    """What a request must match; every field set narrows the list."""

    session_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    provider: str | None = None
    status: int | None = None
    properties: tuple[tuple[str, str], ...] = ()
    created_after_ms: int | None = None  # inclusive
    created_before_ms: int | None = None  # exclusive
    search: str | None = None  # a substring of the request or response body

    def where(self, skip_properties: int = 0) -> tuple[list[str], list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        for column in ("session_id", "user_id", "model", "provider", "status"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"r.{column} = ?")
                params.append(value)
        for key, value in self.properties[skip_properties:]:
            clauses.append(
                "r.rowid IN (SELECT request_rowid FROM request_properties"
                " WHERE key = ? AND value = ?)"
            )
            params += [key, value]
        if self.created_after_ms is not None:
            clauses.append("r.request_created_at >= ?")
            params.append(self.created_after_ms)
        if self.created_before_ms is not None:
            clauses.append("r.request_created_at < ?")
            params.append(self.created_before_ms)
        if self.search:
            pattern = like_pattern(self.search)
            clauses.append(
                "(r.request_body LIKE ? ESCAPE '\\' OR r.response_body LIKE ? ESCAPE '\\')"
            )
            params += [pattern, pattern]
        return clauses, params


def _cursor(row: sqlite3.Row) -> str:
    return f"{row['request_created_at']}.{row['row_key']}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    """``"<created ms>.<rowid>"`` back to its numbers; ``ValueError`` if malformed."""
    created, _, rowid = cursor.partition(".")
    return int(created), int(rowid)


def request_item(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "request_id": row["request_id"],
        "created_at_ms": row["request_created_at"],
        "response_created_at_ms": row["response_created_at"],
        "delay_ms": row["delay_ms"],
        "time_to_first_token_ms": row["time_to_first_token"],
        "model": row["model"],
        "provider": row["provider"],
        "status": row["status"],
        "user_id": row["user_id"],
        "session_id": row["session_id"],
        "session_name": row["session_name"],
        "session_path": row["session_path"],
        "properties": orjson.loads(row["properties"]),
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "total_tokens": row["total_tokens"],
        "prompt_cache_read_tokens": row["prompt_cache_read_tokens"],
        "prompt_cache_write_tokens": row["prompt_cache_write_tokens"],
        "cost": row["cost"],
    }


def request_page(
    db: sqlite3.Connection,
    where: RequestFilter,
    *,
    cursor: tuple[int, int] | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """``{"items": [...], "next_cursor": str | None}``, newest first, after ``cursor``.

    With a property filter the scan is driven by that property's index rows, which are
    already in page order, so a common ``key=value`` stops after one page instead of
    collecting every match first.
    """
    if where.properties:
        key, value = where.properties[0]
        clauses, params = where.where(skip_properties=1)
        source = "request_properties AS p JOIN requests AS r ON r.rowid = p.request_rowid"
        clauses[:0] = ["p.key = ?", "p.value = ?"]
        params[:0] = [key, value]
        order = ("p.created_at", "p.request_rowid")
    else:
        clauses, params = where.where()
        source, order = "requests AS r", ("r.request_created_at", "r.rowid")
    if cursor is not None:
        clauses.append(f"({order[0]}, {order[1]}) < (?, ?)")
        params += list(cursor)
    sql = (
        f"SELECT {_REQUEST_COLUMNS} FROM {source} "
        f"{'WHERE ' + ' AND '.join(clauses) if clauses else ''} "
        f"ORDER BY {order[0]} DESC, {order[1]} DESC LIMIT ?"
    )
    rows = db.execute(sql, [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [request_item(row) for row in rows],
        "next_cursor": _cursor(rows[-1]) if more else None,
    }


def session_item(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "session_id": row["session_id"],
        "session_name": row["session_name"],
        "created_at_ms": row["created_at"],
        "latest_request_created_at_ms": row["latest_request_created_at"],
        "latest_response_created_at_ms": row["latest_response_created_at"],
        "duration_ms": row["latest_response_created_at"] - row["created_at"],
        "total_requests": row["total_requests"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "total_tokens": row["total_tokens"],
        "total_cost": row["total_cost"],
    }


def session_search(search: str | None) -> tuple[str, list[object]]:
    """The WHERE clause for a search by session id or by any name it was logged under."""
    if not search:
        return "", []
    pattern = like_pattern(search)
    clause = (
        "WHERE s.session_id LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM session_names AS n"
        " WHERE n.session_id = s.session_id AND n.name LIKE ? ESCAPE '\\')"
    )
    return clause, [pattern, pattern]


def sessions_page(
    db: sqlite3.Connection, search: str | None = None, *, offset: int = 0, limit: int = 50
) -> dict[str, Any]:
    """``{"items": [...], "total": n}``: sessions by latest activity, then by id."""
    where, params = session_search(search)
    rows = db.execute(
        f"SELECT {_SESSION_COLUMNS} FROM sessions AS s {where} "
        "ORDER BY s.latest_request_created_at DESC, s.session_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    total = db.execute(f"SELECT COUNT(*) FROM sessions AS s {where}", params).fetchone()[0]
    return {"items": [session_item(row) for row in rows], "total": int(total)}


def session_detail(db: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    """A session's summary, its requests oldest first, and their ``Session-Path`` tree."""
    summary = db.execute(
        f"SELECT {_SESSION_COLUMNS} FROM sessions AS s WHERE s.session_id = ?", (session_id,)
    ).fetchone()
    if summary is None:
        return None
    rows = db.execute(
        f"SELECT {_REQUEST_COLUMNS} FROM requests AS r WHERE r.session_id = ? "
        "ORDER BY r.request_created_at, r.rowid",
        (session_id,),
    ).fetchall()
    requests = [request_item(row) for row in rows]
    return {**session_item(summary), "requests": requests, "tree": session_tree(requests)}


def _node(name: str, path: str) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "request_ids": [],
        "children": [],
        "total_requests": 0,
        "total_tokens": 0,
        "total_cost": 0.0,
        "start_ms": None,
        "end_ms": None,
    }


def session_tree(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """The requests grouped by ``Helicone-Session-Path`` (``/plan/search``), as a tree.

    Paths name kinds of work, not calls, so a node holds every request logged at its
    path; its totals cover its whole subtree. A request without a path sits at the
    root, ``/``, as Helicone's tree shows it.
    """
    root = _node("/", "/")
    for item in requests:
        node = root
        chain = [root]
        for segment in [s for s in (item["session_path"] or "").split("/") if s]:
            child_path = f"{node['path'].rstrip('/')}/{segment}"
            child = next((c for c in node["children"] if c["name"] == segment), None)
            if child is None:
                child = _node(segment, child_path)
                node["children"].append(child)
            node = child
            chain.append(node)
        node["request_ids"].append(item["request_id"])
        for member in chain:
            member["total_requests"] += 1
            member["total_tokens"] += item["total_tokens"] or 0
            member["total_cost"] += item["cost"] or 0.0
            start, end = item["created_at_ms"], item["response_created_at_ms"]
            member["start_ms"] = (
                start if member["start_ms"] is None else min(member["start_ms"], start)
            )
            member["end_ms"] = end if member["end_ms"] is None else max(member["end_ms"], end)
    return root


def latest_change(db: sqlite3.Connection) -> int:
    """A number that grows with every stored request (the newest rowid; nothing deletes).

    ``MAX(rowid)`` reads one end of the table's b-tree, so the dashboard can poll it
    every two seconds at no cost.
    """
    value = db.execute("SELECT MAX(rowid) FROM requests").fetchone()[0]
    return int(value or 0)
