"""Turn a client's captured requests into a flat ``{field: value}`` dict that can be diffed.

Volatile values are replaced by labels after their shape is checked, so two runs of the same
call normalise to the same dict:

- timestamps must be ``{"seconds": int, "milliseconds": int in 0..999}``; they become
  ``TIMESTAMP`` (or stay raw, and so show up in the diff, when malformed). Their position is
  checked against the call: ``timing:start`` says whether the start lies within the call or
  was set back by the caller's ``latency_ms``; ``timing:duration_ms`` is the requested latency
  or ``WITHIN_CALL``; ``timing:order`` that end >= start.
- ``Helicone-Request-Id`` becomes ``UUID`` if Helicone would accept it (RFC 4122, v1-5).
- ``timeToFirstToken`` becomes ``ABSENT``, ``None`` (sent as null) or ``INT_MS``/``FLOAT_MS``.
- traceback text in ``textBody`` is reduced to its first and last lines.

Transport headers that differ by HTTP library only (``user-agent``, ``accept``…) are left out;
every other header is compared.
"""

from __future__ import annotations

import re
from typing import Any

from .drivers import Run
from .scenarios import Scenario

__all__ = [
    "ABSENT",
    "FLOAT_MS",
    "INT_MS",
    "TIMESTAMP",
    "TRANSPORT_HEADERS",
    "UUID",
    "WITHIN_CALL",
    "diff",
    "is_helicone_uuid",
    "normalise",
]

ABSENT = "<absent>"
TIMESTAMP = "<{seconds:int, milliseconds:int 0-999}>"
UUID = "<valid uuid>"
INT_MS = "<int ms>"
FLOAT_MS = "<float ms>"
WITHIN_CALL = "<within the call>"
START_DURING_CALL = "<during the call>"
START_BACKDATED = "<call time minus latency_ms>"

# Headers set by the HTTP library (requests, undici, httpx), not by the logger.
TRANSPORT_HEADERS = frozenset(
    {
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "connection",
        "content-length",
        "sec-fetch-mode",
    }
)

# Helicone's own request-id check (research/helicone.md §4.4).
_HELICONE_UUID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)
# The traceback body and the module path of the exception class (it depends on how the
# test modules were imported).
_PY_TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n(?:[ \t]+.*\n)+(?:\w+\.)*")
_JS_STACK = re.compile(r"(?:^[ \t]+at .*(?:\n|$))+", re.MULTILINE)

# Truncating float seconds to whole milliseconds can lose up to 1 ms at each end.
_MS_SLACK = 2.0


def is_helicone_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(_HELICONE_UUID.match(value))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _timestamp_ms(value: object) -> float | None:
    """Epoch ms of a well-formed Helicone timestamp, else ``None``."""
    if not isinstance(value, dict) or set(value) != {"seconds", "milliseconds"}:
        return None
    seconds, millis = value["seconds"], value["milliseconds"]
    if not (_is_int(seconds) and _is_int(millis) and 0 <= millis < 1000):
        return None
    return seconds * 1000 + millis


def _ttft_label(value: object) -> object:
    if _is_int(value):
        return INT_MS
    if isinstance(value, float):
        return FLOAT_MS
    return value


def _text_label(text: object) -> object:
    if not isinstance(text, str):
        return text
    text = _PY_TRACEBACK.sub("<python traceback>\n", text)
    return _JS_STACK.sub("<js stack>\n", text)


def _timing_fields(timing: dict[str, Any], run: Run, scenario: Scenario) -> dict[str, Any]:
    out: dict[str, Any] = {}
    start = _timestamp_ms(timing.get("startTime"))
    end = _timestamp_ms(timing.get("endTime"))
    for key, value in timing.items():
        if key in ("startTime", "endTime"):
            out[f"body:timing.{key}"] = TIMESTAMP if _timestamp_ms(value) is not None else value
        elif key == "timeToFirstToken":
            out[f"body:timing.{key}"] = _ttft_label(value)
        else:
            out[f"body:timing.{key}"] = value
    if start is None or end is None:
        return out

    call_start, call_end = run.started * 1000, run.finished * 1000
    latency = scenario.get("latency_ms")
    if call_start - _MS_SLACK <= start <= call_end + _MS_SLACK:
        out["timing:start"] = START_DURING_CALL
    elif latency is not None and abs(start - (call_start - latency)) <= (
        call_end - call_start + _MS_SLACK
    ):
        out["timing:start"] = START_BACKDATED
    else:
        out["timing:start"] = f"{start - call_start:+.0f} ms from the call's start"

    duration = end - start
    out["timing:order"] = "end >= start" if duration >= 0 else "end < start"
    if latency is not None:
        out["timing:duration_ms"] = (
            "<latency_ms>" if abs(duration - latency) <= _MS_SLACK else round(duration)
        )
    else:
        within = 0 <= duration <= call_end - call_start + _MS_SLACK
        out["timing:duration_ms"] = WITHIN_CALL if within else round(duration)
    return out


def normalise(run: Run, scenario: Scenario) -> dict[str, Any]:
    """The comparable fields of ``run``: the outcome, then those of its one request, if any."""
    out: dict[str, Any] = {
        "call:returned": run.returned,
        "call:raised": run.raised,
        "requests": len(run.captures),
    }
    if len(run.captures) != 1:
        return out
    [capture] = run.captures
    out["method"] = capture.method
    out["path"] = capture.path
    for name, value in sorted(capture.headers.items()):
        if name in TRANSPORT_HEADERS:
            continue
        is_id = name == "helicone-request-id" and is_helicone_uuid(value)
        out[f"header:{name}"] = UUID if is_id else value

    body = capture.body
    if not isinstance(body, dict):
        out["body"] = body if body is not None else capture.raw
        return out
    for key, value in body.items():
        if key in ("providerRequest", "providerResponse") and isinstance(value, dict):
            for sub, sub_value in value.items():
                is_text = key == "providerResponse" and sub == "textBody"
                out[f"body:{key}.{sub}"] = _text_label(sub_value) if is_text else sub_value
        elif key == "timing" and isinstance(value, dict):
            out.update(_timing_fields(value, run, scenario))
        else:
            out[f"body:{key}"] = value
    return out


def diff(heliograph: dict[str, Any], client: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (heliograph value, client value)}`` for every field where they differ."""
    return {
        key: (heliograph.get(key, ABSENT), client.get(key, ABSENT))
        for key in sorted(heliograph.keys() | client.keys())
        if heliograph.get(key, ABSENT) != client.get(key, ABSENT)
    }
