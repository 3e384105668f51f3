"""Consolidate an OpenAI Responses API stream into the final ``response`` object.

The stream is typed events (``"type": "response.…"``). ``response.completed`` (or
``response.failed`` / ``response.incomplete``) carries the whole response with its
``usage``; when it arrives, it is the result, verbatim. When the stream is cut short, the
response is rebuilt from what did arrive:

- ``response.created``/``in_progress`` give the envelope (id, model, status, …);
- ``response.output_item.added``/``done`` give the items of ``output`` by ``output_index``;
- text, refusal and reasoning deltas are concatenated into the item's
  ``content[content_index]`` or ``summary[summary_index]``; function-call argument
  deltas into the item's ``arguments``;
- every ``….done`` event replaces the concatenation with its complete value.

Deltas are kept as lists of pieces and joined on ``result()``, so a long stream costs
linear time. ``error`` events and a failed response's ``error`` set ``error``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from heliograph.model.parsing._base import BaseParser, as_int, as_list, as_map, as_str
from heliograph.model.usage import Usage, usage_from_responses

__all__ = ["OpenAIResponsesParser"]


@dataclasses.dataclass(frozen=True)
class _Field:
    """Where one kind of delta text lands inside an output item."""

    container: str | None  # the item's list holding parts ("content", "summary"), or None
    key: str  # the text field in the part (or in the item itself)
    part: Mapping[str, Any]  # a placeholder part when none was announced
    item: Mapping[str, Any]  # a placeholder item when none was announced


_MESSAGE = {"type": "message", "role": "assistant", "status": "in_progress", "content": []}
_FIELDS = {
    "output_text": _Field(
        "content", "text", {"type": "output_text", "text": "", "annotations": []}, _MESSAGE
    ),
    "refusal": _Field("content", "refusal", {"type": "refusal", "refusal": ""}, _MESSAGE),
    "reasoning_text": _Field(
        "content",
        "text",
        {"type": "reasoning_text", "text": ""},
        {"type": "reasoning", "summary": []},
    ),
    "summary_text": _Field(
        "summary",
        "text",
        {"type": "summary_text", "text": ""},
        {"type": "reasoning", "summary": []},
    ),
    "arguments": _Field(None, "arguments", {}, {"type": "function_call", "arguments": ""}),
    "input": _Field(None, "input", {}, {"type": "custom_tool_call", "input": ""}),
}

# (event stem, field, the index naming the part, the done event's value key): events
# "response.<stem>.delta" append to the field, "response.<stem>.done" set it.
_TEXT_EVENTS: list[tuple[str, str, str | None, str]] = [
    ("output_text", "output_text", "content_index", "text"),
    ("refusal", "refusal", "content_index", "refusal"),
    ("reasoning_text", "reasoning_text", "content_index", "text"),
    ("reasoning_summary_text", "summary_text", "summary_index", "text"),
    ("function_call_arguments", "arguments", None, "arguments"),
    ("custom_tool_call_input", "input", None, "input"),
]

# Progress notices of built-in tools (web search, file search, code interpreter, image
# generation, MCP): they change nothing in the final response, so they are not "unknown".
_PROGRESS_SUFFIXES = (".in_progress", ".searching", ".interpreting", ".generating", ".completed")

Key = tuple[int, str, int]


def _clone_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an item deep enough that filling in text never mutates the caller's events."""
    out = dict(item)
    for container in ("content", "summary"):
        parts = out.get(container)
        if isinstance(parts, list):
            out[container] = [dict(p) if isinstance(p, Mapping) else p for p in parts]
    return out


