"""The JSON read API, shaped like Helicone's public REST API: ``{"data": …, "error": …}``.

Query bodies are checked before any SQL runs, and each check names the field at fault,
e.g. ``limit must be an integer from 1 to 1000, got 0``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

import orjson

from heliograph.model.record import normalise_provider
from heliograph.receiver._http import BodyTooLargeError, Request, Response, json_response
from heliograph.receiver.schema import FILTER_COLUMNS
from heliograph.receiver.store import Store
from heliograph.receiver.validate import js_type

__all__ = ["MAX_QUERY_BODY_BYTES", "MAX_QUERY_LIMIT", "ReadApi"]

MAX_QUERY_LIMIT = 1000
MAX_QUERY_BODY_BYTES = 1024 * 1024

_P = ParamSpec("_P")


class QueryError(ValueError):
    """A query body is malformed; the message names the field."""


def ok(data: object) -> Response:
    return json_response(200, {"data": data, "error": None})


def fail(status: int, message: str) -> Response:
    return json_response(status, {"data": None, "error": message})


def bad_query_is_400(
    handler: Callable[_P, Awaitable[Response]],
) -> Callable[_P, Awaitable[Response]]:
    """Answer 400 with the reason when the handler finds its query body malformed or too big."""

    @functools.wraps(handler)
    async def answer(*args: _P.args, **kwargs: _P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except (QueryError, BodyTooLargeError) as exc:
            return fail(400, str(exc))

    return answer


async def query_body(request: Request) -> dict[str, Any]:
    raw = await request.body(MAX_QUERY_BODY_BYTES)
    if not raw.strip():
        return {}
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise QueryError(f"Invalid JSON body: {exc}") from None
    if not isinstance(payload, dict):
        raise QueryError(f"body must be a JSON object, got {js_type(payload)}")
    return payload


def int_field(payload: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise QueryError(f"{key} must be an integer from {low} to {high}, got {value!r}")
    return value


def _page(payload: dict[str, Any]) -> tuple[int, int]:
    offset = int_field(payload, "offset", 0, 0, 2**62)
    return offset, int_field(payload, "limit", 100, 1, MAX_QUERY_LIMIT)


def _filters(payload: dict[str, Any]) -> dict[str, object]:
    raw = payload.get("filter")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise QueryError(f"filter must be an object, got {js_type(raw)}")
    filters: dict[str, object] = {}
    for key, value in raw.items():
        if key not in FILTER_COLUMNS:
            expected = ", ".join(FILTER_COLUMNS)
            raise QueryError(f"unknown filter field {key!r}; use one of {expected}")
        if key == "status":
            if isinstance(value, bool) or not isinstance(value, int):
                raise QueryError(f"filter.status must be an integer, got {js_type(value)}")
        elif not isinstance(value, str):
            raise QueryError(f"filter.{key} must be a string, got {js_type(value)}")
        filters[key] = normalise_provider(value) if key == "provider" else value
    return filters


def _descending(payload: dict[str, Any]) -> bool:
    sort = payload.get("sort")
    sort = {} if sort is None else sort
    if not isinstance(sort, dict) or set(sort) - {"created_at"}:
        raise QueryError('sort must be {"created_at": "asc"} or {"created_at": "desc"}')
    order = sort.get("created_at", "desc")
    if order not in ("asc", "desc"):
        raise QueryError(f'sort.created_at must be "asc" or "desc", got {order!r}')
    return bool(order == "desc")


class ReadApi:
    """Handlers for the read routes; every store call runs in a worker thread."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @bad_query_is_400
    async def query_requests(self, request: Request) -> Response:
        payload = await query_body(request)
        filters = _filters(payload)
        offset, limit = _page(payload)
        descending = _descending(payload)
        items = await asyncio.to_thread(
            self._store.query_requests,
            filters,
            offset=offset,
            limit=limit,
            descending=descending,
        )
        return ok(items)

    async def get_request(self, request: Request, request_id: str) -> Response:
        item = await asyncio.to_thread(self._store.get_request, request_id)
        if item is None:
            return fail(404, f"request {request_id} not found")
        return ok(item)

    @bad_query_is_400
    async def query_sessions(self, request: Request) -> Response:
        payload = await query_body(request)
        search = payload.get("search")
        if search is not None and not isinstance(search, str):
            raise QueryError(f"search must be a string, got {js_type(search)}")
        offset, limit = _page(payload)
        sessions = await asyncio.to_thread(
            self._store.query_sessions, search, offset=offset, limit=limit
        )
        return ok(sessions)

    async def get_session(self, request: Request, session_id: str) -> Response:
        session = await asyncio.to_thread(self._store.get_session, session_id)
        if session is None:
            return fail(404, f"session {session_id} not found")
        return ok(session)

    async def stats(self, request: Request) -> Response:
        return json_response(200, await asyncio.to_thread(self._store.stats))

    async def healthz(self, request: Request) -> Response:
        return json_response(200, {"status": "ok"})
