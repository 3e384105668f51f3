"""The dashboard: its static files at ``/`` and ``/ui/…``, and the JSON it reads.

The page is plain HTML, one CSS file and a few JavaScript modules in ``static/``, read
once when the app is built and served from memory: no build step, no CDN, nothing
fetched from the network. Every response carries a Content-Security-Policy that allows
only this origin's scripts and styles, a second wall behind the scripts' rule of putting
log content into the page as text, never as markup.

Routes (reads follow the read API's key rule; the static files hold no data):

- ``GET /v1/dashboard/version``: ``{"version": n}``, a number that grows with every
  stored request. The page polls it every two seconds and re-reads its view when it
  changes. Polling was chosen over server-sent events: the answer is one b-tree lookup,
  and an open event stream per tab would hold uvicorn's graceful shutdown for its whole
  timeout and need a streaming response the app does not otherwise have.
- ``POST /v1/dashboard/sessions``: ``{"search", "offset", "limit"}`` → a page and a total.
- ``POST /v1/dashboard/session``: ``{"session_id", "cursor", "limit"}`` → the summary and
  path tree of the whole session, and a page of its requests, oldest first: at most
  ``SESSION_PAGE`` (500), with a ``next_cursor`` for the rest (see ``views``). A body
  rather than a path segment, because session ids may contain ``/``.
- ``POST /v1/dashboard/requests``: ``{"filter", "cursor", "limit"}`` → a keyset page.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
from typing import Any

from heliograph.receiver._http import Request, Response
from heliograph.receiver.api import (
    QueryError,
    bad_query_is_400,
    fail,
    int_field,
    ok,
    query_body,
)
from heliograph.receiver.store import Store
from heliograph.receiver.validate import js_type
from heliograph.receiver.views import (
    SESSION_PAGE,
    RequestFilter,
    decode_cursor,
    latest_change,
    request_page,
    session_detail,
    sessions_page,
)

__all__ = ["DashboardApi", "StaticFiles"]

MAX_PAGE = 200

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
SECURITY_HEADERS = (
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-cache"),
)


class StaticFiles:
    """The files in ``static/``, loaded once; anything else under ``/ui/`` is a 404."""

    def __init__(self) -> None:
        folder = importlib.resources.files("heliograph.receiver").joinpath("static")
        self._files: dict[str, Response] = {}
        for entry in folder.iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if entry.is_file() and suffix in _TYPES:
                self._files[entry.name] = Response(
                    200, entry.read_bytes(), _TYPES[suffix], SECURITY_HEADERS
                )

    async def index(self, request: Request) -> Response:
        return self._files["index.html"]

    def asset(self, name: str) -> Response:
        return self._files.get(name) or fail(404, f"Not found: GET /ui/{name}")


def _optional_str(payload: dict[str, Any], key: str, prefix: str = "") -> str | None:
    value = payload.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise QueryError(f"{prefix}{key} must be a string, got {js_type(value)}")
    return value


def _optional_int(payload: dict[str, Any], key: str, prefix: str = "") -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"{prefix}{key} must be an integer, got {js_type(value)}")
    return value


_FILTER_KEYS = (
    "session_id",
    "user_id",
    "model",
    "provider",
    "status",
    "properties",
    "created_after_ms",
    "created_before_ms",
    "search",
)


def request_filter(raw: object) -> RequestFilter:
    """A ``filter`` object checked field by field; each error names the field."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise QueryError(f"filter must be an object, got {js_type(raw)}")
    unknown = sorted(set(raw) - set(_FILTER_KEYS))
    if unknown:
        raise QueryError(
            f"unknown filter field {unknown[0]!r}; use one of {', '.join(_FILTER_KEYS)}"
        )
    properties = raw.get("properties") or {}
    if not isinstance(properties, dict) or not all(isinstance(v, str) for v in properties.values()):
        raise QueryError("filter.properties must be an object of strings")
    p = "filter."
    return RequestFilter(
        session_id=_optional_str(raw, "session_id", p),
        user_id=_optional_str(raw, "user_id", p),
        model=_optional_str(raw, "model", p),
        provider=_optional_str(raw, "provider", p),
        status=_optional_int(raw, "status", p),
        properties=tuple(sorted(properties.items())),
        created_after_ms=_optional_int(raw, "created_after_ms", p),
        created_before_ms=_optional_int(raw, "created_before_ms", p),
        search=_optional_str(raw, "search", p),
    )


def _cursor(payload: dict[str, Any]) -> tuple[int, int] | None:
    text = _optional_str(payload, "cursor")
    try:
        return None if text is None else decode_cursor(text)
    except ValueError:
        raise QueryError(f"cursor must be a next_cursor from a page, got {text!r}") from None


class DashboardApi:
    """Handlers for ``/v1/dashboard/…``; every query runs in a worker thread."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def version(self, request: Request) -> Response:
        return ok({"version": await asyncio.to_thread(self._store.read, latest_change)})

    @bad_query_is_400
    async def sessions(self, request: Request) -> Response:
        payload = await query_body(request)
        search = _optional_str(payload, "search")
        offset = int_field(payload, "offset", 0, 0, 2**62)
        limit = int_field(payload, "limit", 50, 1, MAX_PAGE)
        query = functools.partial(sessions_page, search=search, offset=offset, limit=limit)
        return ok(await asyncio.to_thread(self._store.read, query))

    @bad_query_is_400
    async def session(self, request: Request) -> Response:
        payload = await query_body(request)
        session_id = payload.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            raise QueryError(f"session_id must be a non-empty string, got {js_type(session_id)}")
        cursor = _cursor(payload)
        limit = int_field(payload, "limit", SESSION_PAGE, 1, SESSION_PAGE)
        query = functools.partial(session_detail, session_id=session_id, cursor=cursor, limit=limit)
        found = await asyncio.to_thread(self._store.read, query)
        if found is None:
            return fail(404, f"session {session_id} not found")
        return ok(found)

    @bad_query_is_400
    async def requests(self, request: Request) -> Response:
        payload = await query_body(request)
        where = request_filter(payload.get("filter"))
        limit = int_field(payload, "limit", 50, 1, MAX_PAGE)
        cursor = _cursor(payload)
        query = functools.partial(request_page, where=where, cursor=cursor, limit=limit)
        return ok(await asyncio.to_thread(self._store.read, query))
