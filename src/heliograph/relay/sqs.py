"""SQS relay: receive under a visibility timeout, forward, then delete.

A received message is invisible to other relays for ``visibility_timeout_s``; it is
deleted only once forwarded or dead-lettered, so a relay that dies mid-way lets it
reappear for another. When the destination is down the relay makes the messages it holds
visible again at once (another relay, or this one after its backoff, takes them) instead
of sitting on them for the whole timeout.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson

from heliograph.relay.core import ATTEMPTS_HEADER, Backoff, Verdict, judge
from heliograph.relay.forward import Forwarder
from heliograph.transports.base import ProducerStats
from heliograph.transports.sqs import MAX_BATCH_ENTRIES, SqsSettings, sqs_client

__all__ = ["DLQ_QUEUE_NAME", "SqsRelay", "default_dlq_url"]

log = logging.getLogger("heliograph.relay")

DLQ_QUEUE_NAME = "request-response-logs-dlq"  # Jawn's name (helicone.md §2.1)


def default_dlq_url(queue_url: str) -> str:
    """Jawn's dead-letter queue beside ``queue_url``: ``…/request-response-logs-dlq``."""
    return queue_url.rsplit("/", 1)[0] + "/" + DLQ_QUEUE_NAME


class SqsRelay:
    """Forward ``settings.queue_url`` to ``forwarder``; run ``run(stop)`` on its own thread."""

    def __init__(
        self,
        settings: SqsSettings,
        forwarder: Forwarder,
        *,
        dlq_url: str | None = None,
        max_attempts: int = 5,
        max_messages: int = MAX_BATCH_ENTRIES,
        visibility_timeout_s: int = 60,
        wait_s: int = 1,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.client = sqs_client(settings, timeout_s + wait_s)
        self.stats = ProducerStats()
        self._forwarder = forwarder
        self._queue_url = settings.queue_url
        self._dlq_url = dlq_url or default_dlq_url(settings.queue_url)
        self._max_attempts = max_attempts
        self._max_messages = min(MAX_BATCH_ENTRIES, max(1, max_messages))
        self._visibility_timeout_s = visibility_timeout_s
        self._wait_s = wait_s
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s

    def run(self, stop: threading.Event) -> None:
        """Receive until ``stop`` is set."""
        backoff = Backoff(stop, self._initial_backoff_s, self._max_backoff_s)
        try:
            while not stop.is_set():
                try:
                    failure = self._round()
                except Exception as exc:  # the queue itself is unreachable
                    failure = f"SQS: {exc!r}"
                if failure is None:
                    backoff.succeeded()
                else:
                    backoff.failed(failure, self.stats)
        finally:
            self._forwarder.close()

    def _round(self) -> str | None:
        answer = self.client.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._max_messages,
            WaitTimeSeconds=self._wait_s,
            VisibilityTimeout=self._visibility_timeout_s,
            MessageAttributeNames=[ATTEMPTS_HEADER],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        done: list[dict[str, Any]] = []
        for n, message in enumerate(messages):
            body = message.get("Body", "").encode()
            verdict, detail = judge(self._forwarder, body, orjson.loads)
            if verdict is Verdict.POISON and not self._dead_letter(message, detail):
                verdict, detail = Verdict.RETRY, "cannot write to the dead-letter queue"
            if verdict is Verdict.RETRY:
                self._delete(done)
                self._release(messages[n:])
                return detail
            if verdict is Verdict.FORWARDED:
                self.stats.count("forwarded")
            done.append(message)
        self._delete(done)
        return None

    def _dead_letter(self, message: dict[str, Any], reason: str) -> bool:
        attribute = message.get("MessageAttributes", {}).get(ATTEMPTS_HEADER, {})
        try:
            attempts = int(attribute.get("StringValue", "0")) + 1
        except ValueError:
            attempts = 1
        if attempts >= self._max_attempts:
            self.stats.count("dropped")
            log.error("relay: dropping SQS message after %d attempts: %s", attempts, reason)
            return True
        try:
            self.client.send_message(
                QueueUrl=self._dlq_url,
                MessageBody=message.get("Body", ""),
                MessageAttributes={
                    ATTEMPTS_HEADER: {"DataType": "Number", "StringValue": str(attempts)},
                    "heliograph-error": {"DataType": "String", "StringValue": reason[:500] or "-"},
                },
            )
        except Exception as exc:
            log.warning("relay: cannot write to the dead-letter queue %s: %r", self._dlq_url, exc)
            return False
        self.stats.count("dead_lettered")
        log.warning("relay: SQS message dead-lettered (attempt %d): %s", attempts, reason)
        return True

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), MAX_BATCH_ENTRIES):
            chunk = messages[start : start + MAX_BATCH_ENTRIES]
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)
            ]
            try:
                answer = self.client.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except Exception as exc:  # they reappear after the timeout; the receiver dedupes
                log.warning("relay: cannot delete %d forwarded messages: %r", len(chunk), exc)
                continue
            for failed in answer.get("Failed", []):
                log.warning("relay: cannot delete a forwarded message: %s", failed.get("Message"))

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Make ``messages`` visible again now, for whichever relay can take them."""
        entries = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for n, m in enumerate(messages)
        ]
        if entries:
            try:
                self.client.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except Exception as exc:  # they reappear after the visibility timeout anyway
                log.debug("relay: cannot release %d messages: %r", len(entries), exc)
