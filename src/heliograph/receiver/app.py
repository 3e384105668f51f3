"""The receiver's ASGI app: Helicone's four log routes, a small JSON read API, a dashboard.

Ingest checks run cheapest first, so a bad request costs little: the key (401), the
size (400, decided from ``Content-Length`` before any body is read), JSON, then the
async-log fields (400). Parsing, mapping and the SQLite write run in a worker thread,
so a 10 MB log never stalls the event loop that serves other clients.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import orjson

from heliograph.model.record import Provider
from heliograph.receiver._http import (
    BodyTooLargeError,
    ClientDisconnectedError,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    json_response,
)
from heliograph.receiver.api import ReadApi, fail
from heliograph.receiver.dashboard import DashboardApi, StaticFiles
from heliograph.receiver.ingest import bearer_key, to_stored_request
from heliograph.receiver.store import Store
from heliograph.receiver.valhalla import LOG_REQUEST_PATH, LogRequestRoute
from heliograph.receiver.validate import InvalidLogError, validate_async_log

__all__ = ["DEFAULT_MAX_BODY_BYTES", "INGEST_ROUTES", "ReceiverApp", "build_app"]

logger = logging.getLogger("heliograph.receiver")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024  # Helicone's own limit (helicone.md §4.2)

# The route decides the provider, as in Helicone's worker; a body's "provider" is ignored.
INGEST_ROUTES = {
    "/custom/v1/log": Provider.CUSTOM,
    "/oai/v1/log": Provider.OPENAI,
    "/anthropic/v1/log": Provider.ANTHROPIC,
    "/googleapis/v1/log": Provider.GOOGLE,
}

Handler = Callable[[Request], Awaitable[Response]]


class ReceiverApp:
    """A plain ASGI callable; build it with ``build_app``."""

    def __init__(
        self, store: Store, require_keys: frozenset[str] | None, max_body_bytes: int
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
        self.store = store
        self._keys = require_keys
        self._max_body_bytes = max_body_bytes
        api = ReadApi(store)
        dashboard = DashboardApi(store)
        self._static = StaticFiles()
        self._routes: dict[str, dict[str, Handler]] = {
            path: {"POST": functools.partial(self._ingest, provider=provider)}
            for path, provider in INGEST_ROUTES.items()
        }
        self._routes.update(
            {
                "/healthz": {"GET": api.healthz},
                "/v1/receiver/stats": {"GET": self._guarded(api.stats)},
                "/v1/request/query": {"POST": self._guarded(api.query_requests)},
                "/v1/session/query": {"POST": self._guarded(api.query_sessions)},
                LOG_REQUEST_PATH: {
                    "POST": LogRequestRoute(store, require_keys, max_body_bytes),
                },
                "/": {"GET": self._static.index},
                "/v1/dashboard/version": {"GET": self._guarded(dashboard.version)},
                "/v1/dashboard/sessions": {"POST": self._guarded(dashboard.sessions)},
                "/v1/dashboard/session": {"POST": self._guarded(dashboard.session)},
                "/v1/dashboard/requests": {"POST": self._guarded(dashboard.requests)},
            }
        )
        # Routes ending in one path segment, the id: /v1/request/{id}, /v1/session/{id}.
        self._id_routes: dict[str, dict[str, Callable[[Request, str], Awaitable[Response]]]] = {
            "/v1/request/": {"GET": api.get_request},
            "/v1/session/": {"GET": api.get_session},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off and websockets are not served
        request = Request.from_scope(scope, receive)
        try:
            response = await self._dispatch(request)
        except ClientDisconnectedError:
            return
        except Exception:
            logger.exception("receiver failed on %s %s", request.method, request.path)
            response = fail(500, "Internal error in the heliograph receiver; see its log")
        await response.send(send)

    async def _dispatch(self, request: Request) -> Response:
        methods = self._routes.get(request.path)
        if methods is not None:
            handler = methods.get(request.method)
            if handler is None:
                return _not_allowed(request, methods)
            return await handler(request)
        if request.path.startswith("/ui/") and request.method == "GET":
            return self._static.asset(request.path.removeprefix("/ui/"))
        for prefix, id_methods in self._id_routes.items():
            ident = request.path.removeprefix(prefix)
            if ident != request.path and ident and "/" not in ident:
                id_handler = id_methods.get(request.method)
                if id_handler is None:
                    return _not_allowed(request, id_methods)
                if not self._authorized(request):
                    return fail(401, "Unauthorized")
                return await id_handler(request, ident)
        return fail(404, f"Not found: {request.method} {request.path}")

    def _authorized(self, request: Request) -> bool:
        """Reads need a listed key only when the receiver was started with keys."""
        if self._keys is None:
            return True
        return bearer_key(request.header_map()) in self._keys

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            if not self._authorized(request):
                return fail(401, "Unauthorized")
            return await handler(request)

        return guarded

    async def _ingest(self, request: Request, *, provider: str) -> Response:
        key = bearer_key(request.header_map())
        if key is None or (self._keys is not None and key not in self._keys):
            return await self._reject("unauthorized", 401, "Unauthorized")
        try:
            raw = await request.body(self._max_body_bytes)
        except BodyTooLargeError as exc:
            return await self._reject("payload_too_large", 400, str(exc))
        return await asyncio.to_thread(self._store_log, raw, request.headers, provider, key)

    def _store_log(
        self, raw: bytes, headers: Sequence[tuple[str, str]], provider: str, key: str
    ) -> Response:
        """Parse, check, map and store one log (runs in a worker thread)."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return self._rejected("invalid_json", 400, f"Invalid JSON body: {exc}")
        try:
            log = validate_async_log(body)
        except InvalidLogError as exc:
            return self._rejected("invalid_log", 400, str(exc))
        row = to_stored_request(
            log, headers, provider=provider, auth_key=key, received_at_ms=int(time.time() * 1000)
        )
        if not self.store.insert(row):
            logger.debug("request %s was already stored; counted as a duplicate", row.request_id)
        return Response(200, b"ok", "text/plain; charset=utf-8", (("helicone-id", row.request_id),))

    def _rejected(self, reason: str, status: int, message: str) -> Response:
        self.store.count_rejection(reason)
        logger.debug("log rejected (%s): %s", reason, message)
        return json_response(status, {"error": message})

    async def _reject(self, reason: str, status: int, message: str) -> Response:
        return await asyncio.to_thread(self._rejected, reason, status, message)


def _not_allowed(request: Request, methods: Mapping[str, object]) -> Response:
    allowed = ", ".join(sorted(methods))
    return json_response(
        405,
        {
            "data": None,
            "error": f"Method {request.method} not allowed on {request.path}; use {allowed}",
        },
        (("allow", allowed),),
    )


def build_app(
    store: Store,
    require_keys: frozenset[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> ReceiverApp:
    """The receiver as an ASGI app that writes to ``store``.

    ``require_keys``: if given, only these bearer keys may log or read; otherwise any
    non-empty key may log (as Helicone requires one) and reads are open, which suits
    the default loopback-only bind. ``store`` stays the caller's to close.

    ::

        app = build_app(Store("receiver.sqlite3"))
        uvicorn.run(app, host="127.0.0.1", port=8585, lifespan="off")
    """
    return ReceiverApp(store, require_keys, max_body_bytes)
