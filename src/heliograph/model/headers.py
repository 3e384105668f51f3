"""Helicone's request headers as helpers, so callers need not spell them by hand.

Sessions in Helicone are just three headers (id, name, path) stored as properties on each
request; the UI builds the session tree from the paths. ``Session`` keeps them together and
derives child paths, e.g.::

    chat = Session.from_key("support-ticket-1234", name="Support chat")
    logger.log_single_request(req, body, additional_headers=chat.child("retrieve").headers())
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from heliograph.model.ids import stable_id

__all__ = ["Session", "helicone_headers", "merge_headers", "sanitize_header_value"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN_UNSAFE = re.compile(r"[^A-Za-z0-9!#$%&'*+.^_`|~-]")


def sanitize_header_value(value: str) -> str:
    """Drop control characters (CR/LF would split the header) and outer whitespace."""
    return _CONTROL.sub("", value).strip()


def merge_headers(*layers: Mapping[str, str]) -> dict[str, str]:
    """Later layers win, comparing names case-insensitively as HTTP does (last spelling kept)."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[name.lower()] = (name, value)
    return dict(merged.values())


def helicone_headers(
    *,
    session_id: str | None = None,
    session_name: str | None = None,
    session_path: str | None = None,
    user_id: str | None = None,
    properties: Mapping[str, object] | None = None,
    request_id: str | None = None,
) -> dict[str, str]:
    """Build Helicone headers from keyword arguments; ``None`` values are left out.

    Property names become ``Helicone-Property-<Name>``; characters a header name cannot
    hold are replaced by ``-``. Values are converted with ``str()``.
    """
    headers: dict[str, str] = {}
    pairs: dict[str, str | None] = {
        "Helicone-Session-Id": session_id,
        "Helicone-Session-Name": session_name,
        "Helicone-Session-Path": session_path,
        "Helicone-User-Id": user_id,
        "Helicone-Request-Id": request_id,
    }
    for name, value in pairs.items():
        if value is not None:
            headers[name] = sanitize_header_value(str(value))
    for key, prop in (properties or {}).items():
        if prop is None:
            continue
        safe_key = _TOKEN_UNSAFE.sub("-", str(key)) or "-"
        headers[f"Helicone-Property-{safe_key}"] = sanitize_header_value(str(prop))
    return headers


@dataclasses.dataclass(frozen=True)
class Session:
    """A Helicone Session: a stable id, a human name and a ``/``-separated path."""

    id: str
    name: str | None = None
    path: str = "/"

    @classmethod
    def from_key(cls, key: str, name: str | None = None, path: str = "/") -> Session:
        """A session whose id is a UUIDv5 of ``key``, the same in every process."""
        return cls(id=stable_id(f"session:{key}"), name=name, path=_normalise_path(path))

    def child(self, *segments: str) -> Session:
        """The same session one or more levels deeper: ``/a`` → ``/a/b``."""
        parts = [self.path.rstrip("/")]
        parts.extend(s.strip("/") for s in segments if s.strip("/"))
        return dataclasses.replace(self, path=_normalise_path("/".join(parts)))

    def headers(self) -> dict[str, str]:
        """The ``Helicone-Session-*`` headers for this session and path."""
        return helicone_headers(session_id=self.id, session_name=self.name, session_path=self.path)


def _normalise_path(path: str) -> str:
    cleaned = "/" + "/".join(p for p in path.split("/") if p)
    return cleaned
