"""``POST /v1/log/request``: Jawn's route for one queue message (helicone.md §2.5).

Helicone's worker posts ``{log, authorization, heliconeMeta}`` here when it has no queue
or the message carries the manual access key; Heliograph's HTTP fallback producer and its
relay post here too. Jawn's contract is kept: the ``Authorization`` header must be a key
the receiver accepts (401), a ``heliconeManualAccessKey`` in the message must equal the
receiver's ``HELICONE_MANUAL_ACCESS_KEY`` (401, empty body), processing failures are 500,
success is 200. The message is mapped to the stored row by turning it back into the
async log it describes and taking the same path as the ``/…/v1/log`` routes, so a
request id logged both ways is stored once.

Bodies come from the message's ``heliographBody``. A ``heliographBodyRef`` is not read
here (the relay resolves references before it forwards); a message that has only a
reference is stored without bodies, as Jawn proceeds when the S3 object is missing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence

import orjson

from heliograph.model.helicone import async_log_body
from heliograph.model.message_data import to_record, validate_message
from heliograph.receiver._http import BodyTooLargeError, Request, Response, json_response
from heliograph.receiver.ingest import bearer_key, to_stored_request
from heliograph.receiver.store import Store
from heliograph.receiver.validate import InvalidLogError, validate_async_log

__all__ = ["LOG_REQUEST_PATH", "LogRequestRoute"]

logger = logging.getLogger("heliograph.receiver")

LOG_REQUEST_PATH = "/v1/log/request"


class LogRequestRoute:
    """The route's handler; ``manual_access_key`` defaults to the environment's."""

    def __init__(
        self,
        store: Store,
        require_keys: frozenset[str] | None,
        max_body_bytes: int,
        manual_access_key: str | None = None,
    ) -> None:
        self._store = store
        self._keys = require_keys
        self._max_body_bytes = max_body_bytes
        self._manual_access_key = manual_access_key or os.environ.get("HELICONE_MANUAL_ACCESS_KEY")

    async def __call__(self, request: Request) -> Response:
        key = bearer_key(request.header_map())
        if key is None or (self._keys is not None and key not in self._keys):
            return await asyncio.to_thread(self._rejected, "unauthorized", 401, "Unauthorized")
        try:
            raw = await request.body(self._max_body_bytes)
        except BodyTooLargeError as exc:
            return await asyncio.to_thread(self._rejected, "payload_too_large", 400, str(exc))
        return await asyncio.to_thread(self._store_message, raw, key)

    def _store_message(self, raw: bytes, header_key: str) -> Response:
        try:
            message = validate_message(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError) as exc:
            return self._rejected("invalid_message", 400, f"Invalid log message: {exc}")
        given = message["heliconeMeta"].get("heliconeManualAccessKey")
        if given and given != self._manual_access_key:
            self._store.count_rejection("unauthorized")
            return Response(401, b"", "text/plain; charset=utf-8")
        record = to_record(message, message.get("heliographBody"))
        try:
            log = validate_async_log(async_log_body(record))
        except InvalidLogError as exc:
            return self._rejected("invalid_message", 400, f"Invalid log message: {exc}")
        headers: Sequence[tuple[str, str]] = [(k.lower(), v) for k, v in record.headers.items()]
        # Jawn authenticates the message's own authorization; the header only gets it in.
        auth_key = bearer_key({"authorization": message["authorization"]}) or header_key
        row = to_stored_request(
            log,
            headers,
            provider=record.provider,
            auth_key=auth_key,
            received_at_ms=int(time.time() * 1000),
        )
        if not self._store.insert(row):
            logger.debug("request %s was already stored; counted as a duplicate", row.request_id)
        return Response(200, b"ok", "text/plain; charset=utf-8", (("helicone-id", row.request_id),))

    def _rejected(self, reason: str, status: int, message: str) -> Response:
        self._store.count_rejection(reason)
        logger.debug("log message rejected (%s): %s", reason, message)
        return json_response(status, {"error": message})
