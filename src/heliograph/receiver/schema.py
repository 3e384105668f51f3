"""The ``requests`` table: its SQL, the row type, and a row in the read API's shape.

Changing a column here changes the database format: add columns with defaults only,
and keep old databases readable (``CREATE TABLE IF NOT EXISTS`` never alters a table).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import sqlite3
from typing import Any

import orjson

__all__ = [
    "ADDED_COLUMNS",
    "COLUMNS",
    "FILTER_COLUMNS",
    "INSERT",
    "SCHEMA",
    "StoredRequest",
    "USAGE_COLUMNS",
    "iso_ms",
    "request_item",
    "session_item",
    "usage_fields",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id          TEXT PRIMARY KEY,
    provider            TEXT NOT NULL,
    model               TEXT,
    status              INTEGER NOT NULL,
    target_url          TEXT NOT NULL,
    user_id             TEXT,
    session_id          TEXT,
    session_name        TEXT,
    session_path        TEXT,
    properties          TEXT NOT NULL,      -- JSON object
    request_body        TEXT NOT NULL,      -- JSON text
    response_body       TEXT NOT NULL,
    request_created_at  INTEGER NOT NULL,   -- epoch ms
    response_created_at INTEGER NOT NULL,   -- epoch ms
    delay_ms            INTEGER NOT NULL,
    time_to_first_token NUMERIC,
    prompt_tokens       INTEGER,
    completion_tokens   INTEGER,
    total_tokens        INTEGER,
    cost                REAL,
    received_at         INTEGER NOT NULL,   -- epoch ms
    auth_fingerprint    TEXT NOT NULL,      -- sha256 prefix of the bearer key, never the key
    response_raw        TEXT,               -- the body as received, when response_body differs
    prompt_cache_read_tokens  INTEGER,
    prompt_cache_write_tokens INTEGER
);
CREATE INDEX IF NOT EXISTS requests_by_session ON requests (session_id, request_created_at);
-- Covers a session's path tree (views.session_tree): its totals per path are read from this
-- index alone, never from the rows, whose large bodies sit before these columns.
CREATE INDEX IF NOT EXISTS requests_by_session_path ON requests (
    session_id, session_path, request_created_at, response_created_at, total_tokens, cost
);
CREATE INDEX IF NOT EXISTS requests_by_time ON requests (request_created_at);
CREATE INDEX IF NOT EXISTS requests_by_user ON requests (user_id, request_created_at);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Columns added after the first release, with their types: old databases get them on open.
ADDED_COLUMNS = {
    "response_raw": "TEXT",
    "prompt_cache_read_tokens": "INTEGER",
    "prompt_cache_write_tokens": "INTEGER",
}

# Filters the read API accepts, each an exact match on one column.
FILTER_COLUMNS = {
    "session_id": "session_id",
    "user_id": "user_id",
    "model": "model",
    "status": "status",
    "provider": "provider",
}


@dataclasses.dataclass(frozen=True, slots=True)
class StoredRequest:
    """One received log, as stored: the columns of the ``requests`` table."""

    request_id: str
    provider: str
    model: str | None
    status: float
    target_url: str
    user_id: str | None
    session_id: str | None
    session_name: str | None
    session_path: str | None
    properties: dict[str, str]
    request_body: str
    response_body: str
    request_created_at: int
    response_created_at: int
    delay_ms: int
    time_to_first_token: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cost: float | None
    received_at: int
    auth_fingerprint: str
    response_raw: str | None = None
    prompt_cache_read_tokens: int | None = None
    prompt_cache_write_tokens: int | None = None


COLUMNS = [f.name for f in dataclasses.fields(StoredRequest)]
# Only a repeated request id is ignored; unlike OR IGNORE, other constraint errors still raise.
INSERT = (
    f"INSERT INTO requests ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)}) ON CONFLICT (request_id) DO NOTHING"
)


# A request's tokens and cost: given under their column names in every shape of a request.
USAGE_COLUMNS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_cache_read_tokens",
    "prompt_cache_write_tokens",
    "cost",
)


def usage_fields(row: sqlite3.Row) -> dict[str, Any]:
    """The ``USAGE_COLUMNS`` of ``row``, in that order, for the read API and the dashboard."""
    return {name: row[name] for name in USAGE_COLUMNS}


def iso_ms(epoch_ms: float) -> str:
    """``2024-05-01T12:00:00.123Z``: the form Helicone's API gives its timestamps in."""
    moment = _dt.datetime.fromtimestamp(epoch_ms / 1000, tz=_dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session_item(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "session_id": row["session_id"],
        "session_name": row["session_name"],
        "created_at": iso_ms(row["created_at"]),
        "latest_request_created_at": iso_ms(row["latest_request_created_at"]),
        "total_requests": row["total_requests"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "total_cost": row["total_cost"],
    }


def request_item(row: sqlite3.Row) -> dict[str, Any]:
    """A stored row in the shape of Helicone's request API."""
    return {
        "request_id": row["request_id"],
        "request_created_at": iso_ms(row["request_created_at"]),
        "response_created_at": iso_ms(row["response_created_at"]),
        "request_body": orjson.loads(row["request_body"]),
        "response_body": row["response_body"],
        "response_raw": row["response_raw"],
        "response_status": row["status"],
        "model": row["model"],
        "provider": row["provider"],
        "target_url": row["target_url"],
        "request_user_id": row["user_id"],
        "request_properties": orjson.loads(row["properties"]),
        "delay_ms": row["delay_ms"],
        "time_to_first_token": row["time_to_first_token"],
        **usage_fields(row),
        "session_id": row["session_id"],
        "session_name": row["session_name"],
        "session_path": row["session_path"],
    }
