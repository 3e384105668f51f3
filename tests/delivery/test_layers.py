"""The delivery layers on their own: the retry gate's clock, the senders' concurrency and
per-attempt deadline. No sleeps beyond a thread handing over an answer."""

from __future__ import annotations

import random
import threading

from heliograph.delivery.outcome import Outcome, OutcomeKind
from heliograph.delivery.retry import RetryGate, RetryPolicy
from heliograph.delivery.senders import SenderPool
from tests.support import wait_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_gate_closes_for_the_backoff_and_opens_when_the_clock_passes_it() -> None:
    clock = FakeClock()
    gate = RetryGate(RetryPolicy(0.5, 30.0, 3600.0, rng=random.Random(1)), clock)
    assert gate.is_open()
    delay = gate.failed(None)
    assert 0.4 <= delay <= 0.6 and not gate.is_open()
    clock.now += delay
    assert gate.is_open()
    second = gate.failed(None)
    assert 0.8 <= second <= 1.2  # doubled, within jitter
    gate.succeeded()
    clock.now += second
    assert 0.4 <= gate.failed(None) <= 0.6  # a success resets the count


def test_retry_after_never_shortens_the_backoff_and_lengthens_it_when_longer() -> None:
    policy = RetryPolicy(4.0, 30.0, 3600.0, rng=random.Random(2))
    assert policy.delay_s(1, retry_after_s=0.1) >= 3.2  # backoff wins over a short hint
    assert policy.delay_s(1, retry_after_s=20.0) == 20.0  # a long hint wins


def test_a_record_failing_longer_than_the_elapsed_limit_is_exhausted() -> None:
    policy = RetryPolicy(0.5, 30.0, max_elapsed_s=60.0)
    assert not policy.exhausted(first_failure=100.0, now=160.0)
    assert policy.exhausted(first_failure=100.0, now=160.1)


def test_gate_waived_by_a_flush_opens_at_once() -> None:
    clock = FakeClock()
    gate = RetryGate(RetryPolicy(10.0, 30.0, 3600.0), clock)
    gate.failed(None)
    assert not gate.is_open()
    gate.waive()
    assert gate.is_open()


def test_senders_keep_at_most_their_size_in_flight() -> None:
    release = threading.Event()
    running: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def attempt(item: int) -> Outcome:
        with lock:
            running.append(item)
            peak[0] = max(peak[0], len(running))
        release.wait(5)
        with lock:
            running.remove(item)
        return Outcome.delivered()

    pool: SenderPool[int] = SenderPool(3, attempt, lambda: None, deadline_s=60)
    pool.start()
    for item in range(3):
        pool.submit(item)
    assert pool.free() == 0
    assert wait_for(lambda: len(running) == 3, timeout=5)
    release.set()
    answers: list[tuple[int, Outcome]] = []
    assert wait_for(lambda: bool(answers.extend(pool.results())) or len(answers) == 3, 5)
    assert peak[0] == 3 and pool.in_flight == 0
    pool.stop()


def test_an_attempt_past_its_deadline_is_answered_as_a_retry_and_its_thread_replaced() -> None:
    clock = FakeClock()
    hung, began = threading.Event(), threading.Event()

    def attempt(item: str) -> Outcome:
        if item == "hangs":
            began.set()
            hung.wait(10)  # a client library that never returns
        return Outcome.delivered()

    pool: SenderPool[str] = SenderPool(1, attempt, lambda: None, deadline_s=25, clock=clock)
    pool.start()
    pool.submit("hangs")
    assert began.wait(5)
    clock.now += 24
    assert pool.expire() == 0  # within its deadline
    clock.now += 2
    assert wait_for(lambda: pool.expire() == 1, timeout=5)
    [(item, outcome)] = pool.results()
    assert item == "hangs" and outcome.kind is OutcomeKind.RETRY
    pool.submit("next")  # the replacement thread takes new work at once
    answers: list[tuple[str, Outcome]] = []
    assert wait_for(lambda: bool(answers.extend(pool.results())) or bool(answers), timeout=5)
    assert answers[0][0] == "next" and answers[0][1].kind is OutcomeKind.DELIVERED
    hung.set()  # the abandoned attempt's late answer is discarded
    assert not wait_for(lambda: bool(pool.results()), timeout=0.3)
    pool.stop()
