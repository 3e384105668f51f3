"""KeepAlivePool and its HTTP/1.1 client (``_wire``) against a scripted raw-socket server.

Real sockets on 127.0.0.1: each test scripts the exact bytes the server answers with and
checks the Outcome, what reached the server, and how many TCP connections it took.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from heliograph.config import Config
from heliograph.delivery.outcome import Outcome, OutcomeKind
from heliograph.transports._http import KeepAlivePool, encode_headers
from heliograph.transports._wire import MAX_BODY_BYTES, MAX_DRAIN_BYTES, MAX_HEADERS
from heliograph.transports.helicone_http import HeliconeHttpTransport
from tests.support import free_port
from tests.transports.helpers import make_record
from tests.transports.scripted_server import OK, Reply, ScriptedServer

PATH = "/custom/v1/log"
BODY = orjson.dumps({"providerRequest": {"json": {"x": "y" * 3000}}})
Serve = Callable[..., tuple[ScriptedServer, KeepAlivePool]]
HEADERS = encode_headers({"Authorization": "Bearer sk-test", "Content-Type": "application/json"})


def post(pool: KeepAlivePool, headers: dict[str, bytes] | None = None) -> Outcome:
    return pool.post(PATH, BODY, HEADERS if headers is None else headers)


@pytest.fixture
def pools() -> Iterator[list[KeepAlivePool]]:
    made: list[KeepAlivePool] = []
    yield made
    for pool in made:
        pool.close()


@pytest.fixture
def serve(pools: list[KeepAlivePool]) -> Iterator[Serve]:
    """``serve(*script, timeout_s=2.0) -> (server, pool)``; both closed after the test."""
    servers: list[ScriptedServer] = []

    def start(
        *script: bytes | Reply, timeout_s: float = 2.0, tls: ssl.SSLContext | None = None
    ) -> tuple[ScriptedServer, KeepAlivePool]:
        server = ScriptedServer(*script, tls=tls).__enter__()
        servers.append(server)
        url = server.url.replace("127.0.0.1", "localhost") if tls else server.url
        pool = KeepAlivePool(url, connect_timeout_s=2.0, timeout_s=timeout_s)
        pools.append(pool)
        return server, pool

    yield start
    for pool in pools:
        pool.close()
    for server in servers:
        server.__exit__(None, None, None)


def response(status: str, body: bytes = b"", *fields: str) -> bytes:
    head = "".join(f"{field}\r\n" for field in fields)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_the_request_is_one_well_formed_http11_post(serve: Serve) -> None:
    server, pool = serve()
    headers = encode_headers({"Authorization": "Bearer k", "Helicone-Session-Name": "café ☕"})
    assert post(pool, headers) == Outcome.delivered(200)
    (request,) = server.requests
    assert request.line == b"POST /custom/v1/log HTTP/1.1\r\n"
    assert request.header(b"Host") == [f"127.0.0.1:{server.port}".encode()]
    assert request.header(b"Content-Length") == [str(len(BODY)).encode()]
    assert request.header(b"Accept-Encoding") == [b"identity"]
    assert request.header(b"Helicone-Session-Name") == ["café ☕".encode()]
    assert request.body == BODY


def test_the_base_path_is_kept_and_the_callers_host_replaces_ours(
    serve: Serve, pools: list[KeepAlivePool]
) -> None:
    server, _ = serve()
    pool = KeepAlivePool(server.url + "/prefix/", 2.0, 2.0)
    pools.append(pool)
    assert (
        post(pool, {"Host": b"example.test", "Content-Length": b"1"}).kind is OutcomeKind.DELIVERED
    )
    (request,) = server.requests
    assert request.line == b"POST /prefix/custom/v1/log HTTP/1.1\r\n"
    assert request.header(b"Host") == [b"example.test"]
    assert request.header(b"Content-Length") == [str(len(BODY)).encode()]


def test_helicone_transport_posts_the_record_with_its_headers(serve: Serve) -> None:
    server, _ = serve()
    transport = HeliconeHttpTransport(Config(endpoint=server.url, api_key="sk-helicone-x"))
    try:
        record = make_record(headers={"Helicone-User-Id": "ü-1"})
        assert transport.send(record) == Outcome.delivered(200)
    finally:
        transport.close()
    (request,) = server.requests
    assert request.line == b"POST /oai/v1/log HTTP/1.1\r\n"
    assert request.header(b"Authorization") == [b"Bearer sk-helicone-x"]
    assert request.header(b"Helicone-User-Id") == ["ü-1".encode()]
    assert orjson.loads(request.body)["providerRequest"]["meta"] is not None


def test_keep_alive_one_connection_serves_many_posts(serve: Serve) -> None:
    server, pool = serve()
    assert all(post(pool).kind is OutcomeKind.DELIVERED for _ in range(50))
    assert len(server.requests) == 50
    assert server.connections == 1


def test_each_thread_has_its_own_connection_and_close_closes_them_all(serve: Serve) -> None:
    server, pool = serve()
    barrier = threading.Barrier(4)

    def sender() -> None:
        barrier.wait()
        for _ in range(5):
            assert post(pool).kind is OutcomeKind.DELIVERED

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.requests) == 20 and server.connections == 4
    pool.close()
    assert server.wait_closed(4)
    assert post(pool).kind is OutcomeKind.DELIVERED  # the pool reconnects after close()
    assert server.connections == 5


def test_content_length_body_then_the_connection_is_reused(serve: Serve) -> None:
    server, pool = serve(response("400 Bad Request", b"missing field: model"))
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.REJECTED and outcome.status == 400
    assert outcome.response_text == "missing field: model"
    assert "missing field: model" in outcome.detail
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 1


def test_chunked_body_with_extensions_and_trailers(serve: Serve) -> None:
    chunked = (
        b"HTTP/1.1 422 Unprocessable\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b'6 ; quoted="a;b"\r\n world\r\n'
        b"0\r\nX-Checksum: abc\r\nX-Other: d\r\n\r\n"
    )
    ok_chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    server, pool = serve(chunked, ok_chunked)
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.REJECTED
    assert outcome.response_text == "hello world"
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 1  # every byte of both chunked bodies was consumed


def test_a_body_without_length_is_read_to_eof_and_the_connection_not_reused(serve: Serve) -> None:
    server, pool = serve(Reply(b"HTTP/1.1 403 Forbidden\r\n\r\nno key, no log", close=True))
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.REJECTED and outcome.status == 403
    assert outcome.response_text == "no key, no log"
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 2


def test_interim_responses_are_skipped(serve: Serve) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    server, pool = serve(interim + OK)
    assert post(pool) == Outcome.delivered(200)
    assert post(pool) == Outcome.delivered(200)
    assert server.connections == 1


def test_no_body_statuses_and_other_2xx(serve: Serve) -> None:
    server, pool = serve(b"HTTP/1.1 204 No Content\r\n\r\n", response("202 Accepted"))
    assert post(pool) == Outcome.delivered(204)
    assert post(pool) == Outcome.delivered(202)
    assert post(pool) == Outcome.delivered(200)
    assert server.connections == 1


@pytest.mark.parametrize(
    "first",
    [
        Reply(response("200 OK", b"{}", "Connection: close"), close=True),
        Reply(response("200 OK", b"{}", "connection: Keep-Alive, Close"), close=True),
        Reply(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", close=True),
    ],
    ids=["connection-close", "close-among-tokens", "http10"],
)
def test_connection_close_then_reconnect(serve: Serve, first: Reply) -> None:
    server, pool = serve(first)
    assert post(pool) == Outcome.delivered(200)
    assert post(pool) == Outcome.delivered(200)
    assert server.connections == 2


def test_http10_keep_alive_is_reused(serve: Serve) -> None:
    keep = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}"
    server, pool = serve(keep, keep)
    assert [post(pool).kind for _ in range(3)] == [OutcomeKind.DELIVERED] * 3
    assert server.connections == 1


def test_a_stale_idle_connection_is_retried_once_and_delivered(serve: Serve) -> None:
    server, pool = serve(Reply(OK, close=True))  # keep-alive promised, then closed while idle
    assert post(pool) == Outcome.delivered(200)
    assert server.wait_closed(1)
    assert post(pool) == Outcome.delivered(200)
    assert len(server.requests) == 2
    assert server.connections == 2


def test_a_new_connection_closed_without_answer_is_not_retried_again(serve: Serve) -> None:
    server, pool = serve(Reply(OK, close=True), Reply(b"", close=True))
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.wait_closed(1)
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.RETRY
    assert "lost" in outcome.detail and "without answering" in outcome.detail
    assert server.connections == 2  # the stale one, then one fresh attempt


def test_a_reset_after_the_answer_began_is_not_resent(serve: Serve) -> None:
    cut = Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", reset_after_s=0.2)
    server, pool = serve(OK, cut)
    assert post(pool).kind is OutcomeKind.DELIVERED
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.RETRY and "reset during the response" in outcome.detail
    assert len(server.requests) == 2 and server.connections == 1


@pytest.mark.parametrize(
    ("answer", "status", "retry_after"),
    [
        (response("429 Too Many Requests", b"slow down", "Retry-After: 7"), 429, 7.0),
        (response("503 Service Unavailable", b"", "retry-after:  2 "), 503, 2.0),
        (response("408 Request Timeout"), 408, None),
        (response("425 Too Early"), 425, None),
        (response("500 Internal Server Error", b"boom"), 500, None),
    ],
)
def test_retryable_statuses_honour_retry_after(
    serve: Serve, answer: bytes, status: int, retry_after: float | None
) -> None:
    server, pool = serve(answer)
    outcome = post(pool)
    assert outcome == Outcome.retry(f"HTTP {status} from {server.url}{PATH}", status, retry_after)
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 1


def test_a_400_keeps_its_body_text_capped(serve: Serve) -> None:
    text = "".join(f"{i:07d} invalid\n" for i in range(8_000))  # 128 000 bytes
    server, pool = serve(response("400 Bad Request", text.encode()))
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.REJECTED and outcome.status == 400
    assert outcome.response_text == text[:MAX_BODY_BYTES]
    assert outcome.detail == f"HTTP 400 from {server.url}{PATH}: {text[:200]}"
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 1  # the rest of the body was drained, not left on the wire


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_too_big_to_drain_drops_the_connection_and_the_pool_still_works(
    serve: Serve, chunked: bool
) -> None:
    big = b"x" * (MAX_BODY_BYTES + MAX_DRAIN_BYTES + 10_000)
    if chunked:
        pieces = b"".join(b"%x\r\n%s\r\n" % (len(big[i : i + 50_000]), big[i : i + 50_000])
                          for i in range(0, len(big), 50_000))  # fmt: skip
        answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + pieces + b"0\r\n\r\n"
    else:
        answer = response("200 OK", big)
    server, pool = serve(Reply(answer))
    assert post(pool) == Outcome.delivered(200)
    assert post(pool) == Outcome.delivered(200)
    assert post(pool) == Outcome.delivered(200)
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTCPCP/1.0 418 I'm a teapot\r\n\r\n", "bad status line"),
        (b"HTTP/2 200\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", "bad status code"),
        (b"HTTP/1.1 OK\r\n\r\n", "bad status code"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}", "conflicting Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "without a name and colon"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk-size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx", "not followed"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
    ],
)
def test_a_malformed_response_is_retried_and_its_connection_dropped(
    serve: Serve, answer: bytes, message: str
) -> None:
    server, pool = serve(Reply(answer))
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.detail.startswith(f"malformed response from {server.url}{PATH}: ")
    assert message in outcome.detail
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Len", "closed in the middle of the headers"),
        (b"HTTP/1.1 20", "closed in the status line"),
        (b"HTTP/1.1 100 Continue\r\n\r\n", "after an interim (1xx) response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "after 3 of 10 body bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "after 2 of 5"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n", "trailers"),
    ],
)
def test_a_response_cut_short_is_retried(serve: Serve, answer: bytes, message: str) -> None:
    server, pool = serve(Reply(answer, close=True))
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.RETRY
    assert message in outcome.detail
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n" + b"X-Filler: y\r\n" * 100_000 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Huge: " + b"h" * 1_000_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 " + b"O" * 1_000_000 + b"\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n" * 1_000 + OK,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 100_000 + b"\r\n",
    ],
    ids=["many-headers", "long-header", "long-status", "endless-1xx", "long-chunk-line"],
)
def test_a_hostile_head_is_capped(serve: Serve, answer: bytes) -> None:
    server, pool = serve(Reply(answer))
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.RETRY
    assert "malformed response" in outcome.detail
    assert any(word in outcome.detail for word in ("longer than", "more than", "too long"))
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 2


def test_a_head_within_the_caps_is_read(serve: Serve) -> None:
    fields = [f"X-Field-{i}: {'v' * 100}" for i in range(MAX_HEADERS - 10)]
    _, pool = serve(response("429 Slow", b"", *fields, "Retry-After: 3"))
    assert post(pool).retry_after_s == 3.0


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Evil": b"a\r\nX-Injected: 1"}, "'X-Evil' value contains CR, LF or NUL"),
        ({"X-Evil": b"a\nb"}, "'X-Evil' value contains CR, LF or NUL"),
        ({"X-Evil": b"a\rb"}, "'X-Evil' value contains CR, LF or NUL"),
        ({"X-Evil": b"a\0b"}, "'X-Evil' value contains CR, LF or NUL"),
        ({"Bad Name": b"x"}, "header name 'Bad Name' is not an HTTP token"),
        ({"X-Evil:": b"x"}, "is not an HTTP token"),
        ({"X-Evil\r\nInjected": b"x"}, "is not an HTTP token"),
        ({"Ünïcode": b"x"}, "is not an HTTP token"),
        ({"": b"x"}, "is not an HTTP token"),
        ({"X-Text": "not bytes"}, "'X-Text' has a str value"),
    ],
)
def test_an_invalid_header_is_rejected_without_sending(
    serve: Serve, headers: dict[str, bytes], message: str
) -> None:
    server, pool = serve()
    outcome = post(pool, {**HEADERS, **headers})
    assert outcome.kind is OutcomeKind.REJECTED
    assert outcome.detail.startswith("record cannot be sent as an HTTP request: ")
    assert message in outcome.detail
    assert server.connections == 0 and server.requests == []
    assert post(pool).kind is OutcomeKind.DELIVERED  # a valid name cached, a bad one never


def test_a_path_with_a_space_is_rejected(serve: Serve, pools: list[KeepAlivePool]) -> None:
    server, pool = serve()
    outcome = pool.post("/a b", BODY, HEADERS)
    assert outcome.kind is OutcomeKind.REJECTED and "holds a space or control" in outcome.detail
    assert server.connections == 0


def test_a_timeout_is_retried_and_the_next_post_reconnects(serve: Serve) -> None:
    server, pool = serve(Reply(hang=True), timeout_s=0.3)
    outcome = post(pool)
    assert outcome == Outcome.retry(f"timed out after 0.3 s posting to {server.url}{PATH}")
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert server.connections == 2


def test_a_refused_connection_is_retried(pools: list[KeepAlivePool]) -> None:
    pool = KeepAlivePool(f"http://127.0.0.1:{free_port()}", 1.0, 1.0)
    pools.append(pool)
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.RETRY and outcome.detail.startswith("cannot connect to")


@pytest.fixture
def tls_server_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for localhost, trusted through ``SSL_CERT_FILE``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_https_is_verified_and_kept_alive(serve: Serve, tls_server_context: ssl.SSLContext) -> None:
    server, pool = serve(
        response("400 Bad", b"over tls"), OK, Reply(OK, close=True), tls=tls_server_context
    )
    assert post(pool).response_text == "over tls"
    assert post(pool).kind is OutcomeKind.DELIVERED
    assert post(pool).kind is OutcomeKind.DELIVERED  # then the server closes it while idle
    assert server.connections == 1
    assert server.wait_closed(1)
    assert all(post(pool).kind is OutcomeKind.DELIVERED for _ in range(3))
    assert server.connections == 2 and len(server.requests) == 6
    assert server.requests[0].header(b"Host") == [f"localhost:{server.port}".encode()]


def test_an_untrusted_certificate_is_a_connect_failure(
    serve: Serve, tls_server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    server, pool = serve(tls=tls_server_context)
    outcome = post(pool)
    assert outcome.kind is OutcomeKind.RETRY and "CERTIFICATE_VERIFY_FAILED" in outcome.detail
    assert server.requests == []


def test_importing_the_http_transports_loads_neither_ssl_nor_http_client() -> None:
    code = (
        "import sys, heliograph.transports.helicone_http, heliograph.transports.valhalla_http;"
        "print(sorted({'ssl', 'http.client'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
