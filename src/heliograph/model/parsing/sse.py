"""An incremental Server-Sent Events decoder that never raises.

Streamed LLM responses arrive as SSE (``data: {...}`` lines, blank-line separated, with
optional ``event:`` names) or as NDJSON (one JSON object per line). Network reads split
them anywhere: inside a line, between ``\\r`` and ``\\n``, inside a UTF-8 character.
``SSEDecoder`` buffers across those boundaries and yields the same events however the
bytes were chunked.

It follows the WHATWG SSE parsing rules (line ends ``\\r\\n``, ``\\n`` or ``\\r``; a
leading BOM is dropped; ``:`` starts a comment; one space after the field colon is
stripped; multi-line ``data`` joins with ``\\n``; ``id`` and ``retry`` are ignored), plus
what LLM streams need:

- ``data: [DONE]`` (OpenAI's end sentinel) becomes an event with ``done=True``;
- a line that is itself a JSON object is an NDJSON event on its own;
- an event whose joined data is not JSON but whose lines each are (producers that omit
  the blank separator, as Helicone's own stream parser tolerates) splits per line;
- ``close()`` flushes a final event that lacked its terminating blank line.

Payloads are parsed with orjson; anything that is not a JSON object keeps ``data=None``
and its text in ``raw``. Invalid UTF-8 is replaced, never raised.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from typing import Any

import orjson

__all__ = ["StreamEvent", "SSEDecoder"]

_LINE_END = re.compile(r"\r\n|\r|\n")
_DONE = "[DONE]"


@dataclasses.dataclass(frozen=True)
class StreamEvent:
    """One decoded event: its SSE ``event`` name, its JSON object, and its raw text."""

    event: str | None
    data: dict[str, Any] | None
    raw: str
    done: bool = False


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _single(event: str | None, text: str) -> StreamEvent:
    if text.strip() == _DONE:
        return StreamEvent(event, None, text, done=True)
    return StreamEvent(event, _json_object(text), text)


class SSEDecoder:
    """Turn chunks of an SSE or NDJSON stream into ``StreamEvent`` objects.

    decoder = SSEDecoder()
    for chunk in response.iter_bytes():
        for event in decoder.feed(chunk):
            handle(event)
    for event in decoder.close():
        handle(event)
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line: list[str] = []  # text after the last line end: an incomplete line
        self._skip_lf = False  # the previous chunk ended in "\r": a leading "\n" ends nothing
        self._started = False  # a leading BOM is dropped only at the very start
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, data: bytes | str) -> list[StreamEvent]:
        """Decode one chunk; returns the events it completed (possibly none)."""
        try:
            if isinstance(data, str):
                # Any bytes still pending belong before this text; flush them first.
                text = self._utf8.decode(b"", final=True) + data
            elif isinstance(data, bytes | bytearray | memoryview):
                text = self._utf8.decode(bytes(data))
            else:
                return []
            return self._feed_text(text, final=False)
        except Exception:  # pragma: no cover - a decoder bug must not break the caller
            self._reset()
            return []

    def close(self) -> list[StreamEvent]:
        """End the stream: the last partial line and undispatched event are flushed."""
        try:
            events = self._feed_text(self._utf8.decode(b"", final=True), final=True)
            events.extend(self._dispatch())
            return events
        except Exception:  # pragma: no cover - see feed
            return []
        finally:
            self._reset()

    def _feed_text(self, text: str, *, final: bool) -> list[StreamEvent]:
        if self._skip_lf and text:
            if text.startswith("\n"):
                text = text[1:]
            self._skip_lf = False
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if not final and "\n" not in text and "\r" not in text:
            # Still inside one line: keep the piece, so a long line costs linear time.
            if text:
                self._line.append(text)
            return []
        self._line.append(text)
        buffered = "".join(self._line)
        lines = _LINE_END.split(buffered)
        self._line = [] if final else [lines.pop()]
        if not final and buffered.endswith("\r"):
            self._skip_lf = True
        events: list[StreamEvent] = []
        for line in lines:
            events.extend(self._line_events(line))
        return events

    def _line_events(self, line: str) -> list[StreamEvent]:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []
        stripped = line.strip()
        if stripped.startswith("{"):  # NDJSON: a JSON object on its own line
            event, self._event = self._event, None
            return [StreamEvent(event, _json_object(stripped), line)]
        if stripped == _DONE:
            return [StreamEvent(None, None, _DONE, done=True)]
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return []

    def _dispatch(self) -> list[StreamEvent]:
        event, data = self._event, self._data
        self._event, self._data = None, []
        if not data:
            return []
        raw = "\n".join(data)
        if raw.strip() == _DONE:
            return [StreamEvent(event, None, raw, done=True)]
        parsed = _json_object(raw)
        if parsed is None and len(data) > 1:
            per_line = [_single(event, part) for part in data]
            if all(one.data is not None or one.done for one in per_line):
                return per_line
        return [StreamEvent(event, parsed, raw)]
