"""Logs for the dashboard tests: a small, varied set, and one session larger than a page.

The small set (two sessions, three API shapes, XSS) is posted through the real ingest
route, so what the dashboard shows is what the receiver made of it (consolidation,
tokens, cost), not rows written by hand. The large session is inserted in bulk on the
store's connection, as bench/dashboard.py seeds, so the summary triggers run on every row
without a thousand posts.
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
from typing import Any

import httpx
import orjson

from heliograph.model import Record
from heliograph.receiver import Store
from heliograph.receiver.schema import COLUMNS, INSERT, StoredRequest

from .helpers import START_MS, make_record, post_record

XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_PROMPT = "<script>window.__xss=2</script> hello"
XSS_ANSWER = '<img src=x onerror="window.__xss=3"> bye'

TRIP = "s-trip"
TRIP_NAME = "Plan trip"
XSS_SESSION = "s-xss"


@dataclasses.dataclass(frozen=True)
class Seeded:
    records: dict[str, Record]  # by a short label

    def id(self, label: str) -> str:
        return self.records[label].request_id


def _session(session_id: str, name: str, path: str, **more: str) -> dict[str, str]:
    return {
        "Helicone-Session-Id": session_id,
        "Helicone-Session-Name": name,
        "Helicone-Session-Path": path,
        **more,
    }


def _at(minute: float, duration_ms: int = 800, **fields: Any) -> Record:
    start = START_MS + int(minute * 60_000)
    return make_record(start_ms=start, end_ms=start + duration_ms, **fields)


def build() -> dict[str, tuple[str, Record]]:
    """Every seeded log by label, with the ingest route it is posted to."""
    openai_chat = _at(
        0,
        headers=_session(TRIP, TRIP_NAME, "/plan", **{"Helicone-User-Id": "ann"}),
        request={
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You plan trips."},
                {"role": "user", "content": "Find me a train to Lyon"},
            ],
        },
    )
    tool_call = _at(
        1,
        headers=_session(TRIP, TRIP_NAME, "/plan/search", **{"Helicone-Property-Env": "prod"}),
        request={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Search trains"}],
            "tools": [{"type": "function", "function": {"name": "search_trains"}}],
        },
        response_json={
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {
                                    "name": "search_trains",
                                    "arguments": '{"to": "Lyon"}',
                                },
                            }
                        ],
                    }
                }
            ],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        },
    )
    anthropic = _at(
        2,
        headers=_session(TRIP, TRIP_NAME, "/plan/search"),
        request={
            "model": "claude-sonnet-4",
            "system": "Be brief.",
            "messages": [
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "08:15 TGV"}
                    ],
                },
            ],
        },
        response_json={
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4",
            "content": [
                {"type": "thinking", "thinking": "The 08:15 fits."},
                {"type": "text", "text": "Take the 08:15 TGV."},
            ],
            "usage": {
                "input_tokens": 30,
                "output_tokens": 7,
                "cache_read_input_tokens": 100,
            },
        },
    )
    responses_api = _at(
        3,
        headers=_session(TRIP, TRIP_NAME, "/plan/book"),
        request={"model": "gpt-4.1", "instructions": "Book it.", "input": "Book the 08:15"},
        response_json={
            "model": "gpt-4.1",
            "output": [
                {
                    "type": "function_call",
                    "name": "book_ticket",
                    "call_id": "fc_1",
                    "arguments": '{"train": "08:15"}',
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Booked."}],
                },
            ],
            "usage": {"input_tokens": 12, "output_tokens": 4, "total_tokens": 16},
        },
    )
    failed = _at(
        4,
        headers=_session(TRIP, TRIP_NAME, "/plan/book", **{"Helicone-User-Id": "bob"}),
        status=500,
        response_json={"error": {"message": "upstream timeout"}},
    )
    xss = _at(
        5,
        headers=_session(XSS_SESSION, XSS_NAME, "/<b>x</b>", **{"Helicone-User-Id": "<i>u</i>"}),
        request={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": XSS_PROMPT}]},
        response_json={
            "model": "gpt-4o-mini",
            "choices": [{"message": {"role": "assistant", "content": XSS_ANSWER}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        },
    )
    lone = _at(
        6,
        headers={"Helicone-Property-Env": "dev"},
        request={"model": "claude-haiku", "messages": [{"role": "user", "content": "ping"}]},
        response_json={"content": [{"type": "text", "text": "pong"}], "usage": {}},
    )
    return {
        "openai_chat": ("/oai/v1/log", openai_chat),
        "tool_call": ("/oai/v1/log", tool_call),
        "anthropic": ("/anthropic/v1/log", anthropic),
        "responses_api": ("/oai/v1/log", responses_api),
        "failed": ("/oai/v1/log", failed),
        "xss": ("/oai/v1/log", xss),
        "lone": ("/anthropic/v1/log", lone),
    }


def seed(client: httpx.Client) -> Seeded:
    records = {}
    for label, (route, record) in build().items():
        response = post_record(client, record, route=route)
        assert response.status_code == 200, response.text
        records[label] = record
    return Seeded(records)


# -- one session larger than the dashboard's page -------------------------------------------

LARGE = "s-large"
LARGE_NAME = "Long agent run"
# Raw paths as agents send them: "plan//search/" is the node /plan/search, None is the root.
LARGE_PATHS = ("/plan", "/plan/search", "plan//search/", None, "/review", "/plan/search/fetch")


def node_path(session_path: str | None) -> str:
    return "/" + "/".join(s for s in (session_path or "").split("/") if s)


def seed_large_session(store: Store, requests: int, *, other: int = 40) -> list[StoredRequest]:
    """``requests`` rows of session ``LARGE`` (and ``other`` rows of another session),
    inserted in a shuffled order in one transaction, so the summary triggers run on each.

    Three requests share each start millisecond, so pages must break ties by insert order.
    Returns the ``LARGE`` rows in the order a session lists them: by start, then insert order.
    """
    rng = random.Random(5)
    rows = [_large_row(n, LARGE, LARGE_NAME) for n in range(requests)]
    rows += [_large_row(requests + n, "s-other", "Other") for n in range(other)]
    rng.shuffle(rows)

    def insert(db: sqlite3.Connection) -> None:
        db.execute("BEGIN")
        db.executemany(INSERT, [_values(row) for row in rows])
        db.execute("COMMIT")

    store.read(insert)
    order = {row.request_id: rowid for rowid, row in enumerate(rows, start=1)}
    mine = [row for row in rows if row.session_id == LARGE]
    return sorted(mine, key=lambda row: (row.request_created_at, order[row.request_id]))


def _large_row(n: int, session_id: str, name: str) -> StoredRequest:
    start = START_MS + (n // 3) * 1_000
    delay = 200 + n % 900
    tokens = None if n % 10 == 0 else n % 17 + 1
    return StoredRequest(
        request_id=f"00000000-0000-4000-8000-{n:012d}",
        provider="OPENAI",
        model=("gpt-4o-mini", "claude-sonnet-4")[n % 2],
        status=500 if n % 50 == 0 else 200,
        target_url="https://api.openai.com/v1/chat/completions",
        user_id=None,
        session_id=session_id,
        session_name=name,
        session_path=LARGE_PATHS[n % len(LARGE_PATHS)],
        properties={},
        request_body='{"messages": []}',
        response_body="{}",
        request_created_at=start,
        response_created_at=start + delay,
        delay_ms=delay,
        time_to_first_token=None,
        prompt_tokens=None if tokens is None else tokens - 1,
        completion_tokens=None if tokens is None else 1,
        total_tokens=tokens,
        cost=None if n % 7 == 0 else n * 1e-5,
        received_at=start + delay,
        auth_fingerprint="sha256:test",
    )


def _values(row: StoredRequest) -> list[object]:
    values: list[object] = [getattr(row, name) for name in COLUMNS]
    values[COLUMNS.index("properties")] = orjson.dumps(row.properties).decode()
    return values
