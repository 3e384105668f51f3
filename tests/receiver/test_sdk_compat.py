"""Helicone's own Python SDK (helicone-helpers) logs to the receiver as it would to Helicone."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from heliograph.model import Session, new_request_id
from heliograph.receiver import ReceiverThread

from .helpers import stored

sdk = pytest.importorskip("helicone_helpers")


def test_sdk_log_request_is_stored_with_its_quirks(
    receiver: ReceiverThread, client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = sdk.HeliconeManualLogger(api_key="sk-helicone-test", logging_endpoint=receiver.url)
    request_id = new_request_id()
    headers = {"Helicone-Request-Id": request_id, **Session(id="s-1", name="Chat").headers()}

    def operation(recorder: Any) -> str:
        recorder.append_results(
            {"model": "gpt-4o", "usage": {"prompt_tokens": 7, "completion_tokens": 5}}
        )
        return "done"

    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    result = logger.log_request(request, operation, additional_headers=headers, provider="openai")
    assert result == "done"
    assert capsys.readouterr().out == ""  # the SDK prints only when a log is refused
    item = stored(client, request_id)
    assert (item["provider"], item["model"], item["session_name"]) == ("OPENAI", "gpt-4o", "Chat")
    assert (item["prompt_tokens"], item["completion_tokens"], item["total_tokens"]) == (7, 5, 12)
    assert item["time_to_first_token"] == 0  # the SDK sends null, which Helicone reads as 0


def test_sdk_stream_builder_is_stored_with_usage_from_the_chunks(
    receiver: ReceiverThread, client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = sdk.HeliconeManualLogger(api_key="sk-helicone-test", logging_endpoint=receiver.url)
    request_id = new_request_id()
    builder = logger.log_builder(
        {"model": "gpt-4o", "stream": True}, {"Helicone-Request-Id": request_id}
    )
    builder.add_chunk({"choices": [{"delta": {"content": "hel"}}]})
    builder.add_chunk({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})
    asyncio.run(builder.send_log())
    assert capsys.readouterr().out == ""
    item = stored(client, request_id)
    assert item["response_raw"].count("\n") == 1  # chunks joined by newlines, no "data:"
    consolidated = orjson.loads(item["response_body"])  # as Helicone's stream parser shows it
    assert consolidated["choices"][0]["message"]["content"] == "hel"
    assert len(consolidated["streamed_data"]) == 2
    assert (item["prompt_tokens"], item["completion_tokens"]) == (3, 2)
    assert item["time_to_first_token"] >= 0
