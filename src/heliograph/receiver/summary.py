"""Tables kept beside ``requests`` so that lists stay fast on a million rows.

Grouping a million requests by session on every page view costs seconds, so the store
keeps, in the same transaction as each insert:

- ``sessions``: one row per session id with its counts, sums and times, updated by an
  ``AFTER INSERT`` trigger. A trigger (not Python code) keeps it right whoever writes the
  row, and a request id that is already stored inserts nothing, so it fires for nothing:
  dedupe still holds. Its name is the one of the latest named request, ties going to the
  later insert, as the old ``GROUP BY`` query chose it.
- ``session_names``: every name a session was logged under, so a search by name matches
  a session whose older requests carried another name, as before.
- ``request_properties``: one row per (property, value, request), so a ``key=value``
  filter reads an index instead of parsing every row's JSON.

A database made before these tables existed is backfilled once, in one transaction, the
first time a store opens it (``install``). Nothing deletes requests, so no delete
trigger is needed. Changing these tables changes the database format.
"""

from __future__ import annotations

import sqlite3

__all__ = ["install"]

_TABLES = [
    """
    CREATE TABLE IF NOT EXISTS sessions (
        session_id                 TEXT PRIMARY KEY,
        session_name               TEXT,
        name_at                    INTEGER,  -- request_created_at of the request it is named after
        created_at                 INTEGER NOT NULL,  -- epoch ms, first request's start
        latest_request_created_at  INTEGER NOT NULL,
        latest_response_created_at INTEGER NOT NULL,
        total_requests             INTEGER NOT NULL,
        prompt_tokens              INTEGER NOT NULL,
        completion_tokens          INTEGER NOT NULL,
        total_tokens               INTEGER NOT NULL,
        total_cost                 REAL NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS sessions_by_activity"
    " ON sessions (latest_request_created_at DESC, session_id)",
    """
    CREATE TABLE IF NOT EXISTS session_names (
        session_id TEXT NOT NULL,
        name       TEXT NOT NULL,
        PRIMARY KEY (session_id, name)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE IF NOT EXISTS request_properties (
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        created_at    INTEGER NOT NULL,  -- the request's request_created_at, to page in order
        request_rowid INTEGER NOT NULL,
        PRIMARY KEY (key, value, created_at, request_rowid)
    ) WITHOUT ROWID
    """,
    # The request list's filters, each newest first.
    "CREATE INDEX IF NOT EXISTS requests_by_model ON requests (model, request_created_at)",
    "CREATE INDEX IF NOT EXISTS requests_by_status ON requests (status, request_created_at)",
]

_TRIGGERS = [
    """
    CREATE TRIGGER IF NOT EXISTS requests_summarise_session AFTER INSERT ON requests
    WHEN NEW.session_id IS NOT NULL
    BEGIN
        INSERT INTO sessions VALUES (
            NEW.session_id, NEW.session_name,
            CASE WHEN NEW.session_name IS NULL THEN NULL ELSE NEW.request_created_at END,
            NEW.request_created_at, NEW.request_created_at, NEW.response_created_at, 1,
            COALESCE(NEW.prompt_tokens, 0), COALESCE(NEW.completion_tokens, 0),
            COALESCE(NEW.total_tokens, 0), COALESCE(NEW.cost, 0.0)
        )
        ON CONFLICT (session_id) DO UPDATE SET
            session_name = CASE
                WHEN excluded.session_name IS NOT NULL
                     AND (session_name IS NULL OR excluded.name_at >= name_at)
                THEN excluded.session_name ELSE session_name END,
            name_at = CASE
                WHEN excluded.session_name IS NOT NULL
                     AND (session_name IS NULL OR excluded.name_at >= name_at)
                THEN excluded.name_at ELSE name_at END,
            created_at = MIN(created_at, excluded.created_at),
            latest_request_created_at = MAX(latest_request_created_at,
                                            excluded.latest_request_created_at),
            latest_response_created_at = MAX(latest_response_created_at,
                                             excluded.latest_response_created_at),
            total_requests = total_requests + 1,
            prompt_tokens = prompt_tokens + excluded.prompt_tokens,
            completion_tokens = completion_tokens + excluded.completion_tokens,
            total_tokens = total_tokens + excluded.total_tokens,
            total_cost = total_cost + excluded.total_cost;
        INSERT OR IGNORE INTO session_names (session_id, name)
            SELECT NEW.session_id, NEW.session_name WHERE NEW.session_name IS NOT NULL;
    END
    """,
    """
    CREATE TRIGGER IF NOT EXISTS requests_index_properties AFTER INSERT ON requests
    BEGIN
        INSERT OR IGNORE INTO request_properties (key, value, created_at, request_rowid)
            SELECT key, value, NEW.request_created_at, NEW.rowid
              FROM json_each(NEW.properties) WHERE type = 'text';
    END
    """,
]

_BACKFILL = [
    """
    INSERT INTO sessions
    SELECT r.session_id,
           (SELECT n.session_name FROM requests AS n
             WHERE n.session_id = r.session_id AND n.session_name IS NOT NULL
             ORDER BY n.request_created_at DESC, n.rowid DESC LIMIT 1),
           (SELECT MAX(n.request_created_at) FROM requests AS n
             WHERE n.session_id = r.session_id AND n.session_name IS NOT NULL),
           MIN(r.request_created_at), MAX(r.request_created_at), MAX(r.response_created_at),
           COUNT(*), COALESCE(SUM(r.prompt_tokens), 0), COALESCE(SUM(r.completion_tokens), 0),
           COALESCE(SUM(r.total_tokens), 0), COALESCE(SUM(r.cost), 0.0)
      FROM requests AS r
     WHERE r.session_id IS NOT NULL
     GROUP BY r.session_id
    """,
    """
    INSERT OR IGNORE INTO session_names (session_id, name)
    SELECT DISTINCT session_id, session_name FROM requests
     WHERE session_id IS NOT NULL AND session_name IS NOT NULL
    """,
    """
    INSERT OR IGNORE INTO request_properties (key, value, created_at, request_rowid)
    SELECT p.key, p.value, r.request_created_at, r.rowid
      FROM requests AS r, json_each(r.properties) AS p
     WHERE p.type = 'text'
    """,
]


def install(conn: sqlite3.Connection) -> None:
    """Create the summary tables and triggers if missing, backfilling them from ``requests``.

    Runs in one ``IMMEDIATE`` transaction, so two stores opening the same old database
    cannot both backfill it, and a crash midway leaves it as it was.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        present = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "sessions" not in present:
            for statement in [*_TABLES, *_TRIGGERS, *_BACKFILL]:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
