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


class _Key(str):
    """A str subclass as a dict key: orjson takes it only with OPT_NON_STR_KEYS."""


@pytest.mark.parametrize(
    "request_body",
    [
        {"model": "m", "messages": [{"role": "user", "content": 'é ☃ \u2028 \x00 "q"'}]},
        {"n": [1, -2, 2**63 - 1, -(2**63), 1.5, -0.0, 1e300, float("nan"), True, None]},
        {"model": "m", 1: "int key", 2.5: "float key", None: "null key", False: "bool key"},
        {"model": "m", "nested": [{"deep": {7: "int key below"}}]},
        {_Key("sub"): "str subclass key", "t": (1, 2)},
        {"model": "m", "big": 2**70, "set": {1}},
    ],
)
def test_encoding_gives_the_bytes_the_non_str_keys_option_gives(
    request_body: dict[object, object],
) -> None:
    record = make(request=request_body, response_json={"choices": [{"index": 0}]},
                  headers={"Helicone-Property-A": "1"})  # fmt: skip
    try:
        expected = orjson.dumps(record.to_dict(), option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        expected = None  # needs repairing first, which notes it
    payload = encode_record(record, LIMIT)
    if expected is not None:
        assert payload == expected
        assert record.notes == []
    else:
        assert "unserialisable" in record.notes
        assert payload == orjson.dumps(record.to_dict(), option=orjson.OPT_NON_STR_KEYS)
