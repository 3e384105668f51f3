"""The background delivery worker: spool → transport, with retry, backoff and dead letters.

    dispatcher thread "heliograph-delivery"            sender threads "heliograph-send-N"
    ┌──────────────────────────────────────┐  work   ┌────────────────────────────────┐
    │ claim orphan segments, read records, │ ──────▶ │ transport.send(record)         │
    │ gate on backoff, ack / dead-letter / │ ◀────── │ → Outcome (never raises)       │
    │ reschedule, delete done segments     │ results └────────────────────────────────┘
    └──────────────────────────────────────┘

Only the dispatcher touches the spool reader, so reading and acknowledging need no locks.
At most ``concurrency`` records (or a queue transport's ``in_flight``) are in flight; the
rest stay on disk, so memory is bounded whatever the backlog. After a retryable failure
the whole pipeline waits (exponential backoff with jitter, or the server's
``Retry-After``): an endpoint that is down is down for every record. Threads are
daemons, so they never keep the interpreter alive; ``close`` and the exit hook bound how
long anything waits.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from heliograph._ratelimit import RateLimitedLogger
from heliograph.config import Config
from heliograph.delivery.outcome import Outcome, OutcomeKind, Transport
from heliograph.delivery.report import DeliveryReport, DeliveryStats
from heliograph.delivery.retry import backoff_s
from heliograph.model.codec import decode_record
from heliograph.model.record import Record
from heliograph.spool.dead_letters import append_dead_letter
from heliograph.spool.ledger import Ledger
from heliograph.spool.reader import Entry, SpoolReader

__all__ = ["DeliveryWorker"]

log = logging.getLogger("heliograph.delivery")

_HOUSEKEEPING_S = 1.0
_MAX_WAIT_S = 0.5


@dataclasses.dataclass(eq=False)
class _Item:
    entry: Entry
    record: Record
    attempts: int = 0
    first_failure: float | None = None
    outgoing: Record | None = None  # the enriched copy, computed once on first send


class DeliveryWorker:
    """Delivers what a spool reader yields through a transport, until closed."""

    def __init__(
        self,
        reader: SpoolReader,
        transport_factory: Callable[[], Transport],
        config: Config,
        stats: DeliveryStats,
        ledger: Ledger,
        dead_letters_path: Path,
        on_lost: Callable[[str, int], None],
        housekeeping: Callable[[], None] = lambda: None,
    ) -> None:
        self._reader = reader
        self._transport_factory = transport_factory
        self._transport: Transport | None = None
        self._config = config
        self._stats = stats
        self._ledger = ledger
        self._dead_letters_path = dead_letters_path
        self._on_lost = on_lost
        self._housekeeping_hook = housekeeping
        self._failures_total = 0
        self._housekeeping_due = False
        self._wake = threading.Event()
        self._work: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[_Item, Outcome]] = queue.SimpleQueue()
        self._retries: deque[_Item] = deque()
        self._in_flight = 0
        self._senders = config.concurrency  # raised by a transport that asks for more
        self._gate_until = 0.0
        self._failures = 0
        self._stopping = False
        self._flush_requests = 0
        self._flush_waiters = 0
        self._state = threading.Condition()
        self._drained_generation = 0
        self._backlog = 0
        self._threads: list[threading.Thread] = []
        self._warn = RateLimitedLogger(log)

    # -- public --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher; it builds the transport and the senders off the caller's thread."""
        dispatcher = threading.Thread(target=self._run, name="heliograph-delivery", daemon=True)
        self._threads.append(dispatcher)
        dispatcher.start()

    def wake(self) -> None:
        """A record was spooled: wake the dispatcher, unless every sender is busy.

        Called on the caller's thread for every record. While all senders are busy the
        dispatcher has nothing to hand out, and each sender wakes it as it finishes, so
        waking it here too would only make it take the GIL from the caller (measured: the
        caller's mean cost fell by about a quarter in a back-to-back burst). Reading
        ``_in_flight`` without the dispatcher's lock is safe: a stale value only delays the
        record until the next sender finishes or the next housekeeping tick.
        """
        if self._in_flight < self._senders:
            self._wake.set()

    def request_housekeeping(self) -> None:
        """Run the spool's housekeeping (claims, bounds) on the next loop, not in a second."""
        self._housekeeping_due = True
        self._wake.set()

    def flush(self, timeout: float, stop_on_failure: bool = False) -> DeliveryReport:
        """Try everything now (backoff waived once); wait until drained or ``timeout``.

        With ``stop_on_failure`` (the exit path) it also returns at the first retryable
        failure: one bounded attempt, and the rest stays spooled for later.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._state:
            self._flush_requests += 1
            self._flush_waiters += 1
            wanted = self._drained_generation + 1
            failures_before = self._failures_total
        self._wake.set()
        with self._state:
            try:
                while self._drained_generation < wanted and self._threads_alive():
                    if stop_on_failure and self._failures_total != failures_before:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._state.wait(min(remaining, _MAX_WAIT_S))
            finally:
                self._flush_waiters -= 1
            backlog = self._backlog
        return self._stats.report(pending=backlog)

    def close(self, timeout: float, stop_on_failure: bool = False) -> DeliveryReport:
        """Flush for at most ``timeout`` seconds, then stop; what is left stays spooled."""
        deadline = time.monotonic() + max(0.0, timeout)
        self.flush(timeout, stop_on_failure)
        self._stopping = True
        self._wake.set()
        for _ in range(self._senders):
            self._work.put(None)
        if self._threads:
            self._threads[0].join(max(0.05, deadline - time.monotonic()))
        if self._transport is not None:
            self._transport.close()
        # Counted after the last housekeeping pass (a final eviction may have run).
        return self._stats.report(pending=self._backlog)

    # -- dispatcher ----------------------------------------------------------------------

    def _threads_alive(self) -> bool:
        return bool(self._threads) and self._threads[0].is_alive()

    def _start_senders(self) -> Transport:
        transport = self._transport_factory()
        self._transport = transport
        # A queue transport waits for each broker acknowledgement while the broker batches
        # concurrent sends, so it asks for more records in flight than HTTP needs.
        self._senders = max(self._config.concurrency, getattr(transport, "in_flight", 1))
        for n in range(self._senders):
            sender = threading.Thread(
                target=self._send_loop, args=(transport,), name=f"heliograph-send-{n}", daemon=True
            )
            self._threads.append(sender)
            sender.start()
        return transport

    def _run(self) -> None:
        try:
            self._start_senders()
        except Exception:
            log.exception("cannot start delivery; records stay in the spool")
            with self._state:
                self._state.notify_all()
            return
        next_housekeeping = 0.0
        while True:
            try:
                if self._stopping:
                    self._finish()
                    return
                now = time.monotonic()
                self._drain_results(now)
                flush_requested = self._take_flush_request()
                if flush_requested or self._housekeeping_due or now >= next_housekeeping:
                    self._housekeeping_due = False
                    self._housekeeping()
                    next_housekeeping = now + _HOUSEKEEPING_S
                if flush_requested:
                    self._gate_until = 0.0
                submitted = self._dispatch(now)
                self._publish_state()
                self._wait(now, next_housekeeping, submitted)
            except Exception as exc:  # never let the worker die, nor flood the log
                self._warn.log(
                    logging.ERROR, f"worker-{type(exc).__name__}",
                    "delivery worker error, continuing in %.1f s: %r", _MAX_WAIT_S, exc,
                )  # fmt: skip
                time.sleep(_MAX_WAIT_S)

    def _take_flush_request(self) -> bool:
        with self._state:
            requested = self._flush_requests > 0
            self._flush_requests = 0
            return requested

    def _housekeeping(self) -> None:
        self._reader.claim_orphans()
        evicted = self._reader.evict(self._config.max_spool_bytes, self._config.max_age_s)
        for reason, count in evicted.items():
            self._on_lost(reason, count)
        self._reader.collect()
        self._housekeeping_hook()
        self._persist_ledger()

    def _dispatch(self, now: float) -> int:
        """Hand records to the senders while there is room; return how many."""
        if now < self._gate_until:
            return 0
        free = self._senders - self._in_flight
        submitted = 0
        while submitted < free and self._retries:
            self._submit(self._retries.popleft())
            submitted += 1
        if submitted >= free:
            return submitted
        for entry in self._reader.read(free - submitted):
            try:
                record = decode_record(entry.payload)
            except ValueError as exc:
                self._dead_letter(_Item(entry, _placeholder()), None, f"unreadable record: {exc}")
                continue
            self._submit(_Item(entry, record))
            submitted += 1
        return submitted

    def _submit(self, item: _Item) -> None:
        self._in_flight += 1
        self._work.put(item)

    def _drain_results(self, now: float) -> None:
        while True:
            try:
                item, outcome = self._results.get_nowait()
            except queue.Empty:
                return
            self._in_flight -= 1
            self._handle(item, outcome, now)

    def _handle(self, item: _Item, outcome: Outcome, now: float) -> None:
        if outcome.kind is OutcomeKind.DELIVERED:
            self._reader.ack(item.entry)
            self._stats.count("delivered")
            self._ledger.add("delivered")
            self._failures = 0
            return
        if outcome.kind is OutcomeKind.REJECTED:
            self._dead_letter(item, outcome.status, outcome.detail, outcome.response_text)
            return
        item.attempts += 1
        item.first_failure = item.first_failure or now
        self._stats.count("retries")
        with self._state:
            self._failures_total += 1
            self._state.notify_all()
        if now - item.first_failure > self._config.max_retry_elapsed_s:
            self._dead_letter(
                item,
                outcome.status,
                f"gave up after {item.attempts} attempts over "
                f"{now - item.first_failure:.0f} s: {outcome.detail}",
            )
            return
        self._failures += 1
        delay = outcome.retry_after_s
        if delay is None:
            delay = backoff_s(
                self._failures, self._config.initial_backoff_s, self._config.max_backoff_s
            )
        self._gate_until = max(self._gate_until, now + delay)
        self._retries.append(item)
        self._warn.log(
            logging.WARNING,
            "retry",
            "delivery failed, retrying in %.1f s (attempt %d): %s",
            delay,
            item.attempts,
            outcome.detail,
        )

    def _dead_letter(
        self, item: _Item, status: int | None, error: str, response_text: str = ""
    ) -> None:
        try:
            append_dead_letter(
                self._dead_letters_path, item.entry.payload, status, error, response_text
            )
        except OSError as exc:
            # Could not keep it: leave it unacknowledged so a later run tries again.
            self._warn.log(logging.ERROR, "dead-letter", "cannot write dead letter: %s", exc)
            self._reader.release(item.entry)
            return
        self._reader.ack(item.entry)
        self._stats.count("dead_lettered")
        self._ledger.add("dead_lettered")
        self._warn.log(
            logging.WARNING,
            "rejected",
            "record %s was refused and moved to %s: %s",
            item.record.request_id,
            self._dead_letters_path,
            error,
        )

    def _publish_state(self) -> None:
        drained = self._in_flight == 0 and not self._retries and not self._reader.has_unread()
        backlog = 0 if drained else self._reader.backlog()
        with self._state:
            self._backlog = backlog
            if drained:
                self._drained_generation += 1
                self._state.notify_all()

    def _wait(self, now: float, next_housekeeping: float, submitted: int) -> None:
        until = next_housekeeping
        if now < self._gate_until:
            until = min(until, self._gate_until)
        elif submitted and self._in_flight < self._senders:
            until = now  # the spool may hold more, and there is room to send it
        timeout = max(0.0, min(until - now, _MAX_WAIT_S))
        if timeout > 0:
            self._wake.wait(timeout)
        self._wake.clear()

    def _persist_ledger(self) -> None:
        try:
            self._ledger.persist()
        except OSError as exc:
            self._warn.log(logging.WARNING, "ledger", "cannot update the spool ledger: %s", exc)

    def _finish(self) -> None:
        self._drain_results(time.monotonic())
        for item in self._retries:
            self._reader.release(item.entry)
        self._retries.clear()
        self._housekeeping()  # last eviction and ledger update
        self._backlog = self._reader.backlog()
        # Let other processes (heliograph serve, the next run) claim what is left.
        self._reader.release_all()
        with self._state:
            self._state.notify_all()

    # -- senders -------------------------------------------------------------------------

    def _send_loop(self, transport: Transport) -> None:
        while True:
            item = self._work.get()
            if item is None or self._stopping:
                return
            try:
                if item.outgoing is None:
                    # Imported here, on a sender thread, like the transport: its pricing
                    # table, stream parsers and token counter take ~15 ms to import,
                    # which neither ``import heliograph`` nor a caller's log should pay.
                    from heliograph.delivery.enrich import enrich

                    item.outgoing = enrich(
                        item.record, estimate_tokens=self._config.estimate_tokens
                    )
                outcome = transport.send(item.outgoing)
            except Exception as exc:  # a transport must not raise; be safe anyway
                outcome = Outcome.retry(f"transport error: {exc!r}")
            self._results.put((item, outcome))
            self._wake.set()


def _placeholder() -> Record:
    return Record(request_id="unreadable", request={}, start_ms=0.0, end_ms=0.0)
