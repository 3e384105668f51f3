"""Shared test tools: a fault-injecting HTTP proxy in front of the real receiver, free ports."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

Fault = Callable[[int], tuple[int, dict[str, str], bytes] | str | None]
"""Given the request's 1-based number, answer (status, headers, body), "hang", or None to
pass the request through to the upstream receiver."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FaultProxy:
    """A real HTTP server on loopback that fails requests as scripted, else forwards them."""

    def __init__(self, upstream: str, fault: Fault, port: int = 0) -> None:
        self.upstream = upstream
        self.fault = fault
        self.requests = 0
        self.outcomes: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", port))
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self._app, lifespan="off", access_log=False, log_level="warning", loop="asyncio",
            http="h11", timeout_graceful_shutdown=1, interface="asgi3",
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._client: httpx.AsyncClient | None = None

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._sock])
        finally:
            if self._client is not None:
                await self._client.aclose()

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        with self._lock:
            self.requests += 1
            number = self.requests
            self.arrivals.append(time.monotonic())
        action = self.fault(number)
        if action == "hang":
            self.outcomes["hang"] += 1
            await asyncio.sleep(30)
            return
        if action is not None:
            assert not isinstance(action, str)
            status, headers, payload = action
            self.outcomes[str(status)] += 1
            await _respond(send, status, headers, payload)
            return
        self.outcomes["pass"] += 1
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        response = await self._client.post(
            self.upstream + scope["path"], content=body,
            headers=[(k, v) for k, v in headers if k.lower() not in ("host", "content-length")],
        )  # fmt: skip
        await _respond(send, response.status_code, dict(response.headers), response.content)


async def _respond(send: Any, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items() if k.lower() != "content-length"]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size: str = "256k") -> Iterator[Path]:
    """A real tmpfs of ``size`` at ``mount_point``, so writes fail with the kernel's own
    ENOSPC; skips the test when it cannot be mounted (that needs root)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def destination_dir(spool_dir: Path) -> Path:
    """The one destination folder a test's loggers spooled into (asserting there is one)."""
    folders = sorted((spool_dir / "destinations").iterdir())
    assert len(folders) == 1, f"expected one destination, found {folders}"
    return folders[0]


class CountingSink:
    """A real HTTP server on loopback that answers every log with 200 and counts each POST.

    Unlike the receiver, which keeps one row per request id, it sees duplicates: ``posts``
    counts every POST per ``Helicone-Request-Id``, and ``keys`` the bearer key each came
    with.
    """

    def __init__(self, port: int = 0, delay_s: float = 0.0) -> None:
        """``delay_s``: how long each answer takes, after the POST was counted."""
        self.posts: Counter[str] = Counter()
        self.keys: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536  # the answer leaves in one segment, not held by delayed ACKs
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                json.loads(body)  # a whole log arrived
                request_id = self.headers.get("helicone-request-id", "")
                key = self.headers.get("authorization", "")
                with sink._lock:
                    sink.posts[request_id] += 1
                    sink.keys.setdefault(key, set()).add(request_id)
                time.sleep(delay_s)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client dropping its keep-alive connection is not news

        self._server = Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CountingSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    @property
    def duplicates(self) -> dict[str, int]:
        with self._lock:
            return {rid: n for rid, n in self.posts.items() if n > 1}

    def received(self) -> int:
        with self._lock:
            return len(self.posts)
