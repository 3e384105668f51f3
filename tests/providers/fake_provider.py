"""A local fake LLM provider that speaks the real OpenAI, Together and Anthropic wire formats.

The official ``openai`` and ``anthropic`` SDKs can be pointed at it, offline::

    with FakeProvider() as provider:
        provider.script = Script(text="Hello world", tool_call={"name": "f", "arguments": {}})
        client = openai.OpenAI(base_url=provider.url + "/v1", api_key="sk-fake")
        ...                                   # the SDK parses what a real provider would send
        provider.requests[0].body["model"]   # what the SDK sent
        provider.sent[0]                      # the exact response body bytes the provider sent

Routes (each answers ``"stream": true`` requests with SSE, others with one JSON object):

* ``POST /v1/chat/completions``: OpenAI Chat Completions (``chat.completion.chunk`` objects,
  then ``data: [DONE]``); with ``Script(together=True)``, Together's flavour of it.
* ``POST /v1/responses``: the OpenAI Responses API (``event: <type>`` + ``data:`` frames,
  each event with ``type`` and ``sequence_number``).
* ``POST /v1/messages``: Anthropic Messages (``event: <type>`` + ``data:`` frames).

Timing: the status line and headers, and every event that precedes the first piece of
generated content (OpenAI's role-only chunk, Anthropic's ``message_start``/``ping``, the
Responses API's ``response.created``...), go out at once. The first *content* event (a text,
thinking or tool-argument delta) waits ``first_chunk_delay_s``; each later content event waits
``chunk_delay_s``. ``error_after_chunks=N`` sends the provider's mid-stream error in place of
the (N+1)-th content event (or, if there are only N or fewer, in place of the closing events)
and ends the response.

The server is uvicorn (h11) on a thread, on a socket bound to a free loopback port before it
starts; leaving the ``with`` block stops it and closes every socket it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import uvicorn

__all__ = ["FAKE_SIGNATURE", "FakeProvider", "ReceivedRequest", "Script", "parse_sse"]

FAKE_SIGNATURE = "EqQBCkYIBRgCKkBmYWtlLXNpZ25hdHVyZS1mb3ItdGVzdHM="
"""The ``signature`` of every scripted Anthropic thinking block."""

DEFAULT_MODELS = {
    "chat": "gpt-4o-mini-2024-07-18",
    "responses": "gpt-4o-mini-2024-07-18",
    "messages": "claude-sonnet-4-5-20250929",
}

ARGUMENT_FRAGMENT_CHARS = 8
"""Tool-call arguments are streamed as JSON text in fragments of at most this many chars."""


@dataclasses.dataclass(frozen=True)
class Script:
    """What the fake provider answers to the next requests (set ``provider.script``).

    ``text`` is streamed word by word (``"Hello world"`` -> ``"Hello"``, ``" world"``).
    ``tool_call`` is ``{"name": str, "arguments": dict}`` (optionally ``"id"``); the
    arguments are streamed as fragments of their compact JSON. ``thinking`` adds an Anthropic
    thinking block (with ``signature_delta``) or a Responses API reasoning summary; the Chat
    Completions formats have no place for it and leave it out.

    ``usage`` is ``(prompt, completion, cached, reasoning)`` tokens. OpenAI reports them as
    ``prompt_tokens``/``input_tokens``, ``completion_tokens``/``output_tokens``,
    ``cached_tokens`` and ``reasoning_tokens``; Together as ``prompt_tokens``,
    ``completion_tokens`` and ``cached_tokens``; Anthropic as ``input_tokens`` and
    ``output_tokens``, with ``cache_read_input_tokens = cache_read`` (``usage[2]`` when
    ``None``) and ``cache_creation_input_tokens = cache_write``; ``cache_write`` is also the
    Responses API's ``input_tokens_details.cache_write_tokens``.

    ``include_usage=False`` makes the provider report no usage at all (OpenAI Chat
    Completions and Together streams, chat and Responses bodies); Anthropic always reports
    it. An OpenAI Chat Completions stream has its usage chunk only if the request also asked
    for it with ``stream_options={"include_usage": True}``; Together puts usage on its final
    content chunk whatever the request says.

    ``status`` other than 200 answers with the provider's JSON error body and that status.
    ``model=None`` echoes the request's ``model``.
    """

    text: str = "Hello world"
    first_chunk_delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    tool_call: dict[str, Any] | None = None
    thinking: str | None = None
    error_after_chunks: int | None = None
    include_usage: bool = True
    usage: tuple[int, int, int, int] = (12, 5, 0, 0)
    cache_read: int | None = None
    cache_write: int = 0
    status: int = 200
    model: str | None = None
    together: bool = False

    @property
    def prompt_tokens(self) -> int:
        return self.usage[0]

    @property
    def completion_tokens(self) -> int:
        return self.usage[1]

    @property
    def cached_tokens(self) -> int:
        return self.usage[2]

    @property
    def reasoning_tokens(self) -> int:
        return self.usage[3]

    @property
    def cache_read_tokens(self) -> int:
        return self.usage[2] if self.cache_read is None else self.cache_read

    @property
    def arguments_json(self) -> str:
        """The tool call's arguments as the provider sends them (compact JSON)."""
        if self.tool_call is None:
            return ""
        return _compact(self.tool_call.get("arguments", {}))


