"""Request and session ids that Helicone accepts and that never change on a retry.

Helicone keeps ``Helicone-Request-Id`` only if it is an RFC-4122 UUID of version 1-5 and
silently replaces anything else with a random one, which would turn every re-send into a
duplicate. So every id Heliograph sends passes that check, and ids derived from a caller's
key are UUIDv5: the same key gives the same id in any process, on any day.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid

__all__ = ["HELIOGRAPH_NAMESPACE", "is_helicone_request_id", "new_request_id", "stable_id"]

# Fixed forever: changing it changes every derived id and breaks idempotent replays.
HELIOGRAPH_NAMESPACE = uuid.UUID("5b0f1d2e-8c47-4e6a-9a35-6f2b9c1d7e40")
_NAMESPACE_BYTES = HELIOGRAPH_NAMESPACE.bytes

# The exact check Helicone's worker applies (helicone.md §4.4).
_HELICONE_UUID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE
)

# The RFC 4122 variant sets the top two bits of the ninth byte to 10: its first hex digit
# keeps its two low bits and becomes 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def is_helicone_request_id(value: str) -> bool:
    """True if Helicone would keep ``value`` as the request id."""
    return bool(_HELICONE_UUID.match(value))


def stable_id(key: str) -> str:
    """A UUIDv5 for ``key``: use it for request or session ids that must survive retries.

    Equal to ``str(uuid.uuid5(HELIOGRAPH_NAMESPACE, key))``, formatted by hand because the
    idempotency key path runs on the caller's thread.
    """
    h = hashlib.sha1(_NAMESPACE_BYTES + key.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def new_request_id() -> str:
    """A fresh random UUIDv4; it is stored with the record, so retries reuse it.

    The same as ``str(uuid.uuid4())``, ``os.urandom`` bits and all, but cheaper on the
    caller's thread: formatted by hand, from random digits drawn many ids at a time.
    """
    h = _RANDOM_HEX.take()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


class _RandomHex:
    """Random hex digits from ``os.urandom``, drawn a pool at a time instead of per id.

    The pool is the digits and the offsets of the 32-digit slices not yet handed out. A
    slice goes to one caller only (``list.pop`` is atomic, so threads need no lock), and a
    forked child drops the pool it inherited, or it would hand out the parent's ids again.
    """

    __slots__ = ("_pool",)
    _POOL_BYTES = 256  # small, so that a refill is no outlier for its caller

    def __init__(self) -> None:
        self._pool: tuple[str, list[int]] = ("", [])

    def take(self) -> str:
        """32 random hex digits that no other call gets."""
        digits, offsets = self._pool
        try:
            offset = offsets.pop()
        except IndexError:
            digits = os.urandom(self._POOL_BYTES).hex()
            self._pool = (digits, list(range(32, len(digits), 32)))
            offset = 0  # kept before the pool is shared, so no other thread can take it
        return digits[offset : offset + 32]

    def drop(self) -> None:
        self._pool = ("", [])


_RANDOM_HEX = _RandomHex()
os.register_at_fork(after_in_child=_RANDOM_HEX.drop)
