"""The read API: request and session queries shaped like Helicone's REST API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from heliograph.model import Record
from heliograph.model.pricing import cost_usd
from heliograph.model.usage import usage_from_response

from .helpers import START_MS, make_record, post_record

ITEM_KEYS = {
    "request_id",
    "request_created_at",
    "response_created_at",
    "request_body",
    "response_body",
    "response_raw",
    "response_status",
    "model",
    "provider",
    "target_url",
    "request_user_id",
    "request_properties",
    "delay_ms",
    "time_to_first_token",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_cache_read_tokens",
    "prompt_cache_write_tokens",
    "cost",
    "session_id",
    "session_name",
    "session_path",
}


def _record(minute: int, **fields: Any) -> Record:
    start = START_MS + minute * 60_000
    return make_record(start_ms=start, end_ms=start + 500, **fields)


def _session(session_id: str, name: str, path: str, **more: str) -> dict[str, str]:
    return {
        "Helicone-Session-Id": session_id,
        "Helicone-Session-Name": name,
        "Helicone-Session-Path": path,
        **more,
    }


@pytest.fixture(scope="module")
def seeded(shared_client: httpx.Client) -> list[Record]:
    """Six logs at minutes 0..5, in two sessions and one without, posted out of order."""
    records = [
        _record(0, headers=_session("s-a", "Plan trip", "/plan", **{"Helicone-User-Id": "ann"})),
        _record(1, headers=_session("s-a", "Plan trip", "/plan/search"), cost_usd=0.25),
        _record(2, headers=_session("s-b", "Fix bug 100%", "/")),
        _record(3, headers={"Helicone-User-Id": "ann"}, status=500, response_json={"error": {}}),
        _record(4, headers=_session("s-a", "Plan trip", "/plan/book"), cost_usd=0.5),
        _record(5, request={"model": "claude-sonnet-4"}, response_json={}),
    ]
    routes = ["/oai/v1/log"] * 5 + ["/anthropic/v1/log"]
    for index in (3, 0, 5, 1, 4, 2):
        response = post_record(shared_client, records[index], route=routes[index])
        assert response.status_code == 200
    return records


def _priced(record: Record) -> float:
    """The cost the receiver computes for an OpenAI log that came without one."""
    usage = usage_from_response("OPENAI", record.response_json or {})
    assert usage is not None
    cost = cost_usd("OPENAI", str((record.response_json or {})["model"]), usage)
    assert cost is not None and cost > 0
    return cost


def _query(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/request/query", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["error"] is None
    data: list[dict[str, Any]] = payload["data"]
    return data


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["request_id"] for item in items]


def test_query_returns_helicone_shaped_items_newest_first(
    shared_client: httpx.Client, seeded: list[Record]
) -> None:
    items = _query(shared_client, {})
    assert _ids(items) == [r.request_id for r in reversed(seeded)]
    assert set(items[0]) == ITEM_KEYS
    assert items[-1]["request_created_at"] == "2023-11-14T22:13:20.000Z"


def test_query_sorts_oldest_first_on_request(
    shared_client: httpx.Client, seeded: list[Record]
) -> None:
    items = _query(shared_client, {"sort": {"created_at": "asc"}})
    assert _ids(items) == [r.request_id for r in seeded]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"session_id": "s-a"}, [4, 1, 0]),
        ({"user_id": "ann"}, [3, 0]),
        ({"model": "claude-sonnet-4"}, [5]),
        ({"status": 500}, [3]),
        ({"provider": "anthropic"}, [5]),  # provider names in any case, as in the client
        ({"session_id": "s-a", "user_id": "ann"}, [0]),
        ({"session_id": "nope"}, []),
    ],
)
def test_query_filters_by_each_field(
    shared_client: httpx.Client, seeded: list[Record], filter_: dict[str, Any], expected: list[int]
) -> None:
    items = _query(shared_client, {"filter": filter_})
    assert _ids(items) == [seeded[i].request_id for i in expected]


def test_query_pages_with_offset_and_limit(
    shared_client: httpx.Client, seeded: list[Record]
) -> None:
    newest_first = [r.request_id for r in reversed(seeded)]
    pages = [_ids(_query(shared_client, {"offset": o, "limit": 4})) for o in (0, 4, 8)]
    assert pages == [newest_first[:4], newest_first[4:], []]


_SORT_ERROR = 'sort must be {"created_at": "asc"} or {"created_at": "desc"}'


_BAD_QUERIES = [
    (
        {"filter": {"color": "red"}},
        "unknown filter field 'color'; use one of session_id, user_id, model, status, provider",
    ),
    ({"filter": {"status": "500"}}, "filter.status must be an integer, got string"),
    ({"filter": {"model": 4}}, "filter.model must be a string, got number"),
    ({"filter": []}, "filter must be an object, got array"),
    ({"limit": 0}, "limit must be an integer from 1 to 1000, got 0"),
    ({"limit": 1001}, "limit must be an integer from 1 to 1000, got 1001"),
    ({"offset": -1}, "offset must be an integer from 0 to 4611686018427387904, got -1"),
    ({"sort": {"created_at": "up"}}, 'sort.created_at must be "asc" or "desc", got \'up\''),
    ({"sort": {"cost": "asc"}}, _SORT_ERROR),
    ({"sort": []}, _SORT_ERROR),
]


@pytest.mark.parametrize(("body", "error"), _BAD_QUERIES)
def test_query_rejects_a_malformed_body_naming_the_field(
    shared_client: httpx.Client, body: dict[str, Any], error: str
) -> None:
    response = shared_client.post("/v1/request/query", json=body)
    assert (response.status_code, response.json()) == (400, {"data": None, "error": error})


@pytest.mark.parametrize(
    ("content", "error"),
    [(b"[]", "body must be a JSON object, got array"), (b"{", "Invalid JSON body: ")],
)
def test_query_rejects_a_body_that_is_not_a_json_object(
    shared_client: httpx.Client, content: bytes, error: str
) -> None:
    response = shared_client.post("/v1/request/query", content=content)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)


def test_get_request_returns_one_item(shared_client: httpx.Client, seeded: list[Record]) -> None:
    response = shared_client.get(f"/v1/request/{seeded[1].request_id}")
    assert response.status_code == 200
    item = response.json()["data"]
    assert item["session_path"] == "/plan/search"
    assert item["cost"] == 0.25


def test_unknown_request_is_404(shared_client: httpx.Client) -> None:
    response = shared_client.get("/v1/request/0f8fad5b-d9cb-469f-a165-70867728950e")
    assert response.status_code == 404
    assert response.json() == {
        "data": None,
        "error": "request 0f8fad5b-d9cb-469f-a165-70867728950e not found",
    }


def test_session_query_aggregates_tokens_cost_and_times(
    shared_client: httpx.Client, seeded: list[Record]
) -> None:
    response = shared_client.post("/v1/session/query", json={})
    assert response.status_code == 200
    sessions = response.json()["data"]
    assert [s["session_id"] for s in sessions] == ["s-a", "s-b"]  # latest activity first
    assert sessions[0] == {
        "session_id": "s-a",
        "session_name": "Plan trip",
        "created_at": "2023-11-14T22:13:20.000Z",
        "latest_request_created_at": "2023-11-14T22:17:20.000Z",
        "total_requests": 3,
        "prompt_tokens": 27,
        "completion_tokens": 9,
        "total_cost": pytest.approx(0.75 + _priced(seeded[0])),
    }


@pytest.mark.parametrize(
    ("search", "expected"),
    [("plan", ["s-a"]), ("S-B", ["s-b"]), ("100%", ["s-b"]), ("1_0", []), ("_", [])],
)
def test_session_query_search_matches_id_or_name(
    shared_client: httpx.Client, seeded: list[Record], search: str, expected: list[str]
) -> None:
    response = shared_client.post("/v1/session/query", json={"search": search})
    assert [s["session_id"] for s in response.json()["data"]] == expected


def test_session_query_pages(shared_client: httpx.Client, seeded: list[Record]) -> None:
    response = shared_client.post("/v1/session/query", json={"offset": 1, "limit": 1})
    assert [s["session_id"] for s in response.json()["data"]] == ["s-b"]


def test_get_session_lists_its_requests_in_time_order(
    shared_client: httpx.Client, seeded: list[Record]
) -> None:
    response = shared_client.get("/v1/session/s-a")
    assert response.status_code == 200
    session = response.json()["data"]
    assert session["total_requests"] == 3
    assert [r["session_path"] for r in session["requests"]] == [
        "/plan",
        "/plan/search",
        "/plan/book",
    ]
    assert [r["request_id"] for r in session["requests"]] == [
        seeded[i].request_id for i in (0, 1, 4)
    ]


def test_unknown_session_is_404(shared_client: httpx.Client) -> None:
    response = shared_client.get("/v1/session/nope")
    assert (response.status_code, response.json()) == (
        404,
        {"data": None, "error": "session nope not found"},
    )
