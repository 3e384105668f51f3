"""A small HTTP/1.1 client: one request, one response, on a connection kept for reuse.

Only what ``_http.KeepAlivePool`` needs, and cheap where it is hot: the request goes out in
one ``sendall`` (head + body), the response is read from one buffered reader kept for the
connection's life, and only the status, the framing headers and the body are looked at.

Requests: the header names must be RFC 7230 tokens and the values bytes without CR, LF or
NUL, checked before anything is sent (``InvalidRequest``). ``Host`` (with the port when it
is not the scheme's default), ``Content-Length`` and ``Accept-Encoding: identity`` are
added; the caller's ``Host`` or ``Accept-Encoding`` replaces ours, and its
``Content-Length`` or ``Transfer-Encoding`` is dropped (the framing is ours). A sender
whose headers are mostly the same on every request builds its heads with a
``HeadTemplate``: the same bytes, with the constant part prepared once.

The response head is usually whole in the first read: it is then checked and its framing
fields found with a few searches over the head at once, and the other headers are parsed
only if asked for (``Response.headers``). A head that came in pieces, or that is anything
but plain, is read line by line instead, under the same rules and limits.

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
import io
import re
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # ssl is imported only when an https endpoint is configured
    import ssl

__all__ = [
    "MAX_BODY_BYTES",
    "Connection",
    "HeadTemplate",
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
_CONTROL = re.compile(rb"[\r\n\0]").search
# For the whole-head reader (``Connection._whole_head``):
_AFTER_CODE = (b"", b" ", b"\r")  # what may follow the status code
# A line it leaves to the line-by-line reader: a bare LF, or a header line that does not
# start with a token straight followed by a colon (a continuation, a name with spaces...).
_ODD_LINE = re.compile(rb"\n(?:(?<!\r\n)|(?![!#$%&'*+\-.^_`|~0-9A-Za-z]+:))").search
# A header line takes at least 4 bytes ("\r\n", a name, ":"): a shorter head has fewer
# than MAX_HEADERS lines, no need to count them.
_FEW_HEADERS_BYTES = 4 * MAX_HEADERS
# The framing fields, whatever the case of their names; a value keeps its line's CR.
_FRAMING_FIELDS = re.compile(
    rb"\n(connection|transfer-encoding|content-length):([^\n]*)", re.IGNORECASE
).findall


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client reads it."""


class InvalidRequest(ValueError):
    """The request cannot be sent: a header name or value, or the path, is not allowed."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection before sending a byte of its answer."""


class Response:
    __slots__ = ("_head", "_headers", "body", "reusable", "status")

    def __init__(
        self,
        status: int,
        headers: dict[bytes, bytes] | None,
        body: bytes,
        reusable: bool,
        head: bytes = b"",
    ) -> None:
        self.status = status
        self._headers = headers
        self._head = head  # when ``headers`` is None: the head they are parsed from on demand
        self.body = body  # at most MAX_BODY_BYTES
        self.reusable = reusable

    @property
    def headers(self) -> dict[bytes, bytes]:
        """Lower-case names; repeated fields joined with ``", "``."""
        if self._headers is None:
            head = self._head
            start = head.find(_CRLF)
            fields = head[start + 2 :] + b"\r\n\r\n" if start >= 0 else _CRLF
            self._headers = _headers(io.BytesIO(fields).readline, "header")
        return self._headers

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

    def start(self, path: str) -> bytes:
        """The request line and default headers of ``POST path``; raises ``InvalidRequest``."""
        line, defaults = self._heads.get(path) or self._request_line(path)
        return line + defaults


class _Plan:
    """How to build the head for one tuple of request header names."""

    __slots__ = ("form", "order")

    def __init__(self, form: bytes, order: tuple[int, ...] | None) -> None:
        self.form = form  # a bytes %-format: (start, Content-Length, *values in field order)
        self.order = order  # which request value fills each slot; None: all, in their order


_NO_PLAN = _Plan(b"", None)  # these names take the general route


