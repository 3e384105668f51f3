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

- one session answers at most ``SESSION_PAGE`` (500) of its requests, oldest first,
  paged by keyset (``request_created_at``, ``rowid``) over ``requests_by_session``; its
  summary (the ``sessions`` row) and its path tree (one ``GROUP BY`` over the covering
  ``requests_by_session_path``) cover the whole session whatever the page. A coding agent
  logs tens of thousands of requests in one session: all of them would be tens of MB of
  JSON, a page no one reads, and a read of every body (the columns a page shows sit after
  the bodies in each row, so a row's bodies are read with it). 500 shows an ordinary
  session whole, as before, in about 250 KB of JSON and a thousand list items (tree
  leaves and waterfall rows), read in tens of milliseconds.

Items here carry epoch milliseconds and no bodies (the request view reads the full
item from ``/v1/request/{id}``), so a page stays small.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from heliograph.receiver.schema import usage_fields

__all__ = [
    "SESSION_PAGE",
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
        **usage_fields(row),
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


SESSION_PAGE = 500  # the most requests one session answer carries (module docstring)

# Per stored path, the totals of a session's tree: read from requests_by_session_path alone.
_PATH_TOTALS = """
    SELECT r.session_path, COUNT(*) AS requests, COALESCE(SUM(r.total_tokens), 0) AS tokens,
           TOTAL(r.cost) AS cost, MIN(r.request_created_at) AS start_ms,
           MAX(r.response_created_at) AS end_ms
      FROM requests AS r WHERE r.session_id = ? GROUP BY r.session_path
"""


@contextlib.contextmanager
def _snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """Run the reads inside in one read transaction, so they see the same rows."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def session_detail(
    db: sqlite3.Connection,
    session_id: str,
    *,
    cursor: tuple[int, int] | None = None,
    limit: int = SESSION_PAGE,
) -> dict[str, Any] | None:
    """A session's summary and ``Session-Path`` tree, and up to ``limit`` of its requests.

    The summary and the tree's totals cover the whole session; ``requests`` are the next
    ``limit`` oldest first after ``cursor``, and ``next_cursor`` (None at the end) asks
    for the ones after them. The tree lists the ids of this page's requests only.
    """
    with _snapshot(db):
        summary = db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions AS s WHERE s.session_id = ?",
            (session_id,),
        ).fetchone()
        if summary is None:
            return None
        params: list[object] = [session_id]
        after = ""
        if cursor is not None:  # the index seeks straight to it: no earlier row is read
            after = "AND (r.request_created_at, r.rowid) > (?, ?)"
            params += cursor
        rows = db.execute(
            f"SELECT {_REQUEST_COLUMNS} FROM requests AS r WHERE r.session_id = ? {after} "
            "ORDER BY r.request_created_at, r.rowid LIMIT ?",
            [*params, limit + 1],
        ).fetchall()
        paths = db.execute(_PATH_TOTALS, (session_id,)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    requests = [request_item(row) for row in rows]
    return {
        **session_item(summary),
        "requests": requests,
        "next_cursor": _cursor(rows[-1]) if more else None,
        "tree": session_tree(paths, requests),
    }


def _node(name: str, path: str) -> dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "request_ids": [],
        "own_requests": 0,
        "children": [],
        "total_requests": 0,
        "total_tokens": 0,
        "total_cost": 0.0,
        "start_ms": None,
        "end_ms": None,
    }


def _segments(session_path: str | None) -> list[str]:
    return [segment for segment in (session_path or "").split("/") if segment]


def _node_path(session_path: str | None) -> str:
    """The node a ``Helicone-Session-Path`` falls in: ``plan//search/`` → ``/plan/search``."""
    return "/" + "/".join(_segments(session_path))


def session_tree(
    path_totals: Iterable[sqlite3.Row], requests: Iterable[dict[str, Any]]
) -> dict[str, Any]:
    """A session's requests grouped by ``Helicone-Session-Path`` (``/plan/search``), as a tree.

    Paths name kinds of work, not calls, so a node stands for every request logged at its
    path: ``own_requests`` counts those, and the totals (``total_requests``, tokens, cost,
    start and end) cover its whole subtree. They come from ``path_totals``, one row per
    stored path (see ``_PATH_TOTALS``); ``request_ids`` lists those of ``requests`` (a
    page) logged at the node's own path. A request without a path sits at the root,
    ``/``, as Helicone's tree shows it. Children come in the order their work started.
    """
    root = _node("/", "/")
    nodes = {"/": root}
    ordered = sorted(path_totals, key=lambda t: (t["start_ms"], _node_path(t["session_path"])))
    for totals in ordered:
        node = root
        chain = [root]
        for segment in _segments(totals["session_path"]):
            child_path = f"{node['path'].rstrip('/')}/{segment}"
            child = nodes.get(child_path)
            if child is None:
                child = nodes[child_path] = _node(segment, child_path)
                node["children"].append(child)
            node = child
            chain.append(node)
        node["own_requests"] += totals["requests"]
        for member in chain:
            member["total_requests"] += totals["requests"]
            member["total_tokens"] += totals["tokens"]
            member["total_cost"] += totals["cost"]
            start, end = totals["start_ms"], totals["end_ms"]
            member["start_ms"] = (
                start if member["start_ms"] is None else min(member["start_ms"], start)
            )
            member["end_ms"] = end if member["end_ms"] is None else max(member["end_ms"], end)
    for item in requests:
        nodes[_node_path(item["session_path"])]["request_ids"].append(item["request_id"])
    return root


def latest_change(db: sqlite3.Connection) -> int:
    """A number that grows with every stored request (the newest rowid; nothing deletes).

    ``MAX(rowid)`` reads one end of the table's b-tree, so the dashboard can poll it
    every two seconds at no cost.
    """
    value = db.execute("SELECT MAX(rowid) FROM requests").fetchone()[0]
    return int(value or 0)
