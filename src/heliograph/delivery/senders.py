"""The concurrency and timeout layers: at most N attempts in flight, none without end.

Each attempt runs on one of ``size`` sender threads. Transports bound their own I/O
(connect and read timeouts), but a client library can still hang, so the pool gives
every attempt a deadline of its own: past it, the attempt counts as a retryable failure,
its thread is abandoned (its late answer discarded) and a fresh thread takes its place,
so a stuck call can never hold the destination.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from heliograph.delivery.outcome import Outcome

__all__ = ["SenderPool"]

T = TypeVar("T")


class _Slot(Generic[T]):
    """One sender thread's current attempt."""

    def __init__(self) -> None:
        self.item: T | None = None
        self.started = 0.0
        self.abandoned = False


class SenderPool(Generic[T]):
    """Runs ``attempt(item)`` on ``size`` daemon threads; answers come back via ``results``.

    No item waits queued behind a busy sender: after a retryable failure the destination
    pauses, and a queued item would be sent anyway.
    """

    def __init__(
        self,
        size: int,
        attempt: Callable[[T], Outcome],
        on_answer: Callable[[], None],
        deadline_s: float,
        name: str = "heliograph-send",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self._attempt = attempt
        self._on_answer = on_answer
        self._deadline_s = deadline_s
        self._name = name
        self._clock = clock
        self._work: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._answers: queue.SimpleQueue[tuple[T, Outcome]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._slots: list[_Slot[T]] = []
        self._started = 0
        self.in_flight = 0  # changed only by the dispatcher thread

    def start(self) -> None:
        for _ in range(self.size):
            self._spawn()

    def free(self) -> int:
        return self.size - self.in_flight

    def submit(self, item: T) -> None:
        self.in_flight += 1
        self._work.put(item)

    def results(self) -> list[tuple[T, Outcome]]:
        """Answers that arrived since the last call."""
        answers: list[tuple[T, Outcome]] = []
        while True:
            try:
                answers.append(self._answers.get_nowait())
            except queue.Empty:
                break
        self.in_flight -= len(answers)
        return answers

    def expire(self) -> int:
        """Give up attempts past their deadline (each answered as a retry); return how many."""
        now = self._clock()
        expired = 0
        with self._lock:
            for slot in list(self._slots):
                if slot.item is None or now - slot.started <= self._deadline_s:
                    continue
                slot.abandoned = True
                self._slots.remove(slot)
                self._answers.put(
                    (slot.item, Outcome.retry(f"no answer within {self._deadline_s:.0f} s"))
                )
                expired += 1
        for _ in range(expired):
            self._spawn()
        return expired

    def withdraw(self) -> list[T]:
        """Take back the items no sender has started (they were never sent)."""
        withdrawn: list[T] = []
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                withdrawn.append(item)
        self.in_flight -= len(withdrawn)
        return withdrawn

    def stop(self) -> list[T]:
        """Let every sender end once its current attempt is answered; return what was
        still queued, never sent."""
        withdrawn = self.withdraw()
        for _ in range(self.size):
            self._work.put(None)
        return withdrawn

    def _spawn(self) -> None:
        slot: _Slot[T] = _Slot()
        with self._lock:
            self._slots.append(slot)
            number = self._started
            self._started += 1
        thread = threading.Thread(
            target=self._run, args=(slot,), name=f"{self._name}-{number}", daemon=True
        )
        thread.start()

    def _run(self, slot: _Slot[T]) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            with self._lock:
                slot.item, slot.started = item, self._clock()
            try:
                outcome = self._attempt(item)
            except Exception as exc:  # an attempt must not raise; be safe anyway
                outcome = Outcome.retry(f"transport error: {exc!r}")
            with self._lock:
                if slot.abandoned:
                    return  # answered as expired already; a fresh thread replaced this one
                slot.item = None
                self._answers.put((item, outcome))
            self._on_answer()
