"""The fast paths of the HTTP client give what the general ones give.

Request heads: ``HeadTemplate`` (configured headers as bytes prepared once, a record's own
merged in) against ``merge_headers`` + ``encode_headers`` + ``Origin.head``, over generated
inputs and on the wire. Responses: the whole-head reader (``Connection.exchange`` when the
first read holds the head) against the line-by-line reader, over generated responses on
socket pairs, and responses cut in pieces by a real socket server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from heliograph.config import Config
from heliograph.delivery.outcome import Outcome, OutcomeKind
from heliograph.model.headers import merge_headers
from heliograph.model.helicone import async_log_body, log_path
from heliograph.model.record import Record
from heliograph.transports import _wire
from heliograph.transports._http import KeepAlivePool, encode_headers
from heliograph.transports._wire import Connection, HeadTemplate, Origin, ProtocolError
from heliograph.transports.helicone_http import HeliconeHttpTransport
from tests.support import free_port
from tests.transports.helpers import make_record
from tests.transports.scripted_server import OK, Reply, ScriptedServer

# ---------------------------------------------------------------------------------------
# Request heads


def general_head(
    origin: Origin, fixed: dict[str, Any], extra: dict[Any, Any], path: str, length: int
) -> bytes | tuple[type[BaseException], str]:
    """What the general route makes of these headers: the head, or the exception raised."""
    try:
        return origin.head(path, length, encode_headers(merge_headers(fixed, extra)))
    except Exception as exc:
        return type(exc), str(exc)


def is_plain(headers: dict[Any, Any]) -> bool:
    """Headers the template must handle itself (never hand to the general route)."""
    for name, value in headers.items():
        if not isinstance(name, str) or not name or not name.isascii():
            return False
        if not all(c.isalnum() or c in "!#$%&'*+-.^_`|~" for c in name):
            return False
        lowered = name.lower()
        if lowered in {"host", "accept-encoding", "content-length", "transfer-encoding"}:
            return False
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            return False
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
    return True


CONFIGURED = {
    "Authorization": "Bearer sk-helicone-config",
    "Content-Type": "application/json",
    "User-Agent": "heliograph",
}
NAMES = st.sampled_from(
    [
        "Authorization", "authorization", "AUTHORIZATION", "Content-Type", "content-type",
        "User-Agent", "Helicone-User-Id", "helicone-user-id", "HELICONE-USER-ID",
        "Helicone-Session-Id", "Helicone-Property-A", "helicone-property-a", "X-%s%d%%",
        "Host", "host", "Accept-Encoding", "Content-Length", "transfer-encoding",
        "Bad Name", "", "Ünïcode", "\u212a", "k", "X-Evil\r\nInjected", "X:Colon",
    ]
)  # fmt: skip
TEXT = st.sampled_from(
    [
        "Bearer sk-record", "café ☕", "%s%d%%b", "", " padded ", "ü-1", "a\r\nX-Injected: 1",
        "a\rb", "a\nb", "a\0b", "\ud800", "\t tab", "\x7f", "𝄞" * 10,
    ]
) | st.text(max_size=12)  # fmt: skip
VALUES = TEXT | st.sampled_from([1, None, b"bytes"])
PATHS = st.sampled_from(["/oai/v1/log", "/custom/v1/log", "/a%sb/v1/log", "/with space", "/ü"])


def template_for(fixed: dict[str, Any], base_path: str = "") -> tuple[Origin, HeadTemplate]:
    origin = Origin("127.0.0.1", 8585, 80)
    return origin, HeadTemplate(origin, base_path, fixed)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    configured=st.dictionaries(NAMES, TEXT, max_size=3),
    extra=st.dictionaries(NAMES, VALUES, max_size=6),
    path=PATHS,
    length=st.integers(0, 10**7),
    base_path=st.sampled_from(["", "/prefix"]),
)
@example(configured={}, extra={"authorization": "Bearer sk-record"}, path="/oai/v1/log",
         length=0, base_path="")  # fmt: skip
@example(configured={"helicone-property-a": "1"}, extra={"Helicone-Property-A": "2", "k": "3",
         "\u212a": "4"}, path="/oai/v1/log", length=5, base_path="/prefix")  # fmt: skip
def test_the_template_gives_the_general_head_or_stands_aside(
    configured: dict[str, str],
    extra: dict[Any, Any],
    path: str,
    length: int,
    base_path: str,
) -> None:
    fixed = {**CONFIGURED, **configured}
    origin, template = template_for(fixed, base_path)
    expected = general_head(origin, fixed, extra, base_path + path, length)
    for _ in range(2):  # the plan is built, then taken from the cache
        head = template.head(path, length, extra)
        if head is not None:
            assert head == expected
        else:
            assert not (is_plain(fixed) and is_plain(extra) and " " not in path and path.isascii())


def test_the_template_takes_plain_headers_itself_override_rules_included() -> None:
    fixed = {**CONFIGURED, "Helicone-Property-Env": "prod"}
    origin, template = template_for(fixed, "/base")
    cases: list[dict[str, Any]] = [
        {},
        {"Helicone-User-Id": "ü-1", "Helicone-Session-Name": "café ☕"},
        {"authorization": "Bearer sk-record"},  # the record's key, in Authorization's place
        {"AUTHORIZATION": "Bearer a", "Authorization": "Bearer b"},  # last wins, first's place
        {"helicone-property-env": "dev", "X-Other": "1"},
        {"Content-Type": "text/plain", "User-Agent": "%s%d%%"},
        {"X-A": "1", "x-b": "2", "X-B": "3", "x-a": "4"},
    ]
    for extra in cases:
        head = template.head("/oai/v1/log", 1234, extra)
        assert head is not None, extra
        assert head == general_head(origin, fixed, extra, "/base/oai/v1/log", 1234)
    overridden = template.head("/oai/v1/log", 0, {"authorization": "Bearer sk-record"})
    assert overridden is not None
    fields = overridden.split(b"\r\n")
    assert fields[3:5] == [b"Content-Length: 0", b"authorization: Bearer sk-record"]
    assert b"sk-helicone-config" not in overridden


@pytest.mark.parametrize(
    "extra",
    [
        {"X-A": "1", "Host": "example.test"},
        {"accept-encoding": "gzip"},
        {"Content-Length": "1"},
        {"transfer-encoding": "chunked"},
        {"X-A": "a\r\nX-Injected: 1"},
        {"X-A": "a\nb"},
        {"X-A": "a\rb"},
        {"X-A": "a\0b"},
        {"X-A": "ok", "X-B": "\ud800"},
        {"X-A": 1},
        {"X-A": b"bytes"},
        {"Bad Name": "x"},
        {"\u212a": "kelvin"},
        {1: "x"},
    ],
)
def test_the_template_leaves_unusual_record_headers_to_the_general_route(
    extra: dict[Any, Any],
) -> None:
    _, template = template_for(CONFIGURED)
    assert template.head("/oai/v1/log", 10, extra) is None
    assert template.head("/oai/v1/log", 10, extra) is None  # and so does its cached plan


@pytest.mark.parametrize(
    "fixed",
    [
        {**CONFIGURED, "Host": "example.test"},
        {**CONFIGURED, "Content-Length": "1"},
        {**CONFIGURED, "X-Bad": "a\r\nb"},
        {**CONFIGURED, "X-Bad": "\ud800"},
        {**CONFIGURED, "Bad Name": "x"},
    ],
    ids=["host", "framing", "crlf", "surrogate", "bad-name"],
)
def test_unusual_configured_headers_leave_every_head_to_the_general_route(
    fixed: dict[str, str],
) -> None:
    _, template = template_for(fixed)
    assert template.head("/oai/v1/log", 10, {}) is None
    assert template.head("/oai/v1/log", 10, {"Helicone-User-Id": "u"}) is None


def test_more_name_tuples_than_cached_take_the_general_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_wire, "_CACHE_MAX", 2)
    origin, template = template_for(CONFIGURED)
    heads = [template.head("/oai/v1/log", 1, {f"X-{i}": "v"}) for i in range(4)]
    assert heads[2] is None and heads[3] is None
    for i, head in enumerate(heads[:2]):
        assert head == general_head(origin, CONFIGURED, {f"X-{i}": "v"}, "/oai/v1/log", 1)
    assert template.head("/oai/v1/log", 1, {"X-0": "w"}) is not None  # cached ones still are


def test_a_mapping_other_than_a_dict_takes_the_general_route() -> None:
    import types

    _, template = template_for(CONFIGURED)
    assert template.head("/oai/v1/log", 1, types.MappingProxyType({"X-A": "1"})) is None


# ---------------------------------------------------------------------------------------
# The transport on the wire, against the general route it used to take for every record


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def general_send(transport: HeliconeHttpTransport, pool: KeepAlivePool, record: Record) -> Outcome:
    """What ``send`` did for every record before the template: merge, encode, ``post``."""
    try:
        body = orjson.dumps(async_log_body(record), option=orjson.OPT_NON_STR_KEYS)
        headers = encode_headers(merge_headers(transport._headers, record.headers))
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        return Outcome.rejected(f"record cannot be encoded as a request: {exc}")
    return pool.post(log_path(record.provider), body, headers)


RECORD_HEADERS: list[dict[str, str]] = [
    {},
    {"Helicone-User-Id": "ü-1", "Helicone-Session-Name": "café ☕ %s"},
    {"authorization": "Bearer sk-record"},
    {"Authorization": "Bearer sk-record", "helicone-property-env": "dev"},
    {"content-type": "text/plain", "X-A": "1", "x-a": "2"},
    {"Host": "example.test"},
    {"Content-Length": "1", "Transfer-Encoding": "chunked"},
    {"Accept-Encoding": "gzip"},
    {"X-Evil": "a\r\nX-Injected: 1"},
    {"X-Nul": "a\0b"},
    {"Bad Name": "x"},
    {"X-Surrogate": "\ud800"},
]


@pytest.mark.parametrize("base", ["", "/prefix"])
@pytest.mark.parametrize("record_headers", RECORD_HEADERS, ids=range(len(RECORD_HEADERS)))
def test_the_transport_sends_what_the_general_route_sent(
    server: ScriptedServer, base: str, record_headers: dict[str, str]
) -> None:
    config = Config(
        endpoint=server.url + base,
        api_key="sk-helicone-config",
        headers={"Helicone-Property-Env": "prod"},
    )
    transport = HeliconeHttpTransport(config)
    pool = KeepAlivePool(server.url + base, 2.0, 2.0)
    try:
        record = make_record(headers=record_headers, provider="ANTHROPIC")
        outcome = transport.send(record)
        assert outcome == general_send(transport, pool, record)
    finally:
        transport.close()
        pool.close()
    if outcome.kind is OutcomeKind.DELIVERED:
        ours, general = server.requests
        assert ours.line == general.line == f"POST {base}/anthropic/v1/log HTTP/1.1\r\n".encode()
        assert ours.headers == general.headers and ours.body == general.body
    else:
        assert server.requests == []


def test_a_records_headers_win_on_the_wire_authorization_included(
    server: ScriptedServer,
) -> None:
    config = Config(endpoint=server.url, api_key="sk-cfg", headers={"Helicone-Property-Env": "p"})
    transport = HeliconeHttpTransport(config)
    try:
        plain = make_record(headers={"Helicone-User-Id": "ü-1"})
        own_key = make_record(
            headers={"authorization": "Bearer sk-own", "HELICONE-PROPERTY-ENV": "café ☕"}
        )
        assert transport.send(plain) == Outcome.delivered(200)
        assert transport.send(own_key) == Outcome.delivered(200)
    finally:
        transport.close()
    first, second = server.requests
    assert first.header(b"Authorization") == [b"Bearer sk-cfg"]
    assert first.header(b"Helicone-Property-Env") == [b"p"]
    assert first.header(b"Helicone-User-Id") == ["ü-1".encode()]
    assert second.header(b"Authorization") == [b"Bearer sk-own"]
    assert second.headers[3] == (b"authorization", b"Bearer sk-own")  # spelling and place
    assert second.header(b"Helicone-Property-Env") == ["café ☕".encode()]
    assert second.header(b"Content-Length") == [str(len(second.body)).encode()]
    assert server.connections == 1


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"X-Evil": "a\r\nX-Injected: 1"}, "record cannot be sent as an HTTP request: header "),
        ({"X-Bad": "\udcff"}, "record cannot be encoded as a request: 'utf-8' codec"),
    ],
)
def test_a_record_whose_headers_cannot_be_sent_is_rejected_unsent(
    server: ScriptedServer, headers: dict[str, str], detail: str
) -> None:
    transport = HeliconeHttpTransport(Config(endpoint=server.url, api_key="sk"))
    try:
        outcome = transport.send(make_record(headers=headers))
        assert outcome.kind is OutcomeKind.REJECTED and outcome.detail.startswith(detail)
        assert transport.send(make_record()) == Outcome.delivered(200)
    finally:
        transport.close()
    assert len(server.requests) == 1


def test_the_transport_keeps_the_pools_error_handling() -> None:
    port = free_port()
    transport = HeliconeHttpTransport(
        Config(endpoint=f"http://127.0.0.1:{port}/base", api_key="sk", connect_timeout_s=1.0)
    )
    try:
        outcome = transport.send(make_record())
    finally:
        transport.close()
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.detail.startswith(f"cannot connect to http://127.0.0.1:{port}/base/oai/v1/log:")


def test_the_transport_retries_a_stale_connection_once_and_times_out_with_the_url() -> None:
    with ScriptedServer(Reply(OK, close=True), OK, Reply(hang=True)) as server:
        transport = HeliconeHttpTransport(
            Config(endpoint=server.url, api_key="sk", attempt_timeout_s=0.3)
        )
        try:
            assert transport.send(make_record()) == Outcome.delivered(200)
            assert server.wait_closed(1)
            assert transport.send(make_record()) == Outcome.delivered(200)  # reconnected
            outcome = transport.send(make_record())
        finally:
            transport.close()
        assert outcome == Outcome.retry(f"timed out after 0.3 s posting to {server.url}/oai/v1/log")
        assert server.connections == 2


# ---------------------------------------------------------------------------------------
# Responses


def read_response(data: bytes, whole_first: bool) -> tuple[object, bytes]:
    """Read one response from ``data`` on a socket pair: (result or error, what is left)."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    with ours, theirs:
        theirs.sendall(data)
        theirs.shutdown(socket.SHUT_WR)
        connection = Connection(ours)
        try:
            response = connection.exchange(b"", b"") if whole_first else connection._response()
        except (ProtocolError, OSError) as exc:
            connection.close()
            return (type(exc), str(exc)), b""
        rest = connection._reader.read()
        connection.close()
    # Only now the headers: parsing them on demand must not find what reading should have.
    result = (response.status, response.body, response.reusable, response.headers)
    return result, rest


