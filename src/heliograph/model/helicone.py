"""Helicone's async-log wire contract: the route and the JSON body for one record.

``POST {base}/{custom|oai|anthropic|googleapis}/v1/log`` with::

    {"providerRequest":  {"url": str, "json": {...request}, "meta": {str: str}},
     "providerResponse": {"json": {...}, "textBody"?: str, "status": int, "headers": {...}},
     "timing": {"startTime": {"seconds", "milliseconds"}, "endTime": {...},
                "timeToFirstToken"?: int ms},
     "provider"?: str}

Where Helicone's own clients are sloppy this module is strict: ``json`` is always present
(``{}`` beside ``textBody``), ``timeToFirstToken`` is omitted when unknown (the Python
client sends null, which Helicone stores as 0), and ``status`` is the real one.
"""

from __future__ import annotations

from typing import Any

from heliograph.model.record import Provider, Record

__all__ = ["LOG_ROUTES", "async_log_body", "log_path", "log_url", "split_logging_endpoint"]

LOG_ROUTES = {
    Provider.OPENAI: "oai",
    Provider.ANTHROPIC: "anthropic",
    Provider.GOOGLE: "googleapis",
}
_ROUTE_NAMES = ("custom", "oai", "anthropic", "googleapis")


def log_path(provider: str) -> str:
    """``/oai/v1/log`` for OpenAI etc.; every other provider logs to ``/custom/v1/log``."""
    return f"/{LOG_ROUTES.get(provider, 'custom')}/v1/log"


def split_logging_endpoint(endpoint: str) -> str:
    """The base URL of an endpoint given either as a base or as a full ``/…/v1/log`` URL."""
    base = endpoint.rstrip("/")
    for route in _ROUTE_NAMES:
        suffix = f"/{route}/v1/log"
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def log_url(base_url: str, provider: str) -> str:
    return split_logging_endpoint(base_url) + log_path(provider)


def _timestamp(ms: float) -> dict[str, int]:
    whole = int(ms)
    return {"seconds": whole // 1000, "milliseconds": whole % 1000}


def async_log_body(record: Record) -> dict[str, Any]:
    """The JSON body Helicone's ``/…/v1/log`` routes accept for ``record``."""
    request = record.request
    if record.response_text is not None:
        response_json: dict[str, Any] = {}
    else:
        response_json = dict(record.response_json or {})
        # Helicone resolves custom events (tools, vector dbs, data) from these fields.
        for key in ("_type", "toolName", "name"):
            if key in request and key not in response_json:
                response_json[key] = request[key]
    provider_response: dict[str, Any] = {
        "headers": record.response_headers,
        "status": record.status,
        "json": response_json,
    }
    if record.response_text is not None:
        provider_response["textBody"] = record.response_text
    if record.cost_usd is not None:
        provider_response["cost"] = record.cost_usd
    start = record.start_ms
    end = max(record.end_ms, start)  # Helicone rejects end < start
    timing: dict[str, Any] = {"startTime": _timestamp(start), "endTime": _timestamp(end)}
    if record.ttft_ms is not None:
        timing["timeToFirstToken"] = max(0, round(record.ttft_ms))
    body: dict[str, Any] = {
        "providerRequest": {
            "url": record.request_url,
            "json": request,
            "meta": record.request_meta,
        },
        "providerResponse": provider_response,
        "timing": timing,
    }
    if record.provider_given:
        body["provider"] = record.provider
    return body
