"""Turn what callers pass (dicts, SDK objects, strings, bytes) into record fields.

Shared by the logger and the builder. Nothing here raises for a bad value except
``InvalidInputError``, which capture catches, logs and counts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from heliograph.model.headers import merge_headers, sanitize_header_value
from heliograph.model.ids import is_helicone_request_id, new_request_id, stable_id

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_VALID_NAMES: dict[str, str] = {}  # header names already checked, to their lower case
_REQUEST_ID = "helicone-request-id"

__all__ = [
    "BaseHeaders",
    "InvalidInputError",
    "now_ms",
    "resolve_request_id",
    "to_headers",
    "to_request",
    "to_response",
]


class InvalidInputError(TypeError):
    """An argument has a type capture cannot log; the message says which and what it expects."""


def now_ms() -> float:
    return time.time() * 1000


def _as_dict(value: object) -> dict[str, Any] | None:
    if type(value) is dict or isinstance(value, Mapping):  # the first check is the quicker
        return dict(value)
    # Pydantic models (OpenAI and Anthropic SDK objects) and similar.
    dump = getattr(value, "model_dump", None) or getattr(value, "to_dict", None)
    if callable(dump):
        try:
            result = dump()
        except Exception:
            return None
        if isinstance(result, Mapping):
            return dict(result)
    return None


def to_request(request: object) -> dict[str, Any]:
    """The request as a dict (``providerRequest.json``)."""
    as_dict = _as_dict(request)
    if as_dict is None:
        raise InvalidInputError(
            f"request must be a dict (the provider request body), got {type(request).__name__}"
        )
    return as_dict


def to_response(body: object) -> tuple[dict[str, Any] | None, str | None, list[str]]:
    """``(response_json, response_text, notes)`` for a response given as text, bytes or a dict."""
    if type(body) is dict:  # the common case first
        return dict(body), None, []
    if isinstance(body, str):
        return None, body, []
    if isinstance(body, bytes | bytearray):
        raw = bytes(body)
        try:
            return None, raw.decode("utf-8"), []
        except UnicodeDecodeError:
            return None, raw.decode("utf-8", "replace"), ["invalid_utf8"]
    if body is None:
        return {}, None, []
    as_dict = _as_dict(body)
    if as_dict is None:
        raise InvalidInputError(
            f"response body must be str, bytes or a dict, got {type(body).__name__}"
        )
    return as_dict, None, []


def to_headers(headers: object, what: str = "additional_headers") -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InvalidInputError(
            f"{what} must be a dict of str to str, got {type(headers).__name__}"
        )
    cleaned: dict[str, str] = {}
    for name, value in headers.items():
        if value is None:
            continue
        key = name if name in _VALID_NAMES else _checked_name(name, what)
        text = value if isinstance(value, str) else str(value)
        # Fast path: most values have no control characters and no outer spaces.
        if not (text.isprintable() and text == text.strip()):
            text = sanitize_header_value(text)
        cleaned[key] = text
    return cleaned


def _checked_name(name: object, what: str) -> str:
    key = str(name).strip()
    if not _HEADER_NAME.match(key):
        raise InvalidInputError(f"{what} has an invalid header name {key!r}")
    if len(_VALID_NAMES) < 4096 and key == name:
        _VALID_NAMES[key] = key.lower()  # names repeat on every call: check each once
    return key


def resolve_request_id(headers: dict[str, str], idempotency_key: str | None) -> list[str]:
    """Set ``Helicone-Request-Id`` in ``headers`` to an id Helicone keeps; return notes.

    A caller's valid UUID is kept. Any other value is turned into a UUIDv5 of itself
    (stable, so a retry cannot duplicate). With no id, ``idempotency_key`` gives a UUIDv5;
    with neither, a random UUIDv4 is drawn once and stored with the record.
    """
    given_key = next((k for k in headers if k.lower() == _REQUEST_ID), None)
    given = headers.pop(given_key) if given_key is not None else None
    request_id, notes = _request_id(given, idempotency_key)
    headers["Helicone-Request-Id"] = request_id
    return notes


def _request_id(given: str | None, idempotency_key: str | None) -> tuple[str, list[str]]:
    if given and is_helicone_request_id(given):
        return given.lower(), []
    if given:
        return stable_id(f"request:{given}"), ["request_id_derived"]
    if idempotency_key is not None:
        return stable_id(f"request:{idempotency_key}"), []
    return new_request_id(), []


class BaseHeaders:
    """A logger's own headers, validated once, under which each call's headers are laid.

    ``resolve`` gives what ``merge_headers`` of these and ``to_headers(extra)`` gives,
    followed by ``resolve_request_id``. A plain dict whose names were all seen before and
    whose values need no cleaning, the usual case, takes one pass; anything else takes
    those very steps.
    """

    def __init__(self, headers: object, what: str) -> None:
        self.headers = merge_headers(to_headers(headers, what))
        self._plain = {k: v for k, v in self.headers.items() if k.lower() != _REQUEST_ID}
        self._lower = {k.lower() for k in self._plain}
        self._request_id = next(
            (v for k, v in self.headers.items() if k.lower() == _REQUEST_ID), None
        )

    def resolve(
        self, extra: object, idempotency_key: str | None
    ) -> tuple[dict[str, str], list[str]]:
        """The headers of one call, ``Helicone-Request-Id`` last, and the notes it needs."""
        headers = self._plain.copy()
        given = self._request_id
        if extra is not None:
            if type(extra) is not dict:
                return self._resolve_slowly(extra, idempotency_key)
            seen = self._lower.copy()
            for name, value in extra.items():
                if value is None:
                    continue
                lower = _VALID_NAMES.get(name)
                if (
                    lower is None
                    or type(value) is not str
                    or not (value.isprintable() and value == value.strip())
                ):
                    return self._resolve_slowly(extra, idempotency_key)
                if lower == _REQUEST_ID:
                    given = value
                elif lower not in seen:
                    seen.add(lower)
                    headers[name] = value
                elif name in headers:
                    headers[name] = value
                else:  # the same header under another spelling
                    return self._resolve_slowly(extra, idempotency_key)
        request_id, notes = _request_id(given, idempotency_key)
        headers["Helicone-Request-Id"] = request_id
        return headers, notes

    def _resolve_slowly(
        self, extra: object, idempotency_key: str | None
    ) -> tuple[dict[str, str], list[str]]:
        headers = merge_headers(self.headers, to_headers(extra))
        return headers, resolve_request_id(headers, idempotency_key)
