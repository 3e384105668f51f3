"""OpenAIChatParser rebuilds the chat.completion OpenAI and Together would have returned."""

from __future__ import annotations

from heliograph.model.parsing import OpenAIChatParser
from heliograph.model.usage import Usage
from tests.model.parsing.streams import (
    OPENAI_CHAT_TEXT,
    OPENAI_CHAT_TOOLS,
    OPENAI_CHAT_USAGE,
    TOGETHER_CHAT,
    consolidate,
)

REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def test_text_stream_consolidates_field_by_field() -> None:
    parser, content = consolidate("OPENAI", REQUEST, OPENAI_CHAT_TEXT)
    assert isinstance(parser, OpenAIChatParser)
    assert parser.result() == {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_eb9dce56a8",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Bonjour le monde 🌍, ça va ?",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": OPENAI_CHAT_USAGE,
    }
    # the role chunk (empty content), finish chunk and usage chunk carry no content
    assert content == [False, True, True, True, False, False]
    assert parser.error is None
    assert parser.unknown_events == []


def test_usage_splits_cached_and_reasoning_tokens() -> None:
    parser, _ = consolidate("OPENAI", REQUEST, OPENAI_CHAT_TEXT)
    assert parser.usage() == Usage(
        input_tokens=1200 - 1024,
        output_tokens=300 - 256,
        cache_read_tokens=1024,
        reasoning_tokens=256,
    )


def test_parallel_tool_calls_concatenate_arguments_per_index() -> None:
    parser, content = consolidate("OPENAI", REQUEST, OPENAI_CHAT_TOOLS)
    result = parser.result()
    message = result["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "Zürich"}'},
        },
        {
            "id": "call_ABC123",
            "type": "function",
            "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
        },
    ]
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    assert content[0] is True  # the first tool-call chunk names the function
    assert parser.usage() == Usage(85, 49)


def test_together_usage_on_last_chunk_and_null_elsewhere() -> None:
    parser, content = consolidate("TOGETHER", {"model": "x", "messages": []}, TOGETHER_CHAT)
    result = parser.result()
    assert result["model"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    assert result["choices"][0]["message"]["content"] == "The answer is 42."
    assert result["choices"][0]["finish_reason"] == "eos"
    assert result["usage"] == {"prompt_tokens": 45, "completion_tokens": 6, "total_tokens": 51}
    assert parser.usage() == Usage(45, 6)
    assert content == [True, True, True, False]


def test_no_usage_chunk_means_no_usage() -> None:
    parser = OpenAIChatParser()
    parser.feed({"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}}]})
    assert parser.usage() is None
    assert "usage" not in parser.result()


def test_legacy_function_call_and_refusal() -> None:
    parser = OpenAIChatParser()
    parser.feed({"choices": [{"index": 0, "delta": {"function_call": {"name": "f"}}}]})
    parser.feed({"choices": [{"index": 0, "delta": {"function_call": {"arguments": '{"a"'}}}]})
    parser.feed({"choices": [{"index": 0, "delta": {"function_call": {"arguments": ": 1}"}}}]})
    assert parser.feed({"choices": [{"index": 1, "delta": {"refusal": "I can't"}}]})
    choices = parser.result()["choices"]
    assert choices[0]["message"]["function_call"] == {"name": "f", "arguments": '{"a": 1}'}
    assert choices[1]["message"]["refusal"] == "I can't"
    assert choices[1]["message"]["content"] is None


def test_reasoning_content_is_kept_and_counts_as_content() -> None:
    parser = OpenAIChatParser()
    assert parser.feed({"choices": [{"index": 0, "delta": {"reasoning_content": "Hmm"}}]})
    parser.feed({"choices": [{"index": 0, "delta": {"reasoning_content": ", 2+2"}}]})
    parser.feed({"choices": [{"index": 0, "delta": {"content": "4"}}]})
    message = parser.result()["choices"][0]["message"]
    assert message["reasoning_content"] == "Hmm, 2+2"
    assert message["content"] == "4"


def test_logprobs_lists_are_extended() -> None:
    parser = OpenAIChatParser()
    for token in ("a", "b"):
        parser.feed(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": token},
                        "logprobs": {
                            "content": [{"token": token, "logprob": -0.1}],
                            "refusal": None,
                        },
                    }
                ]
            }
        )
    logprobs = parser.result()["choices"][0]["logprobs"]
    assert [item["token"] for item in logprobs["content"]] == ["a", "b"]


def test_legacy_completions_stream_becomes_text_completion() -> None:
    parser = OpenAIChatParser()
    chunk = {"id": "cmpl-1", "object": "text_completion", "model": "gpt-3.5-turbo-instruct"}
    assert parser.feed({**chunk, "choices": [{"index": 0, "text": "Once", "finish_reason": None}]})
    parser.feed({**chunk, "choices": [{"index": 0, "text": " upon", "finish_reason": "length"}]})
    result = parser.result()
    assert result["object"] == "text_completion"
    assert result["choices"] == [
        {"index": 0, "text": "Once upon", "logprobs": None, "finish_reason": "length"}
    ]


def test_error_chunk_sets_error() -> None:
    parser = OpenAIChatParser()
    parser.feed({"choices": [{"index": 0, "delta": {"content": "partial"}}]})
    parser.feed({"error": {"message": "upstream timeout", "type": "server_error"}})
    assert parser.error == {"message": "upstream timeout", "type": "server_error"}
    assert parser.result()["choices"][0]["message"]["content"] == "partial"


def test_malformed_chunks_go_to_unknown_events() -> None:
    parser = OpenAIChatParser()
    assert parser.feed({"type": "something.else"}) is False
    assert parser.feed({"choices": [None, 3, {"index": "zero", "delta": "text"}]}) is False
    assert parser.feed({"choices": [{"index": 0, "delta": {"tool_calls": "no"}}]}) is False
    assert parser.feed(None) is False  # type: ignore[arg-type]
    assert parser.unknown_events[0] == {"type": "something.else"}
    assert len(parser.unknown_events) == 2
    assert isinstance(parser.result(), dict)


def test_result_does_not_change_when_called_twice_or_before_the_end() -> None:
    parser = OpenAIChatParser()
    parser.feed({"choices": [{"index": 0, "delta": {"content": "a"}}]})
    first = parser.result()
    assert parser.result() == first
    parser.feed({"choices": [{"index": 0, "delta": {"content": "b"}}]})
    assert parser.result()["choices"][0]["message"]["content"] == "ab"