@dataclasses.dataclass(frozen=True)
class ReceivedRequest:
    """One request as the fake provider received it (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    received_at: float


# --- framing -------------------------------------------------------------------------------

META, DELTA, FINAL = "meta", "delta", "final"
"""Frame kinds: ``META`` goes out as soon as it is reached; ``DELTA`` carries generated
content (delayed, counted for ``error_after_chunks``); ``FINAL`` closes the stream."""


@dataclasses.dataclass(frozen=True)
class _Frame:
    data: bytes
    kind: str


@dataclasses.dataclass(frozen=True)
class _Stream:
    frames: list[_Frame]
    error: Callable[[int], bytes]
    """The mid-stream error frame, given how many frames were sent before it."""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _data(value: Any) -> bytes:
    return b"data: " + _compact(value).encode() + b"\n\n"


def _event(name: str, value: Any) -> bytes:
    return b"event: " + name.encode() + b"\n" + _data(value)


def _words(text: str) -> list[str]:
    """``"Hello big world"`` -> ``["Hello", " big", " world"]``; joined, they are ``text``."""
    return re.findall(r"\s*\S+|\s+$", text)


def _fragments(text: str, size: int = ARGUMENT_FRAGMENT_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _rand(prefix: str, n: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:n]


def _obfuscation() -> str:
    """Random padding, as OpenAI adds to streamed deltas unless ``include_obfuscation`` is off."""
    return uuid.uuid4().hex[: secrets.randbelow(16) + 1]


def _wants_obfuscation(body: dict[str, Any]) -> bool:
    return (body.get("stream_options") or {}).get("include_obfuscation") is not False


def _tool_name(script: Script) -> str:
    assert script.tool_call is not None
    return str(script.tool_call["name"])


def parse_sse(raw: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE body into ``(event name or None, data)`` pairs, in order."""
    events: list[tuple[str | None, str]] = []
    for block in raw.decode().split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if name is not None or data:
            events.append((name, "\n".join(data)))
    return events


# --- OpenAI Chat Completions (and Together) --------------------------------------------------


