"""Dual write: every message to Kafka (primary) and SQS (secondary), for migrations.

As Helicone's ``DualWriteProducer`` (helicone.md §1.6): the primary is tried first and
its failure is only logged, and the secondary's result is the result. Helicone's Kafka
producer returns an error instead of throwing, so there a Kafka failure vanishes; here
it is counted (``failed:dual-kafka``) as well as logged, and so is an SQS failure.
"""

from __future__ import annotations

import logging

from heliograph._ratelimit import RateLimitedLogger
from heliograph.delivery.outcome import Outcome, OutcomeKind
from heliograph.model.message_data import MessageData
from heliograph.transports.base import MessageProducer, ProducerStats

__all__ = ["DualWriteProducer"]

log = logging.getLogger("heliograph")


class DualWriteProducer:
    name = "dual"

    def __init__(
        self, primary: MessageProducer, secondary: MessageProducer, stats: ProducerStats
    ) -> None:
        self.primary = primary
        self.secondary = secondary
        self._stats = stats
        self._warn = RateLimitedLogger(log)

    def send_message(self, msg: MessageData) -> Outcome:
        for producer in (self.primary, self.secondary):
            outcome = producer.send_message(msg)
            if outcome.kind is not OutcomeKind.DELIVERED:
                self._stats.count(f"failed:dual-{producer.name}")
                self._warn.log(
                    logging.WARNING, f"dual-{producer.name}",
                    "dual write: %s did not take message %s: %s",
                    producer.name, msg.get("id"), outcome.detail,
                )  # fmt: skip
        return outcome

    def set_lower_priority(self) -> None:
        self.primary.set_lower_priority()
        self.secondary.set_lower_priority()

    def close(self) -> None:
        self.primary.close()
        self.secondary.close()
