"""The dashboard's store and API pieces, without a browser: summaries, filters, pages, files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.receiver import ReceiverThread, Store
from heliograph.receiver.views import latest_change

from . import dashboard_data
from .dashboard_data import TRIP, TRIP_NAME, XSS_SESSION, Seeded
from .helpers import AUTH, START_MS, make_record, post_record


@pytest.fixture(scope="module")
def seeded_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, Seeded]]:
    path = tmp_path_factory.mktemp("dashboard") / "receiver.sqlite3"
    with ReceiverThread(db_path=path) as running, httpx.Client(base_url=running.url) as http:
        yield http, dashboard_data.seed(http)


def _data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.json()["error"] is None
    return response.json()["data"]


def _requests(client: httpx.Client, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = _data(client.post("/v1/dashboard/requests", json=body))
    return result


def _summaries_by_group_by(db_path: Path) -> list[tuple[Any, ...]]:
    """What the summary table must hold, recomputed from every row the slow way."""
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(
            "SELECT session_id, COUNT(*), MIN(request_created_at), MAX(request_created_at),"
            " MAX(response_created_at), COALESCE(SUM(prompt_tokens), 0),"
            " COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(total_tokens), 0),"
            " ROUND(COALESCE(SUM(cost), 0), 12)"
            " FROM requests WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()


def _summaries_in_table(db_path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(
            "SELECT session_id, total_requests, created_at, latest_request_created_at,"
            " latest_response_created_at, prompt_tokens, completion_tokens, total_tokens,"
            " ROUND(total_cost, 12) FROM sessions ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()


def _post_all(client: httpx.Client) -> None:
    for route, record in dashboard_data.build().values():
        assert post_record(client, record, route=route).status_code == 200


def test_session_summaries_match_the_rows_and_ignore_duplicates(db_path: Path) -> None:
    with ReceiverThread(db_path=db_path) as running, httpx.Client(base_url=running.url) as http:
        logs = list(dashboard_data.build().values())
        for route, record in reversed(logs):  # out of order: the summary must not care
            assert post_record(http, record, route=route).status_code == 200
        for route, record in logs[:3]:  # delivery retries: stored once, counted once
            assert post_record(http, record, route=route).status_code == 200
        assert running.store.stats()["duplicates"] == 3
    expected = _summaries_by_group_by(db_path)
    assert [row[:2] for row in expected] == [(TRIP, 5), (XSS_SESSION, 1)]
    assert _summaries_in_table(db_path) == expected


def test_a_database_without_summaries_is_backfilled_once_on_open(db_path: Path) -> None:
    with ReceiverThread(db_path=db_path) as running, httpx.Client(base_url=running.url) as http:
        _post_all(http)
    expected = _summaries_in_table(db_path)
    conn = sqlite3.connect(db_path)  # make it look like a database from before the dashboard
    for kind, name in [
        ("TRIGGER", "requests_summarise_session"),
        ("TRIGGER", "requests_index_properties"),
        ("INDEX", "requests_by_model"),
        ("INDEX", "requests_by_status"),
        ("TABLE", "sessions"),
        ("TABLE", "session_names"),
        ("TABLE", "request_properties"),
    ]:
        conn.execute(f"DROP {kind} {name}")
    conn.commit()
    conn.close()
    with Store(db_path) as store:
        assert _summaries_in_table(db_path) == expected
        assert [s["session_name"] for s in store.query_sessions(search="plan")] == [TRIP_NAME]
        late = make_record(headers={"Helicone-Session-Id": TRIP, "Helicone-Property-Env": "qa"})
    with ReceiverThread(db_path=db_path) as running, httpx.Client(base_url=running.url) as http:
        assert post_record(http, late).status_code == 200  # the triggers came back too
        page = _requests(http, filter={"properties": {"env": "prod"}})
        assert [i["session_path"] for i in page["items"]] == ["/plan/search"]
    assert _summaries_in_table(db_path)[0][1] == 6


def test_a_session_is_named_after_its_latest_named_request_whatever_the_arrival_order(
    db_path: Path,
) -> None:
    def named(minute: int, name: str) -> Any:
        start = START_MS + minute * 60_000
        headers = {"Helicone-Session-Id": "s-n", "Helicone-Session-Name": name}
        return make_record(start_ms=start, end_ms=start + 10, headers=headers)

    with ReceiverThread(db_path=db_path) as running, httpx.Client(base_url=running.url) as http:
        for record in (named(5, "newest"), named(1, "oldest"), named(3, "middle")):
            post_record(http, record)
        sessions = _data(http.post("/v1/dashboard/sessions", json={"search": "oldest"}))
    assert [(s["session_id"], s["session_name"]) for s in sessions["items"]] == [("s-n", "newest")]


def test_sessions_page_has_totals_duration_and_a_count(
    seeded_client: tuple[httpx.Client, Seeded],
) -> None:
    client, _ = seeded_client
    page = _data(client.post("/v1/dashboard/sessions", json={"limit": 1}))
    assert page["total"] == 2
    assert [s["session_id"] for s in page["items"]] == [XSS_SESSION]  # latest activity first
    second = _data(client.post("/v1/dashboard/sessions", json={"limit": 1, "offset": 1}))
    trip = second["items"][0]
    assert trip["session_name"] == TRIP_NAME
    assert trip["total_requests"] == 5
    assert trip["created_at_ms"] == START_MS
    assert trip["duration_ms"] == 4 * 60_000 + 800  # first start to last end
    assert trip["total_tokens"] == 12 + 25 + 37 + 16
    assert trip["total_cost"] > 0


def test_session_detail_builds_the_session_path_tree(
    seeded_client: tuple[httpx.Client, Seeded],
) -> None:
    client, seeded = seeded_client
    session = _data(client.post("/v1/dashboard/session", json={"session_id": TRIP}))
    assert [r["session_path"] for r in session["requests"]] == [
        "/plan", "/plan/search", "/plan/search", "/plan/book", "/plan/book",
    ]  # fmt: skip
    assert session["next_cursor"] is None  # the whole session fits in one page
    root = session["tree"]
    assert (root["path"], root["total_requests"], root["request_ids"]) == ("/", 5, [])
    (plan,) = root["children"]
    assert (plan["path"], plan["request_ids"]) == ("/plan", [seeded.id("openai_chat")])
    assert (root["own_requests"], plan["own_requests"], plan["total_requests"]) == (0, 1, 5)
    search, book = plan["children"]
    assert search["path"] == "/plan/search"
    assert search["request_ids"] == [seeded.id("tool_call"), seeded.id("anthropic")]
    assert (search["total_tokens"], search["start_ms"]) == (25 + 37, START_MS + 60_000)
    assert book["total_requests"] == 2 and book["children"] == []


def test_a_request_without_a_path_sits_at_the_root(db_path: Path) -> None:
    with ReceiverThread(db_path=db_path) as running, httpx.Client(base_url=running.url) as http:
        record = make_record(headers={"Helicone-Session-Id": "flat"})
        post_record(http, record)
        tree = _data(http.post("/v1/dashboard/session", json={"session_id": "flat"}))["tree"]
    assert (tree["request_ids"], tree["children"]) == ([record.request_id], [])


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"model": "gpt-4.1"}, ["responses_api"]),
        ({"status": 500}, ["failed"]),
        ({"user_id": "ann"}, ["openai_chat"]),
        ({"properties": {"env": "prod"}}, ["tool_call"]),
        ({"properties": {"env": "dev"}}, ["lone"]),
        ({"properties": {"env": "prod", "Helicone-Session-Path": "/plan/search"}}, ["tool_call"]),
        ({"search": "TGV"}, ["anthropic"]),  # a tool result in the request body
        ({"search": "upstream timeout"}, ["failed"]),  # the response body
        ({"search": "100%"}, []),  # LIKE wildcards are matched literally
        ({"session_id": TRIP, "user_id": "bob"}, ["failed"]),
        (
            {"created_after_ms": START_MS + 60_000, "created_before_ms": START_MS + 3 * 60_000},
            ["anthropic", "tool_call"],
        ),
    ],
)
def test_request_list_filters(
    seeded_client: tuple[httpx.Client, Seeded], filter_: dict[str, Any], expected: list[str]
) -> None:
    client, seeded = seeded_client
    page = _requests(client, filter=filter_)
    assert [i["request_id"] for i in page["items"]] == [seeded.id(label) for label in expected]


def test_request_list_pages_by_cursor_newest_first(
    seeded_client: tuple[httpx.Client, Seeded],
) -> None:
    client, seeded = seeded_client
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        page = _requests(client, limit=3, cursor=cursor)
        seen += [i["request_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    newest_first = [seeded.id(label) for label in reversed(list(seeded.records))]
    assert seen == newest_first
    item = _requests(client, limit=1)["items"][0]
    assert "request_body" not in item and item["properties"] == {"env": "dev"}


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/v1/dashboard/requests", {"filter": {"color": "red"}}, "unknown filter field 'color'"),
        (
            "/v1/dashboard/requests",
            {"filter": {"status": "500"}},
            "filter.status must be an integer",
        ),
        ("/v1/dashboard/requests", {"filter": {"properties": {"a": 1}}}, "filter.properties must"),
        ("/v1/dashboard/requests", {"cursor": "yesterday"}, "cursor must be a next_cursor"),
        ("/v1/dashboard/requests", {"limit": 201}, "limit must be an integer from 1 to 200"),
        ("/v1/dashboard/sessions", {"search": 3}, "search must be a string, got number"),
        ("/v1/dashboard/session", {}, "session_id must be a non-empty string"),
    ],
)
def test_dashboard_queries_name_the_field_at_fault(
    seeded_client: tuple[httpx.Client, Seeded], path: str, body: dict[str, Any], error: str
) -> None:
    response = seeded_client[0].post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


def test_unknown_session_is_404(seeded_client: tuple[httpx.Client, Seeded]) -> None:
    response = seeded_client[0].post("/v1/dashboard/session", json={"session_id": "a/b"})
    assert (response.status_code, response.json()["error"]) == (404, "session a/b not found")


def test_version_grows_with_each_new_request_and_not_with_a_duplicate(db_path: Path) -> None:
    with ReceiverThread(db_path=db_path) as running, httpx.Client(base_url=running.url) as http:
        assert _data(http.get("/v1/dashboard/version")) == {"version": 0}
        record = make_record()
        post_record(http, record)
        first = _data(http.get("/v1/dashboard/version"))["version"]
        post_record(http, record)
        assert _data(http.get("/v1/dashboard/version"))["version"] == first
        post_record(http, make_record())
        assert _data(http.get("/v1/dashboard/version"))["version"] > first
        assert running.store.read(latest_change) == first + 1


def test_page_and_assets_are_served_with_a_strict_content_security_policy(
    seeded_client: tuple[httpx.Client, Seeded],
) -> None:
    client, _ = seeded_client
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/ui/app.js">' in page.text
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        asset = client.get(f"/ui/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert client.get("/ui/store.py").status_code == 404
    assert client.get("/ui/%2e%2e%2fstore.py").status_code == 404


def test_the_script_never_parses_log_content_as_markup() -> None:
    """The XSS rule, checked at the source: no innerHTML-like sink anywhere in the scripts."""
    static = Path(__file__).resolve().parents[2] / "src" / "heliograph" / "receiver" / "static"
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(")
    for script in static.glob("*.js"):
        text = script.read_text()
        assert not [sink for sink in sinks if sink in text], script.name


def test_with_keys_the_page_is_open_and_its_data_needs_a_key(db_path: Path) -> None:
    with (
        ReceiverThread(db_path=db_path, require_keys=["test-key"]) as running,
        httpx.Client(base_url=running.url) as http,
    ):
        assert http.get("/").status_code == 200
        assert http.get("/ui/app.js").status_code == 200
        assert http.get("/v1/dashboard/version").status_code == 401
        assert http.post("/v1/dashboard/sessions", json={}).status_code == 401
        assert http.get("/v1/dashboard/version", headers=AUTH).status_code == 200
