"""Hand-written streams in each provider's real wire format, as the HTTP body arrives.

They follow the shapes the providers document and send today: OpenAI Chat Completions
with ``stream_options.include_usage`` (text and parallel tool calls), Together's chunks
(``text`` beside ``delta``, ``usage: null`` until the last chunk), the OpenAI Responses
API (a complete text response, and a reasoning + function-call response cut short),
and Anthropic Messages (thinking, text, tool use, cache tokens; and an overloaded error).
Non-ASCII text is included on purpose, so byte-level splits land inside characters.
"""

from __future__ import annotations

import json
from typing import Any


def sse(*events: dict[str, Any], named: bool = False, done: bool = False) -> str:
    """Events as an SSE body: ``event:`` lines when ``named``, then ``data: [DONE]``."""
    lines = []
    for event in events:
        if named:
            lines.append(f"event: {event['type']}\n")
        lines.append(f"data: {json.dumps(event, ensure_ascii=False)}\n\n")
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines)


# --- OpenAI Chat Completions -----------------------------------------------------------

_CHAT = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
    "object": "chat.completion.chunk",
    "created": 1741570283,
    "model": "gpt-4o-2024-08-06",
    "service_tier": "default",
    "system_fingerprint": "fp_eb9dce56a8",
}


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {**_CHAT, "choices": [choice], "usage": None, **extra}


OPENAI_CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 256,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}

OPENAI_CHAT_TEXT = sse(
    _chunk({"role": "assistant", "content": "", "refusal": None}),
    _chunk({"content": "Bonjour"}),
    _chunk({"content": " le monde 🌍,"}),
    _chunk({"content": " ça va ?"}),
    _chunk({}, "stop"),
    {**_CHAT, "choices": [], "usage": OPENAI_CHAT_USAGE},
    done=True,
)

OPENAI_CHAT_TOOLS = sse(
    _chunk(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
            "refusal": None,
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"lo'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'cation": "Zürich"}'}}]}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_ABC123",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": ""},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": '}}]}),
    _chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"CET"}'}}]}),
    _chunk({}, "tool_calls"),
    {
        **_CHAT,
        "choices": [],
        "usage": {"prompt_tokens": 85, "completion_tokens": 49, "total_tokens": 134},
    },
    done=True,
)

# --- Together (OpenAI-compatible chunks with Together's extras) ------------------------

_TOGETHER = {
    "id": "8f3b1c2d7e9a4b10-ARN",
    "object": "chat.completion.chunk",
    "created": 1741570300,
    "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
}


def _together(text: str, token_id: int, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {
        "index": 0,
        "text": text,
        "logprobs": None,
        "finish_reason": finish,
        "seed": None,
        "delta": {"token_id": token_id, "role": "assistant", "content": text, "tool_calls": None},
    }
    return {**_TOGETHER, "choices": [choice], "usage": None, **extra}


TOGETHER_CHAT = sse(
    _together("The", 791),
    _together(" answer", 4320),
    _together(" is 42.", 374),
    {
        **_together("", 128009, "eos"),
        "usage": {"prompt_tokens": 45, "completion_tokens": 6, "total_tokens": 51},
    },
    done=True,
)

# --- OpenAI Responses API ---------------------------------------------------------------

_ENVELOPE: dict[str, Any] = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "object": "response",
    "created_at": 1741476542,
    "status": "in_progress",
    "error": None,
    "incomplete_details": None,
    "instructions": "You are terse.",
    "max_output_tokens": None,
    "model": "gpt-4.1-2025-04-14",
    "output": [],
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "usage": None,
    "user": None,
    "metadata": {},
}
_MESSAGE_ID = "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b"
_FINAL_MESSAGE = {
    "id": _MESSAGE_ID,
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Hi there — 你好!", "annotations": []}],
}
RESPONSES_USAGE = {
    "input_tokens": 37,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 11,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 48,
}


def _numbered(*events: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def _text_delta(delta: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "item_id": _MESSAGE_ID,
        "output_index": 0,
        "content_index": 0,
        "delta": delta,
    }


RESPONSES_TEXT_EVENTS = _numbered(
    {"type": "response.created", "response": _ENVELOPE},
    {"type": "response.in_progress", "response": _ENVELOPE},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {
            "id": _MESSAGE_ID,
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        },
    },
    {
        "type": "response.content_part.added",
        "item_id": _MESSAGE_ID,
        "output_index": 0,
        "content_index": 0,
        "part": {"type": "output_text", "text": "", "annotations": []},
    },
    _text_delta("Hi"),
    _text_delta(" there — "),
    _text_delta("你好!"),
    {
        "type": "response.output_text.done",
        "item_id": _MESSAGE_ID,
        "output_index": 0,
        "content_index": 0,
        "text": "Hi there — 你好!",
    },
    {
        "type": "response.content_part.done",
        "item_id": _MESSAGE_ID,
        "output_index": 0,
        "content_index": 0,
        "part": _FINAL_MESSAGE["content"][0],  # type: ignore[index]
    },
    {"type": "response.output_item.done", "output_index": 0, "item": _FINAL_MESSAGE},
    {
        "type": "response.completed",
        "response": {
            **_ENVELOPE,
            "status": "completed",
            "output": [_FINAL_MESSAGE],
            "usage": RESPONSES_USAGE,
        },
    },
)
RESPONSES_TEXT = sse(*RESPONSES_TEXT_EVENTS, named=True)

