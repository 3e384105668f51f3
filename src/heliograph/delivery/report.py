"""Counters shared by capture and delivery, and the report ``flush``/``close`` return."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter

__all__ = ["LOSS_REASONS", "DeliveryReport", "DeliveryStats"]

LOSS_REASONS = (
    "invalid_argument",  # a log call's arguments could not make a record
    "capture_error",  # capture itself failed (a bug): logged with its traceback
    "unserialisable",  # the record could not be encoded at all
    "oversize",  # still over max_record_bytes after truncation
    "disk_full",
    "spool_unwritable",
    "spool_write",  # any other write error
    "corrupt",  # a spool line failed its checksum
    "evicted_size",
    "evicted_age",
    "purged",  # heliograph purge --pending
    "closed",  # logged after close()
)
"""Every reason a record accepted or offered can be lost for (README lists them all)."""


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """What this logger has done since it was created, and what is still waiting.

    ``pending`` counts records this process holds in the spool and has not finished;
    they are delivered later by this process, the next one, ``heliograph serve`` or
    ``heliograph flush``. ``dropped`` counts records that were lost, by reason.
    """

    delivered: int
    pending: int
    dead_lettered: int
    dropped: dict[str, int]
    accepted: int

    @property
    def complete(self) -> bool:
        """True when nothing is pending and nothing was dead-lettered or dropped."""
        return self.pending == 0 and self.dead_lettered == 0 and not self.dropped


class DeliveryStats:
    """Thread-safe counters; capture counts accepted and dropped, delivery the rest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted = 0
        self.delivered = 0
        self.dead_lettered = 0
        self.retries = 0
        self.dropped: Counter[str] = Counter()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def accept(self) -> None:
        """One more record spooled (on the caller's thread: the cheapest count)."""
        with self._lock:
            self.accepted += 1

    def drop(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.dropped[reason] += n

    def report(self, pending: int) -> DeliveryReport:
        with self._lock:
            return DeliveryReport(
                delivered=self.delivered,
                pending=pending,
                dead_lettered=self.dead_lettered,
                dropped=dict(self.dropped),
                accepted=self.accepted,
            )
