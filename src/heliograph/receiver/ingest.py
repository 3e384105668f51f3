"""Map a validated async log and its HTTP headers to the row the store keeps.

This is Helicone's ``dbLoggableRequestFromAsyncLogModel`` (helicone.md §4.3-4.6) minus
the cloud: headers come from ``providerRequest.meta`` merged with the HTTP headers (HTTP
wins, names case-insensitive), a ``Helicone-Request-Id`` that is not a UUID v1-5 is
replaced by a random one, properties are keyed by the lower-cased name after
``Helicone-Property-`` plus the exact session keys, and an absent ``timeToFirstToken``
stays null while an explicit null becomes 0 (JavaScript's ``Number(null)``).
Token counts are read from the response's ``usage`` (OpenAI and Anthropic names, Google's
``usageMetadata``), also from the chunks of a streamed ``textBody``; the body stored and
the cost come from ``body.py`` (streams consolidated as Jawn does).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from heliograph.model.ids import is_helicone_request_id
from heliograph.receiver.body import process_body
from heliograph.receiver.schema import StoredRequest
from heliograph.receiver.validate import AsyncLog, epoch_ms

__all__ = [
    "auth_fingerprint",
    "bearer_key",
    "request_id",
    "resolve_headers",
    "to_stored_request",
    "token_usage",
]

_PROPERTY_PREFIX = "helicone-property-"
# Helicone stores these as properties under exactly these keys (§4.6).
_NAMED_PROPERTIES = {
    "helicone-prompt-id": "Helicone-Prompt-Id",
    "helicone-session-name": "Helicone-Session-Name",
    "helicone-session-id": "Helicone-Session-Id",
    "helicone-session-path": "Helicone-Session-Path",
}

Usage = tuple[int | None, int | None, int | None]


def _header_text(value: object) -> str:
    """A meta value as JavaScript's ``new Headers(meta)`` would turn it into a string."""
    if isinstance(value, str):
        return value.strip()
    return orjson.dumps(value).decode()