STATUS_LINES = st.sampled_from(
    [
        b"HTTP/1.1 200 OK", b"HTTP/1.1 200", b"HTTP/1.1 200 ", b"HTTP/1.1 202 Accepted",
        b"HTTP/1.0 200 OK", b"HTTP/1.1 204 No Content", b"HTTP/1.1 304 Not Modified",
        b"HTTP/1.1 429 Too Many Requests", b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 503 x",
        b"HTTP/1.1  200 OK", b"HTTP/1.1 200\tOK", b"HTTP/1.1 099 Odd", b"HTTP/1.1 2000 OK",
        b"HTTP/2 200", b"HTTP/1.1 OK", b"HTTP/1.1 101 Switching", b"HTTP/1.1 200 O\rK",
        b"http/1.1 200 OK", b"HTTP/1.1 20",
    ]
)  # fmt: skip
FIELD_NAMES = st.sampled_from(
    [
        b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"Content-Length ",
        b"Content-Length-X", b"Connection", b"connection", b"Proxy-Connection",
        b"Transfer-Encoding", b"transfer-encoding", b"Retry-After", b"Date", b"X-A", b"x-a",
        b"", b" folded", b"\tfolded", b"\x0b", b"no colon", b"Set-Cookie",
    ]
)  # fmt: skip
FIELD_VALUES = st.sampled_from(
    [
        b" LEN", b"LEN", b" LEN ", b" LEN, LEN", b" 2, 3", b" -1", b" abc", b" close",
        b" keep-alive", b" Keep-Alive, Close", b" chunked", b" gzip, chunked", b" gzip",
        b" 7", b" Mon, 01 Jan 2024 00:00:00 GMT", b"", b"  spaced  ", b" a\rb", b" x:y",
    ]
)  # fmt: skip
BODIES = st.sampled_from(
    [
        b"{}", b"", b"x" * 300, b"2\r\n{}\r\n0\r\n\r\n",
        b"5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n", b"zz\r\n",
    ]
)  # fmt: skip


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    body = draw(BODIES)
    lines = [draw(STATUS_LINES)]
    for name, value in draw(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=6)):
        if name == b"no colon":
            lines.append(name + value)
        else:
            lines.append(name + b":" + value.replace(b"LEN", str(len(body)).encode()))
    ends = draw(st.lists(st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"]), min_size=7))
    head = b"".join(line + ends[i] for i, line in enumerate(lines)) + ends[-1]
    interim = draw(st.sampled_from([b"", b"HTTP/1.1 100 Continue\r\n\r\n"]))
    return interim + head + body + b"NEXT RESPONSE"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=responses())
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}NEXT")
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}NEXT")
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 3\r\n\r\n{}NEXT")
@example(data=b"HTTP/1.1 200 OK\r\nConnection: close\r\nconnection: keep-alive\r\n\r\n")
@example(
    data=b"HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n"
    b"Content-Length: 0\r\n\r\n"
)
@example(data=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n")
@example(data=b"HTTP/1.0 200 OK\r\nCONNECTION: Keep-Alive\r\nContent-Length: 2\r\n\r\n{}")
@example(data=b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n close\r\nContent-Length: 0\r\n\r\n")
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length: 2\n\r\n{}NEXT")
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}NEXT")
@example(data=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r3\r\n\r\n{}NEXT")
@example(data=b"HTTP/1.1 200 OK\r\n\r\n{}")
@example(data=b"HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n")
def test_the_whole_head_reader_reads_what_the_line_reader_reads(data: bytes) -> None:
    assert read_response(data, whole_first=True) == read_response(data, whole_first=False)


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        (b"HTTP/1.1 200 OK\r\n" + b"X-F: y\r\n" * (_wire.MAX_HEADERS - 1) + b"\r\n", True),
        (b"HTTP/1.1 200 OK\r\n" + b"X-F: y\r\n" * _wire.MAX_HEADERS + b"\r\n", False),
        (b"HTTP/1.1 200 OK\r\n" + b"a:\r\n" * (_wire.MAX_HEADERS - 1) + b"\r\n", True),
        (b"HTTP/1.1 200 OK\r\n" + b"a:\r\n" * _wire.MAX_HEADERS + b"\r\n", False),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"h" * (_wire.MAX_LINE_BYTES - 30) + b"\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"h" * _wire.MAX_LINE_BYTES + b"\r\n\r\n", False),
    ],
    ids=["most-lines", "too-many-lines", "most-short", "too-many-short", "long", "too-long"],
)
def test_the_whole_head_reader_keeps_the_limits(data: bytes, accepted: bool) -> None:
    whole = read_response(data, whole_first=True)
    assert whole == read_response(data, whole_first=False)
    result = whole[0]
    assert isinstance(result, tuple)
    if accepted:
        assert result[0] == 200 and result[1] == b""
    else:
        assert result[0] is ProtocolError
        assert "more than" in result[1] or "longer than" in result[1]


