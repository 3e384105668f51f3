"""Body size limits: refused from the declared size or at the limit, never buffered whole."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from heliograph.receiver import ReceiverThread

from .helpers import AUTH, KEY, make_body

MIB = 1024 * 1024


def _read_response(sock: socket.socket) -> bytes:
    """Read until the JSON response body is complete (the server keeps the socket open)."""
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_body_over_10_mib_is_rejected_without_buffering_it_all(
    receiver: ReceiverThread,
) -> None:
    declared = 11 * MIB
    head = (
        "POST /custom/v1/log HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
        sock.sendall(head.encode() + b"{" + b" " * 1023)  # 1 KiB of the promised 11 MiB
        response = _read_response(sock)
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request"
    body = orjson.loads(rest.partition(b"\r\n\r\n")[2])
    assert body == {"error": f"Payload too large: {declared} bytes exceeds the 10485760-byte limit"}


def test_default_limit_is_helicones_10_mib(client: httpx.Client) -> None:
    too_big = b'{"pad": "' + b"x" * (10 * MIB) + b'"}'
    response = client.post("/custom/v1/log", content=too_big, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"] == (
        f"Payload too large: {len(too_big)} bytes exceeds the 10485760-byte limit"
    )
    assert client.get("/v1/receiver/stats").json()["rejected"] == {"payload_too_large": 1}


@pytest.fixture
def small_receiver(tmp_path: Path) -> Iterator[ReceiverThread]:
    with ReceiverThread(db_path=tmp_path / "small.sqlite3", max_body_bytes=2000) as running:
        yield running


def _padded_body(size: int) -> bytes:
    """A valid async-log body of exactly ``size`` bytes."""
    body = make_body()
    body["providerRequest"]["json"]["pad"] = ""
    base = len(orjson.dumps(body))
    body["providerRequest"]["json"]["pad"] = "x" * (size - base)
    raw = orjson.dumps(body)
    assert len(raw) == size
    return raw


def test_body_exactly_at_the_limit_is_accepted(small_receiver: ReceiverThread) -> None:
    with httpx.Client(base_url=small_receiver.url) as client:
        response = client.post("/custom/v1/log", content=_padded_body(2000), headers=AUTH)
    assert response.status_code == 200


def test_body_one_byte_over_the_limit_is_rejected(small_receiver: ReceiverThread) -> None:
    with httpx.Client(base_url=small_receiver.url) as client:
        response = client.post("/custom/v1/log", content=_padded_body(2001), headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {"error": "Payload too large: 2001 bytes exceeds the 2000-byte limit"}


def test_chunked_body_is_cut_off_just_past_the_limit(small_receiver: ReceiverThread) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is only known by reading
        for _ in range(100):
            yield b" " * 500

    with httpx.Client(base_url=small_receiver.url) as client:
        response = client.post("/custom/v1/log", content=chunks(), headers=AUTH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("Payload too large: at least ")
    assert error.endswith(" bytes exceeds the 2000-byte limit")
    assert small_receiver.store.count() == 0


def test_unauthorized_large_body_is_refused_before_reading_it(
    small_receiver: ReceiverThread,
) -> None:
    with httpx.Client(base_url=small_receiver.url) as client:
        response = client.post("/custom/v1/log", content=b"x" * 5000)
    assert (response.status_code, response.json()) == (401, {"error": "Unauthorized"})
