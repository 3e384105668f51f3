"""The HTTP fallback: ``POST {VALHALLA_URL}/v1/log/request``, Jawn's log route.

Helicone's worker sends ``{log, authorization, heliconeMeta}`` (not the top-level ``id``)
with ``Authorization`` set to the message's own authorization (helicone.md §1.3, §2.5);
so does this producer, plus Heliograph's inline bodies or their reference when the
message has them. Jawn answers 200, 401 (bad key) or 500; the outcome follows the usual
status rule, so a 500 or an unreachable server is retried, a 401 dead-lettered.
"""

from __future__ import annotations

from typing import Any

import orjson

from heliograph.delivery.outcome import Outcome
from heliograph.model.message_data import MessageData
from heliograph.transports._http import KeepAlivePool, encode_headers

__all__ = ["LOG_REQUEST_PATH", "ValhallaHttpProducer", "log_request_body"]

LOG_REQUEST_PATH = "/v1/log/request"


def log_request_body(msg: MessageData) -> dict[str, Any]:
    """The body Helicone's worker posts for ``msg``: everything but the top-level id."""
    body: dict[str, Any] = {
        "log": msg["log"],
        "authorization": msg["authorization"],
        "heliconeMeta": msg["heliconeMeta"],
    }
    if "heliographBody" in msg:
        body["heliographBody"] = msg["heliographBody"]
    if "heliographBodyRef" in msg:
        body["heliographBodyRef"] = msg["heliographBodyRef"]
    return body


class ValhallaHttpProducer:
    """Thread-safe: one keep-alive connection per sender thread."""

    name = "http"

    def __init__(self, base_url: str, connect_timeout_s: float = 5.0, timeout_s: float = 10.0):
        self._pool = KeepAlivePool(base_url, connect_timeout_s, timeout_s)

    def send_message(self, msg: MessageData) -> Outcome:
        try:
            body = orjson.dumps(log_request_body(msg))
            headers = encode_headers(
                {
                    "Authorization": msg["authorization"],
                    "Content-Type": "application/json",
                    "User-Agent": "heliograph",
                }
            )
        except (TypeError, KeyError, UnicodeEncodeError) as exc:
            return Outcome.rejected(f"message cannot be encoded: {exc!r}")
        return self._pool.post(LOG_REQUEST_PATH, body, headers)

    def set_lower_priority(self) -> None:
        """HTTP has no priority queue."""

    def close(self) -> None:
        self._pool.close()
