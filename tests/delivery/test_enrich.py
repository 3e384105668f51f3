"""What delivery adds to a record before sending: cost, and estimated usage for streams."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import orjson
import pytest

from heliograph import ManualLogger
from heliograph.capture.tokens import estimate_usage
from heliograph.delivery.enrich import ESTIMATED_PROPERTY, enrich
from heliograph.model.ids import new_request_id
from heliograph.model.parsing.consolidate import consolidate_stream
from heliograph.model.pricing import cost_usd
from heliograph.model.record import Provider, Record
from heliograph.model.usage import Usage, usage_from_anthropic, usage_from_openai
from heliograph.receiver import ReceiverThread
from tests.providers.fake_provider import FakeProvider, Script

CHAT_REQUEST = {"model": "gpt-4o-mini", "stream": True,
                "messages": [{"role": "user", "content": "Say hello to the world"}]}  # fmt: skip
CLAUDE_REQUEST = {"model": "claude-sonnet-4-5", "stream": True, "max_tokens": 64,
                  "messages": [{"role": "user", "content": "Say hello"}]}  # fmt: skip


def chat_chunk(content: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {} if content is None else {"content": content}
    return {"object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}], **extra}  # fmt: skip


def ndjson(*events: dict[str, Any]) -> str:
    return "".join(orjson.dumps(e).decode() + "\n" for e in events)


def sse(*frames: tuple[str | None, dict[str, Any]]) -> str:
    out = []
    for name, data in frames:
        out.append(
            (f"event: {name}\n" if name else "") + f"data: {orjson.dumps(data).decode()}\n\n"
        )
    return "".join(out)


def stream_record(transcript: str, provider: str = Provider.OPENAI, **fields: Any) -> Record:
    return Record(
        request_id=new_request_id(),
        request=fields.pop("request", CHAT_REQUEST),
        start_ms=1_700_000_000_000.0,
        end_ms=1_700_000_001_000.0,
        provider=provider,
        response_text=transcript,
        **fields,
    )


def last_line(text: str) -> dict[str, Any]:
    line = text.rstrip("\n").splitlines()[-1]
    parsed: dict[str, Any] = orjson.loads(line.removeprefix("data:"))
    return parsed


ANTHROPIC_START = {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
    "content": [], "usage": {"input_tokens": 25, "output_tokens": 1,
                             "cache_read_input_tokens": 100}}}  # fmt: skip
ANTHROPIC_TEXT = [
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta", "text": "Hello there, world"}}),
]  # fmt: skip


def test_openai_stream_without_usage_gets_one_marked_estimated_usage_line_and_a_cost() -> None:
    transcript = ndjson(chat_chunk(""), chat_chunk("Hello"), chat_chunk(", world"))
    record = stream_record(transcript)
    sent = enrich(record)
    assert sent.response_text is not None
    assert sent.response_text.startswith(transcript)  # every chunk kept, in order
    added = sent.response_text[len(transcript) :]
    assert added.count("\n") == 1
    usage_chunk = orjson.loads(added)
    assert usage_chunk["choices"] == [] and usage_chunk["heliograph"] == {"estimated": True}
    expected = estimate_usage(CHAT_REQUEST, "Hello, world", "gpt-4o-mini-2024-07-18")
    assert usage_chunk["usage"]["prompt_tokens"] == expected.input_tokens
    assert usage_chunk["usage"]["completion_tokens"] == expected.output_tokens == 3
    assert sent.headers[ESTIMATED_PROPERTY] == "estimated"
    assert sent.cost_usd == cost_usd("OPENAI", "gpt-4o-mini-2024-07-18", expected)
    assert sent.cost_usd is not None and sent.cost_usd > 0
    # Helicone's stream parser (and ours) reads the estimate back from the transcript.
    reread = consolidate_stream("OPENAI", CHAT_REQUEST, sent.response_text)
    assert reread.usage == usage_from_openai(usage_chunk["usage"])
    assert record.response_text == transcript and not record.headers  # the spooled copy is kept


def test_provider_reported_usage_is_used_as_is_and_priced() -> None:
    usage = {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280,
             "prompt_tokens_details": {"cached_tokens": 1024}}  # fmt: skip
    transcript = ndjson(chat_chunk("Hi"), {"object": "chat.completion.chunk", "choices": [],
                                           "usage": usage})  # fmt: skip
    sent = enrich(stream_record(transcript))
    assert sent.response_text == transcript
    assert ESTIMATED_PROPERTY not in sent.headers
    parsed = usage_from_openai(usage)
    assert parsed == Usage(176, 80, cache_read_tokens=1024)
    assert sent.cost_usd == cost_usd("OPENAI", "gpt-4o-mini-2024-07-18", parsed)


def test_anthropic_stream_cut_short_keeps_the_reported_input_and_estimates_the_output() -> None:
    transcript = sse(("message_start", ANTHROPIC_START), *ANTHROPIC_TEXT)
    sent = enrich(stream_record(transcript, Provider.ANTHROPIC, request=CLAUDE_REQUEST))
    assert sent.response_text is not None and sent.response_text.startswith(transcript)
    added = sent.response_text[len(transcript) :]
    assert added.startswith("event: message_delta\ndata: ") and added.endswith("\n\n")
    delta = last_line(sent.response_text)
    assert delta["type"] == "message_delta" and delta["heliograph"] == {"estimated": True}
    assert delta["usage"]["input_tokens"] == 25  # from message_start, not an estimate
    assert (
        delta["usage"]["output_tokens"]
        == estimate_usage({}, "Hello there, world", "c").output_tokens
    )
    reread = consolidate_stream("ANTHROPIC", CLAUDE_REQUEST, sent.response_text).usage
    assert reread is not None and reread.cache_read_tokens == 100
    assert reread.output_tokens == delta["usage"]["output_tokens"]
    assert sent.cost_usd == cost_usd("ANTHROPIC", "claude-sonnet-4-5-20250929", reread)


def test_completed_anthropic_stream_is_not_estimated() -> None:
    transcript = sse(
        ("message_start", ANTHROPIC_START),
        *ANTHROPIC_TEXT,
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 5}}),
        ("message_stop", {"type": "message_stop"}),
    )  # fmt: skip
    sent = enrich(stream_record(transcript, Provider.ANTHROPIC, request=CLAUDE_REQUEST))
    assert sent.response_text == transcript
    assert ESTIMATED_PROPERTY not in sent.headers
    usage = usage_from_anthropic(
        {"input_tokens": 25, "output_tokens": 5, "cache_read_input_tokens": 100}
    )
    assert sent.cost_usd == cost_usd("ANTHROPIC", "claude-sonnet-4-5-20250929", usage)


def test_raw_sse_transcripts_get_the_usage_line_as_an_sse_frame_and_end_with_a_newline() -> None:
    transcript = 'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: [DONE]'
    sent = enrich(stream_record(transcript))
    assert sent.response_text is not None
    assert sent.response_text.startswith(transcript + "\n")
    assert sent.response_text.endswith("\n\n")
    assert last_line(sent.response_text)["heliograph"] == {"estimated": True}


def test_estimates_can_be_turned_off_and_the_stream_then_has_no_cost() -> None:
    transcript = ndjson(chat_chunk("Hello"))
    sent = enrich(stream_record(transcript), estimate_tokens=False)
    assert sent.response_text == transcript
    assert sent.cost_usd is None and ESTIMATED_PROPERTY not in sent.headers


def test_responses_stream_without_usage_is_priced_from_the_estimate_without_a_line() -> None:
    request = {"model": "gpt-4o-mini", "input": "Say hi", "stream": True}
    transcript = sse(
        ("response.created", {"type": "response.created", "response": {"model": "gpt-4o-mini"}}),
        ("response.output_text.delta", {"type": "response.output_text.delta",
                                        "output_index": 0, "content_index": 0, "delta": "Hi!"}),
    )  # fmt: skip
    sent = enrich(stream_record(transcript, request=request))
    assert sent.response_text == transcript
    assert sent.headers[ESTIMATED_PROPERTY] == "estimated"
    assert sent.cost_usd is not None and sent.cost_usd > 0


@pytest.mark.parametrize(
    ("provider", "model"),
    [(Provider.CUSTOM, "gpt-4o-mini"), (Provider.OPENAI, "a-model-nobody-prices")],
)
def test_unknown_prices_leave_the_cost_unknown_not_zero(provider: str, model: str) -> None:
    request = {**CHAT_REQUEST, "model": model}
    chunk = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "x"}}],
    }
    sent = enrich(stream_record(ndjson(chunk), provider, request=request))
    assert sent.cost_usd is None
    assert sent.headers[ESTIMATED_PROPERTY] == "estimated"  # tokens are still counted


def test_plain_responses_are_priced_from_their_usage_unless_a_cost_was_given() -> None:
    response = {"type": "message", "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": "Hi"}],
                "usage": {"input_tokens": 10, "output_tokens": 4}}  # fmt: skip
    record = Record(new_request_id(), {"model": "claude-sonnet-4-5"}, 0.0, 1.0,
                    provider=Provider.ANTHROPIC, response_json=response)  # fmt: skip
    priced = enrich(record)
    assert priced.cost_usd == cost_usd("ANTHROPIC", response["model"], Usage(10, 4))
    given = dataclasses.replace(record, cost_usd=0.5)
    assert enrich(given) is given


@pytest.mark.parametrize(
    "transcript",
    ["\x00\xff garbage", "data: {not json\n\n", "event: x\n", "[1, 2, 3]\n", "data: [DONE]\n\n"],
)
def test_unparseable_transcripts_are_sent_as_they_came(transcript: str) -> None:
    sent = enrich(stream_record(transcript))
    assert sent.response_text is not None and sent.response_text.startswith(transcript)


# -- end to end: real SDK → fake provider → wrapper → spool → delivery → receiver ---------

DELAY_S = 0.15
Logger = Callable[..., ManualLogger]


def delivered(logger: ManualLogger, sink: ReceiverThread, request_id: str) -> dict[str, Any]:
    assert logger.flush(timeout=20).pending == 0
    row = sink.store.get_request(request_id)
    assert row is not None, "the stream was not delivered"
    return row


def test_openai_stream_without_usage_reaches_the_receiver_with_estimated_tokens_and_cost(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = new_request_id()
    request = {"model": "gpt-4o-mini", "stream": True,
               "messages": [{"role": "user", "content": "Greet the stream"}]}  # fmt: skip
    script = Script(text="Hello streaming world", include_usage=False, first_chunk_delay_s=DELAY_S)
    with FakeProvider(script) as fake, openai.OpenAI(base_url=fake.url + "/v1", api_key="k") as sdk:
        builder = logger.log_builder(request, {"Helicone-Request-Id": request_id},
                                     provider="openai")  # fmt: skip
        chunks = list(builder.to_stream(sdk.chat.completions.create(**request)))
    assert all(chunk.usage is None for chunk in chunks)  # the provider sent no usage
    row = delivered(logger, sink, request_id)
    body = orjson.loads(row["response_body"])
    model = body["model"]
    estimate = estimate_usage(request, "Hello streaming world", model)
    assert body["choices"][0]["message"]["content"] == "Hello streaming world"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        estimate.input_tokens,
        estimate.output_tokens,
    )
    assert row["completion_tokens"] == 3
    assert row["request_properties"]["heliograph-tokens"] == "estimated"
    assert row["cost"] == pytest.approx(cost_usd("OPENAI", model, estimate))
    assert DELAY_S * 1000 - 5 <= row["time_to_first_token"] <= DELAY_S * 1000 + 400


def test_anthropic_stream_reaches_the_receiver_with_cache_tokens_and_their_cost(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = new_request_id()
    request = {"model": "claude-sonnet-4", "max_tokens": 64, "stream": True,
               "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    script = Script(text="Cached hello", usage=(30, 7, 0, 0), cache_read=200, cache_write=50,
                    model="claude-sonnet-4-5-20250929")  # fmt: skip
    with FakeProvider(script) as fake, anthropic.Anthropic(base_url=fake.url, api_key="k") as sdk:
        builder = logger.log_builder(request, {"Helicone-Request-Id": request_id},
                                     provider="anthropic")  # fmt: skip
        events = list(builder.to_stream(sdk.messages.create(**request)))
    assert events[-1].type == "message_stop"
    row = delivered(logger, sink, request_id)
    assert row["provider"] == "ANTHROPIC"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (30, 7)
    assert (row["prompt_cache_read_tokens"], row["prompt_cache_write_tokens"]) == (200, 50)
    assert "heliograph-tokens" not in row["request_properties"]
    model = orjson.loads(row["response_body"])["model"]
    expected = cost_usd(
        "ANTHROPIC", model, Usage(30, 7, cache_read_tokens=200, cache_write_tokens=50)
    )
    assert expected is not None and row["cost"] == pytest.approx(expected)


def test_together_stream_is_priced_by_heliograph_since_helicone_logs_it_as_custom(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = new_request_id()
    model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    request = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    script = Script(text="Together hello", together=True, usage=(40, 3, 0, 0))
    with FakeProvider(script) as fake, openai.OpenAI(base_url=fake.url + "/v1", api_key="k") as sdk:
        builder = logger.log_builder(request, {"Helicone-Request-Id": request_id},
                                     provider="together")  # fmt: skip
        list(builder.to_stream(sdk.chat.completions.create(**request)))
    row = delivered(logger, sink, request_id)
    assert row["provider"] == "CUSTOM"  # Helicone has no Together logging route
    assert (row["prompt_tokens"], row["completion_tokens"]) == (40, 3)
    assert (
        orjson.loads(row["response_body"])["choices"][0]["message"]["content"] == "Together hello"
    )
    assert row["cost"] == pytest.approx(cost_usd("TOGETHER", model, Usage(40, 3)))
