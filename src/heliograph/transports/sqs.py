"""SQS producer (boto3): Helicone's queue, written in batches.

Helicone's worker sends one ``SendMessage`` per log with the plain ``MessageData`` JSON as
the body (helicone.md §1.5). Heliograph sends the same body, but gathers the messages
that concurrent sender threads hand it into ``SendMessageBatch`` calls: at most 10
entries, each at most 256 KiB and the batch at most 256 KiB, all measured in UTF-8 bytes
(SQS's own measure; moto counts characters, so the check is ours). An entry the batch
reports as failed is retried alone with ``SendMessage``, never by resending the batch,
so no other message is duplicated. A message over 256 KiB is refused before it is sent
(``rejected`` with status 413), which tells the caller to move its bodies out of band.

Settings (environment, Helicone's names; all five are required, as Helicone requires):
``AWS_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``REQUEST_LOGS_QUEUE_URL`` and ``REQUEST_LOGS_QUEUE_URL_LOW_PRIORITY`` (the queue
``set_lower_priority`` switches to). ``AWS_ENDPOINT_URL_SQS`` or ``AWS_ENDPOINT_URL``
point boto3 at another endpoint (a local SQS, moto).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

import orjson

from heliograph._ratelimit import RateLimitedLogger
from heliograph.delivery.outcome import Outcome, OutcomeKind
from heliograph.errors import ConfigError
from heliograph.model.message_data import MessageData
from heliograph.transports.base import TOO_LARGE

__all__ = ["MAX_BATCH_ENTRIES", "MAX_MESSAGE_BYTES", "SqsProducer", "SqsSettings", "sqs_client"]

log = logging.getLogger("heliograph")

MAX_MESSAGE_BYTES = 256 * 1024
MAX_BATCH_ENTRIES = 10
_REQUIRED = (
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "REQUEST_LOGS_QUEUE_URL",
    "REQUEST_LOGS_QUEUE_URL_LOW_PRIORITY",
)
# Errors that say the message itself is bad: sending it again cannot help.
_BAD_MESSAGE = frozenset(
    {"InvalidMessageContents", "InvalidParameterValue", "MessageTooLong", "InvalidAttributeValue"}
)


@dataclasses.dataclass(frozen=True)
class SqsSettings:
    region: str
    access_key_id: str
    secret_access_key: str
    queue_url: str
    low_priority_queue_url: str
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SqsSettings:
        """Helicone's ``SQSProducerImpl`` settings; ``ConfigError`` names what is missing."""
        missing = [name for name in _REQUIRED if not env.get(name)]
        if missing:
            raise ConfigError(f"SQS needs {', '.join(missing)} to be set")
        return cls(
            region=env["AWS_REGION"],
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            queue_url=env["REQUEST_LOGS_QUEUE_URL"],
            low_priority_queue_url=env["REQUEST_LOGS_QUEUE_URL_LOW_PRIORITY"],
            endpoint_url=env.get("AWS_ENDPOINT_URL_SQS") or env.get("AWS_ENDPOINT_URL") or None,
        )


def sqs_client(settings: SqsSettings, timeout_s: float, pool_size: int = 10) -> Any:
    """A boto3 SQS client for ``settings``, or a ``ConfigError`` saying how to install boto3."""
    try:
        import boto3
        from botocore.config import Config as BotoConfig
    except ImportError as exc:
        raise ConfigError("SQS needs boto3: pip install 'heliograph[sqs]'") from exc
    return boto3.client(
        "sqs",
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        endpoint_url=settings.endpoint_url,
        config=BotoConfig(
            connect_timeout=min(timeout_s, 5.0),
            read_timeout=timeout_s,
            retries={"mode": "standard", "max_attempts": 2},
            max_pool_connections=pool_size,
        ),
    )


@dataclasses.dataclass(eq=False)
class _Entry:
    queue_url: str
    body: str
    size: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    outcome: Outcome = dataclasses.field(default_factory=lambda: Outcome.retry("not sent"))

    def finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.done.set()


