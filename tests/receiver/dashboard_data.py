"""A small, varied set of logs for the dashboard tests: two sessions, three API shapes, XSS.

Each log is posted through the real ingest route, so what the dashboard shows is what the
receiver made of it (consolidation, tokens, cost), not rows written by hand.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from heliograph.model import Record

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