class OpenAIResponsesParser(BaseParser):
    """Consolidate Responses API stream events into the final response object.

    parser = OpenAIResponsesParser()
    for event in events:                  # StreamEvent.data of each SSE event
        parser.feed(event)
    response = parser.result()            # {"object": "response", "output": [...], ...}
    """

    def __init__(self) -> None:
        super().__init__()
        self._envelope: dict[str, Any] | None = None
        self._final: dict[str, Any] | None = None
        self._items: dict[int, dict[str, Any]] = {}
        self._index_of: dict[str, int] = {}
        self._pieces: dict[Key, list[str]] = {}
        self._handlers: dict[str, Callable[[Mapping[str, Any]], bool]] = {
            "response.created": self._on_envelope,
            "response.in_progress": self._on_envelope,
            "response.queued": self._on_envelope,
            "response.completed": self._on_final,
            "response.failed": self._on_final,
            "response.incomplete": self._on_final,
            "error": self._on_error,
            "response.output_item.added": self._on_item,
            "response.output_item.done": self._on_item,
            "response.content_part.added": self._on_part,
            "response.content_part.done": self._on_part,
            "response.reasoning_summary_part.added": self._on_part,
            "response.reasoning_summary_part.done": self._on_part,
            "response.output_text.annotation.added": self._on_annotation,
        }
        for stem, field, index_key, value_key in _TEXT_EVENTS:
            delta, done = f"response.{stem}.delta", f"response.{stem}.done"
            self._handlers[delta] = self._text_handler(field, index_key, "delta", done=False)
            self._handlers[done] = self._text_handler(field, index_key, value_key, done=True)

    def usage(self) -> Usage | None:
        for response in (self._final, self._envelope):
            usage = as_map(response.get("usage")) if response else None
            if usage is not None:
                return usage_from_responses(usage)
        return None

    def _feed(self, event: Mapping[str, Any]) -> bool:
        kind = as_str(event.get("type"))
        handler = self._handlers.get(kind) if kind else None
        if handler is not None:
            return handler(event)
        if not (kind and kind.startswith("response.") and kind.endswith(_PROGRESS_SUFFIXES)):
            self._keep(event)
        return False

    def _on_envelope(self, event: Mapping[str, Any]) -> bool:
        response = as_map(event.get("response"))
        if response is None:
            self._keep(event)
        else:
            self._envelope = dict(response)
        return False

    def _on_final(self, event: Mapping[str, Any]) -> bool:
        response = as_map(event.get("response"))
        if response is None:
            self._keep(event)
            return False
        self._final = dict(response)
        error = as_map(response.get("error"))
        if error is not None:
            self._error = dict(error)
        return False

    def _on_error(self, event: Mapping[str, Any]) -> bool:
        nested = as_map(event.get("error"))
        if nested is not None:
            self._error = dict(nested)
        else:
            self._error = {k: v for k, v in event.items() if k not in ("type", "sequence_number")}
        return False

    def _index(self, event: Mapping[str, Any]) -> int | None:
        index = as_int(event.get("output_index"))
        if index is None:
            item_id = as_str(event.get("item_id"))
            index = self._index_of.get(item_id) if item_id is not None else None
        return index

    def _on_item(self, event: Mapping[str, Any]) -> bool:
        index, item = as_int(event.get("output_index")), as_map(event.get("item"))
        if index is None or item is None:
            self._keep(event)
            return False
        self._items[index] = _clone_item(item)
        item_id = as_str(item.get("id"))
        if item_id is not None:
            self._index_of[item_id] = index
        if event.get("type") == "response.output_item.done":  # complete: drop its deltas
            self._pieces = {k: v for k, v in self._pieces.items() if k[0] != index}
        return False

    def _ensure_item(self, index: int, field: _Field, item_id: str | None) -> dict[str, Any]:
        item = self._items.get(index)
        if item is None:
            item = _clone_item(field.item)
            if item_id is not None:
                item["id"] = item_id
                self._index_of[item_id] = index
            self._items[index] = item
        return item

    def _ensure_part(self, item: dict[str, Any], field: _Field, sub: int) -> dict[str, Any]:
        assert field.container is not None
        parts = item.get(field.container)
        if not isinstance(parts, list):
            parts = item[field.container] = []
        while len(parts) <= sub:
            parts.append(dict(field.part))
        if not isinstance(parts[sub], dict):
            parts[sub] = dict(field.part)
        part: dict[str, Any] = parts[sub]
        return part

    def _on_part(self, event: Mapping[str, Any]) -> bool:
        index, part = self._index(event), as_map(event.get("part"))
        is_summary = "summary" in str(event.get("type"))
        sub = as_int(event.get("summary_index" if is_summary else "content_index"))
        if index is None or part is None or sub is None or sub < 0 or sub > 10_000:
            self._keep(event)
            return False
        field = _FIELDS["summary_text" if is_summary else "output_text"]
        item = self._ensure_item(index, field, as_str(event.get("item_id")))
        self._ensure_part(item, field, sub).update(part)
        if str(event.get("type")).endswith(".done"):
            for kind in ("output_text", "refusal", "reasoning_text", "summary_text"):
                self._pieces.pop((index, kind, sub), None)
        return False

    def _on_annotation(self, event: Mapping[str, Any]) -> bool:
        index, sub = self._index(event), as_int(event.get("content_index"))
        annotation = event.get("annotation")
        if index is None or sub is None or sub < 0 or sub > 10_000 or annotation is None:
            self._keep(event)
            return False
        field = _FIELDS["output_text"]
        part = self._ensure_part(self._ensure_item(index, field, None), field, sub)
        annotations = part.get("annotations")
        part["annotations"] = [*as_list(annotations), annotation]
        return False

    def _text_handler(
        self, kind: str, index_key: str | None, value_key: str, *, done: bool
    ) -> Callable[[Mapping[str, Any]], bool]:
        field = _FIELDS[kind]

        def handle(event: Mapping[str, Any]) -> bool:
            index = self._index(event)
            sub = 0 if index_key is None else as_int(event.get(index_key))
            text = as_str(event.get(value_key))
            if index is None or sub is None or sub < 0 or sub > 10_000 or text is None:
                self._keep(event)
                return False
            item = self._ensure_item(index, field, as_str(event.get("item_id")))
            if field.container is not None:
                self._ensure_part(item, field, sub)
            if done:
                self._pieces.pop((index, kind, sub), None)
                target = item if field.container is None else self._ensure_part(item, field, sub)
                target[field.key] = text
                return False
            self._pieces.setdefault((index, kind, sub), []).append(text)
            return bool(text)

        return handle

    def _output(self) -> list[dict[str, Any]]:
        items = {index: _clone_item(item) for index, item in self._items.items()}
        for (index, kind, sub), pieces in self._pieces.items():
            field = _FIELDS[kind]
            item = items[index]
            target = item if field.container is None else self._ensure_part(item, field, sub)
            before = target.get(field.key)
            target[field.key] = (before if isinstance(before, str) else "") + "".join(pieces)
        return [items[index] for index in sorted(items)]

    def _result(self) -> dict[str, Any]:
        if self._final is not None:
            out = dict(self._final)
            if not out.get("output") and self._items:
                out["output"] = self._output()
            return out
        out = dict(self._envelope) if self._envelope is not None else {"object": "response"}
        if self._items or "output" not in out:
            out["output"] = self._output()
        return out