def resolve_headers(
    meta: Mapping[str, object], http_headers: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """Lower-cased header names to values: ``meta`` first, then real headers override it.

    A header repeated in the request is joined with ``", "``, as the Fetch API does.
    """
    merged = {str(name).lower(): _header_text(value) for name, value in meta.items()}
    http: dict[str, str] = {}
    for name, value in http_headers:
        key = name.lower()
        http[key] = f"{http[key]}, {value}" if key in http else value
    merged.update(http)
    return merged


def bearer_key(http_headers: Mapping[str, str]) -> str | None:
    """The API key from ``Helicone-Auth``, else ``Authorization``; None if neither is set."""
    raw = http_headers.get("helicone-auth") or http_headers.get("authorization") or ""
    scheme, _, rest = raw.strip().partition(" ")
    key = rest.strip() if scheme.lower() == "bearer" else raw.strip()
    return key or None


def auth_fingerprint(key: str) -> str:
    """A short hash that tells keys apart in the database without storing any of them."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


def _first(usage: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        count = _count(usage.get(key))
        if count is not None:
            return count
    return None


def _usage_of(obj: Mapping[str, Any]) -> Usage | None:
    usage = obj.get("usage")
    for key in ("message", "response"):  # Anthropic's message_start, Responses' completed
        inner = obj.get(key)
        if not isinstance(usage, dict) and isinstance(inner, dict):
            usage = inner.get("usage")
    if isinstance(usage, dict):
        return (
            _first(usage, "prompt_tokens", "input_tokens", "inputTokens"),
            _first(usage, "completion_tokens", "output_tokens", "outputTokens"),
            _first(usage, "total_tokens", "totalTokens"),
        )
    meta = obj.get("usageMetadata")
    if isinstance(meta, dict):
        parts = [_count(meta.get("thoughtsTokenCount")), _count(meta.get("candidatesTokenCount"))]
        known = [p for p in parts if p is not None]
        completion = sum(known) if known else None
        return (
            _count(meta.get("promptTokenCount")),
            completion,
            _count(meta.get("totalTokenCount")),
        )
    return None


def _json_chunks(text: str) -> Iterator[Mapping[str, Any]]:
    """The JSON objects in a body: the whole body, or each SSE ``data:`` / NDJSON line."""
    try:
        whole = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        items = whole if isinstance(whole, list) else [whole]
        yield from (item for item in items if isinstance(item, dict))
        return
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line.startswith("data:"):
            line = line[len("data:") :].strip()
        if not line.startswith("{"):
            continue  # blank, "event: …", "[DONE]"
        try:
            chunk = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(chunk, dict):
            yield chunk


def token_usage(response_json: Mapping[str, Any], text_body: str | None) -> Usage:
    """(prompt, completion, total) tokens; each None if the response does not say.

    Across stream chunks the last reported value of each count wins: OpenAI reports
    usage once at the end, Anthropic input tokens at the start and output at the end.
    """
    found = [_usage_of(response_json)]
    if text_body:
        found.extend(_usage_of(chunk) for chunk in _json_chunks(text_body))
    prompt = completion = total = None
    for usage in found:
        if usage is not None:
            prompt = usage[0] if usage[0] is not None else prompt
            completion = usage[1] if usage[1] is not None else completion
            total = usage[2] if usage[2] is not None else total
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    return prompt, completion, total


def _model(
    request: Mapping[str, Any], response: Mapping[str, Any], headers: Mapping[str, str]
) -> str | None:
    """Helicone's order: the override header, a custom event's name, request, response."""
    if headers.get("helicone-model-override"):
        return headers["helicone-model-override"]
    kind = request.get("_type")
    if kind == "tool":
        return f"tool:{request.get('toolName')}"
    if kind == "vector_db":
        return "vector_db"
    if kind == "data":
        return f"data:{request.get('name')}"
    for source in (request, response):
        if isinstance(source.get("model"), str) and source["model"]:
            return str(source["model"])
    return None


def _properties(headers: Mapping[str, str]) -> dict[str, str]:
    props = {
        name[len(_PROPERTY_PREFIX) :]: value
        for name, value in headers.items()
        if name.startswith(_PROPERTY_PREFIX) and len(name) > len(_PROPERTY_PREFIX)
    }
    for header, key in _NAMED_PROPERTIES.items():
        if headers.get(header):
            props[key] = headers[header]
    return props


def request_id(headers: Mapping[str, str]) -> str:
    """``Helicone-Request-Id`` if Helicone would keep it (lower-cased), else a new UUIDv4."""
    given = headers.get("helicone-request-id", "").strip()
    return given.lower() if is_helicone_request_id(given) else str(uuid.uuid4())


def to_stored_request(
    log: AsyncLog,
    http_headers: Iterable[tuple[str, str]],
    *,
    provider: str,
    auth_key: str,
    received_at_ms: int,
) -> StoredRequest:
    """The row to store for ``log``, received on ``provider``'s route with these headers."""
    provider_request, provider_response, timing = (
        log["providerRequest"],
        log["providerResponse"],
        log["timing"],
    )
    headers = resolve_headers(provider_request["meta"], http_headers)
    start = epoch_ms(timing["startTime"])
    end = epoch_ms(timing["endTime"])
    request_json, response_json = provider_request["json"], provider_response["json"]
    model = _model(request_json, response_json, headers)
    processed = process_body(provider, request_json, provider_response, model)
    prompt, completion, total = token_usage(response_json, processed.text)
    usage = (
        processed.usage if processed.usage and processed.usage.input_tokens is not None else None
    )
    ttft: float | None = None
    if "timeToFirstToken" in timing:
        ttft = timing["timeToFirstToken"] or 0
    return StoredRequest(
        request_id=request_id(headers),
        provider=provider,
        model=model,
        status=provider_response["status"],
        target_url=provider_request["url"],
        user_id=headers.get("helicone-user-id") or None,
        session_id=headers.get("helicone-session-id") or None,
        session_name=headers.get("helicone-session-name") or None,
        session_path=headers.get("helicone-session-path") or None,
        properties=_properties(headers),
        request_body=orjson.dumps(request_json).decode(),
        response_body=processed.body,
        request_created_at=round(start),
        response_created_at=round(end),
        delay_ms=round(end - start),
        time_to_first_token=ttft,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        cost=processed.cost,
        response_raw=processed.raw,
        prompt_cache_read_tokens=usage.cache_read_tokens if usage else None,
        prompt_cache_write_tokens=usage.cache_write_tokens if usage else None,
        received_at=received_at_ms,
        auth_fingerprint=auth_fingerprint(auth_key),
    )
