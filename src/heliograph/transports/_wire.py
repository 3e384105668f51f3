"""A small HTTP/1.1 client: one request, one response, on a connection kept for reuse.

Only what ``_http.KeepAlivePool`` needs, and cheap where it is hot: the request goes out in
one ``sendall`` (head + body), the response is read from one buffered reader kept for the
connection's life, and only the status, the framing headers and the body are looked at.

Requests: the header names must be RFC 7230 tokens and the values bytes without CR, LF or
NUL, checked before anything is sent (``InvalidRequest``). ``Host`` (with the port when it
is not the scheme's default), ``Content-Length`` and ``Accept-Encoding: identity`` are
added; the caller's ``Host`` or ``Accept-Encoding`` replaces ours, and its
``Content-Length`` or ``Transfer-Encoding`` is dropped (the framing is ours).

Responses (HTTP/1.0 or 1.1): 1xx interim responses are skipped; header lines, their
count and the whole head are capped, so a hostile server cannot exhaust memory; the body
is framed by ``Transfer-Encoding: chunked`` (extensions and trailers allowed), else by
``Content-Length``, else by the end of the connection. At most ``MAX_BODY_BYTES`` of it
are kept; the rest is read and dropped up to ``MAX_DRAIN_BYTES`` so the connection can be
reused, and past that the connection is not reused. ``Connection: close``, HTTP/1.0
without keep-alive and a body read to the end of the connection also end its reuse.
Anything malformed raises ``ProtocolError`` saying what was wrong; the caller then drops
the connection. End of file before the first byte of an answer raises
``RemoteDisconnected`` (a ``ConnectionResetError``): a server closing an idle keep-alive
connection looks like that, and the caller may retry once on a new connection.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # ssl is imported only when an https endpoint is configured
    import io
    import ssl

__all__ = [
    "MAX_BODY_BYTES",
    "Connection",
    "InvalidRequest",
    "Origin",
    "ProtocolError",
    "RemoteDisconnected",
    "Response",
    "connect",
]

MAX_BODY_BYTES = 64 * 1024  # body bytes kept (for a dead letter's response text)
MAX_DRAIN_BYTES = 256 * 1024  # further body bytes read and dropped to keep a connection
MAX_LINE_BYTES = 16 * 1024  # status line, one header line, one chunk-size line
MAX_HEADERS = 128  # header lines in one head (trailers included)
MAX_HEAD_BYTES = 64 * 1024  # one whole head
MAX_INTERIM = 16  # 1xx responses before the final one
_READ_PIECE = 64 * 1024
_SEND_JOIN_MAX = 64 * 1024  # a larger body is sent by a second sendall rather than copied
_CACHE_MAX = 1024

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_BAD_PATH = re.compile(r"[\x00-\x20\x7f]").search
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}").fullmatch
_FRAMING = frozenset({"content-length", "transfer-encoding"})  # the caller's are dropped
_OURS = frozenset({"host", "accept-encoding"})  # the caller's replaces ours
_CRLF = b"\r\n"
_BLANK = (b"\r\n", b"\n")
_NO_BODY = frozenset({204, 304})


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client reads it."""


class InvalidRequest(ValueError):
    """The request cannot be sent: a header name or value, or the path, is not allowed."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection before sending a byte of its answer."""


class Response:
    __slots__ = ("body", "headers", "reusable", "status")

    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes, reusable: bool):
        self.status = status
        self.headers = headers  # lower-case names; repeated fields joined with ", "
        self.body = body  # at most MAX_BODY_BYTES
        self.reusable = reusable

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


