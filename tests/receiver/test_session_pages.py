"""A session larger than a session page: capped answers, cursors, and whole-session totals."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from heliograph.receiver import ReceiverThread
from heliograph.receiver.schema import StoredRequest
from heliograph.receiver.views import SESSION_PAGE, decode_cursor, session_detail

from .dashboard_data import LARGE, LARGE_NAME, node_path, seed_large_session

REQUESTS = 2 * SESSION_PAGE + 234  # two full pages and a part


@pytest.fixture(scope="module")
def large(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ReceiverThread, httpx.Client, list[StoredRequest]]]:
    path = tmp_path_factory.mktemp("large") / "receiver.sqlite3"
    with ReceiverThread(db_path=path) as running, httpx.Client(base_url=running.url) as http:
        rows = seed_large_session(running.store, REQUESTS)
        yield running, http, rows


def _session(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/dashboard/session", json={"session_id": LARGE, **body})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node["children"]:
        yield from _nodes(child)


def test_a_session_larger_than_the_cap_answers_the_cap_and_a_cursor(
    large: tuple[ReceiverThread, httpx.Client, list[StoredRequest]],
) -> None:
    _, client, rows = large
    session = _session(client)
    assert len(session["requests"]) == SESSION_PAGE
    assert session["next_cursor"] is not None
    first = [item["request_id"] for item in session["requests"]]
    assert first == [row.request_id for row in rows[:SESSION_PAGE]]  # oldest first
    # The summary is the whole session's, not the page's.
    assert session["session_name"] == LARGE_NAME
    assert session["total_requests"] == REQUESTS
    assert session["total_tokens"] == sum(row.total_tokens or 0 for row in rows)
    assert session["prompt_tokens"] == sum(row.prompt_tokens or 0 for row in rows)
    assert math.isclose(session["total_cost"], sum(row.cost or 0.0 for row in rows))
    start = min(row.request_created_at for row in rows)
    end = max(row.response_created_at for row in rows)
    assert (session["created_at_ms"], session["duration_ms"]) == (start, end - start)


def test_following_the_cursors_yields_every_request_exactly_once_in_order(
    large: tuple[ReceiverThread, httpx.Client, list[StoredRequest]],
) -> None:
    _, client, rows = large
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(10):
        page = _session(client, cursor=cursor)
        seen += [item["request_id"] for item in page["requests"]]
        sizes.append(len(page["requests"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [SESSION_PAGE, SESSION_PAGE, REQUESTS - 2 * SESSION_PAGE]
    assert len(set(seen)) == len(seen) == REQUESTS
    # Three requests share each start millisecond: the cursor breaks the tie by insert order.
    assert seen == [row.request_id for row in rows]


def test_a_smaller_limit_pages_the_same_order(
    large: tuple[ReceiverThread, httpx.Client, list[StoredRequest]],
) -> None:
    _, client, rows = large
    first = _session(client, limit=4)
    second = _session(client, limit=4, cursor=first["next_cursor"])
    ids = [item["request_id"] for item in first["requests"] + second["requests"]]
    assert ids == [row.request_id for row in rows[:8]]


def test_the_tree_counts_the_whole_session_on_every_page(
    large: tuple[ReceiverThread, httpx.Client, list[StoredRequest]],
) -> None:
    _, client, rows = large

    def under(path: str) -> list[StoredRequest]:
        return [
            r for r in rows if f"{node_path(r.session_path)}/".startswith(path.rstrip("/") + "/")
        ]

    def expected(path: str) -> dict[str, Any]:
        return {
            "own_requests": sum(node_path(r.session_path) == path for r in rows),
            "total_requests": len(under(path)),
            "total_tokens": sum(r.total_tokens or 0 for r in under(path)),
            "start_ms": min(r.request_created_at for r in under(path)),
            "end_ms": max(r.response_created_at for r in under(path)),
        }

    first = _session(client)
    last = _session(client, cursor=_session(client, cursor=first["next_cursor"])["next_cursor"])
    for page in (first, last):
        tree = page["tree"]
        paths = [node["path"] for node in _nodes(tree)]
        assert paths == ["/", "/plan", "/plan/search", "/plan/search/fetch", "/review"]
        for node in _nodes(tree):
            path = node["path"]
            assert {key: node[key] for key in expected(path)} == expected(path), path
            assert math.isclose(node["total_cost"], sum(r.cost or 0.0 for r in under(path)))
        assert tree["total_requests"] == page["total_requests"] == REQUESTS
        # Each node lists the ids of this page's requests at its own path, and only those.
        listed = {rid: node["path"] for node in _nodes(tree) for rid in node["request_ids"]}
        assert listed == {
            item["request_id"]: node_path(item["session_path"]) for item in page["requests"]
        }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"limit": SESSION_PAGE + 1}, f"limit must be an integer from 1 to {SESSION_PAGE}"),
        ({"limit": 0}, f"limit must be an integer from 1 to {SESSION_PAGE}"),
        ({"cursor": "page two"}, "cursor must be a next_cursor from a page, got 'page two'"),
        ({"cursor": 7}, "cursor must be a string, got number"),
    ],
)
def test_a_session_page_beyond_the_cap_or_with_a_bad_cursor_is_refused(
    large: tuple[ReceiverThread, httpx.Client, list[StoredRequest]],
    body: dict[str, Any],
    error: str,
) -> None:
    _, client, _ = large
    response = client.post("/v1/dashboard/session", json={"session_id": LARGE, **body})
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


def test_every_session_query_reads_an_index_and_never_the_whole_table(
    large: tuple[ReceiverThread, httpx.Client, list[StoredRequest]],
) -> None:
    """EXPLAIN QUERY PLAN of each statement a session page runs, first page and later."""
    running, client, _ = large
    cursor = decode_cursor(_session(client)["next_cursor"])
    statements: list[str] = []

    def traced(db: sqlite3.Connection) -> dict[str, list[str]]:
        db.set_trace_callback(statements.append)
        try:
            session_detail(db, LARGE)
            session_detail(db, LARGE, cursor=cursor)
        finally:
            db.set_trace_callback(None)
        return {
            sql: [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
            for sql in statements
            if sql.lstrip().upper().startswith("SELECT")
        }

    plans = running.store.read(traced)
    steps = {step for plan in plans.values() for step in plan}
    assert steps == {
        "SEARCH s USING INDEX sqlite_autoindex_sessions_1 (session_id=?)",  # the summary
        "SEARCH r USING INDEX requests_by_session (session_id=?)",  # the first page
        "SEARCH r USING INDEX requests_by_session (session_id=? AND request_created_at>?)",
        "SEARCH r USING COVERING INDEX requests_by_session_path (session_id=?)",  # the tree
    }
    assert len(plans) == 4 and all(len(plan) == 1 for plan in plans.values())  # no temp b-tree
