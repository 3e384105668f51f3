"""The queue message of Helicone's producer layer (``MessageData``), built from a record.

Helicone's worker publishes one ``MessageData`` per request to Kafka or SQS, or POSTs
``{log, authorization, heliconeMeta}`` to ``/v1/log/request``. Dates travel as ISO strings.
Bodies never travel in the message (Helicone stores them in S3); ``bodySize`` counts them.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, NotRequired, TypedDict

import orjson

from heliograph.model.record import Record

__all__ = ["HeliconeMeta", "Log", "MessageData", "to_message_data"]


class HeliconeMeta(TypedDict):
    omitRequestLog: bool
    omitResponseLog: bool
    webhookEnabled: bool
    modelOverride: NotRequired[str]
    heliconeManualAccessKey: NotRequired[str]
    promptId: NotRequired[str]


class LogRequest(TypedDict):
    id: str
    userId: str
    properties: dict[str, str]
    targetUrl: str
    provider: str
    bodySize: int
    path: str
    requestCreatedAt: str
    isStream: bool
    promptId: NotRequired[str]


class LogResponse(TypedDict):
    id: str
    status: int
    bodySize: int
    responseCreatedAt: str
    delayMs: float
    timeToFirstToken: NotRequired[float]
    cost: NotRequired[float]


class Log(TypedDict):
    request: LogRequest
    response: LogResponse


class MessageData(TypedDict):
    id: str
    authorization: str
    heliconeMeta: HeliconeMeta
    log: Log


_SESSION_KEYS = ("Helicone-Session-Id", "Helicone-Session-Path", "Helicone-Session-Name")


def _iso(ms: float) -> str:
    moment = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _properties(headers: dict[str, str]) -> dict[str, str]:
    props: dict[str, str] = {}
    lowered = {k.lower(): (k, v) for k, v in headers.items()}
    for key_lower, (_, value) in lowered.items():
        if key_lower.startswith("helicone-property-"):
            # Helicone keys the property by the header name as the runtime lower-cases it.
            props[key_lower[len("helicone-property-") :]] = value
    for key in _SESSION_KEYS:
        if key.lower() in lowered:
            props[key] = lowered[key.lower()][1]
    return props


def to_message_data(record: Record, authorization: str) -> MessageData:
    """``MessageData`` for ``record``, as Helicone's worker would publish it."""
    headers_lower = {k.lower(): v for k, v in record.headers.items()}
    response_body: Any = (
        record.response_text if record.response_text is not None else record.response_json or {}
    )
    response_size = len(
        response_body if isinstance(response_body, str) else orjson.dumps(response_body)
    )
    meta: HeliconeMeta = {
        "omitRequestLog": False,
        "omitResponseLog": False,
        "webhookEnabled": False,
    }
    if "helicone-model-override" in headers_lower:
        meta["modelOverride"] = headers_lower["helicone-model-override"]
    request: LogRequest = {
        "id": record.request_id,
        "userId": headers_lower.get("helicone-user-id", ""),
        "properties": _properties(record.headers),
        "targetUrl": record.request_url,
        "provider": record.provider,
        "bodySize": len(orjson.dumps(record.request)),
        "path": record.request_url,
        "requestCreatedAt": _iso(record.start_ms),
        "isStream": record.request.get("stream") is True,
    }
    if "helicone-prompt-id" in headers_lower:
        request["promptId"] = headers_lower["helicone-prompt-id"]
    response: LogResponse = {
        "id": record.request_id,
        "status": record.status,
        "bodySize": response_size,
        "responseCreatedAt": _iso(max(record.end_ms, record.start_ms)),
        "delayMs": max(0.0, record.latency_ms),
    }
    if record.ttft_ms is not None:
        response["timeToFirstToken"] = record.ttft_ms
    if record.cost_usd is not None:
        response["cost"] = record.cost_usd
    return {
        "id": record.request_id,
        "authorization": authorization,
        "heliconeMeta": meta,
        "log": {"request": request, "response": response},
    }
