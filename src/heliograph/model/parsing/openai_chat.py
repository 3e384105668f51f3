"""Consolidate an OpenAI-style Chat Completions stream into one ``chat.completion``.

Each ``chat.completion.chunk`` carries ``choices[i].delta`` fragments. They are merged the
way the OpenAI SDK's stream helpers merge them:

- ``content``, ``refusal`` and reasoning text (``reasoning_content`` from DeepSeek,
  Together and vLLM; ``reasoning`` from OpenRouter and Groq) are concatenated;
- ``tool_calls`` are grouped by their ``index``: ``id``, ``type`` and ``function.name``
  arrive once (the first value is kept), ``function.arguments`` is concatenated;
- the legacy ``function_call`` concatenates its ``arguments`` the same way;
- ``logprobs.content``/``logprobs.refusal`` lists are extended; the last non-null
  ``finish_reason`` wins.

Usage comes from the chunk that carries a ``usage`` object: OpenAI's final chunk when the
request set ``stream_options.include_usage``, or Together's last chunk (Together sends
``"usage": null`` on the others). Legacy Completions streams (``choices[i].text``, no
``delta``) consolidate into a ``text_completion``. A chunk of the form ``{"error": {...}}``
(OpenAI-compatible servers failing mid-stream) sets ``error``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from heliograph.model.parsing._base import BaseParser, as_int, as_list, as_map, as_str
from heliograph.model.usage import Usage, usage_from_openai

__all__ = ["OpenAIChatParser"]

_REASONING_KEYS = ("reasoning_content", "reasoning")


@dataclasses.dataclass
class _ToolCall:
    id: str | None = None
    type: str | None = None
    name: str | None = None
    arguments: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type or "function",
            "function": {"name": self.name, "arguments": "".join(self.arguments)},
        }


@dataclasses.dataclass
class _Choice:
    role: str | None = None
    content: list[str] | None = None  # None until a content delta is seen, as OpenAI does
    refusal: list[str] | None = None
    reasoning: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    tool_calls: dict[int, _ToolCall] = dataclasses.field(default_factory=dict)
    function_call: _ToolCall | None = None
    text: list[str] | None = None  # legacy Completions API
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None = None


def _append(parts: list[str] | None, piece: str) -> list[str]:
    parts = [] if parts is None else parts
    parts.append(piece)
    return parts


class OpenAIChatParser(BaseParser):
    """Consolidate ``chat.completion.chunk`` objects (OpenAI, Together, compatibles).

    parser = OpenAIChatParser()
    for event in events:                 # StreamEvent.data of each SSE event
        parser.feed(event)
    completion = parser.result()         # {"object": "chat.completion", "choices": [...]}
    """

    def __init__(self) -> None:
        super().__init__()
        self._top: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: dict[str, Any] | None = None
        self._completions_api = False

    def usage(self) -> Usage | None:
        return None if self._usage is None else usage_from_openai(self._usage)

    def _feed(self, event: Mapping[str, Any]) -> bool:
        error = event.get("error")
        if error is not None:
            self._error = dict(error) if isinstance(error, Mapping) else {"message": str(error)}
            return False
        choices = event.get("choices")
        usage = as_map(event.get("usage"))
        if not isinstance(choices, list) and usage is None:
            self._keep(event)
            return False
        for key in ("id", "model", "created", "system_fingerprint", "service_tier"):
            value = event.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                self._top[key] = value
        if event.get("object") == "text_completion":
            self._completions_api = True
        if usage is not None:
            self._usage = dict(usage)
        content = False
        for position, raw in enumerate(as_list(choices)):
            choice = as_map(raw)
            if choice is None:
                continue
            index = as_int(choice.get("index"))
            state = self._choices.setdefault(position if index is None else index, _Choice())
            content = self._merge_choice(state, choice) or content
        return content

    def _merge_choice(self, state: _Choice, choice: Mapping[str, Any]) -> bool:
        finish = as_str(choice.get("finish_reason"))
        if finish is not None:
            state.finish_reason = finish
        self._merge_logprobs(state, as_map(choice.get("logprobs")))
        delta = as_map(choice.get("delta"))
        if delta is None:
            text = as_str(choice.get("text"))
            if text is None:
                return False
            self._completions_api = True
            state.text = _append(state.text, text)
            return bool(text)
        content = False
        role = as_str(delta.get("role"))
        if role is not None:
            state.role = role
        text = as_str(delta.get("content"))
        if text is not None:
            state.content = _append(state.content, text)
            content = bool(text)
        refusal = as_str(delta.get("refusal"))
        if refusal is not None:
            state.refusal = _append(state.refusal, refusal)
            content = content or bool(refusal)
        for key in _REASONING_KEYS:
            thinking = as_str(delta.get(key))
            if thinking is not None:
                state.reasoning.setdefault(key, []).append(thinking)
                content = content or bool(thinking)
        for position, raw in enumerate(as_list(delta.get("tool_calls"))):
            call = as_map(raw)
            if call is not None:
                index = as_int(call.get("index"))
                slot = state.tool_calls.setdefault(
                    position if index is None else index, _ToolCall()
                )
                content = _merge_call(slot, call, as_map(call.get("function"))) or content
        legacy = as_map(delta.get("function_call"))
        if legacy is not None:
            state.function_call = state.function_call or _ToolCall()
            content = _merge_call(state.function_call, {}, legacy) or content
        return content

    @staticmethod
    def _merge_logprobs(state: _Choice, logprobs: Mapping[str, Any] | None) -> None:
        if logprobs is None:
            return
        merged = state.logprobs if state.logprobs is not None else {}
        for key, value in logprobs.items():
            if isinstance(value, list):
                merged.setdefault(key, [])
                if isinstance(merged[key], list):
                    merged[key].extend(value)
            elif value is not None:
                merged[key] = value
        state.logprobs = merged

    def _result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self._top.get("id"),
            "object": "text_completion" if self._completions_api else "chat.completion",
            "created": self._top.get("created"),
            "model": self._top.get("model"),
        }
        out["choices"] = [
            self._choice_result(index, self._choices[index]) for index in sorted(self._choices)
        ]
        for key in ("system_fingerprint", "service_tier"):
            if key in self._top:
                out[key] = self._top[key]
        if self._usage is not None:
            out["usage"] = dict(self._usage)
        return out

    def _choice_result(self, index: int, state: _Choice) -> dict[str, Any]:
        if self._completions_api and state.content is None and not state.tool_calls:
            return {
                "index": index,
                "text": "".join(state.text or []),
                "logprobs": state.logprobs,
                "finish_reason": state.finish_reason,
            }
        message: dict[str, Any] = {
            "role": state.role or "assistant",
            "content": None if state.content is None else "".join(state.content),
            "refusal": None if state.refusal is None else "".join(state.refusal),
        }
        for key, parts in state.reasoning.items():
            message[key] = "".join(parts)
        if state.tool_calls:
            message["tool_calls"] = [
                state.tool_calls[i].to_dict() for i in sorted(state.tool_calls)
            ]
        if state.function_call is not None:
            call = state.function_call
            message["function_call"] = {"name": call.name, "arguments": "".join(call.arguments)}
        return {
            "index": index,
            "message": message,
            "logprobs": state.logprobs,
            "finish_reason": state.finish_reason,
        }


def _merge_call(
    slot: _ToolCall, call: Mapping[str, Any], function: Mapping[str, Any] | None
) -> bool:
    slot.id = slot.id or as_str(call.get("id"))
    slot.type = slot.type or as_str(call.get("type"))
    if function is None:
        return False
    slot.name = slot.name or as_str(function.get("name"))
    arguments = as_str(function.get("arguments"))
    if arguments is not None:
        slot.arguments.append(arguments)
    return bool(arguments) or bool(as_str(function.get("name")))
