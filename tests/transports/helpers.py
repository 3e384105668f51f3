"""Records and messages for the producer tests."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from heliograph.model import new_request_id
from heliograph.model.message_data import MessageData, raw_bodies, to_message_data
from heliograph.model.record import Record

START_MS = 1_700_000_000_000.0
AUTHORIZATION = "Bearer sk-helicone-test"
T = TypeVar("T")
R = TypeVar("R")


def make_record(**overrides: Any) -> Record:
    fields: dict[str, Any] = {
        "request_id": new_request_id(),
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "start_ms": START_MS,
        "end_ms": START_MS + 120,
        "provider": "OPENAI",
        "response_json": {"model": "gpt-4o-mini", "choices": [{"message": {"content": "hey"}}]},
    }
    fields.update(overrides)
    return Record(**fields)


def make_message(**overrides: Any) -> MessageData:
    record = make_record(**overrides)
    return to_message_data(record, AUTHORIZATION, raw_bodies(record))


def in_parallel(function: Callable[[T], R], items: Sequence[T], threads: int = 8) -> list[R]:
    """``function`` over ``items`` from several threads at once, as the delivery senders call."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))
