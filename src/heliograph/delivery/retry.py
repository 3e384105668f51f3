"""The retry layer: exponential backoff with jitter, ``Retry-After``, the elapsed limit.

An endpoint that is down is down for every record, so a retryable failure closes one
gate for the whole destination rather than delaying just its own record. The clock is
injectable, so the policy is tested without sleeping.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable

__all__ = ["RetryGate", "RetryPolicy", "backoff_s", "parse_retry_after"]


@dataclasses.dataclass
class RetryPolicy:
    """When to try again after a failure, and when to stop trying a record."""

    initial_s: float
    max_s: float
    max_elapsed_s: float
    rng: random.Random | None = None

    def delay_s(self, failures: int, retry_after_s: float | None) -> float:
        """``max(backoff, Retry-After)``: a server's hint never shortens the backoff."""
        delay = backoff_s(failures, self.initial_s, self.max_s, self.rng)
        return delay if retry_after_s is None else max(delay, retry_after_s)

    def exhausted(self, first_failure: float, now: float) -> bool:
        return now - first_failure > self.max_elapsed_s


class RetryGate:
    """The destination-wide pause after a failure: closed until the backoff has passed."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self.failures = 0  # consecutive, reset by a success
        self.until = 0.0

    def is_open(self) -> bool:
        return self.clock() >= self.until

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, retry_after_s: float | None) -> float:
        """Close the gate after a retryable failure; return the delay chosen."""
        self.failures += 1
        delay = self.policy.delay_s(self.failures, retry_after_s)
        self.until = max(self.until, self.clock() + delay)
        return delay

    def waive(self) -> None:
        """Open now (a flush asks for one attempt whatever the backoff)."""
        self.until = 0.0


def backoff_s(
    attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Delay before attempt ``attempt + 1``: ``initial * 2**(attempt-1)``, capped, ±20 % jitter."""
    base = min(max_s, initial_s * (2 ** max(0, attempt - 1)))
    jitter = (rng or random).uniform(0.8, 1.2)
    return float(min(max_s, base * jitter))


def parse_retry_after(value: str | None, max_s: float = 3600.0) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date), capped."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        import email.utils  # only for an HTTP-date, which servers rarely send

        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    return max(0.0, min(max_s, seconds))
