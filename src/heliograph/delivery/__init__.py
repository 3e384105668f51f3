"""Delivery: spooled records to a transport, as stacked layers (see ``dispatcher``).

``dispatcher.Dispatcher`` (the loop), ``senders`` (concurrency and per-attempt deadline),
``retry`` (the destination-wide backoff gate), ``enrich`` (cost and estimated tokens),
``outcome`` (the ``Transport`` protocol and ``Outcome``: delivered, retry, rejected),
``report`` (counters and the ``DeliveryReport`` of ``flush``/``close``). A record is
acknowledged only after a 2xx or after it was dead-lettered.
"""

from heliograph.delivery.outcome import Outcome, OutcomeKind, Transport
from heliograph.delivery.report import DeliveryReport, DeliveryStats

__all__ = ["DeliveryReport", "DeliveryStats", "Outcome", "OutcomeKind", "Transport"]