# A reasoning model calling a tool; the connection drops before response.completed.
_REASONING_ENVELOPE = {**_ENVELOPE, "model": "o4-mini-2025-04-16", "instructions": None}
RESPONSES_TOOL_TRUNCATED_EVENTS = _numbered(
    {"type": "response.created", "response": _REASONING_ENVELOPE},
    {
        "type": "response.output_item.added",
        "output_index": 0,
        "item": {"id": "rs_6876cf02e0bc", "type": "reasoning", "summary": []},
    },
    {
        "type": "response.reasoning_summary_part.added",
        "item_id": "rs_6876cf02e0bc",
        "output_index": 0,
        "summary_index": 0,
        "part": {"type": "summary_text", "text": ""},
    },
    {
        "type": "response.reasoning_summary_text.delta",
        "item_id": "rs_6876cf02e0bc",
        "output_index": 0,
        "summary_index": 0,
        "delta": "**Checking weather**\n\nThe user",
    },
    {
        "type": "response.reasoning_summary_text.delta",
        "item_id": "rs_6876cf02e0bc",
        "output_index": 0,
        "summary_index": 0,
        "delta": " asks about Paris.",
    },
    {
        "type": "response.output_item.added",
        "output_index": 1,
        "item": {
            "id": "fc_6876cf0f3d0c",
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": "call_0TmmPLDDSsbm2V7fQpDXHP8P",
            "name": "get_weather",
        },
    },
    {
        "type": "response.function_call_arguments.delta",
        "item_id": "fc_6876cf0f3d0c",
        "output_index": 1,
        "delta": '{"city":',
    },
    {
        "type": "response.function_call_arguments.delta",
        "item_id": "fc_6876cf0f3d0c",
        "output_index": 1,
        "delta": ' "Paris"}',
    },
)
RESPONSES_TOOL_TRUNCATED = sse(*RESPONSES_TOOL_TRUNCATED_EVENTS, named=True)

RESPONSES_FAILED = sse(
    *_numbered(
        {"type": "response.created", "response": _ENVELOPE},
        {
            "type": "response.failed",
            "response": {
                **_ENVELOPE,
                "status": "failed",
                "error": {"code": "server_error", "message": "The model failed."},
            },
        },
    ),
    named=True,
)

# --- Anthropic Messages ------------------------------------------------------------------

ANTHROPIC_TOOL_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-20250514",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 472,
                "cache_creation_input_tokens": 1500,
                "cache_read_input_tokens": 2048,
                "output_tokens": 2,
                "service_tier": "standard",
            },
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {"type": "ping"},
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "The user wants the weather"},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": " in San Francisco."},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "text_delta", "text": "Okay, let me check"},
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "text_delta", "text": " the weather ☀️."},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {
            "type": "tool_use",
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "name": "get_weather",
            "input": {},
        },
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": ""},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"location": "San Fra'},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": 'ncisco, CA", "unit": "°F"}'},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 89},
    },
    {"type": "message_stop"},
]
ANTHROPIC_TOOL = sse(*ANTHROPIC_TOOL_EVENTS, named=True)

ANTHROPIC_OVERLOADED = sse(
    ANTHROPIC_TOOL_EVENTS[0],
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Par"}},
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    named=True,
)

ALL_STREAMS = {
    "openai_chat_text": OPENAI_CHAT_TEXT,
    "openai_chat_tools": OPENAI_CHAT_TOOLS,
    "together_chat": TOGETHER_CHAT,
    "responses_text": RESPONSES_TEXT,
    "responses_tool_truncated": RESPONSES_TOOL_TRUNCATED,
    "responses_failed": RESPONSES_FAILED,
    "anthropic_tool": ANTHROPIC_TOOL,
    "anthropic_overloaded": ANTHROPIC_OVERLOADED,
}


def decode(body: str | bytes, chunk_size: int | None = None) -> list[Any]:
    """Run ``body`` through an SSEDecoder, in chunks of ``chunk_size`` bytes if given."""
    from heliograph.model.parsing import SSEDecoder

    data = body.encode() if isinstance(body, str) else body
    size = chunk_size or len(data) or 1
    decoder = SSEDecoder()
    events = []
    for start in range(0, len(data), size):
        events.extend(decoder.feed(data[start : start + size]))
    events.extend(decoder.close())
    return events


def consolidate(provider: str, request: dict[str, Any], body: str) -> tuple[Any, list[bool]]:
    """Decode and parse a whole stream; the parser and what ``feed`` said for each event."""
    from heliograph.model.parsing import parser_for

    events = [e for e in decode(body) if e.data is not None]
    parser = parser_for(provider, request, events[0].data if events else None)
    return parser, [parser.feed(e.data) for e in events]
