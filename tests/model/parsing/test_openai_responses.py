"""OpenAIResponsesParser returns response.completed's response, or rebuilds one from deltas."""

from __future__ import annotations

import copy

from heliograph.model.parsing import OpenAIResponsesParser
from heliograph.model.usage import Usage
from tests.model.parsing.streams import (
    RESPONSES_FAILED,
    RESPONSES_TEXT,
    RESPONSES_TEXT_EVENTS,
    RESPONSES_TOOL_TRUNCATED,
    RESPONSES_TOOL_TRUNCATED_EVENTS,
    RESPONSES_USAGE,
    consolidate,
)

REQUEST = {"model": "gpt-4.1", "input": "Say hi", "stream": True}


def test_completed_response_is_the_result_verbatim() -> None:
    parser, content = consolidate("OPENAI", REQUEST, RESPONSES_TEXT)
    assert isinstance(parser, OpenAIResponsesParser)
    assert parser.result() == RESPONSES_TEXT_EVENTS[-1]["response"]
    assert parser.usage() == Usage(37, 11)
    assert content.count(True) == 3  # the three output_text deltas
    assert parser.error is None
    assert parser.unknown_events == []


def test_rebuilds_text_from_deltas_without_completed() -> None:
    parser = OpenAIResponsesParser()
    for event in RESPONSES_TEXT_EVENTS[:7]:  # up to the last delta, no .done events
        parser.feed(event)
    result = parser.result()
    assert result["id"] == "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b"
    assert result["status"] == "in_progress"
    assert result["output"] == [
        {
            "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi there — 你好!", "annotations": []}],
        }
    ]
    assert parser.usage() is None


def test_done_events_replace_concatenated_deltas() -> None:
    parser = OpenAIResponsesParser()
    events = [e for e in RESPONSES_TEXT_EVENTS if e["type"] != "response.completed"]
    for event in events:
        parser.feed(event)
    text = parser.result()["output"][0]["content"][0]["text"]
    assert text == "Hi there — 你好!"  # not doubled by deltas plus done


def test_truncated_reasoning_and_function_call_are_rebuilt() -> None:
    parser, content = consolidate("OPENAI", {"model": "o4-mini"}, RESPONSES_TOOL_TRUNCATED)
    assert isinstance(parser, OpenAIResponsesParser)
    result = parser.result()
    assert result["model"] == "o4-mini-2025-04-16"
    assert result["output"] == [
        {
            "id": "rs_6876cf02e0bc",
            "type": "reasoning",
            "summary": [
                {
                    "type": "summary_text",
                    "text": "**Checking weather**\n\nThe user asks about Paris.",
                }
            ],
        },
        {
            "id": "fc_6876cf0f3d0c",
            "type": "function_call",
            "status": "in_progress",
            "arguments": '{"city": "Paris"}',
            "call_id": "call_0TmmPLDDSsbm2V7fQpDXHP8P",
            "name": "get_weather",
        },
    ]
    assert content == [False, False, False, True, True, False, True, True]


def test_feeding_does_not_mutate_the_callers_events() -> None:
    events = copy.deepcopy(RESPONSES_TOOL_TRUNCATED_EVENTS)
    parser = OpenAIResponsesParser()
    for event in events:
        parser.feed(event)
    parser.result()
    assert events == RESPONSES_TOOL_TRUNCATED_EVENTS


def test_deltas_without_announced_items_still_land() -> None:
    parser = OpenAIResponsesParser()
    parser.feed(
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 1, "delta": "x"}
    )
    parser.feed(
        {
            "type": "response.function_call_arguments.delta",
            "item_id": "fc",
            "output_index": 1,
            "delta": "{}",
        }
    )
    output = parser.result()["output"]
    assert output[0]["type"] == "message"
    assert output[0]["content"][1]["text"] == "x"
    assert output[1] == {"type": "function_call", "arguments": "{}", "id": "fc"}


def test_failed_response_sets_error() -> None:
    parser, _ = consolidate("OPENAI", REQUEST, RESPONSES_FAILED)
    assert parser.error == {"code": "server_error", "message": "The model failed."}
    assert parser.result()["status"] == "failed"


def test_error_event_sets_error() -> None:
    parser = OpenAIResponsesParser()
    parser.feed(
        {
            "type": "error",
            "code": "rate_limit_exceeded",
            "message": "Slow down",
            "param": None,
            "sequence_number": 3,
        }
    )
    assert parser.error == {"code": "rate_limit_exceeded", "message": "Slow down", "param": None}


def test_incomplete_response_keeps_usage() -> None:
    parser = OpenAIResponsesParser()
    response = {
        "id": "r",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [],
        "usage": RESPONSES_USAGE,
    }
    parser.feed({"type": "response.incomplete", "response": response})
    assert parser.result()["status"] == "incomplete"
    assert parser.usage() == Usage(37, 11)
    assert parser.error is None


def test_usage_with_cached_and_reasoning_tokens() -> None:
    parser = OpenAIResponsesParser()
    usage = {
        "input_tokens": 2000,
        "input_tokens_details": {"cached_tokens": 1536},
        "output_tokens": 900,
        "output_tokens_details": {"reasoning_tokens": 640},
        "total_tokens": 2900,
    }
    parser.feed(
        {"type": "response.completed", "response": {"id": "r", "output": [], "usage": usage}}
    )
    assert parser.usage() == Usage(464, 260, cache_read_tokens=1536, reasoning_tokens=640)


def test_tool_progress_events_are_known_and_unknown_ones_kept() -> None:
    parser = OpenAIResponsesParser()
    parser.feed({"type": "response.web_search_call.searching", "output_index": 0})
    parser.feed({"type": "response.audio.delta", "delta": "AAAA"})
    parser.feed({"type": "response.output_text.delta", "delta": 5})
    assert [e["type"] for e in parser.unknown_events] == [
        "response.audio.delta",
        "response.output_text.delta",
    ]


def test_annotations_are_appended_to_their_part() -> None:
    parser = OpenAIResponsesParser()
    for event in RESPONSES_TEXT_EVENTS[:5]:
        parser.feed(event)
    citation = {
        "type": "url_citation",
        "url": "https://example.com",
        "start_index": 0,
        "end_index": 2,
    }
    parser.feed(
        {
            "type": "response.output_text.annotation.added",
            "output_index": 0,
            "content_index": 0,
            "annotation": citation,
        }
    )
    assert parser.result()["output"][0]["content"][0]["annotations"] == [citation]
