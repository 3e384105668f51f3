"""Delivery as stacked layers, driven by one dispatcher thread.

    SpoolQueue (spool/queue.py)     take records, settle outcomes, claim, evict, ledger
      → RetryGate (retry.py)        backoff with jitter, max(backoff, Retry-After), elapsed limit
      → SenderPool (senders.py)     at most N attempts in flight, each with a deadline
      → enrich (enrich.py)          cost and estimated tokens, once per record
      → Transport (transports/)     one record, one attempt, an Outcome; never raises

The dispatcher only dispatches: it moves records from the queue to the senders while the
gate is open and there is room, and routes each answer back (delivered → acknowledge,
rejected → dead letter, retry → close the gate, try it first when it opens). At most N
records are in memory; the rest wait on disk. The same stack runs inside an app
(``delivery="thread"``) and in the delivery agent (``heliograph agent``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from heliograph._ratelimit import RateLimitedLogger
from heliograph.config import Config
from heliograph.delivery.outcome import Outcome, OutcomeKind, Transport
from heliograph.delivery.report import DeliveryReport, DeliveryStats
from heliograph.delivery.retry import RetryGate, RetryPolicy
from heliograph.delivery.senders import SenderPool
from heliograph.model.record import Record
from heliograph.spool.queue import QueuedRecord, SpoolQueue

__all__ = ["Dispatcher"]

log = logging.getLogger("heliograph.delivery")

_HOUSEKEEPING_S = 1.0
_MAX_WAIT_S = 0.5


@dataclasses.dataclass(eq=False)
class _Attempt:
    queued: QueuedRecord
    attempts: int = 0
    first_failure: float | None = None
    outgoing: Record | None = None  # the enriched copy, computed once on first send


class Dispatcher:
    """Delivers what a spool queue holds through a transport, until closed or handed over."""

    def __init__(
        self,
        spool: SpoolQueue,
        transport_factory: Callable[[], Transport],
        config: Config,
        stats: DeliveryStats,
        housekeeping: Callable[[], None] = lambda: None,
        hand_over: Callable[[], bool] = lambda: False,
        on_stopped: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = _MAX_WAIT_S,
        housekeeping_s: float = _HOUSEKEEPING_S,
    ) -> None:
        """``hand_over`` is asked once a second whether another deliverer should take over;
        if so, the dispatcher finishes what is in flight, lets go of the spool and stops,
        then calls ``on_stopped``."""
        self._spool = spool
        self._transport_factory = transport_factory
        self._transport: Transport | None = None
        self._config = config
        self._stats = stats
        self._housekeeping_hook = housekeeping
        self._hand_over = hand_over
        self._on_stopped = on_stopped
        self._clock = clock
        self._poll_s = poll_s  # the longest idle wait: how soon lines others append are seen
        self._housekeeping_s = housekeeping_s  # how soon new segments are seen
        self._gate = RetryGate(
            RetryPolicy(config.initial_backoff_s, config.max_backoff_s, config.max_retry_elapsed_s),
            clock,
        )
        self._senders: SenderPool[_Attempt] | None = None
        self._retries: deque[_Attempt] = deque()
        self._failures_total = 0
        self._housekeeping_due = False
        self._wake = threading.Event()
        self._stopping = False
        self._stop_deadline = 0.0
        self._handing_over = False
        self._flush_requests = 0
        self._state = threading.Condition()
        self._drained_generation = 0
        self._backlog = 0
        self._thread: threading.Thread | None = None
        self._warn = RateLimitedLogger(log)

    # -- public --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher; it builds the transport and the senders off the caller's thread."""
        self._thread = threading.Thread(target=self._run, name="heliograph-delivery", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """A record was spooled: wake the dispatcher, unless every sender is busy.

        Called on the caller's thread for every record. While all senders are busy the
        dispatcher has nothing to hand out, and each sender wakes it as it finishes, so
        waking it here too would only make it take the GIL from the caller. Reading the
        counts without a lock is safe: a stale value only delays the record until the next
        answer or housekeeping tick.
        """
        senders = self._senders
        if senders is None or senders.free() > 0:
            self._wake.set()

    @property
    def started(self) -> bool:
        """Whether delivery got going (its transport and senders were built)."""
        return self._senders is not None

    @property
    def backlog(self) -> int:
        """Records of this destination not yet settled, as of the last loop."""
        return self._backlog

    def request_housekeeping(self) -> None:
        """Run the spool's housekeeping (claims, bounds) on the next loop, not in a second."""
        self._housekeeping_due = True
        self._wake.set()

    def retry_now(self) -> None:
        """Try everything on the next loop, backoff waived once (a flush from elsewhere)."""
        with self._state:
            self._flush_requests += 1
        self._wake.set()

    def flush(self, timeout: float, stop_on_failure: bool = False) -> DeliveryReport:
        """Try everything now (backoff waived once); wait until drained or ``timeout``.

        With ``stop_on_failure`` (the exit path) it also returns at the first retryable
        failure: one bounded attempt, and the rest stays spooled for later.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._state:
            self._flush_requests += 1
            wanted = self._drained_generation + 1
            failures_before = self._failures_total
        self._wake.set()
        with self._state:
            while self._drained_generation < wanted and self.running:
                if stop_on_failure and self._failures_total != failures_before:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._state.wait(min(remaining, _MAX_WAIT_S))
            backlog = self._backlog
        return self._stats.report(pending=backlog)

    def close(self, timeout: float, stop_on_failure: bool = False) -> DeliveryReport:
        """Flush, then stop within ``timeout`` seconds in all; what is left stays spooled.

        The last part of the bound is kept for answers (see ``stop``), so a record the
        endpoint received is not sent again by the next run.
        """
        reserve = min(timeout / 4, self._config.attempt_timeout_s)
        started = time.monotonic()
        self.flush(max(0.0, timeout - reserve), stop_on_failure)
        return self.stop(max(0.0, timeout - (time.monotonic() - started)))

    def stop(self, timeout: float) -> DeliveryReport:
        """Send nothing new; wait up to ``timeout`` s for the answers to what is in flight,
        acknowledge them, and stop. What was never sent stays spooled."""
        self._stop_deadline = time.monotonic() + max(0.0, timeout)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.05, self._stop_deadline - time.monotonic()))
        if self._transport is not None and not self.running:
            self._transport.close()
        return self._stats.report(pending=self._backlog)

    # -- the loop ------------------------------------------------------------------------

    def _start_senders(self) -> SenderPool[_Attempt]:
        transport = self._transport_factory()
        self._transport = transport
        # A queue transport waits for each broker acknowledgement while the broker batches
        # concurrent sends, so it asks for more records in flight than HTTP needs.
        size = max(self._config.concurrency, getattr(transport, "in_flight", 1))
        deadline = self._config.connect_timeout_s + 2 * self._config.attempt_timeout_s
        senders: SenderPool[_Attempt] = SenderPool(
            size, lambda attempt: self._send(transport, attempt), self._wake.set, deadline
        )
        senders.start()
        return senders

    def _send(self, transport: Transport, attempt: _Attempt) -> Outcome:
        if attempt.outgoing is None:
            # Imported here, on a sender thread, like the transport: its pricing table,
            # stream parsers and token counter are slow to import, and neither
            # ``import heliograph`` nor a caller's log should pay for them.
            from heliograph.delivery.enrich import enrich

            attempt.outgoing = enrich(
                attempt.queued.record, estimate_tokens=self._config.estimate_tokens
            )
        return transport.send(attempt.outgoing)

    def _run(self) -> None:
        try:
            self._senders = self._start_senders()
            self._spool.start()
        except Exception as exc:
            # One line, rate-limited, never a traceback on stderr: the records are safe, and
            # flush/close report them as pending.
            self._warn.log(
                logging.ERROR, "start",
                "cannot start delivery (%s); records stay in the spool", exc,
            )  # fmt: skip
            log.debug("delivery start failure", exc_info=True)
            self._spool.release_all()
            self._notify()
            self._on_stopped()
            return
        next_housekeeping = 0.0
        while True:
            try:
                now = self._clock()
                self._settle(self._senders.results(), now)
                if self._finished_stopping():
                    self._finish()
                    return
                flush_requested = self._take_flush_request()
                if flush_requested or self._housekeeping_due or now >= next_housekeeping:
                    self._housekeeping_due = False
                    self._housekeeping()
                    next_housekeeping = now + self._housekeeping_s
                if flush_requested:
                    self._gate.waive()
                submitted = 0
                if not (self._stopping or self._handing_over):
                    submitted = self._dispatch(self._senders)
                self._publish_state()
                self._wait(now, next_housekeeping, submitted)
            except Exception as exc:  # never let the dispatcher die, nor flood the log
                self._warn.log(
                    logging.ERROR, f"worker-{type(exc).__name__}",
                    "delivery error, continuing in %.1f s: %r", _MAX_WAIT_S, exc,
                )  # fmt: skip
                time.sleep(_MAX_WAIT_S)

    def _finished_stopping(self) -> bool:
        """Stopping or handing over, and every answer is in (or the bound has passed)."""
        assert self._senders is not None
        if not (self._stopping or self._handing_over):
            return False
        for attempt in self._senders.withdraw():  # queued, never sent: send nothing new
            self._spool.give_back(attempt.queued)
        if self._senders.in_flight == 0:
            return True
        return self._stopping and time.monotonic() >= self._stop_deadline

    def _take_flush_request(self) -> bool:
        with self._state:
            requested = self._flush_requests > 0
            self._flush_requests = 0
            return requested

    def _housekeeping(self) -> None:
        assert self._senders is not None
        self._senders.expire()
        self._spool.housekeeping(self._config.max_spool_bytes, self._config.max_age_s)
        self._housekeeping_hook()
        if not self._handing_over and self._hand_over():
            log.info("another deliverer takes over this destination: handing over")
            self._handing_over = True

    def _dispatch(self, senders: SenderPool[_Attempt]) -> int:
        """Hand records to the senders while the gate is open and there is room."""
        if not self._gate.is_open():
            return 0
        free = senders.free()
        submitted = 0
        while submitted < free and self._retries:
            senders.submit(self._retries.popleft())
            submitted += 1
        if submitted < free:
            for queued in self._spool.take(free - submitted):
                senders.submit(_Attempt(queued))
                submitted += 1
        return submitted

    def _settle(self, answers: list[tuple[_Attempt, Outcome]], now: float) -> None:
        delivered: list[QueuedRecord] = []
        for attempt, outcome in answers:
            if outcome.kind is OutcomeKind.DELIVERED:
                delivered.append(attempt.queued)
            elif outcome.kind is OutcomeKind.REJECTED:
                self._reject(attempt, outcome.status, outcome.detail, outcome.response_text)
            else:
                self._retry(attempt, outcome, now)
        if delivered:
            self._spool.delivered(delivered)
            self._stats.count("delivered", len(delivered))
            self._gate.succeeded()

    def _retry(self, attempt: _Attempt, outcome: Outcome, now: float) -> None:
        attempt.attempts += 1
        attempt.first_failure = attempt.first_failure or now
        self._stats.count("retries")
        with self._state:
            self._failures_total += 1
            self._state.notify_all()
        if self._gate.policy.exhausted(attempt.first_failure, now):
            self._reject(
                attempt,
                outcome.status,
                f"gave up after {attempt.attempts} attempts over "
                f"{now - attempt.first_failure:.0f} s: {outcome.detail}",
            )
            return
        delay = self._gate.failed(outcome.retry_after_s)
        self._retries.append(attempt)
        self._warn.log(
            logging.WARNING, "retry", "delivery failed, retrying in %.1f s (attempt %d): %s",
            delay, attempt.attempts, outcome.detail,
        )  # fmt: skip

    def _reject(self, attempt: _Attempt, status: int | None, error: str, text: str = "") -> None:
        if self._spool.dead_letter(attempt.queued, status, error, text):
            self._stats.count("dead_lettered")

    def _publish_state(self) -> None:
        assert self._senders is not None
        drained = (
            self._senders.in_flight == 0 and not self._retries and not self._spool.has_unread()
        )
        backlog = 0 if drained else self._spool.backlog()
        with self._state:
            self._backlog = backlog
            if drained:
                self._drained_generation += 1
                self._state.notify_all()

    def _wait(self, now: float, next_housekeeping: float, submitted: int) -> None:
        assert self._senders is not None
        until = next_housekeeping
        if self._stopping or self._handing_over:
            until = min(until, now + 0.05)
        elif not self._gate.is_open():
            until = min(until, self._gate.until)
        elif submitted and self._senders.free() > 0:
            until = now  # the spool may hold more, and there is room to send it
        timeout = max(0.0, min(until - now, self._poll_s))
        if timeout > 0:
            self._wake.wait(timeout)
        self._wake.clear()

    def _finish(self) -> None:
        """Stop: give back what was not settled, let go of the spool, and say so."""
        assert self._senders is not None
        for attempt in self._senders.stop():  # queued, never sent
            self._spool.give_back(attempt.queued)
        for attempt in self._retries:
            self._spool.give_back(attempt.queued)
        self._retries.clear()
        self._housekeeping_hook()
        self._spool.housekeeping(self._config.max_spool_bytes, self._config.max_age_s)
        self._backlog = self._spool.backlog()
        # Another deliverer (the next run, an agent, heliograph serve) takes it from here.
        self._spool.release_all()
        self._notify()
        if self._handing_over and self._transport is not None:
            self._transport.close()
        self._on_stopped()

    def _notify(self) -> None:
        with self._state:
            self._state.notify_all()