def _chat_usage(script: Script) -> dict[str, Any] | None:
    if not script.include_usage:
        return None
    prompt, completion, cached, reasoning = script.usage
    if script.together:
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cached_tokens": cached,
        }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _openai_error(status: int) -> dict[str, Any]:
    kind, code, message = {
        400: ("invalid_request_error", None, "Invalid request (scripted by FakeProvider)."),
        401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
        403: ("invalid_request_error", None, "You are not allowed to access this resource."),
        404: ("invalid_request_error", "model_not_found", "The model does not exist."),
        429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    }.get(
        status,
        ("server_error", None, "The server had an error while processing your request.")
        if status >= 500
        else ("invalid_request_error", None, f"Request failed with status {status}."),
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


def _openai_stream_error(_sent: int) -> bytes:
    return _data(
        {
            "error": {
                "message": _SERVER_ERROR,
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    )


def _chat_tool_call(script: Script, call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": _tool_name(script), "arguments": script.arguments_json},
    }


def _chat_stream(script: Script, body: dict[str, Any], model: str) -> _Stream:
    if script.together:
        return _together_stream(script, model)
    chat_id, created = _rand("chatcmpl-"), int(time.time())
    stream_options = body.get("stream_options") or {}
    usage = _chat_usage(script) if stream_options.get("include_usage") is True else None
    call_id = str((script.tool_call or {}).get("id") or _rand("call_"))
    obfuscate = _wants_obfuscation(body)

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        value: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_fakeprovider",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if stream_options.get("include_usage") is True:
            value["usage"] = None  # every chunk says so once usage was asked for
        if obfuscate:
            value["obfuscation"] = _obfuscation()
        return _data(value)

    frames: list[_Frame] = []
    pieces = _words(script.text)
    if pieces or script.tool_call is None:
        frames.append(_Frame(chunk({"role": "assistant", "content": "", "refusal": None}), META))
        frames += [_Frame(chunk({"content": piece}), DELTA) for piece in pieces]
    if script.tool_call is not None:
        header: dict[str, Any] = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": _tool_name(script), "arguments": ""},
        }
        first = {"tool_calls": [header]}
        if not frames:
            first = {"role": "assistant", "content": None, "tool_calls": [header], "refusal": None}
        frames.append(_Frame(chunk(first), META))
        frames += [
            _Frame(chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]}), DELTA)
            for part in _fragments(script.arguments_json)
        ]
    finish_reason = "tool_calls" if script.tool_call is not None else "stop"
    frames.append(_Frame(chunk({}, finish_reason), FINAL))
    if usage is not None:
        frames.append(
            _Frame(
                _data(
                    {
                        "id": chat_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "service_tier": "default",
                        "system_fingerprint": "fp_fakeprovider",
                        "choices": [],
                        "usage": usage,
                    }
                ),
                FINAL,
            )
        )
    frames.append(_Frame(b"data: [DONE]\n\n", FINAL))
    return _Stream(frames, _openai_stream_error)


def _together_stream(script: Script, model: str) -> _Stream:
    chat_id, created = _rand("oFake-", 16), int(time.time())
    token_ids = itertools.count(1000)

    def chunk(
        content: str,
        tool_calls: list[dict[str, Any]] | None = None,
        finish_reason: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> bytes:
        return _data(
            {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "text": content,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                        "seed": 1234567890 if finish_reason else None,
                        "delta": {
                            "token_id": 128009 if finish_reason else next(token_ids),
                            "role": "assistant",
                            "content": content,
                            "tool_calls": tool_calls,
                        },
                    }
                ],
                "usage": usage,
            }
        )

    frames = [_Frame(chunk(piece), DELTA) for piece in _words(script.text)]
    if script.tool_call is not None:
        call_id = str(script.tool_call.get("id") or _rand("call_"))
        header = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": _tool_name(script), "arguments": ""},
        }
        frames.append(_Frame(chunk("", [header]), META))
        frames += [
            _Frame(chunk("", [{"index": 0, "function": {"arguments": part}}]), DELTA)
            for part in _fragments(script.arguments_json)
        ]
    finish_reason = "tool_calls" if script.tool_call is not None else "stop"
    frames.append(_Frame(chunk("", None, finish_reason, _chat_usage(script)), FINAL))
    frames.append(_Frame(b"data: [DONE]\n\n", FINAL))
    return _Stream(frames, _openai_stream_error)


