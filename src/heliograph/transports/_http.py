"""One keep-alive HTTP connection per sender thread, and the status → ``Outcome`` rule.

Shared by the transports and producers that POST JSON: Helicone's async-log routes and
Jawn's ``/v1/log/request``. The wire is ``_wire.py``, a small HTTP/1.1 client of our own,
because sender threads share the GIL with the program being observed: ``http.client``,
whose response parsing (``email.feedparser``) dominated, cost several times its CPU per
POST, and httpx more still. ``ssl`` is imported only for an https endpoint. A transport
whose headers are mostly fixed builds its heads with ``template`` and posts them with
``post_head``; a success answer maps to one shared ``Outcome`` per status.

Status handling:
- 2xx → delivered;
- 408, 425, 429, 5xx, timeouts, connection errors and malformed responses → retry
  (``Retry-After`` honoured);
- any other 4xx → rejected for good, with the response text kept for the dead letter;
- a header that cannot be sent (a name that is not a token, a CR, LF or NUL in a value)
  → rejected before anything is sent.

A reused connection that the server closed while it was idle is retried once on a new one.
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from heliograph.delivery.outcome import Outcome
from heliograph.delivery.retry import parse_retry_after
from heliograph.transports._wire import (
    Connection,
    HeadTemplate,
    InvalidRequest,
    Origin,
    ProtocolError,
    Response,
    connect,
)

if TYPE_CHECKING:
    import ssl

__all__ = ["KeepAlivePool", "encode_headers"]

_RETRYABLE_4XX = frozenset({408, 425, 429})
# Outcomes are immutable: one per success status, shared by every delivery.
_DELIVERED = {status: Outcome.delivered(status) for status in range(200, 300)}
_STALE = (ConnectionResetError, BrokenPipeError)  # _wire.RemoteDisconnected included


class KeepAlivePool:
    """POSTs to one origin; thread-safe, each calling thread keeps its own connection."""

    def __init__(self, base_url: str, connect_timeout_s: float, timeout_s: float) -> None:
        base = urllib.parse.urlsplit(base_url)
        https = base.scheme == "https"
        self._host = base.hostname or "localhost"
        self._port = base.port or (443 if https else 80)
        self.base_path = base.path.rstrip("/")
        self._origin = f"{base.scheme}://{base.netloc}"
        self._wire = Origin(self._host, self._port, 443 if https else 80)
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._tls: ssl.SSLContext | None = None
        if https:
            import ssl

            self._tls = ssl.create_default_context()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[Connection] = set()

    def template(self, fixed: Mapping[str, str]) -> HeadTemplate:
        """Heads for ``post_head``: ``fixed`` text headers, each request's own merged in."""
        return HeadTemplate(self._wire, self.base_path, fixed)

    def post(self, path: str, body: bytes, headers: Mapping[str, bytes]) -> Outcome:
        """POST ``body`` to ``path`` (under the base path) and classify the answer."""
        try:
            head = self._wire.head(self.base_path + path, len(body), headers)
        except InvalidRequest as exc:
            return Outcome.rejected(f"record cannot be sent as an HTTP request: {exc}")
        return self.post_head(path, head, body)

    def post_head(self, path: str, head: bytes, body: bytes) -> Outcome:
        """POST with a head already built for ``path`` (under the base path), as ``post``."""
        for attempt in (1, 2):
            try:
                connection, reused = self._connection()
            except OSError as exc:
                return Outcome.retry(f"cannot connect to {self._url(path)}: {exc}")
            try:
                response = connection.exchange(head, body)
            except TimeoutError:
                self._discard(connection)
                return Outcome.retry(
                    f"timed out after {self._timeout_s:g} s posting to {self._url(path)}"
                )
            except _STALE as exc:
                self._discard(connection)
                if reused and attempt == 1:
                    continue  # the server closed an idle keep-alive connection: reconnect
                return Outcome.retry(f"connection to {self._url(path)} lost: {exc!r}")
            except ProtocolError as exc:
                self._discard(connection)
                return Outcome.retry(f"malformed response from {self._url(path)}: {exc}")
            except (OSError, ValueError) as exc:  # ValueError: closed by close() meanwhile
                self._discard(connection)
                return Outcome.retry(f"cannot reach {self._url(path)}: {exc}")
            if not response.reusable:
                self._discard(connection)
            delivered = _DELIVERED.get(response.status)
            if delivered is not None:
                return delivered
            return _outcome(response, self._url(path))
        raise AssertionError("unreachable")  # pragma: no cover

    def _url(self, path: str) -> str:
        """The full URL of ``path``, for messages only."""
        return self._origin + self.base_path + path

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()

    def _connection(self) -> tuple[Connection, bool]:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is not None and not connection.closed:
            return connection, True
        connection = connect(
            self._host, self._port, self._connect_timeout_s, self._timeout_s, self._tls
        )
        self._local.connection = connection
        with self._lock:
            self._open.add(connection)
        return connection, False

    def _discard(self, connection: Connection) -> None:
        connection.close()
        self._local.connection = None
        with self._lock:
            self._open.discard(connection)


def _outcome(response: Response, url: str) -> Outcome:
    status = response.status
    if 200 <= status < 300:
        return Outcome.delivered(status)
    if status in _RETRYABLE_4XX or status >= 500:
        retry_after = parse_retry_after(response.header(b"retry-after"))
        return Outcome.retry(f"HTTP {status} from {url}", status, retry_after)
    text = response.body.decode("utf-8", "replace")
    return Outcome.rejected(f"HTTP {status} from {url}: {text[:200]}", status, text)


def encode_headers(headers: Mapping[str, str]) -> dict[str, bytes]:
    """Session names and properties may hold any text: send UTF-8 bytes, never fail on them."""
    return {name: value.encode("utf-8") for name, value in headers.items()}
