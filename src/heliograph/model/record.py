"""The one record every stage passes along: a captured LLM call.

A ``Record`` maps field for field onto Helicone's async-log body (see ``helicone.py``) and
onto the queue message ``MessageData`` (see ``message_data.py``). It never holds the API
key: credentials are added at send time, so the spool on disk holds none.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SCHEMA_VERSION", "Provider", "Record", "RecordSink", "normalise_provider"]

# Changing the fields of Record or the keys of to_dict changes the spool format on disk:
# bump SCHEMA_VERSION and keep from_dict able to read the previous version.
SCHEMA_VERSION = 1

JSONDict = dict[str, Any]


class Provider:
    """Helicone provider names; the provider decides the logging route and cost rules."""

    OPENAI = "OPENAI"
    ANTHROPIC = "ANTHROPIC"
    GOOGLE = "GOOGLE"
    TOGETHER = "TOGETHER"
    CUSTOM = "CUSTOM"


_ALIASES = {
    "openai": Provider.OPENAI,
    "oai": Provider.OPENAI,
    "azure": Provider.OPENAI,
    "anthropic": Provider.ANTHROPIC,
    "google": Provider.GOOGLE,
    "googleapis": Provider.GOOGLE,
    "gemini": Provider.GOOGLE,
    "together": Provider.TOGETHER,
    "togetherai": Provider.TOGETHER,
    "custom": Provider.CUSTOM,
}


def normalise_provider(provider: str | None) -> str:
    """Map a provider name in any case ("openai", "OPENAI", "gemini") to Helicone's name."""
    if not provider:
        return Provider.CUSTOM
    return _ALIASES.get(provider.strip().lower(), provider.strip().upper())


@dataclasses.dataclass(slots=True)
class Record:
    """A captured LLM call, ready to be spooled and delivered.

    Times are epoch milliseconds (floats); ``ttft_ms`` is relative to ``start_ms`` and is
    ``None`` when unknown (it is then omitted on the wire, never sent as null).
    ``response_text`` wins over ``response_json`` when both are set, as in Helicone.
    ``notes`` lists what capture had to change (truncation, unserialisable values).
    """

    request_id: str
    request: JSONDict
    start_ms: float
    end_ms: float
    status: int = 200
    provider: str = Provider.CUSTOM
    provider_given: bool = False
    response_json: JSONDict | None = None
    response_text: str | None = None
    response_headers: dict[str, str] = dataclasses.field(default_factory=dict)
    request_url: str = "custom-model-nopath"
    request_meta: dict[str, str] = dataclasses.field(default_factory=dict)
    ttft_ms: float | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    cost_usd: float | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    captured_at_ms: float = dataclasses.field(default_factory=lambda: time.time() * 1000)

    @property
    def latency_ms(self) -> float:
        return self.end_ms - self.start_ms

    def to_dict(self) -> JSONDict:
        """The spool form: short, stable keys; ``None`` fields left out."""
        out: JSONDict = {
            "v": SCHEMA_VERSION,
            "id": self.request_id,
            "provider": self.provider,
            "req": self.request,
            "start": self.start_ms,
            "end": self.end_ms,
            "status": self.status,
            "at": self.captured_at_ms,
        }
        # Added one by one, in this order: the key order is part of the bytes on disk.
        if self.provider_given:
            out["provider_given"] = self.provider_given
        if self.response_json is not None:
            out["resp_json"] = self.response_json
        if self.response_text is not None:
            out["resp_text"] = self.response_text
        if self.response_headers:
            out["resp_headers"] = self.response_headers
        if self.request_url != "custom-model-nopath":
            out["url"] = self.request_url
        if self.request_meta:
            out["meta"] = self.request_meta
        if self.ttft_ms is not None:
            out["ttft"] = self.ttft_ms
        if self.headers:
            out["headers"] = self.headers
        if self.cost_usd is not None:
            out["cost"] = self.cost_usd
        if self.notes:
            out["notes"] = self.notes
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Rebuild a record from ``to_dict`` output; raises KeyError/TypeError if malformed."""
        version = data.get("v")
        if version != SCHEMA_VERSION:
            raise ValueError(f"unsupported record schema version {version!r}")
        return cls(
            request_id=str(data["id"]),
            provider=str(data["provider"]),
            provider_given=bool(data.get("provider_given", False)),
            request=dict(data["req"]),
            start_ms=float(data["start"]),
            end_ms=float(data["end"]),
            status=int(data["status"]),
            captured_at_ms=float(data["at"]),
            response_json=data.get("resp_json"),
            response_text=data.get("resp_text"),
            response_headers=dict(data.get("resp_headers") or {}),
            request_url=str(data.get("url") or "custom-model-nopath"),
            request_meta=dict(data.get("meta") or {}),
            ttft_ms=data.get("ttft"),
            headers=dict(data.get("headers") or {}),
            cost_usd=data.get("cost"),
            notes=list(data.get("notes") or []),
        )


RecordSink = Callable[[Record], None]
"""Where capture hands a finished record: the spool writer, or a test's list.append."""
