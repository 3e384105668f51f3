"""A loopback HTTP server that records every request, standing in for Helicone's log routes.

Each request is answered ``200 ok`` with a ``helicone-id`` header, as Helicone's worker does,
and recorded as a :class:`Capture`: method, path, headers (names lower-cased) and the parsed
JSON body. Responses are HTTP/1.0 with ``Connection: close``, so no keep-alive socket outlives
a request and closing the server leaves nothing open (the suite runs with
``filterwarnings=error``, where a leaked socket's ``ResourceWarning`` fails a test)::

    with CaptureServer() as server:
        post_something(server.url + "/custom/v1/log")
        [capture] = server.wait_for(1)
        assert capture.body["providerResponse"]["status"] == 200
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
import time
import uuid
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Capture", "CaptureServer"]


@dataclasses.dataclass(frozen=True)
class Capture:
    """One recorded request. ``body`` is the parsed JSON, or ``None`` if it was not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    received_at: float


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self._record()

    def do_PUT(self) -> None:
        self._record()

    def do_GET(self) -> None:
        self._record()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(parts)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        return raw

    def _record(self) -> None:
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.server.record(
            Capture(
                method=self.command,
                path=self.path,
                headers=headers,
                body=body,
                raw=raw,
                received_at=time.time(),
            )
        )
        payload = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("helicone-id", str(uuid.uuid4()))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Condition()
        self._captures: list[Capture] = []

    def record(self, capture: Capture) -> None:
        with self._lock:
            self._captures.append(capture)
            self._lock.notify_all()

    def snapshot(self) -> list[Capture]:
        with self._lock:
            return list(self._captures)

    def wait_for(self, count: int, timeout: float) -> list[Capture]:
        with self._lock:
            self._lock.wait_for(lambda: len(self._captures) >= count, timeout)
            return list(self._captures)


class CaptureServer:
    """Context manager running :class:`_Server` on 127.0.0.1 (a free port) in a thread."""

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def __enter__(self) -> CaptureServer:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="conformance-capture-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close the listening socket; the captures stay readable."""
        if self._server is None or self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def _live(self) -> _Server:
        if self._server is None:
            raise RuntimeError("CaptureServer is not running; use it as a context manager")
        return self._server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        host, port = self._live.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def captures(self) -> list[Capture]:
        """A copy of the requests recorded so far, in arrival order."""
        return self._live.snapshot()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Capture]:
        """The captures once there are at least ``count`` of them, or when ``timeout`` ends."""
        return self._live.wait_for(count, timeout)