class Origin:
    """Builds request heads for one origin; validated paths and header names are cached."""

    def __init__(self, host: str, port: int, default_port: int) -> None:
        try:
            name = host.encode("ascii")
        except UnicodeEncodeError:
            try:
                name = host.encode("idna")
            except UnicodeError:  # not a valid name: connecting will fail and say so
                name = host.encode("utf-8", "replace")
        if b":" in name:
            name = b"[" + name + b"]"  # an IPv6 literal
        if port != default_port:
            name += b":%d" % port
        self.host_header = name
        self._heads: dict[str, tuple[bytes, bytes]] = {}
        self._names: dict[str, bytes] = {}

    def head(self, path: str, content_length: int, headers: Mapping[str, bytes]) -> bytes:
        """The request head for ``POST path``; raises ``InvalidRequest``."""
        line = self._heads.get(path) or self._request_line(path)
        names = self._names
        parts = [line[0], b"", b"Content-Length: %d\r\n" % content_length]
        replaced: set[str] | None = None
        for name, value in headers.items():
            start = names.get(name)
            if start is None:
                start = _header_start(name)
                lowered = name.lower()
                if lowered in _FRAMING:
                    continue
                if lowered in _OURS:
                    (replaced := replaced or set()).add(lowered)
                elif len(names) < _CACHE_MAX:
                    names[name] = start
            parts += (start, value, _CRLF)
        parts += (_CRLF,)
        try:
            fields = b"".join(parts[3:])
        except TypeError:
            raise InvalidRequest(_bad_value(headers) or "header values must be bytes") from None
        count = (len(parts) - 4) // 3
        if fields.count(b"\n") != count + 1 or fields.count(b"\r") != count + 1 or b"\0" in fields:
            raise InvalidRequest(_bad_value(headers) or "invalid header value")
        parts[1] = line[1] if replaced is None else self._defaults(replaced)
        return b"".join(parts[:3]) + fields

    def _request_line(self, path: str) -> tuple[bytes, bytes]:
        try:
            encoded = path.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidRequest(f"the URL path {path!r} is not ASCII") from None
        if not encoded.startswith(b"/") or _BAD_PATH(path):
            raise InvalidRequest(
                f"the URL path {path!r} is not absolute or holds a space or control"
            )
        line = (b"POST " + encoded + b" HTTP/1.1\r\n", self._defaults(set()))
        if len(self._heads) < _CACHE_MAX:
            self._heads[path] = line
        return line

    def _defaults(self, replaced: set[str]) -> bytes:
        head = b""
        if "host" not in replaced:
            head += b"Host: " + self.host_header + _CRLF
        if "accept-encoding" not in replaced:
            head += b"Accept-Encoding: identity\r\n"
        return head


def _header_start(name: str) -> bytes:
    if not isinstance(name, str) or not _TOKEN(name):
        raise InvalidRequest(f"header name {name!r} is not an HTTP token")
    return name.encode("ascii") + b": "


def _bad_value(headers: Mapping[str, bytes]) -> str | None:
    for name, value in headers.items():
        if not isinstance(value, bytes | bytearray):
            return f"header {name!r} has a {type(value).__name__} value, not bytes"
        if b"\r" in value or b"\n" in value or b"\0" in value:
            return f"header {name!r} value contains CR, LF or NUL"
    return None


def connect(
    host: str,
    port: int,
    connect_timeout_s: float,
    timeout_s: float,
    tls: ssl.SSLContext | None = None,
) -> Connection:
    """Connect within ``connect_timeout_s`` (TLS handshake included); raises ``OSError``."""
    sock = socket.create_connection((host, port), connect_timeout_s)
    try:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname=host)
        sock.settimeout(timeout_s)
        return Connection(sock)
    except BaseException:
        sock.close()
        raise


