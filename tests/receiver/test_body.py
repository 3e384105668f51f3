"""The receiver shows streams consolidated and prices logs, as Helicone's Jawn does."""

from __future__ import annotations

from typing import Any

import orjson

from heliograph.model.pricing import cost_usd
from heliograph.model.usage import Usage
from heliograph.receiver.body import process_body, raw_body

STREAM_REQUEST = {"model": "gpt-4o-mini", "stream": True}
CHUNKS = [
    {"model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
]
TRANSCRIPT = "".join(orjson.dumps(c).decode() + "\n" for c in CHUNKS)


def response(text: str | None = None, status: int = 200, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"json": fields.pop("json", {}), "status": status, "headers": {}}
    if text is not None:
        out["textBody"] = text
    return {**out, **fields}


def test_a_stream_is_stored_consolidated_with_its_chunks_and_the_raw_body_kept() -> None:
    processed = process_body("OPENAI", STREAM_REQUEST, response(TRANSCRIPT), "gpt-4o-mini")
    body = orjson.loads(processed.body)
    assert body["choices"][0]["message"]["content"] == "Hello"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["streamed_data"] == CHUNKS
    assert processed.raw == TRANSCRIPT
    assert processed.usage == Usage(9, 2)
    assert processed.cost == cost_usd("OPENAI", "gpt-4o-mini", Usage(9, 2))


def test_a_cancelled_stream_loses_only_the_text_after_its_last_newline() -> None:
    torn = TRANSCRIPT + '{"choices":[{"index":0,"delta":{"content":"!!'
    processed = process_body("OPENAI", STREAM_REQUEST, response(torn, status=-3), None)
    body = orjson.loads(processed.body)
    assert body["choices"][0]["message"]["content"] == "Hello"  # the torn chunk is dropped
    assert len(body["streamed_data"]) == 3
    assert processed.raw == torn


def test_a_failed_stream_keeps_its_error_text_first() -> None:
    text = "Traceback ...\nConnectionError: hung up\n\n" + TRANSCRIPT
    processed = process_body("OPENAI", STREAM_REQUEST, response(text, status=500), None)
    assert processed.body == text and processed.raw is None
    assert processed.usage == Usage(9, 2)  # tokens still counted from the partial stream


def test_streamed_data_in_the_json_is_read_as_a_synthetic_stream() -> None:
    given = response(json={"streamed_data": CHUNKS})
    assert raw_body(given) == "\n".join("data: " + orjson.dumps(c).decode() for c in CHUNKS)
    processed = process_body("OPENAI", STREAM_REQUEST, given, None)
    assert orjson.loads(processed.body)["choices"][0]["message"]["content"] == "Hello"


def test_a_cost_sent_by_the_client_wins_and_custom_logs_are_not_priced() -> None:
    plain = {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 5, "completion_tokens": 5}}
    request = {"model": "gpt-4o-mini"}
    assert process_body("OPENAI", request, response(json=plain, cost=0.125), None).cost == 0.125
    assert process_body("CUSTOM", request, response(json=plain), "gpt-4o-mini").cost is None
    priced = process_body("OPENAI", request, response(json=plain), "gpt-4o-mini").cost
    assert priced == cost_usd("OPENAI", "gpt-4o-mini", Usage(5, 5))


def test_a_json_body_on_a_stream_request_is_not_treated_as_a_stream() -> None:
    whole = {"model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 1}}
    text = orjson.dumps(whole).decode()
    processed = process_body("OPENAI", STREAM_REQUEST, response(text), None)
    assert processed.body == text and processed.raw is None
