"""Request and session ids that Helicone accepts and that never change on a retry.

Helicone keeps ``Helicone-Request-Id`` only if it is an RFC-4122 UUID of version 1-5 and
silently replaces anything else with a random one, which would turn every re-send into a
duplicate. So every id Heliograph sends passes that check, and ids derived from a caller's
key are UUIDv5: the same key gives the same id in any process, on any day.
"""

from __future__ import annotations

import os
import re
import uuid

__all__ = ["HELIOGRAPH_NAMESPACE", "is_helicone_request_id", "new_request_id", "stable_id"]

# Fixed forever: changing it changes every derived id and breaks idempotent replays.
HELIOGRAPH_NAMESPACE = uuid.UUID("5b0f1d2e-8c47-4e6a-9a35-6f2b9c1d7e40")

# The exact check Helicone's worker applies (helicone.md §4.4).
_HELICONE_UUID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)


def is_helicone_request_id(value: str) -> bool:
    """True if Helicone would keep ``value`` as the request id."""
    return bool(_HELICONE_UUID.match(value))


def stable_id(key: str) -> str:
    """A UUIDv5 for ``key``: use it for request or session ids that must survive retries."""
    return str(uuid.uuid5(HELIOGRAPH_NAMESPACE, key))


def new_request_id() -> str:
    """A fresh random UUIDv4; it is stored with the record, so retries reuse it.

    Formatted by hand: ``str(uuid.uuid4())`` costs several times more on the caller's thread.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
