"""The spool seen as delivery's queue: what to send next, and what became of each record.

Delivery only dispatches; the spool owns everything that touches its files: claiming
segments, reading, acknowledging, dead letters, the ledger, eviction and collection.
Use it from one thread (the dispatcher).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from heliograph._ratelimit import RateLimitedLogger
from heliograph.model.codec import decode_record
from heliograph.model.record import Record
from heliograph.spool.dead_letters import append_dead_letter
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.reader import Entry, SpoolReader

__all__ = ["QueuedRecord", "SpoolQueue"]

log = logging.getLogger("heliograph.spool")


@dataclasses.dataclass(eq=False)
class QueuedRecord:
    """One record taken from the spool, with where it lives (to acknowledge it)."""

    entry: Entry
    record: Record


class SpoolQueue:
    """Hands out spooled records and settles their outcomes on disk."""

    def __init__(
        self,
        folder: SpoolFolder,
        ledger: Ledger,
        max_line_bytes: int,
        on_lost: Callable[[str, int], None],
        read_live: bool = False,
    ) -> None:
        self._folder = folder
        self._ledger = ledger
        self._on_lost = on_lost
        self._reader = SpoolReader(
            folder, max_line_bytes, on_corrupt=lambda reason: on_lost(reason, 1),
            read_live=read_live,
        )  # fmt: skip
        self._warn = RateLimitedLogger(log)

    def start(self) -> None:
        """Take up the segments already held (the writer's current one) from disk's view."""
        self._reader.adopt_held()

    def take(self, limit: int) -> list[QueuedRecord]:
        """Up to ``limit`` records never handed out; an unreadable one is dead-lettered."""
        taken: list[QueuedRecord] = []
        for entry in self._reader.read(limit):
            try:
                record = decode_record(entry.payload)
            except ValueError as exc:
                self._dead_letter(entry, "unreadable", None, f"unreadable record: {exc}", "")
                continue
            taken.append(QueuedRecord(entry, record))
        return taken

    def delivered(self, items: list[QueuedRecord]) -> None:
        """Acknowledge delivered records (one write per segment)."""
        self._reader.ack_many([item.entry for item in items])
        self._ledger.add("delivered", len(items))

    def dead_letter(
        self, item: QueuedRecord, status: int | None, error: str, response_text: str = ""
    ) -> bool:
        """Keep a refused record aside and acknowledge it; False if it could not be kept
        (it then stays pending, for a later run)."""
        return self._dead_letter(item.entry, item.record.request_id, status, error, response_text)

    def give_back(self, item: QueuedRecord) -> None:
        """A record taken but not settled: it stays pending for the next deliverer."""
        self._reader.release(item.entry)

    def housekeeping(self, max_bytes: int, max_age_s: float) -> None:
        """Claim what dead processes left, apply the bounds, delete finished segments,
        and write the ledger."""
        self._reader.claim_orphans()
        for reason, count in self._reader.evict(max_bytes, max_age_s).items():
            self._on_lost(reason, count)
        self._reader.collect()
        self.persist_ledger()

    def persist_ledger(self) -> None:
        try:
            self._ledger.persist()
        except OSError as exc:
            self._warn.log(logging.WARNING, "ledger", "cannot update the spool ledger: %s", exc)

    def backlog(self) -> int:
        return self._reader.backlog()

    def live_writers(self) -> int:
        """Segments being read while their writers are alive (the agent's view)."""
        return self._reader.live_segments()

    def has_unread(self) -> bool:
        return self._reader.has_unread()

    def release_all(self) -> None:
        """Let another deliverer take over every segment this one was delivering."""
        self._reader.release_all()

    def _dead_letter(
        self, entry: Entry, request_id: str, status: int | None, error: str, text: str
    ) -> bool:
        path = self._folder.dead_letters_path
        try:
            append_dead_letter(path, entry.payload, status, error, text)
        except OSError as exc:
            self._warn.log(logging.ERROR, "dead-letter", "cannot write dead letter: %s", exc)
            self._reader.release(entry)
            return False
        self._reader.ack(entry)
        self._ledger.add("dead_lettered")
        self._warn.log(
            logging.WARNING, "rejected", "record %s was refused and moved to %s: %s",
            request_id, path, error,
        )  # fmt: skip
        return True
