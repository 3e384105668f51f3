"""Exponential backoff with jitter, and ``Retry-After`` parsing."""

from __future__ import annotations

import math
import random
import time

__all__ = ["backoff_s", "parse_retry_after"]


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