def _chat_body(script: Script, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": script.text if script.text or script.tool_call is None else None,
        "refusal": None,
        "annotations": [],
    }
    if script.tool_call is not None:
        message["tool_calls"] = [
            _chat_tool_call(script, str(script.tool_call.get("id") or _rand("call_")))
        ]
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": "tool_calls" if script.tool_call is not None else "stop",
    }
    if script.together:
        choice["seed"] = 1234567890
    value: dict[str, Any] = {
        "id": _rand("oFake-", 16) if script.together else _rand("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
    }
    if not script.together:
        value["service_tier"] = "default"
        value["system_fingerprint"] = "fp_fakeprovider"
    usage = _chat_usage(script)
    if usage is not None:
        value["usage"] = usage
    return value


# --- OpenAI Responses API -------------------------------------------------------------------


def _responses_usage(script: Script) -> dict[str, Any] | None:
    if not script.include_usage:
        return None
    prompt, completion, cached, reasoning = script.usage
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": script.cache_write},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def _response_object(
    response_id: str,
    created_at: int,
    model: str,
    body: dict[str, Any],
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools") or [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def _responses_items(script: Script) -> list[tuple[str, dict[str, Any]]]:
    """(kind, final item) for each output item, in output order."""
    items: list[tuple[str, dict[str, Any]]] = []
    if script.thinking is not None:
        summary = [{"type": "summary_text", "text": script.thinking}]
        items.append(("reasoning", {"id": _rand("rs_"), "type": "reasoning", "summary": summary}))
    if script.text or script.tool_call is None:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": script.text}
        message = {
            "id": _rand("msg_"),
            "type": "message",
            "status": "completed",
            "content": [part],
            "role": "assistant",
        }
        items.append(("message", message))
    if script.tool_call is not None:
        call = {
            "id": _rand("fc_"),
            "type": "function_call",
            "status": "completed",
            "arguments": script.arguments_json,
            "call_id": str(script.tool_call.get("id") or _rand("call_")),
            "name": _tool_name(script),
        }
        items.append(("function_call", call))
    return items


def _responses_stream(script: Script, body: dict[str, Any], model: str) -> _Stream:
    response_id, created_at = _rand("resp_"), int(time.time())
    frames: list[_Frame] = []
    obfuscate = _wants_obfuscation(body)

    def emit(kind: str, event_type: str, **fields: Any) -> None:
        value = {"type": event_type, "sequence_number": len(frames), **fields}
        if kind == DELTA and obfuscate:
            value["obfuscation"] = _obfuscation()
        frames.append(_Frame(_event(event_type, value), kind))

    started = _response_object(response_id, created_at, model, body, "in_progress", [], None)
    emit(META, "response.created", response=started)
    emit(META, "response.in_progress", response=started)
    items = _responses_items(script)
    for index, (kind, item) in enumerate(items):
        ids = {"item_id": item["id"], "output_index": index}
        if kind == "reasoning":
            text = item["summary"][0]["text"]
            emit(
                META, "response.output_item.added", output_index=index, item={**item, "summary": []}
            )
            part = {"type": "summary_text", "text": ""}
            emit(META, "response.reasoning_summary_part.added", **ids, summary_index=0, part=part)
            for piece in _words(text):
                emit(
                    DELTA,
                    "response.reasoning_summary_text.delta",
                    **ids,
                    summary_index=0,
                    delta=piece,
                )
            emit(META, "response.reasoning_summary_text.done", **ids, summary_index=0, text=text)
            part = {"type": "summary_text", "text": text}
            emit(META, "response.reasoning_summary_part.done", **ids, summary_index=0, part=part)
        elif kind == "message":
            text = item["content"][0]["text"]
            added = {**item, "status": "in_progress", "content": []}
            emit(META, "response.output_item.added", output_index=index, item=added)
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            emit(META, "response.content_part.added", **ids, content_index=0, part=part)
            for piece in _words(text):
                emit(
                    DELTA,
                    "response.output_text.delta",
                    **ids,
                    content_index=0,
                    delta=piece,
                    logprobs=[],
                )
            emit(META, "response.output_text.done", **ids, content_index=0, text=text, logprobs=[])
            emit(
                META, "response.content_part.done", **ids, content_index=0, part=item["content"][0]
            )
        else:
            added = {**item, "status": "in_progress", "arguments": ""}
            emit(META, "response.output_item.added", output_index=index, item=added)
            for part in _fragments(item["arguments"]):
                emit(DELTA, "response.function_call_arguments.delta", **ids, delta=part)
            emit(META, "response.function_call_arguments.done", **ids, arguments=item["arguments"])
        emit(META, "response.output_item.done", output_index=index, item=item)
    output = [item for _, item in items]
    completed = _response_object(
        response_id, created_at, model, body, "completed", output, _responses_usage(script)
    )
    emit(FINAL, "response.completed", response=completed)

    def error(sent: int) -> bytes:
        value = {
            "type": "error",
            "code": "server_error",
            "message": _SERVER_ERROR,
            "param": None,
            "sequence_number": sent,
        }
        return _event("error", value)

    return _Stream(frames, error)


def _responses_body(script: Script, body: dict[str, Any], model: str) -> dict[str, Any]:
    output = [item for _, item in _responses_items(script)]
    return _response_object(
        _rand("resp_"),
        int(time.time()),
        model,
        body,
        "completed",
        output,
        _responses_usage(script),
    )


# --- Anthropic Messages ---------------------------------------------------------------------


def _anthropic_error(status: int) -> dict[str, Any]:
    kind, message = {
        400: ("invalid_request_error", "Invalid request (scripted by FakeProvider)."),
        401: ("authentication_error", "invalid x-api-key"),
        402: ("billing_error", "Your credit balance is too low."),
        403: ("permission_error", "Your API key does not have permission to use this resource."),
        404: ("not_found_error", "The requested resource could not be found."),
        413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
        500: ("api_error", "Internal server error"),
        504: ("timeout_error", "Request timed out."),
        529: ("overloaded_error", "Overloaded"),
    }.get(
        status,
        ("api_error", "Internal server error")
        if status >= 500
        else ("invalid_request_error", f"Request failed with status {status}."),
    )
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": _rand("req_"),
    }


