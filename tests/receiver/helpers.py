"""Builders for async-log bodies and posts, using the real client contract."""

from __future__ import annotations

from typing import Any

import httpx

from heliograph.model import Record, new_request_id
from heliograph.model.helicone import async_log_body

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z


def make_record(**overrides: Any) -> Record:
    """A finished chat completion; keyword arguments replace any ``Record`` field."""
    fields: dict[str, Any] = {
        "request_id": new_request_id(),
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "start_ms": START_MS,
        "end_ms": START_MS + 250,
        "response_json": {
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"message": {"role": "assistant", "content": "hello"}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        },
    }
    fields.update(overrides)
    return Record(**fields)


def make_body(**overrides: Any) -> dict[str, Any]:
    return async_log_body(make_record(**overrides))


def post_record(
    client: httpx.Client,
    record: Record,
    *,
    route: str = "/custom/v1/log",
    headers: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST ``record`` as Heliograph's delivery does: id and Helicone headers on the request."""
    sent = {**AUTH, "Helicone-Request-Id": record.request_id, **record.headers, **(headers or {})}
    return client.post(route, json=async_log_body(record), headers=sent)


def stored(client: httpx.Client, request_id: str) -> dict[str, Any]:
    """The stored request, read back through the API."""
    response = client.get(f"/v1/request/{request_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data