def test_headers_are_parsed_only_when_asked_and_then_as_the_line_reader_does() -> None:
    data = (
        b"HTTP/1.1 429 Slow\r\nRetry-After: 3\r\nX-Rep: a\r\nx-rep: b\r\nContent-Length: 0\r\n\r\n"
    )
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(data)
        connection = Connection(ours)
        response = connection.exchange(b"", b"")
        assert response._headers is None  # nothing parsed yet
        assert response.header(b"retry-after") == "3"
        assert response.headers == {
            b"retry-after": b"3",
            b"x-rep": b"a, b",
            b"content-length": b"0",
        }
        connection.close()


def test_an_eof_before_any_answer_is_remote_disconnected() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.shutdown(socket.SHUT_WR)
        connection = Connection(ours)
        with pytest.raises(_wire.RemoteDisconnected):
            connection.exchange(b"", b"")
        connection.close()


ANSWER_429 = (
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 9\r\n\r\nslow down"
)
ANSWER_200 = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize(
    "split",
    [(4,), (17,), (16,), (len(ANSWER_200) - 4,), (len(ANSWER_200) - 3,), (len(ANSWER_200) - 1,),
     (1, 2, 3, 20, 40, 60), tuple(range(1, len(ANSWER_200)))],
    ids=["status", "after-crlf", "between-cr-lf", "before-blank", "inside-blank", "in-body",
         "several", "byte-by-byte"],
)  # fmt: skip
def test_a_response_cut_in_pieces_is_read_line_by_line_and_the_connection_kept(
    split: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    line_reads = 0
    line_reader = Connection._response

    def counting(connection: Connection) -> _wire.Response:
        nonlocal line_reads
        line_reads += 1
        return line_reader(connection)

    monkeypatch.setattr(Connection, "_response", counting)
    pause = 0.002 if len(split) > 10 else 0.05
    script = [
        Reply(ANSWER_200, split=split, pause_s=pause),
        Reply(ANSWER_429, split=split[:1], pause_s=0.05),
    ]
    with ScriptedServer(*script) as server:
        pool = KeepAlivePool(server.url, 2.0, 2.0)
        try:
            assert pool.post("/v1/log", b"{}", {}) == Outcome.delivered(200)
            outcome = pool.post("/v1/log", b"{}", {})
            assert pool.post("/v1/log", b"{}", {}) == Outcome.delivered(200)  # whole this time
        finally:
            pool.close()
        assert outcome == Outcome.retry(f"HTTP 429 from {server.url}/v1/log", 429, 7.0)
        assert server.connections == 1
    if split[0] < len(ANSWER_200) - 2:  # the head was not whole in the first read
        assert line_reads >= 1
