"""Helicone's HTTP logging API: ``POST {base}/{route}/v1/log``, one record per request.

Status handling (Helicone's own clients ignore the response entirely):
- 2xx → delivered;
- 408, 425, 429, 5xx, timeouts and connection errors → retry (``Retry-After`` honoured);
- any other 4xx → rejected for good, with the response text kept for the dead letter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx
import orjson

from heliograph.config import Config
from heliograph.delivery.outcome import Outcome
from heliograph.delivery.retry import parse_retry_after
from heliograph.model.headers import merge_headers
from heliograph.model.helicone import async_log_body, log_url
from heliograph.model.record import Record

__all__ = ["HeliconeHttpTransport"]

log = logging.getLogger("heliograph.delivery")

_RETRYABLE_4XX = frozenset({408, 425, 429})
_USER_AGENT = "heliograph"


class HeliconeHttpTransport:
    """One keep-alive connection pool shared by the delivery worker's sender threads."""

    def __init__(self, config: Config, client: httpx.Client | None = None) -> None:
        self._base_url = config.endpoint
        self._headers = {
            "Authorization": config.authorization,
            "Content-Type": "application/json",
            "User-Agent": _USER_AGENT,
            **config.headers,
        }
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(config.attempt_timeout_s, connect=config.connect_timeout_s),
            limits=httpx.Limits(
                max_connections=config.concurrency, max_keepalive_connections=config.concurrency
            ),
            follow_redirects=False,
            trust_env=False,
        )

    def send(self, record: Record) -> Outcome:
        url = log_url(self._base_url, record.provider)
        headers = _encode_headers(merge_headers(self._headers, record.headers))
        try:
            body = orjson.dumps(async_log_body(record), option=orjson.OPT_NON_STR_KEYS)
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return Outcome.retry(f"timed out ({type(exc).__name__}) posting to {url}")
        except httpx.TransportError as exc:
            return Outcome.retry(f"cannot reach {url}: {exc}")
        except (TypeError, ValueError) as exc:  # a header or body httpx cannot encode
            return Outcome.rejected(f"record cannot be encoded as a request: {exc}")
        status = response.status_code
        if 200 <= status < 300:
            return Outcome.delivered(status)
        text = response.text[:4096]
        if status in _RETRYABLE_4XX or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return Outcome.retry(f"HTTP {status} from {url}", status, retry_after)
        return Outcome.rejected(f"HTTP {status} from {url}: {text[:200]}", status, text)

    def close(self) -> None:
        self._client.close()


def _encode_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    # httpx encodes str header values as ASCII; session names and properties may not be.
    return [(name.encode("ascii"), value.encode("utf-8")) for name, value in headers.items()]
