"""Helicone's HTTP logging API: ``POST {base}/{route}/v1/log``, one record per request.

Connections and status handling live in ``_http.KeepAlivePool`` (shared with the
``/v1/log/request`` producer). Helicone's own clients ignore the response entirely; this
transport maps it to an ``Outcome``, so a 5xx or 429 is retried and a 4xx dead-lettered.
"""

from __future__ import annotations

import orjson

from heliograph.config import Config
from heliograph.delivery.outcome import Outcome
from heliograph.model.headers import merge_headers
from heliograph.model.helicone import async_log_body, log_path, split_logging_endpoint
from heliograph.model.record import Record
from heliograph.transports._http import KeepAlivePool, encode_headers

__all__ = ["HeliconeHttpTransport"]


class HeliconeHttpTransport:
    """Thread-safe: each calling thread gets its own persistent connection.

    A record's own headers win over the configured ones, ``Authorization`` included: the
    relay forwards each queued message under the key it was logged with.

    The request head comes from a ``HeadTemplate`` holding the configured headers as
    bytes, which merges in the record's headers by ``merge_headers``'s rule; for what the
    template leaves (an unusual header name or value), ``merge_headers`` and
    ``encode_headers`` build it as they always did.
    """

    def __init__(self, config: Config) -> None:
        self._pool = KeepAlivePool(
            split_logging_endpoint(config.endpoint),
            config.connect_timeout_s,
            config.attempt_timeout_s,
        )
        self._headers = {
            "Authorization": config.authorization,
            "Content-Type": "application/json",
            "User-Agent": "heliograph",
            **config.headers,
        }
        self._template = self._pool.template(self._headers)

    def send(self, record: Record) -> Outcome:
        try:
            body = orjson.dumps(async_log_body(record), option=orjson.OPT_NON_STR_KEYS)
            path = log_path(record.provider)
            head = self._template.head(path, len(body), record.headers)
            if head is None:
                headers = encode_headers(merge_headers(self._headers, record.headers))
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            return Outcome.rejected(f"record cannot be encoded as a request: {exc}")
        if head is None:
            return self._pool.post(path, body, headers)
        return self._pool.post_head(path, head, body)

    def close(self) -> None:
        self._pool.close()
