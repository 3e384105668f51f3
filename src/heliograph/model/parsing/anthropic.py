"""Consolidate an Anthropic Messages stream into the final ``message`` object.

The stream, and how each event lands in the result (as Helicone's
``AnthropicStreamBodyProcessor`` consolidates it):

    message_start        the base message: id, model, role, usage (input and cache tokens)
    content_block_start  content[index] = content_block (text, tool_use, thinking, …)
    content_block_delta  text_delta → text; thinking_delta → thinking; signature_delta →
                         signature; input_json_delta → partial_json, concatenated per index
                         and parsed into tool_use.input at content_block_stop (the raw
                         string is kept if it does not parse); citations_delta → citations
    message_delta        stop_reason, stop_sequence; its usage overrides (output_tokens,
                         and the cumulative input/cache counts newer API versions send)
    message_stop, ping   nothing to record
    error                sets ``error`` (e.g. overloaded_error mid-stream)

Text pieces are joined on ``result()``, so a long stream costs linear time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from heliograph.model.parsing._base import BaseParser, as_int, as_map, as_str
from heliograph.model.usage import Usage, usage_from_anthropic

__all__ = ["AnthropicParser"]

# delta type → (the field it carries and extends, whether it counts for time to first token)
_DELTAS = {
    "text_delta": ("text", True),
    "thinking_delta": ("thinking", True),
    "signature_delta": ("signature", False),
    "input_json_delta": ("partial_json", True),
}
_MAX_BLOCKS = 10_000


def _parse_input(raw: str) -> Any:
    """A tool's input from its concatenated JSON text; the text itself if it is not JSON."""
    try:
        return orjson.loads(raw)
    except ValueError:
        return raw


class AnthropicParser(BaseParser):
    """Consolidate Anthropic Messages stream events into the final message.

    parser = AnthropicParser()
    for event in events:                 # StreamEvent.data of each SSE event
        parser.feed(event)
    message = parser.result()            # {"type": "message", "content": [...], ...}
    """

    def __init__(self) -> None:
        super().__init__()
        self._message: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._pieces: dict[tuple[int, str], list[str]] = {}

    def usage(self) -> Usage | None:
        return None if self._usage is None else usage_from_anthropic(self._usage)

    def _feed(self, event: Mapping[str, Any]) -> bool:
        kind = as_str(event.get("type"))
        if kind == "message_start":
            return self._on_start(event)
        if kind == "content_block_start":
            return self._on_block_start(event)
        if kind == "content_block_delta":
            return self._on_delta(event)
        if kind == "content_block_stop":
            index = as_int(event.get("index"))
            if index is None:
                self._keep(event)
            else:
                self._finish_block(index)
            return False
        if kind == "message_delta":
            return self._on_message_delta(event)
        if kind in ("message_stop", "ping"):
            return False
        if kind == "error":
            error = as_map(event.get("error"))
            self._error = dict(error) if error is not None else {"message": str(event)[:500]}
            return False
        self._keep(event)
        return False

    def _on_start(self, event: Mapping[str, Any]) -> bool:
        message = as_map(event.get("message"))
        if message is None:
            self._keep(event)
            return False
        self._message = {k: v for k, v in message.items() if k not in ("content", "usage")}
        usage = as_map(message.get("usage"))
        if usage is not None:
            self._usage = dict(usage)
        return False

    def _on_block_start(self, event: Mapping[str, Any]) -> bool:
        index, block = as_int(event.get("index")), as_map(event.get("content_block"))
        if index is None or block is None or not 0 <= index < _MAX_BLOCKS:
            self._keep(event)
            return False
        self._blocks[index] = dict(block)
        return bool(as_str(block.get("text")) or as_str(block.get("thinking")))

    def _on_delta(self, event: Mapping[str, Any]) -> bool:
        index, delta = as_int(event.get("index")), as_map(event.get("delta"))
        if index is None or delta is None or not 0 <= index < _MAX_BLOCKS:
            self._keep(event)
            return False
        kind = as_str(delta.get("type"))
        if kind == "citations_delta":
            block = self._blocks.setdefault(index, {"type": "text", "text": ""})
            citations = block.get("citations")
            block["citations"] = [*(citations if isinstance(citations, list) else [])]
            block["citations"].append(delta.get("citation"))
            return False
        spec = _DELTAS.get(kind or "")
        text = as_str(delta.get(spec[0])) if spec else None
        if spec is None or text is None:
            self._keep(event)
            return False
        field, is_content = spec
        if index not in self._blocks:  # a delta without its start: make a plausible block
            block_type = {"partial_json": "tool_use", "text": "text"}.get(field, "thinking")
            self._blocks[index] = {"type": block_type}
        self._pieces.setdefault((index, field), []).append(text)
        return is_content and bool(text)

    def _on_message_delta(self, event: Mapping[str, Any]) -> bool:
        delta = as_map(event.get("delta"))
        usage = as_map(event.get("usage"))
        if delta is None and usage is None:
            self._keep(event)
            return False
        for key, value in (delta or {}).items():
            self._message[key] = value
        if usage is not None:
            merged = self._usage if self._usage is not None else {}
            merged.update({k: v for k, v in usage.items() if v is not None})
            self._usage = merged
        return False

    def _folded(self, index: int) -> dict[str, Any]:
        """Block ``index`` with its pieces joined in and tool input JSON parsed (a copy)."""
        block = dict(self._blocks[index])
        for field in ("text", "thinking", "signature"):
            pieces = self._pieces.get((index, field))
            if pieces is not None:
                before = block.get(field)
                block[field] = (before if isinstance(before, str) else "") + "".join(pieces)
        raw = "".join(self._pieces.get((index, "partial_json"), ()))
        if raw.strip():
            block["input"] = _parse_input(raw)
        return block

    def _finish_block(self, index: int) -> None:
        if index in self._blocks:
            self._blocks[index] = self._folded(index)
            for field in ("text", "thinking", "signature", "partial_json"):
                self._pieces.pop((index, field), None)

    def _result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": None,
            "type": "message",
            "role": "assistant",
            "model": None,
            **self._message,
        }
        out["content"] = [self._folded(i) for i in sorted(self._blocks)]
        out.setdefault("stop_reason", None)
        out.setdefault("stop_sequence", None)
        if self._usage is not None:
            out["usage"] = dict(self._usage)
        return out
