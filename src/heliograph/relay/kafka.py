"""Kafka relay: a consumer group member that forwards, then commits.

Offsets are committed only for messages forwarded or dead-lettered, synchronously after
each batch and when partitions are revoked, so a relay that dies or loses a partition
hands it on at the first unfinished message. When the destination is down the relay
seeks back to the first unfinished message of each partition and backs off: nothing is
skipped, and nothing goes to the dead-letter topic for being unlucky.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from heliograph.relay.core import ATTEMPTS_HEADER, Backoff, Verdict, judge
from heliograph.relay.forward import Forwarder
from heliograph.transports.base import ProducerStats
from heliograph.transports.kafka import (
    DLQ_TOPIC,
    KafkaSettings,
    decode_value,
    import_confluent_kafka,
)

__all__ = ["KafkaRelay"]

log = logging.getLogger("heliograph.relay")


class KafkaRelay:
    """Forward ``settings.topic`` to ``forwarder``; run ``run(stop)`` on its own thread."""

    def __init__(
        self,
        settings: KafkaSettings,
        forwarder: Forwarder,
        *,
        group_id: str = "heliograph-relay",
        dlq_topic: str = DLQ_TOPIC,
        max_attempts: int = 5,
        batch_size: int = 100,
        consumer_config: dict[str, Any] | None = None,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        kafka = import_confluent_kafka()
        self._kafka = kafka
        self.settings = settings
        self.stats = ProducerStats()
        self._forwarder = forwarder
        self._dlq_topic = dlq_topic
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self.assigned: set[int] = set()
        self._consumer = kafka.Consumer(
            {
                **settings.client_config(),
                "client.id": "heliograph-relay",
                "group.id": group_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                **(consumer_config or {}),
            }
        )
        self._dlq = kafka.Producer(
            {**settings.client_config(), "client.id": "heliograph-relay-dlq",
             "enable.idempotence": True}
        )  # fmt: skip

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then commit and leave the group."""
        backoff = Backoff(stop, self._initial_backoff_s, self._max_backoff_s)
        self._consumer.subscribe(
            [self.settings.topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        try:
            while not stop.is_set():
                messages = self._consumer.consume(self._batch_size, timeout=0.5)
                failure = self._handle_batch([m for m in messages if self._usable(m)])
                if failure is None:
                    backoff.succeeded()
                else:
                    backoff.failed(failure, self.stats)
        finally:
            self._commit()
            self._consumer.close()
            self._dlq.flush(5.0)
            self._forwarder.close()

    def _usable(self, message: Any) -> bool:
        error = message.error()
        if error is not None:
            log.warning("relay: Kafka consumer error: %s", error.str())
            return False
        return True

    def _handle_batch(self, messages: list[Any]) -> str | None:
        """Forward ``messages``; on a retryable failure, rewind and return its detail."""
        failure: str | None = None
        rewind: dict[int, Any] = {}
        for message in messages:
            if message.partition() in rewind:
                continue  # an earlier message of this partition must go first
            verdict, detail = judge(self._forwarder, message.value() or b"", decode_value)
            if verdict is Verdict.POISON and not self._dead_letter(message, detail):
                verdict, detail = Verdict.RETRY, "cannot write to the dead-letter topic"
            if verdict is Verdict.RETRY:
                failure = failure or detail
                rewind[message.partition()] = message
                continue
            if verdict is Verdict.FORWARDED:
                self.stats.count("forwarded")
            self._consumer.store_offsets(message)
        self._commit()
        for message in rewind.values():
            partition = self._kafka.TopicPartition(
                message.topic(), message.partition(), message.offset()
            )
            self._consumer.seek(partition)
        return failure

    def _dead_letter(self, message: Any, reason: str) -> bool:
        """Publish ``message`` to the DLQ with its attempt counter + 1 (or drop it)."""
        attempts = _attempts(message.headers()) + 1
        if attempts >= self._max_attempts:
            self.stats.count("dropped")
            log.error(
                "relay: dropping message %r after %d attempts: %s", message.key(), attempts, reason
            )
            return True
        report: list[Any] = []
        self._dlq.produce(
            self._dlq_topic,
            value=message.value(),
            key=message.key(),
            headers=[
                (ATTEMPTS_HEADER, str(attempts).encode()),
                ("heliograph-error", reason[:500].encode()),
            ],
            on_delivery=lambda error, _msg: report.append(error),
        )
        self._dlq.flush(10.0)
        if report != [None]:
            return False
        self.stats.count("dead_lettered")
        log.warning(
            "relay: message %r dead-lettered (attempt %d): %s", message.key(), attempts, reason
        )
        return True

    def _commit(self) -> None:
        try:
            self._consumer.commit(asynchronous=False)
        except self._kafka.KafkaException as exc:
            # _NO_OFFSET: nothing new was stored since the last commit.
            if exc.args[0].code() != self._kafka.KafkaError._NO_OFFSET:
                log.warning("relay: commit failed: %s", exc)

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self.assigned = {p.partition for p in partitions}

    def _on_revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        self._commit()
        self.assigned -= {p.partition for p in partitions}


def _attempts(headers: list[tuple[str, bytes]] | None) -> int:
    for name, value in headers or []:
        if name == ATTEMPTS_HEADER:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
