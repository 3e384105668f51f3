"""What every message producer shares: the protocol, its counters, the size-limit status."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Protocol

from heliograph.delivery.outcome import Outcome
from heliograph.model.message_data import MessageData

__all__ = ["TOO_LARGE", "MessageProducer", "ProducerStats"]

TOO_LARGE = 413
"""The status of a ``rejected`` outcome for a message over its destination's size limit:
the caller may move the bodies out of band and send again."""


class MessageProducer(Protocol):
    """One destination of messages: a queue, both queues, or HTTP. Thread-safe."""

    name: str

    def send_message(self, msg: MessageData) -> Outcome:
        """Publish ``msg`` and wait until the destination has it. Never raises."""
        ...

    def set_lower_priority(self) -> None:
        """Send later messages to the low-priority queue (only SQS has one)."""
        ...

    def close(self) -> None: ...


class ProducerStats:
    """Thread-safe counters: ``sent:<producer>``, ``failed:<producer>``, ``offloaded``…"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
