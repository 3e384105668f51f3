"""Check an async-log body the way Helicone's worker does before it logs anything.

The checks follow ``validateAsyncLogModel`` (helicone.md §4.2): ``providerRequest``,
``providerResponse`` and ``timing`` are required; ``url`` is a string, ``meta`` and
``headers`` objects, ``status`` a number, and each timestamp ``{seconds, milliseconds}``
numbers with ``0 <= start <= end``. Two checks are stricter than Helicone's, because
Helicone breaks later on such bodies anyway: both ``json`` fields must be objects, and
times must fit in a calendar date. Messages name the field and what was found, e.g.
``providerResponse.status must be a number, got string``.
"""

from __future__ import annotations

import math
from typing import Any, NotRequired, TypedDict, cast

__all__ = ["AsyncLog", "InvalidLogError", "epoch_ms", "validate_async_log"]

# 9999-12-31T23:59:59.999Z: the last instant a calendar date (and an ISO string) can show.
_MAX_EPOCH_MS = 253_402_300_799_999


class Timestamp(TypedDict):
    seconds: float
    milliseconds: float


class ProviderRequest(TypedDict):
    url: str
    json: dict[str, Any]
    meta: dict[str, Any]


class ProviderResponse(TypedDict):
    json: dict[str, Any]
    status: float
    headers: dict[str, Any]
    textBody: NotRequired[str | None]
    cost: NotRequired[float | None]


class Timing(TypedDict):
    startTime: Timestamp
    endTime: Timestamp
    timeToFirstToken: NotRequired[float | None]


class AsyncLog(TypedDict):
    """A body that passed ``validate_async_log``; other top-level keys are ignored."""

    providerRequest: ProviderRequest
    providerResponse: ProviderResponse
    timing: Timing


class InvalidLogError(ValueError):
    """The body is not a valid async log; the message names the first bad field."""


def js_type(value: object) -> str:
    """The JSON type name of ``value``, as a JavaScript developer would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require(parent: dict[str, Any], key: str, path: str, kind: str) -> Any:
    """Return ``parent[key]`` if it has JSON type ``kind``, else raise naming ``path``."""
    if key not in parent:
        raise InvalidLogError(f"{path} is required")
    value = parent[key]
    found = js_type(value)
    if found != kind or (kind == "number" and not _is_number(value)):
        raise InvalidLogError(f"{path} must be {_article(kind)}, got {found}")
    return value


def _optional(parent: dict[str, Any], key: str, path: str, kind: str) -> None:
    """Like ``_require``, but absent and ``null`` are allowed (Helicone's SDKs send null)."""
    if parent.get(key) is not None:
        _require(parent, key, path, kind)


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def epoch_ms(stamp: Timestamp) -> float:
    """Milliseconds since the epoch of a ``{seconds, milliseconds}`` pair."""
    return stamp["seconds"] * 1000 + stamp["milliseconds"]


def _timestamp(timing: dict[str, Any], key: str) -> float:
    stamp = _require(timing, key, f"timing.{key}", "object")
    _require(stamp, "seconds", f"timing.{key}.seconds", "number")
    _require(stamp, "milliseconds", f"timing.{key}.milliseconds", "number")
    ms = epoch_ms(cast(Timestamp, stamp))
    if ms < 0:
        raise InvalidLogError(f"timing.{key} must not be negative, got {_num(ms)} ms")
    if ms > _MAX_EPOCH_MS:
        raise InvalidLogError(f"timing.{key} is out of range: {_num(ms)} ms is after the year 9999")
    return ms


def validate_async_log(body: object) -> AsyncLog:
    """Return ``body`` typed as an ``AsyncLog``, or raise ``InvalidLogError``."""
    if not isinstance(body, dict):
        raise InvalidLogError(f"body must be a JSON object, got {js_type(body)}")
    request = _require(body, "providerRequest", "providerRequest", "object")
    response = _require(body, "providerResponse", "providerResponse", "object")
    timing = _require(body, "timing", "timing", "object")

    _require(request, "url", "providerRequest.url", "string")
    _require(request, "meta", "providerRequest.meta", "object")
    _require(request, "json", "providerRequest.json", "object")

    _require(response, "json", "providerResponse.json", "object")
    _require(response, "status", "providerResponse.status", "number")
    _require(response, "headers", "providerResponse.headers", "object")
    _optional(response, "textBody", "providerResponse.textBody", "string")
    _optional(response, "cost", "providerResponse.cost", "number")

    start = _timestamp(timing, "startTime")
    end = _timestamp(timing, "endTime")
    if start > end:
        raise InvalidLogError(
            f"timing.startTime must not be after timing.endTime ({_num(start)} > {_num(end)} ms)"
        )
    _optional(timing, "timeToFirstToken", "timing.timeToFirstToken", "number")
    return cast(AsyncLog, body)
