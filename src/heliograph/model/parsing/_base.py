"""What every stream parser shares: the never-raise ``feed`` wrapper and typed getters."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_UNKNOWN_EVENTS", "BaseParser", "as_int", "as_list", "as_map", "as_str"]

MAX_UNKNOWN_EVENTS = 200
"""Unknown events kept per stream; more are counted, not stored, so memory stays bounded."""

log = logging.getLogger("heliograph")


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_map(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _copy(event: Any) -> dict[str, Any]:
    if isinstance(event, Mapping):
        try:
            return dict(event)
        except Exception:
            pass
    return {"unparsed": repr(event)[:500]}


class BaseParser:
    """Run a subclass's ``_feed`` so that no event, however malformed, can raise.

    Parsers read untrusted network payloads inside a caller's request path; a surprise in
    one event must cost that event, not the stream or the caller. Subclasses validate
    types as they read (the ``as_*`` helpers) and return False for events they do not
    know after calling ``_keep``; the try/except here is the safety net for the rest.
    """

    def __init__(self) -> None:
        self._unknown: list[dict[str, Any]] = []
        self._error: dict[str, Any] | None = None
        self.unknown_dropped = 0

    @property
    def error(self) -> dict[str, Any] | None:
        """The error reported mid-stream (an ``error`` event), if any."""
        return self._error

    @property
    def unknown_events(self) -> list[dict[str, Any]]:
        """Events this parser did not understand, kept for debugging; never fatal."""
        return self._unknown

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Consume one decoded event; True iff it carried content (text, tool args, thinking)."""
        if not isinstance(event, Mapping):
            self._keep(event)
            return False
        try:
            return bool(self._feed(event))
        except Exception as exc:
            log.debug("stream parser skipped an event it could not read: %r", exc)
            self._keep(event)
            return False

    def result(self) -> dict[str, Any]:
        """The consolidated response, as the provider would have returned it unstreamed."""
        try:
            return self._result()
        except Exception as exc:  # pragma: no cover - _result only reads validated state
            log.debug("stream parser could not consolidate: %r", exc)
            return {}

    def _feed(self, event: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def _result(self) -> dict[str, Any]:
        raise NotImplementedError

    def _keep(self, event: Any) -> None:
        if len(self._unknown) < MAX_UNKNOWN_EVENTS:
            self._unknown.append(_copy(event))
        else:
            self.unknown_dropped += 1