class SqsProducer:
    """Thread-safe: senders enqueue, one batcher thread sends and reports back."""

    name = "sqs"
    max_message_bytes = MAX_MESSAGE_BYTES

    def __init__(
        self, settings: SqsSettings, timeout_s: float = 10.0, linger_s: float = 0.002
    ) -> None:
        self.settings = settings
        self.client = sqs_client(settings, timeout_s)
        self.queue_url = settings.queue_url
        self._timeout_s = timeout_s
        self._linger_s = linger_s
        self._pending: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._warn = RateLimitedLogger(log)
        self._closed = False
        self._batcher = threading.Thread(target=self._run, name="heliograph-sqs", daemon=True)
        self._batcher.start()

    def send_message(self, msg: MessageData) -> Outcome:
        if self._closed:
            return Outcome.retry("SQS producer is closed")
        try:
            body = orjson.dumps(msg).decode()
        except TypeError as exc:
            return Outcome.rejected(f"message cannot be encoded: {exc}")
        size = len(body.encode())
        if size > MAX_MESSAGE_BYTES:
            return Outcome.rejected(
                f"message is {size} bytes, over SQS's {MAX_MESSAGE_BYTES}", TOO_LARGE
            )
        entry = _Entry(self.queue_url, body, size)
        self._pending.put(entry)
        # boto3 retries within its own timeouts; the margin covers one batch ahead of us.
        if not entry.done.wait(2 * self._timeout_s + 1.0):
            return Outcome.retry(f"SQS did not answer within {2 * self._timeout_s:g} s")
        return entry.outcome

    def set_lower_priority(self) -> None:
        """Helicone's ``setLowerPriority``: later messages go to the low-priority queue."""
        self.queue_url = self.settings.low_priority_queue_url

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pending.put(None)
            self._batcher.join(self._timeout_s)

    # -- batcher thread ------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._pending.get()
            if first is None:
                return
            batch, stopping = self._gather(first)
            try:
                self._send_batch(batch)
            except Exception as exc:  # never leave a sender waiting on a dead batcher
                for entry in batch:
                    if not entry.done.is_set():
                        entry.finish(Outcome.retry(f"SQS batch failed: {exc!r}"))

    def _gather(self, first: _Entry) -> tuple[list[_Entry], bool]:
        """``first`` plus what arrives within the linger, up to SQS's batch limits."""
        batch, total = [first], first.size
        deadline = time.monotonic() + self._linger_s
        while len(batch) < MAX_BATCH_ENTRIES:
            try:
                entry = self._pending.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if entry is None:
                return batch, True
            if entry.queue_url != first.queue_url or total + entry.size > MAX_MESSAGE_BYTES:
                self._send_batch([entry])  # the batch cannot take it: send it on its own
                continue
            batch.append(entry)
            total += entry.size
        return batch, False

    def _send_batch(self, batch: list[_Entry]) -> None:
        if len(batch) == 1:
            batch[0].finish(self._send_one(batch[0]))
            return
        entries = [{"Id": str(n), "MessageBody": e.body} for n, e in enumerate(batch)]
        try:
            answer = self.client.send_message_batch(QueueUrl=batch[0].queue_url, Entries=entries)
        except Exception as exc:
            outcome = _classify(exc)
            for entry in batch:
                # One bad entry can fail the whole call: find it by sending each alone.
                bad = outcome.kind is OutcomeKind.REJECTED
                entry.finish(self._send_one(entry) if bad else outcome)
            return
        for ok in answer.get("Successful", []):
            batch[int(ok["Id"])].finish(Outcome.delivered())
        for failed in answer.get("Failed", []):
            entry = batch[int(failed["Id"])]
            self._warn.log(
                logging.INFO, f"sqs-entry-{failed.get('Code')}",
                "SQS refused one batch entry (%s: %s); retrying it alone",
                failed.get("Code"), failed.get("Message"),
            )  # fmt: skip
            entry.finish(self._send_one(entry))
        for entry in batch:
            if not entry.done.is_set():  # neither successful nor failed: SQS did not say
                entry.finish(Outcome.retry("SQS batch answer did not mention the message"))

    def _send_one(self, entry: _Entry) -> Outcome:
        try:
            self.client.send_message(QueueUrl=entry.queue_url, MessageBody=entry.body)
        except Exception as exc:
            return _classify(exc)
        return Outcome.delivered()


def _classify(exc: Exception) -> Outcome:
    """A bad message is rejected; anything else (network, throttling, auth) is retried."""
    response = getattr(exc, "response", None)
    code = ""
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    if code in _BAD_MESSAGE:
        return Outcome.rejected(f"SQS {code}: {exc}")
    return Outcome.retry(f"SQS: {exc!r}")
