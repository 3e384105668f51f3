"""The SQLite store on its own: durability settings, dedupe, lifecycle."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from heliograph.errors import UsageError
from heliograph.receiver import Store
from heliograph.receiver.ingest import to_stored_request
from heliograph.receiver.schema import ADDED_COLUMNS, COLUMNS, StoredRequest
from heliograph.receiver.validate import validate_async_log

from .helpers import KEY, make_body


def _row(request_id: str | None = None) -> StoredRequest:
    headers = [("helicone-request-id", request_id)] if request_id else []
    log = validate_async_log(make_body())
    return to_stored_request(
        log, headers, provider="CUSTOM", auth_key=KEY, received_at_ms=1_700_000_000_000
    )


def test_insert_returns_false_for_a_known_id_and_counts_a_duplicate(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite3") as store:
        row = _row()
        assert store.insert(row) is True
        assert store.insert(row) is False
        assert store.count() == 1
        assert store.stats() == {"requests": 1, "duplicates": 1, "rejected": {}}


def test_rows_and_counters_survive_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    row = _row()
    with Store(path) as store:
        store.insert(row)
        store.count_rejection("unauthorized")
    with Store(path) as store:
        assert store.get_request(row.request_id) is not None
        assert store.insert(row) is False
        assert store.stats() == {"requests": 1, "duplicates": 1, "rejected": {"unauthorized": 1}}


def test_database_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    with Store(path):
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()


def test_missing_parent_folders_are_created(tmp_path: Path) -> None:
    with Store(tmp_path / "a" / "b" / "r.sqlite3") as store:
        assert store.count() == 0


def test_in_memory_store_works(tmp_path: Path) -> None:
    with Store(":memory:") as store:
        store.insert(_row())
        assert store.count() == 1


def test_closed_store_raises_usage_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "r.sqlite3")
    store.close()
    store.close()  # closing twice is fine
    with pytest.raises(UsageError, match="is closed"):
        store.count()


def test_unknown_filter_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite3") as store, pytest.raises(ValueError, match="color"):
        store.query_requests({"color": "red"})


def test_a_database_from_an_older_receiver_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old_columns = [c for c in COLUMNS if c not in ADDED_COLUMNS and c != "request_id"]
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE requests (request_id TEXT PRIMARY KEY, {', '.join(old_columns)})")
    before = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
    conn.close()
    assert not before & set(ADDED_COLUMNS), "the test's old schema still has the new columns"
    with Store(path) as store:
        row = _row()
        assert store.insert(row) is True
        item = store.get_request(row.request_id)
        assert item is not None and item["response_raw"] is None