def _anthropic_stream_error(_sent: int) -> bytes:
    value = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return _event("error", value)


def _anthropic_blocks(script: Script) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if script.thinking is not None:
        blocks.append(
            {"type": "thinking", "thinking": script.thinking, "signature": FAKE_SIGNATURE}
        )
    if script.text or script.tool_call is None:
        blocks.append({"type": "text", "text": script.text})
    if script.tool_call is not None:
        blocks.append(
            {
                "type": "tool_use",
                "id": str(script.tool_call.get("id") or _rand("toolu_")),
                "name": _tool_name(script),
                "input": script.tool_call.get("arguments", {}),
            }
        )
    return blocks


def _anthropic_usage(script: Script, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": script.prompt_tokens,
        "cache_creation_input_tokens": script.cache_write,
        "cache_read_input_tokens": script.cache_read_tokens,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _messages_stream(script: Script, model: str) -> _Stream:
    frames: list[_Frame] = []

    def emit(kind: str, event_type: str, **fields: Any) -> None:
        frames.append(_Frame(_event(event_type, {"type": event_type, **fields}), kind))

    message = {
        "id": _rand("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _anthropic_usage(script, 1),
    }
    emit(META, "message_start", message=message)
    for index, block in enumerate(_anthropic_blocks(script)):
        if block["type"] == "thinking":
            emit(
                META,
                "content_block_start",
                index=index,
                content_block={"type": "thinking", "thinking": "", "signature": ""},
            )
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _words(block["thinking"])]
        elif block["type"] == "text":
            emit(
                META,
                "content_block_start",
                index=index,
                content_block={"type": "text", "text": ""},
            )
            deltas = [{"type": "text_delta", "text": piece} for piece in _words(block["text"])]
        else:
            emit(
                META,
                "content_block_start",
                index=index,
                content_block={**block, "input": {}},
            )
            emit(
                META,
                "content_block_delta",
                index=index,
                delta={"type": "input_json_delta", "partial_json": ""},
            )
            deltas = [
                {"type": "input_json_delta", "partial_json": part}
                for part in _fragments(script.arguments_json)
            ]
        if index == 0:
            emit(META, "ping")
        for delta in deltas:
            emit(DELTA, "content_block_delta", index=index, delta=delta)
        if block["type"] == "thinking":
            signature = {"type": "signature_delta", "signature": FAKE_SIGNATURE}
            emit(META, "content_block_delta", index=index, delta=signature)
        emit(META, "content_block_stop", index=index)
    stop_reason = "tool_use" if script.tool_call is not None else "end_turn"
    emit(
        FINAL,
        "message_delta",
        delta={"stop_reason": stop_reason, "stop_sequence": None},
        usage={"output_tokens": script.completion_tokens},
    )
    emit(FINAL, "message_stop")
    return _Stream(frames, _anthropic_stream_error)


def _messages_body(script: Script, model: str) -> dict[str, Any]:
    return {
        "id": _rand("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_blocks(script),
        "stop_reason": "tool_use" if script.tool_call is not None else "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(script, script.completion_tokens),
    }


# --- the ASGI app ---------------------------------------------------------------------------

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_ROUTES = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}


class FakeProvider:
    """The fake provider on ``127.0.0.1:<free port>``, in a background thread.

    ``script`` (a :class:`Script`) may be replaced at any time; each request uses the one in
    place when it arrives, unless scripts were queued with ``enqueue`` (a tool call, then
    the answer that follows it): those are used first, one per request. ``requests`` and
    ``sent`` are copies, in arrival order and index for index: ``sent[i]`` is every body
    byte sent in answer to ``requests[i]`` so far.
    """

    def __init__(self, script: Script | None = None, *, start_timeout_s: float = 10.0) -> None:
        self._script = script or Script()
        self._queued: list[Script] = []
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._sent: list[bytearray] = []
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._port = 0

    # -- public API

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash); OpenAI clients add ``/v1``."""
        if self._sock is None:
            raise RuntimeError("FakeProvider is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._port}"

    @property
    def script(self) -> Script:
        with self._lock:
            return self._script

    @script.setter
    def script(self, script: Script) -> None:
        if not isinstance(script, Script):
            raise TypeError(f"expected a Script, got {type(script).__name__}")
        with self._lock:
            self._script = script

    def enqueue(self, *scripts: Script) -> None:
        """Answer the next requests with these scripts, in order, then with ``script`` again."""
        with self._lock:
            self._queued.extend(scripts)

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def sent(self) -> list[bytes]:
        with self._lock:
            return [bytes(body) for body in self._sent]

    def __enter__(self) -> FakeProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this FakeProvider was already started; make a new one")
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it small SSE writes can wait ~40 ms for a delayed ACK, blurring the timing.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            loop="asyncio",
            http="h11",
            ws="none",
            interface="asgi3",
            lifespan="off",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(
            target=self._run, args=(server, sock), name="fake-provider", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not server.started:
            self.close()
            raise RuntimeError("the fake provider did not start") from self._error

    def close(self) -> None:
        """Stop serving: end streams still running, close the sockets. Idempotent."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            loop, stopping = self._loop, self._stopping
            if loop is not None and stopping is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    loop.call_soon_threadsafe(stopping.set)
            thread.join(10)
            if thread.is_alive():
                server.force_exit = True
                thread.join(2)
        self._server = None
        if self._sock is not None:
            self._sock.close()

    # -- server thread

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            await server.serve(sockets=[sock])
            # Graceful shutdown leaves a connection open while its response is unfinished (a
            # stream its client dropped without closing); close it here, on its own loop,
            # rather than leave it to a garbage collection in some later test.
            for connection in list(server.server_state.connections):
                connection.transport.close()
            await asyncio.sleep(0)  # let the transports finish closing

        try:
            asyncio.run(serve())
        except BaseException as exc:  # a thread has nowhere to raise to; keep it for start()
            self._error = exc
        finally:
            sock.close()

    async def _app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        sent = bytearray()
        with self._lock:
            # Only a request a script answers takes a queued one (not a client's HEAD probe).
            scripted = scope["method"] == "POST" and scope["path"] in _ROUTES
            script = self._queued.pop(0) if self._queued and scripted else self._script
            self._requests.append(
                ReceivedRequest(
                    method=scope["method"],
                    path=scope["path"],
                    headers=headers,
                    body=body,
                    raw=bytes(raw),
                    received_at=time.monotonic(),
                )
            )
            self._sent.append(sent)
        await _Exchange(self, scope, receive, send, sent, script, body).run()

    def _record(self, sent: bytearray, data: bytes) -> None:
        with self._lock:
            sent.extend(data)


