"""Encoding never fails on caller data: repairs are made, and marked in the record's notes."""

from __future__ import annotations

import orjson
import pytest

from heliograph.model.codec import OversizeRecordError, decode_record, encode_record
from heliograph.model.record import Record

LIMIT = 10 * 1024 * 1024


def make(**overrides: object) -> Record:
    fields: dict[str, object] = {"request_id": "r", "request": {"model": "m"}, "start_ms": 0.0,
                                 "end_ms": 1.0}  # fmt: skip
    fields.update(overrides)
    return Record(**fields)  # type: ignore[arg-type]


def test_plain_record_round_trips_without_notes() -> None:
    record = make(response_json={"a": [1, 2.5, None, True]})
    decoded = decode_record(encode_record(record, LIMIT))
    assert decoded == record
    assert decoded.notes == []


def test_unserialisable_values_become_text_and_are_noted() -> None:
    class Opaque:
        def __str__(self) -> str:
            return "<opaque>"

    record = make(request={"model": "m", "tools": {1, 2} and [Opaque()], "blob": b"\xff\xfe"})
    decoded = decode_record(encode_record(record, LIMIT))
    assert decoded.request["tools"] == ["<opaque>"]
    assert decoded.request["blob"] == "\ufffd\ufffd"
    assert {"unserialisable", "invalid_utf8"} <= set(decoded.notes)


def test_lone_surrogates_are_replaced_and_noted() -> None:
    record = make(response_text="bad \ud800 text")
    decoded = decode_record(encode_record(record, LIMIT))
    assert decoded.response_text == "bad ? text"
    assert "invalid_utf8" in decoded.notes


def test_twenty_megabyte_body_is_truncated_under_helicone_limit_with_a_visible_marker() -> None:
    record = make(response_text="x" * (20 * 1024 * 1024))
    payload = encode_record(record, LIMIT)
    assert len(payload) < LIMIT
    decoded = decode_record(payload)
    assert decoded.response_text is not None
    assert decoded.response_text.endswith("characters removed]")
    assert "truncated" in decoded.notes


def test_record_made_only_of_many_short_strings_is_refused_as_oversize() -> None:
    record = make(request={"items": ["y" * 200] * 60_000})
    with pytest.raises(OversizeRecordError, match="exceeds"):
        encode_record(record, 1024 * 1024)


def test_decode_refuses_what_is_not_a_record() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        decode_record(b"{broken")
    with pytest.raises(ValueError, match="malformed"):
        decode_record(orjson.dumps({"v": 1}))
