"""The queue message of Helicone's producer layer (``MessageData``), built from a record.

Helicone's worker publishes one ``MessageData`` per request to Kafka or SQS, or POSTs
``{log, authorization, heliconeMeta}`` to ``/v1/log/request``. The typed dicts below hold
every field of Helicone's ``types.ts`` (helicone.md §1.7); optional ones are
``NotRequired`` and left out rather than sent as null. Dates travel as ISO strings.

Helicone never puts bodies in the message: its worker stores them in S3 first (§1.8).
Heliograph has no S3 in front of every consumer, so a message may carry them itself, in
one extra top-level key that Helicone's consumers ignore:

- ``heliographBody``: ``{"request": str, "response": str}``, the very object Helicone
  stores in S3 (request body JSON text, raw response text), inline when it is small;
- ``heliographBodyRef``: a reference to that object in a blob store when it is not, so a
  message never outgrows its queue's limit.

``to_record`` goes the other way, for the relay and the receiver's ``/v1/log/request``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, NotRequired, TypedDict, cast

import orjson

from heliograph.model.record import Record, normalise_provider

__all__ = [
    "HeliconeMeta",
    "Log",
    "LogRequest",
    "LogResponse",
    "MessageData",
    "RawBodies",
    "TemplateWithInputs",
    "epoch_ms_of",
    "raw_bodies",
    "to_message_data",
    "to_record",
    "validate_message",
]


class TemplateWithInputs(TypedDict):
    template: Any
    inputs: dict[str, str]
    autoInputs: list[Any]


class HeliconeMeta(TypedDict):
    omitRequestLog: bool
    omitResponseLog: bool
    webhookEnabled: bool
    modelOverride: NotRequired[str]
    posthogApiKey: NotRequired[str]
    posthogHost: NotRequired[str]
    lytixKey: NotRequired[str]
    lytixHost: NotRequired[str]
    heliconeManualAccessKey: NotRequired[str]
    promptId: NotRequired[str]
    promptVersionId: NotRequired[str]
    promptInputs: NotRequired[dict[str, Any]]
    promptEnvironment: NotRequired[str]
    stripeCustomerId: NotRequired[str]
    gatewayRouterId: NotRequired[str]
    gatewayDeploymentTarget: NotRequired[str]
    isPassthroughBilling: NotRequired[bool]
    gatewayProvider: NotRequired[str]
    gatewayModel: NotRequired[str]
    providerModelId: NotRequired[str]
    aiGatewayBodyMapping: NotRequired[str]
    freeLimitExceeded: NotRequired[bool]


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
    promptVersion: NotRequired[str]
    heliconeApiKeyId: NotRequired[int]
    heliconeProxyKeyId: NotRequired[str]
    threat: NotRequired[bool]
    countryCode: NotRequired[str]
    heliconeTemplate: NotRequired[TemplateWithInputs]
    experimentColumnId: NotRequired[str]
    experimentRowIndex: NotRequired[str]
    cacheEnabled: NotRequired[bool]
    cacheSeed: NotRequired[int]
    cacheBucketMaxSize: NotRequired[int]
    cacheControl: NotRequired[str]
    cacheReferenceId: NotRequired[str]
    requestReferrer: NotRequired[str]


class LogResponse(TypedDict):
    id: str
    status: int
    bodySize: int
    responseCreatedAt: str
    delayMs: float
    timeToFirstToken: NotRequired[float]
    cachedLatency: NotRequired[float]
    cost: NotRequired[float]
    # Newest Jawn reads these when the body is not stored (free tier limit exceeded).
    model: NotRequired[str]
    promptTokens: NotRequired[int]
    completionTokens: NotRequired[int]


class Log(TypedDict):
    request: LogRequest
    response: LogResponse


class RawBodies(TypedDict):
    """Helicone's S3 body object: the request body's JSON text and the raw response text."""

    request: str
    response: str


class MessageData(TypedDict):
    id: str
    authorization: str
    heliconeMeta: HeliconeMeta
    log: Log
    heliographBody: NotRequired[RawBodies]
    heliographBodyRef: NotRequired[str]


_SESSION_KEYS = ("Helicone-Session-Id", "Helicone-Session-Path", "Helicone-Session-Name")
_PROPERTY_PREFIX = "helicone-property-"


def _iso(ms: float) -> str:
    moment = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms_of(iso: str) -> float:
    """Milliseconds since the epoch of an ISO date (``Z`` or an offset; naive means UTC)."""
    moment = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.UTC)
    return moment.timestamp() * 1000


def _properties(headers: dict[str, str]) -> dict[str, str]:
    props: dict[str, str] = {}
    lowered = {k.lower(): (k, v) for k, v in headers.items()}
    for key_lower, (_, value) in lowered.items():
        if key_lower.startswith(_PROPERTY_PREFIX):
            # Helicone keys the property by the header name as the runtime lower-cases it.
            props[key_lower[len(_PROPERTY_PREFIX) :]] = value
    for key in _SESSION_KEYS:
        if key.lower() in lowered:
            props[key] = lowered[key.lower()][1]
    return props


def raw_bodies(record: Record) -> RawBodies:
    """The body object Helicone stores in S3 for ``record`` (§1.8)."""
    if record.response_text is not None:
        response = record.response_text
    else:
        response = orjson.dumps(record.response_json or {}).decode()
    return {"request": orjson.dumps(record.request).decode(), "response": response}


def to_message_data(
    record: Record, authorization: str, bodies: RawBodies | None = None
) -> MessageData:
    """``MessageData`` for ``record``, as Helicone's worker would publish it.

    ``bodies`` (from ``raw_bodies``) travel inline when given; without them the message
    carries metadata only, as Helicone's does.
    """
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
    if "helicone-manual-access-key" in headers_lower:
        meta["heliconeManualAccessKey"] = headers_lower["helicone-manual-access-key"]
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
    message: MessageData = {
        "id": record.request_id,
        "authorization": authorization,
        "heliconeMeta": meta,
        "log": {"request": request, "response": response},
    }
    if bodies is not None:
        message["heliographBody"] = bodies
    return message


def _headers_of(message: MessageData) -> dict[str, str]:
    """The Helicone headers a message stands for: the inverse of ``to_message_data``."""
    request = message["log"]["request"]
    headers = {"Helicone-Request-Id": request["id"]}
    if request["userId"]:
        headers["Helicone-User-Id"] = request["userId"]
    if "promptId" in request:
        headers["Helicone-Prompt-Id"] = request["promptId"]
    if "modelOverride" in message["heliconeMeta"]:
        headers["Helicone-Model-Override"] = message["heliconeMeta"]["modelOverride"]
    for key, value in request["properties"].items():
        name = key if key in _SESSION_KEYS else f"Helicone-Property-{key}"
        headers[name] = value
    return headers


def to_record(message: MessageData, bodies: RawBodies | None) -> Record:
    """The record a message describes, with ``bodies`` (inline or fetched), or none.

    Missing bodies give an empty request and response, as Jawn proceeds when the S3
    object is missing. A response body that parses as a JSON object comes back as JSON,
    anything else (a stream transcript, plain text) as text.
    """
    request, response = message["log"]["request"], message["log"]["response"]
    request_json: dict[str, Any] = {}
    response_json: dict[str, Any] | None = {}
    response_text: str | None = None
    if bodies is not None:
        parsed = _loads(bodies["request"])
        request_json = parsed if isinstance(parsed, dict) else {}
        parsed = _loads(bodies["response"])
        if isinstance(parsed, dict):
            response_json = parsed
        else:
            response_json, response_text = None, bodies["response"]
    start = epoch_ms_of(request["requestCreatedAt"])
    return Record(
        request_id=request["id"],
        request=request_json,
        start_ms=start,
        end_ms=max(start, epoch_ms_of(response["responseCreatedAt"])),
        status=response["status"],
        provider=normalise_provider(request["provider"]),
        provider_given=True,
        response_json=response_json,
        response_text=response_text,
        request_url=request["targetUrl"],
        ttft_ms=response.get("timeToFirstToken"),
        headers=_headers_of(message),
        cost_usd=response.get("cost"),
    )


def _loads(text: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


_Kind = type | tuple[type, ...]
_REQUIRED_REQUEST: dict[str, _Kind] = {
    "id": str, "properties": dict, "provider": str, "requestCreatedAt": str,
}  # fmt: skip
_REQUIRED_RESPONSE: dict[str, _Kind] = {"status": (int, float), "responseCreatedAt": str}


def _field(parent: dict[str, Any], key: str, path: str, kind: _Kind) -> Any:
    value = parent.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{path}.{key} is missing or has the wrong type")
    return value


def validate_message(data: object) -> MessageData:
    """``data`` typed as a ``MessageData`` if it has what ``to_record`` reads, else
    ``ValueError`` naming the first bad field. Other fields pass through unchecked, as
    Jawn passes them to its handlers; a missing ``targetUrl`` or ``userId`` becomes "".
    """
    if not isinstance(data, dict):
        raise ValueError("message is not a JSON object")
    _field(data, "authorization", "message", str)
    _field(data, "heliconeMeta", "message", dict)
    log = _field(data, "log", "message", dict)
    request = _field(log, "request", "log", dict)
    response = _field(log, "response", "log", dict)
    for key, kind in _REQUIRED_REQUEST.items():
        _field(request, key, "log.request", kind)
    for key, kind in _REQUIRED_RESPONSE.items():
        _field(response, key, "log.response", kind)
    for key in ("targetUrl", "userId"):
        request.setdefault(key, "")
    for path, stamp in (
        ("log.request.requestCreatedAt", request["requestCreatedAt"]),
        ("log.response.responseCreatedAt", response["responseCreatedAt"]),
    ):
        try:
            epoch_ms_of(stamp)
        except ValueError:
            raise ValueError(f"{path} is not an ISO date: {stamp!r}") from None
    bodies = data.get("heliographBody")
    if bodies is not None and not (
        isinstance(bodies, dict)
        and isinstance(bodies.get("request"), str)
        and isinstance(bodies.get("response"), str)
    ):
        raise ValueError("heliographBody must be {request: string, response: string}")
    return cast(MessageData, data)
