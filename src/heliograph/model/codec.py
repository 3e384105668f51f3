"""Record ⇄ JSON bytes, never failing on what a caller hands us.

The fast path is one ``orjson.dumps``. Only when it fails or the result is too large do
we repair the record, and every repair is written into ``record.notes`` so nothing is
changed silently:

- a value JSON cannot hold (an object, a set, bytes) becomes its ``str()`` or decoded text
  → note ``unserialisable``;
- a string with lone surrogates (not encodable as UTF-8) gets them replaced by ``?`` →
  ``invalid_utf8`` (invalid UTF-8 *bytes* become U+FFFD);
- a record over ``max_bytes`` (Helicone refuses bodies over 10 MB) has its longest strings
  cut, each ending in a visible marker → ``truncated``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from heliograph.model.record import Record

__all__ = ["TRUNCATION_MARKER", "OversizeRecordError", "decode_record", "encode_record"]

TRUNCATION_MARKER = "…[truncated by heliograph: {dropped} characters removed]"
# Room left under the limit for the async-log envelope around the record.
_ENVELOPE_BYTES = 64 * 1024
_OPTIONS = orjson.OPT_NON_STR_KEYS


class OversizeRecordError(ValueError):
    """A record stays over the size limit even after its long strings were cut."""


def encode_record(record: Record, max_bytes: int) -> bytes:
    """JSON bytes for ``record``; repairs it in place (with notes) if it must."""
    data = record.to_dict()
    try:
        # Without _OPTIONS orjson is faster, and gives the same bytes whenever it succeeds:
        # the option only adds keys that are not str.
        payload = orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):
        try:
            payload = orjson.dumps(data, option=_OPTIONS)
        except (TypeError, orjson.JSONEncodeError):
            _repair_values(record)
            payload = orjson.dumps(record.to_dict(), option=_OPTIONS)
    size = len(payload)
    limit = max_bytes - _ENVELOPE_BYTES
    if size > limit and size > 1024:
        limit = max(1024, limit)  # however small max_bytes is
        _truncate(record, size - limit)
        payload = orjson.dumps(record.to_dict(), option=_OPTIONS)
        if len(payload) > limit:
            raise OversizeRecordError(
                f"record of {size} bytes exceeds the {max_bytes}-byte limit and has no long "
                "text to cut"
            )
    return payload


def decode_record(payload: bytes) -> Record:
    """Inverse of ``encode_record``; raises ``ValueError`` for anything that is not a record."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"record is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("record is not a JSON object")
    try:
        return Record.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"record is malformed: {exc!r}") from exc


def _repair_values(record: Record) -> None:
    notes: set[str] = set()

    def clean(value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                notes.add("invalid_utf8")
                return value.encode("utf-8", "replace").decode("utf-8")
            return value
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            if -(2**63) <= value < 2**64:
                return value
            notes.add("unserialisable")
            return str(value)
        if depth > 64:
            notes.add("unserialisable")
            return "[nested too deeply]"
        if isinstance(value, dict):
            return {_key(k): clean(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v, depth + 1) for v in value]
        if isinstance(value, bytes | bytearray | memoryview):
            raw = bytes(value)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                notes.add("invalid_utf8")
                return raw.decode("utf-8", "replace")
        notes.add("unserialisable")
        try:
            return str(value)
        except Exception:
            return f"<unprintable {type(value).__name__}>"

    def _key(key: Any) -> Any:
        if isinstance(key, str | int | float | bool) or key is None:
            return clean(key) if isinstance(key, str) else key
        notes.add("unserialisable")
        return str(key)

    record.request = clean(record.request)
    if record.response_json is not None:
        record.response_json = clean(record.response_json)
    if record.response_text is not None:
        record.response_text = clean(record.response_text)
    record.headers = {str(clean(k)): str(clean(v)) for k, v in record.headers.items()}
    record.request_meta = {str(clean(k)): str(clean(v)) for k, v in record.request_meta.items()}
    record.response_headers = {
        str(clean(k)): str(clean(v)) for k, v in record.response_headers.items()
    }
    for field in ("cost_usd", "ttft_ms"):
        if not isinstance(getattr(record, field), int | float | None):
            setattr(record, field, None)
            notes.add("unserialisable")
    record.notes.extend(sorted(notes - set(record.notes)))


def _truncate(record: Record, excess: int) -> None:
    """Cut the longest strings of request and response until ``excess`` bytes are gone."""
    holders = _string_slots(record)
    holders.sort(key=lambda slot: -len(slot.get()))
    remaining = excess
    for slot in holders:
        if remaining <= 0:
            break
        text = slot.get()
        # UTF-8 may use up to 4 bytes a character: cut by bytes, then back to characters.
        raw = text.encode("utf-8")
        marker_room = 80
        keep_bytes = max(0, len(raw) - remaining - marker_room)
        kept = raw[:keep_bytes].decode("utf-8", "ignore")
        dropped = len(text) - len(kept)
        if dropped <= 0:
            continue
        slot.set(kept + TRUNCATION_MARKER.format(dropped=dropped))
        remaining -= len(raw) - len(slot.get().encode("utf-8"))
    if "truncated" not in record.notes:
        record.notes.append("truncated")


@dataclasses.dataclass
class _Slot:
    container: Any
    key: Any

    def get(self) -> str:
        value: str = self.container[self.key]
        return value

    def set(self, value: str) -> None:
        self.container[self.key] = value


class _RecordText:
    """Adapter so ``record.response_text`` can be cut like a dict entry."""

    def __init__(self, record: Record) -> None:
        self.record = record

    def __getitem__(self, _key: str) -> str:
        return self.record.response_text or ""

    def __setitem__(self, _key: str, value: str) -> None:
        self.record.response_text = value


def _string_slots(record: Record) -> list[_Slot]:
    slots: list[_Slot] = []

    def walk(container: Any) -> None:
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in items:
            if isinstance(value, str) and len(value) > 256:
                slots.append(_Slot(container, key))
            elif isinstance(value, dict | list):
                walk(value)

    walk(record.request)
    if record.response_json is not None:
        walk(record.response_json)
    if record.response_text is not None and len(record.response_text) > 256:
        slots.append(_Slot(_RecordText(record), "text"))
    return slots
