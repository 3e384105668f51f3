"""The calls every driver makes, as plain JSON data so the node driver can read them too.

Each scenario is one call on a manual logger:

``single_request``
    ``log_single_request(request, body, additional_headers, latency_ms)``.
``log_request``
    ``log_request(request, operation, additional_headers, provider)``; the operation calls
    ``append_results`` once per entry of ``results`` and returns ``returns``.
``operation_raises``
    ``log_request`` whose operation raises ``RuntimeError(error)`` (``Error`` in node).
``builder_response``
    ``log_builder(request, additional_headers)``, ``set_response(response)``, ``send_log()``;
    ``response`` is a string or a dict.
``builder_error``
    ``log_builder(...)``, ``set_error(<raised RuntimeError(error)>)``, ``send_log()``.

``ctor_headers`` are the headers given to the logger's constructor.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["API_KEY", "SCENARIOS", "Scenario"]

API_KEY = "sk-helicone-test"

Scenario = dict[str, Any]

CHAT_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say hi"},
    ],
    "temperature": 0,
}

CHAT_COMPLETION = {
    "id": "chatcmpl-conformance-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
}

SESSION_HEADERS = {
    "Helicone-Session-Id": "0b7e3c1e-1f5e-4a8e-9d55-3c2b8f6a1d20",
    "Helicone-Session-Name": "conformance",
    "Helicone-Session-Path": "/a/b",
    "Helicone-User-Id": "u1",
    "Helicone-Property-Env": "test",
}

ANTHROPIC_REQUEST = {
    "model": "claude-3-5-haiku-20241022",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hi"}],
}

ANTHROPIC_MESSAGE = {
    "id": "msg_conformance_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hi."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 10, "output_tokens": 3},
}

_COMPLETION_WITHOUT_USAGE = {k: v for k, v in CHAT_COMPLETION.items() if k != "usage"}

SCENARIOS: dict[str, Scenario] = {
    "single_request": {
        "kind": "single_request",
        "request": CHAT_REQUEST,
        "body": json.dumps(CHAT_COMPLETION),
        "headers": SESSION_HEADERS,
        "latency_ms": 250,
    },
    "log_request_openai": {
        "kind": "log_request",
        "request": CHAT_REQUEST,
        # Two appends: the recorder merges them (a shallow dict update).
        "results": [_COMPLETION_WITHOUT_USAGE, {"usage": CHAT_COMPLETION["usage"]}],
        "returns": "operation-result",
        "headers": {"Helicone-User-Id": "u1", "Helicone-Property-Env": "test"},
        "provider": "openai",
    },
    "log_request_anthropic": {
        "kind": "log_request",
        "request": ANTHROPIC_REQUEST,
        "results": [ANTHROPIC_MESSAGE],
        "returns": "operation-result",
        "headers": {"Helicone-User-Id": "u1"},
        "provider": "anthropic",
    },
    "log_request_google": {
        "kind": "log_request",
        "request": {"model": "gemini-1.5-flash", "contents": [{"parts": [{"text": "hi"}]}]},
        "results": [{"candidates": [{"content": {"parts": [{"text": "Hi."}]}}]}],
        "returns": "operation-result",
        "headers": {},
        "provider": "google",
    },
    "log_request_no_provider": {
        "kind": "log_request",
        "request": CHAT_REQUEST,
        "results": [CHAT_COMPLETION],
        "returns": "operation-result",
        "headers": {},
        "provider": None,
    },
    "log_request_tool_event": {
        "kind": "log_request",
        "request": {"_type": "tool", "toolName": "web_search", "input": {"q": "helicone"}},
        "results": [{"hits": 3}],
        "returns": "operation-result",
        "headers": {},
        "provider": None,
    },
    "ctor_headers": {
        "kind": "log_request",
        "ctor_headers": {"Helicone-Property-Client": "conformance", "Helicone-User-Id": "ctor"},
        "request": CHAT_REQUEST,
        "results": [CHAT_COMPLETION],
        "returns": "operation-result",
        # The per-call header must override the constructor's.
        "headers": {"Helicone-User-Id": "u2"},
        "provider": "openai",
    },
    "ctor_headers_other_case": {
        "kind": "log_request",
        "ctor_headers": {"Helicone-User-Id": "ctor"},
        "request": CHAT_REQUEST,
        "results": [CHAT_COMPLETION],
        "returns": "operation-result",
        # HTTP header names are case-insensitive: the per-call value should still win.
        "headers": {"helicone-user-id": "u2"},
        "provider": "openai",
    },
    "builder_response": {
        "kind": "builder_response",
        "request": CHAT_REQUEST,
        "response": json.dumps(CHAT_COMPLETION),
        "headers": {"Helicone-Session-Id": SESSION_HEADERS["Helicone-Session-Id"]},
    },
    "builder_response_object": {
        "kind": "builder_response",
        "request": CHAT_REQUEST,
        # npm types setResponse(string) but passes an object through; helicone-helpers'
        # add_response json.dumps it into textBody.
        "response": CHAT_COMPLETION,
        "headers": {},
    },
    "builder_error": {
        "kind": "builder_error",
        "request": CHAT_REQUEST,
        "error": "boom",
        "headers": {"Helicone-User-Id": "u1"},
    },
    "operation_raises": {
        "kind": "operation_raises",
        "request": CHAT_REQUEST,
        "error": "boom",
        "headers": {"Helicone-User-Id": "u1"},
        "provider": "openai",
    },
}
