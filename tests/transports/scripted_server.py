"""A raw-socket HTTP server on 127.0.0.1 that answers each request with scripted bytes.

Every accepted connection gets a thread that reads whole requests (head, then
``Content-Length`` body), records them, and answers each with the next ``Reply`` of the
script (``OK`` once the script is exhausted): exact bytes, optionally in pieces sent apart
(cut at the ``split`` offsets), then optionally a close, or no answer at all until the
server stops.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import socket
import ssl
import struct
import threading
from typing import BinaryIO

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclasses.dataclass(frozen=True)
class Reply:
    data: bytes = b""
    close: bool = False  # close the connection once ``data`` is sent
    hang: bool = False  # send nothing, keep the connection open until the server stops
    reset_after_s: float | None = None  # once ``data`` is sent, wait, then reset (RST)
    split: tuple[int, ...] = ()  # send ``data`` cut at these offsets, pausing between pieces
    pause_s: float = 0.03


@dataclasses.dataclass(frozen=True)
class Request:
    connection: int  # 1-based number of the TCP connection it came on
    line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class ScriptedServer:
    def __init__(self, *script: bytes | Reply, tls: ssl.SSLContext | None = None) -> None:
        self._script = collections.deque(r if isinstance(r, Reply) else Reply(r) for r in script)
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.requests: list[Request] = []
        self.connections = 0
        self.closed = 0  # connections ended, by either side
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(5)
        with self._changed:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(5)

    def wait_closed(self, count: int, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.closed >= count, timeout)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._changed:
                self.connections += 1
                number = self.connections
                self._sockets.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # pieces go apart
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
                with self._changed:
                    self._sockets.append(conn)
            with conn.makefile("rb") as reader:
                while self._answer(conn, reader, number):
                    pass
        except OSError:
            pass
        finally:
            conn.close()
            with self._changed:
                self.closed += 1
                self._changed.notify_all()

    def _answer(self, conn: socket.socket, reader: BinaryIO, number: int) -> bool:
        """Read one request and answer it; False once the connection is done."""
        line = reader.readline()
        if not line:
            return False
        headers = []
        while (field := reader.readline()) not in (b"\r\n", b""):
            name, _, value = field.partition(b":")
            headers.append((name, value.strip()))
        lengths = [v for k, v in headers if k.lower() == b"content-length"]
        body = reader.read(int(lengths[0])) if lengths else b""
        with self._changed:
            self.requests.append(Request(number, line, headers, body))
            reply = self._script.popleft() if self._script else Reply(OK)
            self._changed.notify_all()
        if reply.hang:
            self._stop.wait()
            return False
        start = 0
        for offset in reply.split:
            conn.sendall(reply.data[start:offset])
            start = offset
            self._stop.wait(reply.pause_s)
        conn.sendall(reply.data[start:])
        if reply.reset_after_s is not None:
            self._stop.wait(reply.reset_after_s)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        return not reply.close
