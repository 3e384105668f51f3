"""Delivery: the background worker that moves spooled records to a transport.

``worker.DeliveryWorker`` (one dispatcher thread, N sender threads), ``outcome`` (the
``Transport`` protocol and ``Outcome``: delivered, retry, rejected), ``retry`` (backoff and
``Retry-After``), ``report`` (counters and the ``DeliveryReport`` of ``flush``/``close``).
A record is acknowledged only after a 2xx or after it was dead-lettered.
"""

from heliograph.delivery.outcome import Outcome, OutcomeKind, Transport
from heliograph.delivery.report import DeliveryReport, DeliveryStats
from heliograph.delivery.worker import DeliveryWorker

__all__ = [
    "DeliveryReport",
    "DeliveryStats",
    "DeliveryWorker",
    "Outcome",
    "OutcomeKind",
    "Transport",
]