class HeadTemplate:
    """Request heads for one origin whose text headers are mostly fixed, from bytes built once.

    The fields are ``fixed`` merged with each request's ``extra`` as
    ``model.headers.merge_headers`` merges them: names compare case-insensitively and the
    request's own header wins, in the fixed one's place and with the request's spelling;
    values go out UTF-8 encoded. For each tuple of ``extra`` names, a bytes format holding
    everything but the values and ``Content-Length`` is prepared once.

    ``head`` returns exactly the bytes ``Origin.head`` gives for the merged, encoded
    headers, or ``None`` when it cannot vouch for them: a name that is not a token or that
    is framing, ``Host`` or ``Accept-Encoding``, a value that is not text, cannot be
    encoded or holds CR, LF or NUL, a bad path, more distinct name tuples than it caches.
    Anything but a plain ``dict`` of ``extra`` headers takes that route too. ``head`` never
    raises: the caller then takes the general route, which sends or fails as it always did.
    """

    def __init__(self, origin: Origin, base_path: str, fixed: Mapping[str, str]) -> None:
        self._origin = origin
        self._base_path = base_path
        self._starts: dict[str, bytes] = {}
        self._plans: dict[tuple[object, ...], _Plan] = {}
        self._fixed = _fixed_fields(fixed)

    def head(self, path: str, content_length: int, extra: Mapping[str, str]) -> bytes | None:
        """The head for ``POST base_path + path`` with ``extra`` merged in, or ``None``."""
        if type(extra) is not dict:  # another mapping: the general route
            return None
        names = tuple(extra)
        plan = self._plans.get(names) or self._plan(names)
        start = self._starts.get(path) or self._start(path)
        if plan is _NO_PLAN or start is None:
            return None
        try:
            if plan.order is None:
                values = [value.encode() for value in extra.values()]
            else:
                given = list(extra.values())
                values = [given[index].encode() for index in plan.order]
            if _CONTROL(b"".join(values)) is not None:
                return None  # CR, LF or NUL in a value: the general route says which
            return plan.form % (start, content_length, *values)
        except (AttributeError, TypeError, UnicodeEncodeError):  # not text: the general route
            return None

    def _start(self, path: str) -> bytes | None:
        try:
            start = self._origin.start(self._base_path + path)
        except InvalidRequest:
            return None
        if len(self._starts) < _CACHE_MAX:
            self._starts[path] = start
        return start

    def _plan(self, names: tuple[object, ...]) -> _Plan:
        if self._fixed is None or len(self._plans) >= _CACHE_MAX:
            return _NO_PLAN
        merged: dict[str, tuple[str, bytes | int]] = dict(self._fixed)
        for index, name in enumerate(names):
            if not isinstance(name, str) or not _TOKEN(name):
                return self._keep(names, _NO_PLAN)
            lowered = name.lower()
            if lowered in _FRAMING or lowered in _OURS:
                return self._keep(names, _NO_PLAN)
            merged[lowered] = (name, index)
        parts = [b"%s", b"Content-Length: %d\r\n"]
        order: list[int] = []
        for name, value in merged.values():
            start = name.encode("ascii").replace(b"%", b"%%") + b": "
            if isinstance(value, int):
                parts.append(start + b"%s\r\n")
                order.append(value)
            else:
                parts.append(start + value.replace(b"%", b"%%") + _CRLF)
        parts.append(_CRLF)
        in_order = order == list(range(len(names)))
        return self._keep(names, _Plan(b"".join(parts), None if in_order else tuple(order)))

    def _keep(self, names: tuple[object, ...], plan: _Plan) -> _Plan:
        self._plans[names] = plan
        return plan


