"""Follow a running OpenCode server: its ``/event`` SSE stream and its session API.

``follow_events`` reads ``GET {url}/event`` (``data: <json>`` frames, ``event:`` lines
ignored, so both the older and the newer server framing work) and hands each event to a
callback. A dropped or refused connection is retried with exponential backoff and jitter
(0.5 s doubling to 30 s, reset once a stream delivered an event); a silent stream is
dropped after ``read_timeout_s`` (the server sends a heartbeat every 10 s). ``http_history``
reads a session and its messages back (``GET /session/{id}``, ``/session/{id}/message``),
so a watcher started or restarted mid-session still knows the conversation so far. Both
use HTTP basic auth when a password is given (``OPENCODE_SERVER_PASSWORD`` on the server).
Only the standard library is used.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson

from heliograph.capture.agents.opencode import SessionHistory

__all__ = ["OpenCodeServer"]

log = logging.getLogger("heliograph.opencode")


class OpenCodeServer:
    """One OpenCode server (``opencode serve``) at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        username: str = "opencode",
        password: str | None = None,
        read_timeout_s: float = 35.0,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Accept": "text/event-stream", "User-Agent": "heliograph-opencode"}
        if password is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self.read_timeout_s = read_timeout_s
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.connections = 0

    def _open(self, path: str, timeout: float) -> Any:
        request = urllib.request.Request(self.url + path, headers=self._headers)
        return urllib.request.urlopen(request, timeout=timeout)

    def _get_json(self, path: str) -> Any:
        with self._open(path, 10.0) as response:
            return orjson.loads(response.read())

    def http_history(self, session_id: str) -> SessionHistory | None:
        """The session and its messages from the server, or None if it does not know it."""
        quoted = urllib.parse.quote(session_id, safe="")
        try:
            info = self._get_json(f"/session/{quoted}")
            messages = self._get_json(f"/session/{quoted}/message")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
        pairs = [
            (m["info"], list(m.get("parts") or []))
            for m in messages
            if isinstance(m, dict) and isinstance(m.get("info"), dict)
        ]
        return SessionHistory(info if isinstance(info, dict) else None, pairs)

    def follow_events(self, on_event: Callable[[object], None], stop: threading.Event) -> None:
        """Call ``on_event`` for each event until ``stop`` is set; reconnects on failure."""
        backoff = self.initial_backoff_s
        while not stop.is_set():
            delivered = False
            try:
                with self._open("/event", self.read_timeout_s) as response:
                    self.connections += 1
                    log.info("following OpenCode events at %s/event", self.url)
                    for data in _sse_data(response, stop):
                        try:
                            event = orjson.loads(data)
                        except orjson.JSONDecodeError:
                            log.debug("skipped a non-JSON SSE frame: %.80r", data)
                            continue
                        delivered = True
                        on_event(event)
            except urllib.error.HTTPError as exc:
                level = logging.ERROR if exc.code in (401, 403) else logging.WARNING
                log.log(level, "OpenCode event stream refused: HTTP %s", exc.code)
            except (OSError, ValueError) as exc:
                log.warning("OpenCode event stream at %s lost: %s", self.url, exc)
            if stop.is_set():
                return
            if delivered:
                backoff = self.initial_backoff_s
            delay = backoff * (0.5 + random.random() / 2)
            log.info("reconnecting to %s in %.1f s", self.url, delay)
            stop.wait(delay)
            backoff = min(self.max_backoff_s, backoff * 2)


def _sse_data(response: Any, stop: threading.Event) -> Any:
    """The ``data`` of each SSE frame (multi-line data joined with newlines)."""
    data: list[bytes] = []
    for raw in response:
        if stop.is_set():
            return
        line = raw.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
        elif line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        yield b"\n".join(data)