class _Exchange:
    """One request/response: routing, errors, and the paced SSE writer."""

    def __init__(
        self,
        provider: FakeProvider,
        scope: dict[str, Any],
        receive: Receive,
        send: Send,
        sent: bytearray,
        script: Script,
        body: Any,
    ) -> None:
        self.provider = provider
        self.scope = scope
        self.receive = receive
        self.send = send
        self.sent = sent
        self.script = script
        self.body = body
        self.route = _ROUTES.get(scope["path"]) if scope["method"] == "POST" else None
        self.abort = asyncio.Event()

    async def run(self) -> None:
        route, body, script = self.route, self.body, self.script
        anthropic = route == "messages"
        if route is None:
            return await self.json(404, _openai_error(404))
        if not isinstance(body, dict):
            error = _anthropic_error(400) if anthropic else _openai_error(400)
            return await self.json(400, error)
        if script.status != 200:
            error = _anthropic_error(script.status) if anthropic else _openai_error(script.status)
            return await self.json(script.status, error)
        model = script.model or str(body.get("model") or DEFAULT_MODELS[route])
        if body.get("stream") is True:
            if route == "chat":
                stream = _chat_stream(script, body, model)
            elif route == "responses":
                stream = _responses_stream(script, body, model)
            else:
                stream = _messages_stream(script, model)
            return await self.stream(stream)
        if route == "chat":
            return await self.json(200, _chat_body(script, model))
        if route == "responses":
            return await self.json(200, _responses_body(script, body, model))
        return await self.json(200, _messages_body(script, model))

    def _headers(self, content_type: bytes) -> list[tuple[bytes, bytes]]:
        request_id = _rand("req_").encode()
        name = b"request-id" if self.route == "messages" else b"x-request-id"
        return [(b"content-type", content_type), (name, request_id)]

    async def json(self, status: int, value: Any) -> None:
        payload = _compact(value).encode()
        headers = [*self._headers(b"application/json"), (b"content-length", b"%d" % len(payload))]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        self.provider._record(self.sent, payload)
        await self.send({"type": "http.response.body", "body": payload, "more_body": False})

    async def stream(self, stream: _Stream) -> None:
        headers = [
            *self._headers(b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
        ]
        watcher = asyncio.create_task(self._watch())
        try:
            await self.send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._write(stream)
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _write(self, stream: _Stream) -> None:
        script = self.script
        deltas_sent, waited = 0, False
        for sent_frames, frame in enumerate(stream.frames):
            data = frame.data
            if frame.kind != META:
                delay = script.chunk_delay_s if waited else script.first_chunk_delay_s
                if frame.kind == DELTA or not waited:
                    await self._pause(delay)
                waited = True
                limit = script.error_after_chunks
                if limit is not None and (frame.kind == FINAL or deltas_sent >= limit):
                    data = stream.error(sent_frames)
                if frame.kind == DELTA:
                    deltas_sent += 1
            if self.abort.is_set():
                return
            self.provider._record(self.sent, data)
            await self.send({"type": "http.response.body", "body": data, "more_body": True})
            if data is not frame.data:
                return  # the mid-stream error ends the stream

    async def _pause(self, delay: float) -> None:
        if delay > 0 and not self.abort.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.abort.wait(), delay)

    async def _watch(self) -> None:
        """Set ``abort`` when the client goes away or the provider is closing."""
        stopping = self.provider._stopping
        waiters = [asyncio.ensure_future(self._disconnected())]
        if stopping is not None:
            waiters.append(asyncio.ensure_future(stopping.wait()))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            self.abort.set()
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _disconnected(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