def _fixed_fields(fixed: Mapping[str, str]) -> dict[str, tuple[str, bytes]] | None:
    """The fixed headers merged and encoded, or ``None`` if any needs the general route."""
    merged: dict[str, tuple[str, bytes]] = {}
    for name, value in fixed.items():
        if not isinstance(name, str) or not _TOKEN(name) or not isinstance(value, str):
            return None
        lowered = name.lower()
        if lowered in _FRAMING or lowered in _OURS:
            return None
        try:
            encoded = value.encode()
        except UnicodeEncodeError:
            return None
        if b"\r" in encoded or b"\n" in encoded or b"\0" in encoded:
            return None
        merged[lowered] = (name, encoded)
    return merged


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
        data = self._reader.peek()  # what one read brought, nothing consumed yet
        if not data:
            raise RemoteDisconnected("the server closed the connection without answering")
        end = data.find(b"\r\n\r\n", 0, MAX_LINE_BYTES)
        if end > 0:
            try:
                response = self._whole_head(data[:end])
            except ConnectionResetError as exc:
                raise ProtocolError(
                    f"the connection was reset during the response ({exc})"
                ) from None
            if response is not None:
                return response
        return self._response()

    def _whole_head(self, head: bytes) -> Response | None:
        """The response, when its head (without the blank line) came whole and plain.

        Plain: a final status, every line ended by CRLF, every header line a token name
        straight followed by a colon, each framing field at most once, fewer lines than
        ``MAX_HEADERS``. ``None``, with nothing consumed, for anything else: the line by
        line reader then reads it from the start, checks and all.
        """
        if _ODD_LINE(head) is not None or (
            len(head) >= _FEW_HEADERS_BYTES and head.count(_CRLF) >= MAX_HEADERS
        ):
            return None
        version = head[:9]
        if version == b"HTTP/1.1 ":
            http10 = False
        elif version == b"HTTP/1.0 ":
            http10 = True
        else:
            return None
        code = head[9:12]
        if not code.isdigit() or head[12:13] not in _AFTER_CODE:
            return None
        status = int(code)
        if status < 200:
            return None
        connection = coding = length = None
        for name, value in _FRAMING_FIELDS(head):
            lowered = name.lower()
            if lowered == b"content-length":
                if length is not None:
                    return None
                length = value.strip()
            elif lowered == b"connection":
                if connection is not None:
                    return None
                connection = value.strip()
            else:
                if coding is not None:
                    return None
                coding = value.strip()
        self._reader.read(len(head) + 4)
        body, reusable = self._body(status, http10, connection, coding, length)
        return Response(status, None, body, reusable, head)

    def _response(self) -> Response:
        """The response read line by line."""
        readline = self._reader.readline
        line = readline(MAX_LINE_BYTES + 1)
        if not line:
            raise RemoteDisconnected("the server closed the connection without answering")
        try:
            for _ in range(MAX_INTERIM + 1):
                status, http10 = _status(line)
                headers = _headers(readline, "header")
                if status >= 200:
                    get = headers.get
                    body, reusable = self._body(
                        status,
                        http10,
                        get(b"connection"),
                        get(b"transfer-encoding"),
                        get(b"content-length"),
                    )
                    return Response(status, headers, body, reusable)
                if status == 101:
                    raise ProtocolError("unexpected 101 Switching Protocols")
                line = readline(MAX_LINE_BYTES + 1)
        except ConnectionResetError as exc:  # the server has begun answering: not stale
            raise ProtocolError(f"the connection was reset during the response ({exc})") from None
        raise ProtocolError(f"more than {MAX_INTERIM} interim (1xx) responses")

    def _body(
        self,
        status: int,
        http10: bool,
        connection: bytes | None,
        coding: bytes | None,
        length: bytes | None,
    ) -> tuple[bytes, bool]:
        """The body (its first ``MAX_BODY_BYTES``) and whether the connection can be reused."""
        if connection is None:
            reusable = not http10
        else:
            connection = connection.lower()
            reusable = b"close" not in connection and (not http10 or b"keep-alive" in connection)
        if status in _NO_BODY:
            return b"", reusable
        if coding is not None:
            if coding.lower().rsplit(b",", 1)[-1].strip() != b"chunked":
                return self._read(MAX_BODY_BYTES), False
            body, drained = self._chunked()
            # Both framings at once is a smuggling smell: read by chunks, then drop it.
            return body, reusable and drained and length is None
        if length is None:
            return self._read(MAX_BODY_BYTES), False
        size = _content_length(length)
        if size <= MAX_BODY_BYTES:
            return self._exact(size), reusable
        body = self._exact(MAX_BODY_BYTES)
        rest = size - MAX_BODY_BYTES
        if rest > MAX_DRAIN_BYTES:
            return body, False
        self._skip(rest)
        return body, reusable

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