class Connection:
    """One socket and its reader. Not thread-safe: one exchange at a time."""

    __slots__ = ("_reader", "_sock", "closed")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader = cast("io.BufferedReader", sock.makefile("rb", buffering=16 * 1024))
        self.closed = False

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
        with contextlib.suppress(OSError, ValueError):
            self._reader.close()
        self._sock.close()

    def exchange(self, head: bytes, body: bytes) -> Response:
        """Send one request and read its response; raises ``OSError`` or ``ProtocolError``."""
        if len(body) <= _SEND_JOIN_MAX:
            self._sock.sendall(head + body)
        else:
            self._sock.sendall(head)
            self._sock.sendall(body)
        readline = self._reader.readline
        line = readline(MAX_LINE_BYTES + 1)
        if not line:
            raise RemoteDisconnected("the server closed the connection without answering")
        try:
            for _ in range(MAX_INTERIM + 1):
                status, http10 = _status(line)
                headers = _headers(readline, "header")
                if status >= 200:
                    return self._body(status, http10, headers)
                if status == 101:
                    raise ProtocolError("unexpected 101 Switching Protocols")
                line = readline(MAX_LINE_BYTES + 1)
        except ConnectionResetError as exc:  # the server has begun answering: not stale
            raise ProtocolError(f"the connection was reset during the response ({exc})") from None
        raise ProtocolError(f"more than {MAX_INTERIM} interim (1xx) responses")

    def _body(self, status: int, http10: bool, headers: dict[bytes, bytes]) -> Response:
        connection = headers.get(b"connection")
        if connection is None:
            reusable = not http10
        else:
            connection = connection.lower()
            reusable = b"close" not in connection and (not http10 or b"keep-alive" in connection)
        if status in _NO_BODY:
            return Response(status, headers, b"", reusable)
        coding = headers.get(b"transfer-encoding")
        length = headers.get(b"content-length")
        if coding is not None:
            if coding.lower().rsplit(b",", 1)[-1].strip() != b"chunked":
                return Response(status, headers, self._read(MAX_BODY_BYTES), False)
            body, drained = self._chunked()
            # Both framings at once is a smuggling smell: read by chunks, then drop it.
            return Response(status, headers, body, reusable and drained and length is None)
        if length is None:
            return Response(status, headers, self._read(MAX_BODY_BYTES), False)
        size = _content_length(length)
        if size <= MAX_BODY_BYTES:
            return Response(status, headers, self._exact(size), reusable)
        body = self._exact(MAX_BODY_BYTES)
        rest = size - MAX_BODY_BYTES
        if rest > MAX_DRAIN_BYTES:
            return Response(status, headers, body, False)
        self._skip(rest)
        return Response(status, headers, body, reusable)

    def _chunked(self) -> tuple[bytes, bool]:
        """The first ``MAX_BODY_BYTES`` of a chunked body, and whether it was read to the end."""
        readline = self._reader.readline
        kept: list[bytes] = []
        kept_size = 0
        total = 0
        while True:
            line = readline(MAX_LINE_BYTES + 1)
            if not line.endswith(b"\n") or len(line) > MAX_LINE_BYTES:
                what = "too long" if len(line) > MAX_LINE_BYTES else "cut short"
                raise ProtocolError(f"chunk-size line {what}: {line[:40]!r}")
            text = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE(text):
                raise ProtocolError(f"bad chunk-size line {line[:40]!r}")
            size = int(text, 16)
            if size == 0:
                _headers(readline, "trailer")
                return b"".join(kept), True
            total += size
            if total > MAX_BODY_BYTES + MAX_DRAIN_BYTES:
                return b"".join(kept), False
            keep = min(size, MAX_BODY_BYTES - kept_size)
            if keep:
                kept.append(self._exact(keep))
                kept_size += keep
            self._skip(size - keep)
            if self._reader.read(2) != _CRLF:
                raise ProtocolError("a chunk's data is not followed by CRLF")

    def _exact(self, size: int) -> bytes:
        data = self._reader.read(size)
        if len(data) < size:
            raise ProtocolError(f"the connection closed after {len(data)} of {size} body bytes")
        return data

    def _skip(self, size: int) -> None:
        while size > 0:
            size -= len(self._exact(min(size, _READ_PIECE)))

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes, ending early at the end of the connection."""
        return self._reader.read(size)


def _status(line: bytes) -> tuple[int, bool]:
    """(status, is HTTP/1.0) from a status line."""
    if not line.endswith(b"\n"):  # the cap was reached, or the end of the connection
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolError(f"status line longer than {MAX_LINE_BYTES} bytes")
        if not line:
            raise ProtocolError("the connection closed after an interim (1xx) response")
        raise ProtocolError(f"the connection closed in the status line {line[:80]!r}")
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ProtocolError(f"bad status line {line[:80]!r}")
    code = parts[1]
    if len(code) != 3 or not code.isdigit() or code[0] == 48:  # 100-999
        raise ProtocolError(f"bad status code in {line[:80]!r}")
    return int(code), parts[0] == b"HTTP/1.0"


def _headers(readline: Callable[[int], bytes], what: str) -> dict[bytes, bytes]:
    """Header (or trailer) fields up to the blank line; lower-case names."""
    headers: dict[bytes, bytes] = {}
    name = b""
    head_size = 0
    for _ in range(MAX_HEADERS):
        line = readline(MAX_LINE_BYTES + 1)
        if line in _BLANK:
            return headers
        if not line.endswith(b"\n"):  # the cap was reached, or the end of the connection
            if len(line) > MAX_LINE_BYTES:
                raise ProtocolError(f"{what} line longer than {MAX_LINE_BYTES} bytes")
            raise ProtocolError(f"the connection closed in the middle of the {what}s")
        head_size += len(line)
        if head_size > MAX_HEAD_BYTES:
            raise ProtocolError(f"{what}s longer than {MAX_HEAD_BYTES} bytes")
        if line[0] in b" \t":  # obs-fold: continues the previous field
            if not name:
                raise ProtocolError(f"{what} block starts with a continuation line")
            headers[name] += b" " + line.strip()
            continue
        name, colon, value = line.partition(b":")
        name = name.rstrip().lower()
        if not colon or not name:
            raise ProtocolError(f"{what} line without a name and colon: {line[:80]!r}")
        value = value.strip()
        previous = headers.get(name)
        headers[name] = value if previous is None else previous + b", " + value
    raise ProtocolError(f"more than {MAX_HEADERS} {what} lines")


def _content_length(value: bytes) -> int:
    """The Content-Length; a repeated field must repeat the same number."""
    if value.isdigit() and len(value) <= 18:
        return int(value)
    values = {v.strip() for v in value.split(b",")} if b"," in value else {value}
    if len(values) != 1:
        raise ProtocolError(f"conflicting Content-Length values {value[:80]!r}")
    text = values.pop()
    if not text.isdigit() or len(text) > 18:
        raise ProtocolError(f"bad Content-Length {value[:80]!r}")
    return int(text)
