"""SSEDecoder yields the same events however the bytes are chunked, and never raises."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.model.parsing import SSEDecoder, StreamEvent
from tests.model.parsing.streams import ALL_STREAMS, OPENAI_CHAT_TEXT, decode


def split_decode(data: bytes, *cuts: int) -> list[StreamEvent]:
    decoder = SSEDecoder()
    events: list[StreamEvent] = []
    bounds = [0, *cuts, len(data)]
    for start, end in itertools.pairwise(bounds):
        events.extend(decoder.feed(data[start:end]))
    return events + decoder.close()


def test_decodes_data_lines_event_names_and_done() -> None:
    body = 'event: greet\ndata: {"a": 1}\n\n: keep-alive comment\n\ndata: [DONE]\n\n'
    events = decode(body)
    assert events == [
        StreamEvent("greet", {"a": 1}, '{"a": 1}'),
        StreamEvent(None, None, "[DONE]", done=True),
    ]


def test_multi_line_data_is_joined_with_newlines() -> None:
    events = decode('data: {"text":\ndata: "two lines"}\n\n')
    assert events == [StreamEvent(None, {"text": "two lines"}, '{"text":\n"two lines"}')]


def test_non_json_data_keeps_raw_text() -> None:
    assert decode("data: hello\n\n") == [StreamEvent(None, None, "hello")]
    assert decode("data: [1, 2]\n\n") == [StreamEvent(None, None, "[1, 2]")]


def test_field_value_loses_one_leading_space_only() -> None:
    assert decode("data:  x\n\n")[0].raw == " x"
    assert decode("data:x\n\n")[0].raw == "x"


def test_ndjson_lines_are_events_on_their_own() -> None:
    body = '{"id": 1}\n{"id": 2}\n[DONE]\n'
    assert decode(body) == [
        StreamEvent(None, {"id": 1}, '{"id": 1}'),
        StreamEvent(None, {"id": 2}, '{"id": 2}'),
        StreamEvent(None, None, "[DONE]", done=True),
    ]


def test_data_lines_without_blank_separators_split_per_line() -> None:
    # Helicone's synthetic bodies ("data: " + JSON per line) have no blank lines.
    body = 'data: {"n": 1}\ndata: {"n": 2}\ndata: [DONE]'
    events = decode(body)
    assert [e.data for e in events] == [{"n": 1}, {"n": 2}, None]
    assert events[-1].done


def test_close_flushes_an_unterminated_final_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"last": true}') == []
    assert decoder.close() == [StreamEvent(None, {"last": True}, '{"last": true}')]


def test_unknown_fields_id_and_retry_are_ignored() -> None:
    body = 'id: 7\nretry: 1000\nfoo: bar\ndata: {"a": 1}\n\n'
    assert decode(body) == [StreamEvent(None, {"a": 1}, '{"a": 1}')]


def test_leading_bom_is_dropped() -> None:
    assert decode(b'\xef\xbb\xbfdata: {"a": 1}\n\n')[0].data == {"a": 1}


def test_invalid_utf8_is_replaced_not_raised() -> None:
    events = decode(b'data: {"t": "\xff\xfe"}\n\n')
    assert events[0].data == {"t": "\ufffd\ufffd"}


def test_str_and_bytes_chunks_mix() -> None:
    decoder = SSEDecoder()
    events = decoder.feed("data: {") + decoder.feed(b'"a": "\xc3') + decoder.feed(b'\xa9"}\n\n')
    assert events[0].data == {"a": "é"}


def test_event_name_resets_after_each_event() -> None:
    events = decode('event: x\ndata: {"a": 1}\n\ndata: {"b": 2}\n\n')
    assert [e.event for e in events] == ["x", None]


def test_blank_line_without_data_dispatches_nothing() -> None:
    assert decode("event: ping\n\n\n\n") == []


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("name", sorted(ALL_STREAMS))
def test_every_split_point_gives_identical_events(name: str, newline: str) -> None:
    data = ALL_STREAMS[name].replace("\n", newline).encode()
    expected = split_decode(data)
    assert expected == decode(ALL_STREAMS[name])  # line endings do not matter
    assert len(expected) >= 2
    for cut in range(1, len(data)):
        assert split_decode(data, cut) == expected, f"split at byte {cut}"


def test_byte_at_a_time_gives_identical_events() -> None:
    data = OPENAI_CHAT_TEXT.replace("\n", "\r\n").encode()
    assert decode(data, chunk_size=1) == decode(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_random_chunkings_of_real_streams_agree(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(ALL_STREAMS)))
    body = ALL_STREAMS[name].encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=40)))
    assert split_decode(body, *cuts) == decode(body)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.close()
    assert all(isinstance(e, StreamEvent) for e in events)
    assert all(e.data is None or isinstance(e.data, dict) for e in events)


_SSE_ALPHABET = st.sampled_from(
    ["data:", "data: ", "event: ", ":", "\n", "\r", "\r\n", "{", "}", '"a"', ":", "[DONE]", "1"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=16), _SSE_ALPHABET), max_size=40))
def test_arbitrary_text_never_raises(chunks: list[str]) -> None:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.close()
    assert all(isinstance(e, StreamEvent) for e in events)


def test_wrong_input_types_are_ignored() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(None) == []  # type: ignore[arg-type]
    assert decoder.feed(12) == []  # type: ignore[arg-type]
    assert decoder.feed(bytearray(b'data: {"a": 1}\n\n'))[0].data == {"a": 1}
