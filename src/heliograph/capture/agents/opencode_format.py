"""Request and response bodies for OpenCode's LLM calls and tool runs, kept under 10 MB.

OpenCode's events describe a call in its own terms (parts: text, reasoning, tool); Helicone
shows a call best in the provider's own wire format. ``Turn`` entries are the neutral
transcript; ``llm_bodies`` renders one call as an OpenAI Chat Completion (Anthropic
Messages for the ``anthropic`` provider), with the conversation that led to it as the
request's messages. ``fit`` keeps a log under Helicone's 10 MB limit: it drops the oldest
messages first, then shortens the longest strings, and says so in the notes and in the body.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

__all__ = [
    "MAX_LOG_BYTES",
    "ToolCall",
    "Turn",
    "Usage",
    "fit",
    "llm_bodies",
]

JSON = dict[str, Any]

MAX_LOG_BYTES = 9 * 1024 * 1024
"""Request plus response, in UTF-8 bytes (never fewer than Helicone's UTF-16 units), with
room left under Helicone's 10 MB for the envelope and headers."""

_OPENAI_FINISH = {"tool-calls": "tool_calls", "content-filter": "content_filter"}
_ANTHROPIC_STOP = {"stop": "end_turn", "tool-calls": "tool_use", "length": "max_tokens"}


@dataclasses.dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: Any


@dataclasses.dataclass(frozen=True)
class Turn:
    """One message of the conversation: ``role`` is user, assistant or tool."""

    role: str
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""


@dataclasses.dataclass(frozen=True)
class Usage:
    """OpenCode's step tokens: ``input`` excludes cache reads and writes (§6.7)."""

    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0

    @classmethod
    def from_tokens(cls, tokens: object) -> Usage | None:
        if not isinstance(tokens, dict):
            return None
        cache = tokens.get("cache")
        cache = cache if isinstance(cache, dict) else {}
        return cls(
            input=_int(tokens.get("input")),
            output=_int(tokens.get("output")),
            reasoning=_int(tokens.get("reasoning")),
            cache_read=_int(cache.get("read")),
            cache_write=_int(cache.get("write")),
        )


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _arguments(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value, default=str).decode()


# --- OpenAI Chat Completions -----------------------------------------------------------------


def _openai_message(turn: Turn) -> JSON:
    if turn.role == "tool":
        return {"role": "tool", "tool_call_id": turn.tool_call_id, "content": turn.text}
    message: JSON = {"role": turn.role, "content": turn.text or None}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": _arguments(c.input)},
            }
            for c in turn.tool_calls
        ]
    return message


def _openai_usage(usage: Usage) -> JSON:
    return {
        "prompt_tokens": usage.input + usage.cache_read + usage.cache_write,
        "completion_tokens": usage.output + usage.reasoning,
        "total_tokens": usage.input + usage.cache_read + usage.cache_write + usage.output
        + usage.reasoning,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
    }  # fmt: skip


def _openai_response(
    call_id: str,
    model: str,
    created_ms: float,
    answer: Turn,
    finish: str | None,
    usage: Usage | None,
) -> JSON:
    message = _openai_message(answer)
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    response: JSON = {
        "id": call_id,
        "object": "chat.completion",
        "created": int(created_ms // 1000),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _OPENAI_FINISH.get(finish or "", finish),
            }
        ],
    }
    if usage is not None:
        response["usage"] = _openai_usage(usage)
    return response


# --- Anthropic Messages ----------------------------------------------------------------------


def _anthropic_content(turn: Turn, *, with_reasoning: bool = False) -> list[JSON]:
    blocks: list[JSON] = []
    if with_reasoning and turn.reasoning:
        blocks.append({"type": "thinking", "thinking": turn.reasoning, "signature": ""})
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in turn.tool_calls
    )
    return blocks


def _anthropic_messages(turns: list[Turn]) -> list[JSON]:
    messages: list[JSON] = []
    for turn in turns:
        if turn.role == "tool":
            block = {"type": "tool_result", "tool_use_id": turn.tool_call_id, "content": turn.text}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "user" and last.get("tool_results"):
                last["content"].append(block)
            else:
                messages.append({"role": "user", "content": [block], "tool_results": True})
            continue
        messages.append({"role": turn.role, "content": _anthropic_content(turn)})
    for message in messages:
        message.pop("tool_results", None)
    return messages


def _anthropic_response(
    call_id: str, model: str, answer: Turn, finish: str | None, usage: Usage | None
) -> JSON:
    response: JSON = {
        "id": call_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_content(answer, with_reasoning=True),
        "stop_reason": _ANTHROPIC_STOP.get(finish or "", finish),
        "stop_sequence": None,
    }
    if usage is not None:
        response["usage"] = {
            "input_tokens": usage.input,
            "output_tokens": usage.output + usage.reasoning,
            "cache_read_input_tokens": usage.cache_read,
            "cache_creation_input_tokens": usage.cache_write,
        }
    return response


def llm_bodies(
    *,
    anthropic: bool,
    call_id: str,
    model: str,
    created_ms: float,
    conversation: list[Turn],
    answer: Turn,
    finish: str | None,
    usage: Usage | None,
) -> tuple[JSON, JSON]:
    """(request, response) of one LLM call in the provider's wire format."""
    if anthropic:
        request: JSON = {"model": model, "messages": _anthropic_messages(conversation)}
        return request, _anthropic_response(call_id, model, answer, finish, usage)
    request = {"model": model, "messages": [_openai_message(t) for t in conversation]}
    return request, _openai_response(call_id, model, created_ms, answer, finish, usage)


# --- size ------------------------------------------------------------------------------------


def _size(*values: Any) -> int:
    return sum(len(orjson.dumps(v, default=str)) for v in values)


def _shorten(value: Any, limit: int) -> Any:
    """``value`` with every string longer than ``limit`` cut, and marked where it was cut."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return f"{value[:limit]}… [heliograph: {len(value) - limit} characters truncated]"
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def fit(request: JSON, response: JSON, budget: int = MAX_LOG_BYTES) -> tuple[JSON, JSON, list[str]]:
    """``request`` and ``response`` made to fit ``budget`` bytes, and notes saying how.

    First the oldest request messages go (a marker message says how many); if that is not
    enough, the longest strings are shortened, each marked where it was cut.
    """
    notes: list[str] = []
    if _size(request, response) <= budget:
        return request, response, notes
    messages = request.get("messages")
    if isinstance(messages, list) and len(messages) > 1:
        kept = list(messages)
        dropped = 0
        rest = _size({**request, "messages": []}, response)
        sizes = [_size(m) + 1 for m in kept]
        total = rest + sum(sizes)
        while total > budget and len(kept) > 1:
            total -= sizes.pop(0)
            kept.pop(0)
            dropped += 1
        marker = {
            "role": "user",
            "content": f"[heliograph: {dropped} earlier messages omitted to stay under 10 MB]",
        }
        request = {**request, "messages": [marker, *kept]}
        notes.append(f"truncated: {dropped} earlier messages omitted (10 MB log limit)")
    if _size(request, response) <= budget:
        return request, response, notes
    low, high = 0, max(_longest(request), _longest(response))
    while low < high:  # the largest per-string limit that fits
        middle = (low + high + 1) // 2
        if _size(_shorten(request, middle), _shorten(response, middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    notes.append(f"truncated: strings longer than {low} characters cut (10 MB log limit)")
    return _shorten(request, low), _shorten(response, low), notes


def _longest(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((_longest(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((_longest(v) for v in value), default=0)
    return 0
