"""Real SDK streams through the pass-through wrapper: the caller sees exactly the SDK's
objects, and the log carries the stream transcript and a TTFT matching the provider's delay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from heliograph import ManualLogger
from heliograph.receiver import ReceiverThread
from tests.providers.fake_provider import FakeProvider, Script

Logger = Callable[..., ManualLogger]
DELAY_S = 0.15


def logged(logger: ManualLogger, sink: ReceiverThread, request_id: str) -> dict[str, Any]:
    assert logger.flush(timeout=20).pending == 0
    row = sink.store.get_request(request_id)
    assert row is not None
    return row


def test_openai_chat_stream_is_passed_through_and_logged_with_ttft(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = str(uuid.uuid4())
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
               "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    with FakeProvider(Script(text="Hello streaming world", first_chunk_delay_s=DELAY_S)) as fake:
        client = openai.OpenAI(base_url=fake.url + "/v1", api_key="sk-fake")
        builder = logger.log_builder(request, {"Helicone-Request-Id": request_id},
                                     provider="openai")  # fmt: skip
        stream = client.chat.completions.create(**request)
        chunks = list(builder.to_stream(stream))
        client.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello streaming world"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 12
    row = logged(logger, sink, request_id)
    assert row["provider"] == "OPENAI"
    assert row["response_status"] == 200
    assert DELAY_S * 1000 - 5 <= row["time_to_first_token"] <= DELAY_S * 1000 + 250
    sent = [orjson.loads(line) for line in row["response_raw"].splitlines()]
    assert sent == [chunk.model_dump(mode="json", exclude_unset=True) for chunk in chunks]
    assert orjson.loads(row["response_body"])["choices"][0]["message"]["content"] == text
    assert row["prompt_tokens"] == 12  # the receiver reads usage from the transcript
    assert "heliograph-tokens" not in row["request_properties"]  # provider usage, not estimated


def test_anthropic_async_stream_error_mid_stream_is_logged_as_500(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = str(uuid.uuid4())
    request = {"model": "claude-sonnet-4", "max_tokens": 64, "stream": True,
               "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip

    async def main(url: str) -> list[Any]:
        client = anthropic.AsyncAnthropic(base_url=url, api_key="sk-ant-fake")
        builder = logger.log_builder(request, {"Helicone-Request-Id": request_id},
                                     provider="anthropic")  # fmt: skip
        received: list[Any] = []
        try:
            with pytest.raises(anthropic.APIStatusError):
                stream = await client.messages.create(**request)
                async for event in builder.to_stream(stream):
                    received.append(event)
        finally:
            await client.close()
        return received

    with FakeProvider(Script(text="one two three four", error_after_chunks=2)) as fake:
        received = asyncio.run(main(fake.url))
    assert any(getattr(e, "type", "") == "content_block_delta" for e in received)
    row = logged(logger, sink, request_id)
    assert row["provider"] == "ANTHROPIC"
    assert row["response_status"] == 500
    assert row["request_properties"]["stream-end"] == "error"


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
        "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip


def test_httpx_streaming_response_is_read_as_raw_bytes_and_logged(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = str(uuid.uuid4())
    with FakeProvider(Script(text="Raw bytes here", first_chunk_delay_s=DELAY_S)) as fake:
        builder = logger.log_builder(CHAT, {"Helicone-Request-Id": request_id}, provider="openai")
        with httpx.Client() as http, http.stream("POST", fake.url + "/v1/chat/completions",
                                                 json=CHAT) as response:  # fmt: skip
            received = b"".join(builder.to_stream(response))
        sent = fake.sent[0]
    assert received == sent  # every byte the provider sent, unchanged
    row = logged(logger, sink, request_id)
    assert row["response_raw"] == sent.decode()
    assert (
        orjson.loads(row["response_body"])["choices"][0]["message"]["content"] == "Raw bytes here"
    )
    assert row["prompt_tokens"] == 12
    assert DELAY_S * 1000 - 5 <= row["time_to_first_token"] <= DELAY_S * 1000 + 250


def test_async_httpx_streaming_response_is_closed_when_the_consumer_stops_early(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = str(uuid.uuid4())

    async def main(url: str) -> httpx.Response:
        builder = logger.log_builder(CHAT, {"Helicone-Request-Id": request_id}, provider="openai")
        async with httpx.AsyncClient() as http:
            request = http.build_request("POST", url + "/v1/chat/completions", json=CHAT)
            response = await http.send(request, stream=True)
            chunks = builder.to_stream(response)
            async for _chunk in chunks:
                break
            await chunks.aclose()
            return response

    with FakeProvider(Script(text="one two three four", chunk_delay_s=0.01)) as fake:
        response = asyncio.run(main(fake.url))
    assert response.is_closed
    row = logged(logger, sink, request_id)
    assert row["response_status"] == -3
    assert row["request_properties"]["stream-end"] == "closed"
