"""The fake provider speaks the real wire formats: the official SDKs parse what it sends.

Each test drives the real ``openai`` or ``anthropic`` SDK (or raw httpx, for bytes and timing)
against a :class:`FakeProvider` on a loopback port, and checks what the SDK made of it.
"""

from __future__ import annotations

import asyncio
import json
import time
import typing
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pydantic
import pytest
from anthropic.types import Message as AnthropicMessage
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent

from tests.providers.fake_provider import FAKE_SIGNATURE, FakeProvider, Script, parse_sse

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}
CHAT_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
RESPONSES_TOOLS: Any = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": False,
    }
]
ANTHROPIC_TOOLS: Any = [
    {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
MESSAGES: Any = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture
def oai(provider: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=provider.url + "/v1", api_key="sk-fake", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(provider: FakeProvider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=provider.url, api_key="sk-ant-fake", max_retries=0) as client:
        yield client


def _classes_by_type(union: Any) -> dict[str, type[pydantic.BaseModel]]:
    """The models of an SDK's event union, by their ``type``, to validate each one strictly
    (the SDKs themselves build models without validation, so they would accept gaps)."""
    while typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    classes = {}
    for cls in typing.get_args(union):
        [name] = typing.get_args(cls.model_fields["type"].annotation)
        classes[name] = cls
    return classes


def _post(provider: FakeProvider, path: str, body: dict[str, Any]) -> bytes:
    with httpx.Client(timeout=10) as http:
        response = http.post(provider.url + path, json=body)
        assert response.status_code == 200
        return response.content


# --- the provider itself ----------------------------------------------------------------------


def test_provider_serves_on_a_free_loopback_port_and_records_each_request(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    assert provider.url.startswith("http://127.0.0.1:")
    oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    [request] = provider.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-fake"
    assert request.body == json.loads(request.raw)
    assert request.body["messages"] == MESSAGES
    assert len(provider.sent) == 1


def test_sent_holds_exactly_the_bytes_the_client_received(provider: FakeProvider) -> None:
    provider.script = Script(text="One two three", tool_call=WEATHER)
    bodies = [
        _post(provider, "/v1/chat/completions", {"model": "m", "stream": True}),
        _post(provider, "/v1/responses", {"model": "m", "stream": True}),
        _post(provider, "/v1/messages", {"model": "m", "stream": True, "max_tokens": 9}),
        _post(provider, "/v1/messages", {"model": "m", "max_tokens": 9}),
    ]

    assert provider.sent == bodies


def test_sse_frames_use_data_lines_and_named_events_where_the_api_does(
    provider: FakeProvider,
) -> None:
    chat = _post(provider, "/v1/chat/completions", {"model": "m", "stream": True})
    messages = _post(provider, "/v1/messages", {"model": "m", "stream": True, "max_tokens": 9})
    responses = _post(provider, "/v1/responses", {"model": "m", "stream": True})

    assert chat.startswith(b"data: {") and chat.endswith(b"}\n\ndata: [DONE]\n\n")
    assert b"event:" not in chat
    assert messages.startswith(b'event: message_start\ndata: {"type":"message_start",')
    assert messages.endswith(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    assert responses.startswith(b'event: response.created\ndata: {"type":"response.created",')
    for name, data in parse_sse(messages) + parse_sse(responses):
        assert json.loads(data)["type"] == name


def test_unknown_route_answers_404_with_an_openai_error_body(provider: FakeProvider) -> None:
    with httpx.Client() as http:
        response = http.post(provider.url + "/v1/embeddings", json={"model": "m"})

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_closing_the_provider_ends_a_stream_that_is_still_waiting() -> None:
    provider = FakeProvider(Script(first_chunk_delay_s=30))
    provider.start()
    try:
        with (
            httpx.Client(timeout=5) as http,
            http.stream(
                "POST", provider.url + "/v1/chat/completions", json={"model": "m", "stream": True}
            ) as response,
        ):
            started = time.monotonic()
            provider.close()
            elapsed = time.monotonic() - started
            body = response.read()
    finally:
        provider.close()

    assert elapsed < 2
    assert b"Hello" not in body


# --- formats, checked strictly against the SDKs' own models -------------------------------------


def test_every_chat_chunk_validates_as_an_openai_chat_completion_chunk(
    provider: FakeProvider,
) -> None:
    provider.script = Script(text="Hi there", tool_call=WEATHER)
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True}}
    events = parse_sse(_post(provider, "/v1/chat/completions", body))

    assert events[-1] == (None, "[DONE]")
    chunks = [ChatCompletionChunk.model_validate_json(data) for _, data in events[:-1]]
    assert {chunk.id for chunk in chunks} == {chunks[0].id}
    assert all(chunk.obfuscation for chunk in chunks if chunk.choices)


def test_every_responses_event_validates_as_an_openai_response_stream_event(
    provider: FakeProvider,
) -> None:
    provider.script = Script(text="Hi there", tool_call=WEATHER, thinking="Hmm")
    events = parse_sse(_post(provider, "/v1/responses", {"model": "m", "stream": True}))
    classes = _classes_by_type(ResponseStreamEvent)

    parsed = [classes[name].model_validate_json(data) for name, data in events]
    assert [event.sequence_number for event in parsed] == list(range(len(parsed)))


def test_every_anthropic_event_validates_as_a_raw_message_stream_event(
    provider: FakeProvider,
) -> None:
    provider.script = Script(text="Hi there", tool_call=WEATHER, thinking="Hmm")
    body = {"model": "m", "stream": True, "max_tokens": 9}
    events = parse_sse(_post(provider, "/v1/messages", body))
    classes = _classes_by_type(RawMessageStreamEvent)

    assert ("ping", '{"type":"ping"}') in events
    for name, data in events:
        if name != "ping":
            classes[name].model_validate_json(data)


def test_every_non_streaming_body_validates_as_the_sdk_model(provider: FakeProvider) -> None:
    provider.script = Script(text="Hi there", tool_call=WEATHER, thinking="Hmm")
    chat = _post(provider, "/v1/chat/completions", {"model": "m"})
    response = _post(provider, "/v1/responses", {"model": "m"})
    message = _post(provider, "/v1/messages", {"model": "m", "max_tokens": 9})
    provider.script = Script(text="Hi there", together=True)
    together = _post(provider, "/v1/chat/completions", {"model": "m"})

    assert ChatCompletion.model_validate_json(chat).choices[0].message.tool_calls
    assert ChatCompletion.model_validate_json(together).usage is not None
    assert Response.model_validate_json(response).output_text == "Hi there"
    assert len(AnthropicMessage.model_validate_json(message).content) == 3


# --- OpenAI Chat Completions ------------------------------------------------------------------


def test_chat_stream_yields_the_scripted_text_after_a_role_chunk(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Hello big world", model="gpt-4o-2024-08-06")
    stream = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:-1]] == ["Hello", " big", " world"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.model for c in chunks} == {"gpt-4o-2024-08-06"}


def test_chat_stream_has_a_usage_chunk_only_when_the_request_asks_for_it(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(usage=(100, 20, 64, 8))
    without = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    with_usage = list(
        oai.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )

    assert all(chunk.usage is None and chunk.choices for chunk in without)
    *content, last = with_usage
    assert all(chunk.usage is None for chunk in content)
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (100, 20)
    assert last.usage.total_tokens == 120
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 64
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == 8


def test_chat_provider_that_reports_no_usage_sends_no_usage_chunk(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(include_usage=False)
    chunks = list(
        oai.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )

    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


def test_chat_stream_helper_reassembles_a_tool_call(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="", tool_call={**WEATHER, "id": "call_abc"})
    with oai.chat.completions.stream(model="m", messages=MESSAGES, tools=CHAT_TOOLS) as stream:
        completion = stream.get_final_completion()

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.id == "call_abc"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER["arguments"]


def test_chat_stream_sends_tool_arguments_in_fragments_after_the_text(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Let me check.", tool_call=WEATHER)
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
    assert text == "Let me check."
    assert calls[0].id is not None
    assert calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    fragments = [call.function.arguments for call in calls[1:] if call.function]
    assert len(fragments) > 1
    assert json.loads("".join(f or "" for f in fragments)) == WEATHER["arguments"]


def test_chat_non_streaming_returns_a_chat_completion_with_usage(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Hello world", usage=(10, 2, 4, 1))
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 12
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 4


def test_chat_error_mid_stream_raises_the_sdk_api_error_after_n_chunks(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="one two three four", error_after_chunks=2)
    received: list[str] = []
    stream = oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    assert "".join(received) == "one two"
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["type"] == "server_error"
    assert not provider.sent[0].endswith(b"[DONE]\n\n")


def test_chat_scripted_status_raises_the_matching_sdk_error(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(status=429)
    with pytest.raises(openai.RateLimitError) as raised:
        oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)

    assert raised.value.status_code == 429
    assert raised.value.code == "rate_limit_exceeded"
    assert len(provider.requests) == 1


def test_async_openai_client_streams_the_scripted_text(provider: FakeProvider) -> None:
    provider.script = Script(text="Hello async world")

    async def main() -> str:
        async with openai.AsyncOpenAI(base_url=provider.url + "/v1", api_key="sk-fake") as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(main()) == "Hello async world"


def test_first_content_chunk_arrives_no_earlier_than_the_scripted_delay(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Hello world", first_chunk_delay_s=0.3)
    started = time.monotonic()
    stream = oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    first_content = next(c for c in stream if c.choices and c.choices[0].delta.content)
    elapsed = time.monotonic() - started
    stream.close()

    assert first_content.choices[0].delta.content == "Hello"
    assert elapsed >= 0.3


def test_headers_are_sent_at_once_and_the_first_content_after_the_delay(
    provider: FakeProvider,
) -> None:
    provider.script = Script(text="Hello world", first_chunk_delay_s=0.4)
    body = {"model": "m", "stream": True}
    with httpx.Client(timeout=5) as http:
        started = time.monotonic()
        with http.stream("POST", provider.url + "/v1/chat/completions", json=body) as response:
            headers_after = time.monotonic() - started
            content_after = None
            for line in response.iter_lines():
                if '"content":"Hello"' in line:
                    content_after = time.monotonic() - started

    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers_after < 0.3
    assert content_after is not None
    assert content_after >= 0.4


def test_chunk_delay_paces_the_chunks_after_the_first(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="a b c d", chunk_delay_s=0.05)
    started = time.monotonic()
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))

    assert len(chunks) == 6
    assert time.monotonic() - started >= 3 * 0.05


# --- Together (OpenAI-compatible) ---------------------------------------------------------------


def test_together_puts_usage_on_the_final_content_chunk(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Hello world", together=True, usage=(39, 25, 7, 0))
    chunks = list(oai.chat.completions.create(model="meta-llama/x", messages=MESSAGES, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello world"
    assert all(c.choices for c in chunks)
    *content, last = chunks
    assert all(c.usage is None for c in content)
    assert last.choices[0].finish_reason == "stop"
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (39, 25)
    assert last.usage.model_extra == {"cached_tokens": 7}
    assert provider.sent[0].endswith(b"data: [DONE]\n\n")


def test_together_error_mid_stream_raises_the_sdk_api_error(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="one two three", together=True, error_after_chunks=1)
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in oai.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            received.append(chunk.choices[0].delta.content or "")

    assert received == ["one"]


# --- OpenAI Responses API -----------------------------------------------------------------------


def test_responses_stream_emits_the_event_sequence_and_final_usage(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Hello world", usage=(30, 9, 16, 4))
    events = list(oai.responses.create(model="gpt-4o-mini", input="Say hello", stream=True))

    types = [event.type for event in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello world"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == "Hello world"
    usage = completed.response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (30, 9, 39)
    assert usage.input_tokens_details.cached_tokens == 16
    assert usage.output_tokens_details.reasoning_tokens == 4


def test_responses_stream_helper_assembles_reasoning_text_and_a_function_call(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Checking.", tool_call=WEATHER, thinking="Need the weather")
    with oai.responses.stream(model="m", input="Weather?", tools=RESPONSES_TOOLS) as stream:
        types = [event.type for event in stream]
        response = stream.get_final_response()

    assert "response.function_call_arguments.delta" in types
    assert "response.function_call_arguments.done" in types
    assert "response.reasoning_summary_text.delta" in types
    reasoning, message, call = response.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "Need the weather"
    assert message.type == "message"
    assert response.output_text == "Checking."
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == WEATHER["arguments"]


def test_responses_non_streaming_returns_the_response_object(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="Hello world", usage=(5, 2, 0, 0))
    response = oai.responses.create(model="gpt-4o-mini", input="Say hello")

    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text == "Hello world"
    assert response.usage is not None
    assert response.usage.total_tokens == 7


def test_responses_error_mid_stream_ends_with_an_error_event(
    provider: FakeProvider, oai: openai.OpenAI
) -> None:
    provider.script = Script(text="one two three", error_after_chunks=1)
    events = list(oai.responses.create(model="m", input="x", stream=True))

    assert [e.delta for e in events if e.type == "response.output_text.delta"] == ["one"]
    assert events[-1].type == "error"
    assert events[-1].sequence_number == len(events) - 1
    assert "response.completed" not in [e.type for e in events]


# --- Anthropic Messages -------------------------------------------------------------------------


def test_anthropic_stream_yields_the_scripted_text_and_usage(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.script = Script(
        text="Hello world", usage=(25, 15, 0, 0), cache_read=100, cache_write=7
    )
    events = list(
        claude.messages.create(model="claude-x", max_tokens=64, messages=MESSAGES, stream=True)
    )

    types = [event.type for event in events]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "Hello world"
    start, delta = events[0], events[-2]
    assert start.type == "message_start"
    assert delta.type == "message_delta"
    usage = start.message.usage
    assert (usage.input_tokens, usage.output_tokens) == (25, 1)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (100, 7)
    assert delta.usage.output_tokens == 15
    assert delta.delta.stop_reason == "end_turn"


def test_anthropic_stream_helper_reassembles_thinking_text_and_tool_use(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.script = Script(
        text="Let me check.",
        tool_call=WEATHER,
        thinking="The user wants weather.",
        usage=(9, 3, 2, 0),
    )
    with claude.messages.stream(
        model="claude-x", max_tokens=64, messages=MESSAGES, tools=ANTHROPIC_TOOLS
    ) as stream:
        message = stream.get_final_message()

    thinking, text, tool_use = message.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "The user wants weather."
    assert thinking.signature == FAKE_SIGNATURE
    assert text.type == "text"
    assert text.text == "Let me check."
    assert tool_use.type == "tool_use"
    assert tool_use.name == "get_weather"
    assert tool_use.input == WEATHER["arguments"]
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 3)
    assert message.usage.cache_read_input_tokens == 2


def test_anthropic_non_streaming_returns_the_message_object(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.script = Script(text="Hello world", thinking="Hmm", model="claude-sonnet-4-5")
    message = claude.messages.create(model="claude-x", max_tokens=64, messages=MESSAGES)

    assert message.model == "claude-sonnet-4-5"
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[1].type == "text"
    assert message.content[1].text == "Hello world"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 5
    headers = provider.requests[0].headers
    assert "anthropic-version" in headers
    assert "sk-ant-fake" in (headers.get("x-api-key") or headers["authorization"])


def test_anthropic_error_mid_stream_raises_an_overloaded_status_error(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.script = Script(text="one two three", error_after_chunks=2)
    received: list[str] = []
    stream = claude.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True)
    with pytest.raises(anthropic.APIStatusError) as raised:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                received.append(event.delta.text)

    assert received == ["one", " two"]
    assert raised.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert b"message_stop" not in provider.sent[0]


def test_anthropic_scripted_529_raises_overloaded_error_with_the_error_body(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.script = Script(status=529)
    with pytest.raises(anthropic.APIStatusError) as raised:
        claude.messages.create(model="m", max_tokens=64, messages=MESSAGES)

    assert raised.value.status_code == 529
    assert isinstance(raised.value, anthropic.InternalServerError)
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert raised.value.response.headers["request-id"].startswith("req_")


def test_anthropic_first_text_delta_arrives_no_earlier_than_the_scripted_delay(
    provider: FakeProvider, claude: anthropic.Anthropic
) -> None:
    provider.script = Script(text="Hello", first_chunk_delay_s=0.3)
    started = time.monotonic()
    with claude.messages.stream(model="m", max_tokens=64, messages=MESSAGES) as stream:
        first_text = next(iter(stream.text_stream))
        elapsed = time.monotonic() - started

    assert first_text == "Hello"
    assert elapsed >= 0.3


def test_async_anthropic_stream_helper_returns_the_final_message(provider: FakeProvider) -> None:
    provider.script = Script(text="Hello async", tool_call=WEATHER)

    async def main() -> anthropic.types.Message:
        async with (
            anthropic.AsyncAnthropic(base_url=provider.url, api_key="sk-ant-fake") as client,
            client.messages.stream(model="m", max_tokens=64, messages=MESSAGES) as stream,
        ):
            return await stream.get_final_message()

    message = asyncio.run(main())
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].type == "tool_use"
    assert message.content[1].input == WEATHER["arguments"]
