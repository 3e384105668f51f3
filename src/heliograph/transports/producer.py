"""Helicone's producer layer: ``HeliconeProducer``, its factory, and the delivery adapter.

Helicone's worker publishes each log through ``HeliconeProducer.sendMessage`` (helicone.md
§1.1-1.3). The factory picks the queue from the environment, exactly as Helicone's
``MessageProducerFactory`` does:

=====================  ==============================================================
``QUEUE_PROVIDER``     producer
=====================  ==============================================================
``sqs``                SQS (``sqs.py``); raises ``ConfigError`` unless ``AWS_REGION``,
                       ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
                       ``REQUEST_LOGS_QUEUE_URL`` and ``..._LOW_PRIORITY`` are all set
``dual``               Kafka primary + SQS secondary (``dual.py``); both must be configured
anything else / unset  Kafka (``kafka.py``) when its settings exist, else none
=====================  ==============================================================

With no queue, or when a message carries the manual access key, the message goes by
HTTP to ``{VALHALLA_URL}/v1/log/request`` (``valhalla_http.py``).

Every producer answers ``send_message(msg) -> Outcome`` and never raises: Helicone's
callers ignore failures, but Heliograph's delivery worker needs to know whether to
acknowledge, retry or dead-letter. ``ProducerTransport`` makes any producer a delivery
``Transport``, so the spool keeps each record until a broker has acknowledged it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping

from heliograph._ratelimit import RateLimitedLogger
from heliograph.config import Config
from heliograph.delivery.outcome import Outcome, OutcomeKind
from heliograph.errors import ConfigError
from heliograph.model.message_data import (
    MessageData,
    raw_bodies,
    to_message_data,
)
from heliograph.model.record import Record
from heliograph.transports.base import TOO_LARGE, MessageProducer, ProducerStats
from heliograph.transports.blobs import BlobStore, LocalBlobStore
from heliograph.transports.dual import DualWriteProducer
from heliograph.transports.kafka import KafkaProducer, KafkaSettings
from heliograph.transports.sqs import SqsProducer, SqsSettings
from heliograph.transports.valhalla_http import ValhallaHttpProducer

__all__ = [
    "HeliconeProducer",
    "check_queue_settings",
    "MessageProducer",
    "ProducerStats",
    "ProducerTransport",
    "create_helicone_producer",
    "create_producer",
    "producer_transport",
]

log = logging.getLogger("heliograph")


def _queue_settings(
    env: Mapping[str, str],
) -> tuple[str, KafkaSettings | None, SqsSettings | None]:
    """Which queue Helicone's factory would pick, and its settings; ``ConfigError`` names
    what is missing. The kind is ``sqs``, ``dual``, ``kafka`` or ``none``."""
    provider = env.get("QUEUE_PROVIDER", "")
    if provider == "sqs":
        return "sqs", None, SqsSettings.from_env(env)
    kafka_settings = KafkaSettings.from_env(env)
    if provider == "dual":
        if kafka_settings is None:
            raise ConfigError(
                "QUEUE_PROVIDER=dual needs Kafka settings: KAFKA_BOOTSTRAP_SERVERS, or "
                "UPSTASH_KAFKA_URL, UPSTASH_KAFKA_USERNAME and UPSTASH_KAFKA_PASSWORD"
            )
        return "dual", kafka_settings, SqsSettings.from_env(env)
    return ("none" if kafka_settings is None else "kafka"), kafka_settings, None


def check_queue_settings(env: Mapping[str, str]) -> None:
    """Raise ``ConfigError`` now, at construction, for a queue that could never be used:
    missing settings, or a client library that is not installed."""
    kind, _, _ = _queue_settings(env)
    needs = {"sqs": ("boto3", "sqs"), "kafka": ("confluent_kafka", "kafka")}
    for queue in {"dual": ("kafka", "sqs")}.get(kind, (kind,)):
        if queue in needs and importlib.util.find_spec(needs[queue][0]) is None:
            raise ConfigError(
                f"QUEUE_PROVIDER chooses {queue}, which needs {needs[queue][0]}: "
                f"pip install 'heliograph[{needs[queue][1]}]'"
            )


def create_producer(
    env: Mapping[str, str], stats: ProducerStats, timeout_s: float = 10.0
) -> MessageProducer | None:
    """Helicone's ``MessageProducerFactory.createProducer``: the queue producer, or None."""
    kind, kafka_settings, sqs_settings = _queue_settings(env)
    if kind == "sqs":
        assert sqs_settings is not None
        return SqsProducer(sqs_settings, timeout_s)
    if kind == "dual":
        assert kafka_settings is not None and sqs_settings is not None
        sqs = SqsProducer(sqs_settings, timeout_s)
        return DualWriteProducer(KafkaProducer(kafka_settings, timeout_s), sqs, stats)
    return None if kafka_settings is None else KafkaProducer(kafka_settings, timeout_s)


class HeliconeProducer:
    """Routes each message to the queue producer or the HTTP fallback; never raises.

    The fallback is taken when there is no queue producer, or when the message's
    ``heliconeMeta.heliconeManualAccessKey`` equals ``HELICONE_MANUAL_ACCESS_KEY``. Unlike
    Helicone (§1.3), both must be set for the second rule: Helicone compares
    ``undefined === undefined`` when neither is, and so sends every message over HTTP even
    with a queue configured. That is a bug, not a contract, so it is not reproduced.
    """

    def __init__(
        self,
        producer: MessageProducer | None,
        http: MessageProducer | None,
        manual_access_key: str | None = None,
        stats: ProducerStats | None = None,
    ) -> None:
        if producer is None and http is None:
            raise ConfigError("a HeliconeProducer needs a queue producer or the HTTP fallback")
        self.producer = producer
        self.http = http
        self.stats = stats or ProducerStats()
        self._manual_access_key = manual_access_key or None
        self._warn = RateLimitedLogger(log)

    def target(self, msg: MessageData) -> MessageProducer:
        """The producer ``msg`` goes to."""
        key = msg["heliconeMeta"].get("heliconeManualAccessKey")
        manual = self._manual_access_key is not None and key == self._manual_access_key
        if self.producer is None or (manual and self.http is not None):
            assert self.http is not None
            return self.http
        return self.producer

    def send_message(self, msg: MessageData) -> Outcome:
        """Publish ``msg``; failures are logged (rate-limited) and counted, never raised."""
        name = "unknown"
        try:
            target = self.target(msg)
            name = target.name
            outcome = target.send_message(msg)
        except Exception as exc:  # a producer bug must not reach the program observed
            outcome = Outcome.retry(f"{name} producer failed: {exc!r}")
        if outcome.kind is OutcomeKind.DELIVERED:
            self.stats.count(f"sent:{name}")
        else:
            self.stats.count(f"failed:{name}")
            self._warn.log(
                logging.WARNING, f"producer-{name}", "%s producer did not take message %s: %s",
                name, msg.get("id"), outcome.detail,
            )  # fmt: skip
        return outcome

    def set_lower_priority(self) -> None:
        if self.producer is not None:
            self.producer.set_lower_priority()

    def close(self) -> None:
        for producer in (self.producer, self.http):
            if producer is not None:
                producer.close()


def create_helicone_producer(
    env: Mapping[str, str], config: Config | None = None, stats: ProducerStats | None = None
) -> HeliconeProducer:
    """A ``HeliconeProducer`` configured from ``env`` (Helicone's variable names).

    ``VALHALLA_URL`` defaults to ``config.endpoint`` (the local receiver serves
    ``/v1/log/request`` too). Raises ``ConfigError`` if a chosen queue is not fully
    configured, or if a message could need the HTTP fallback and it has no URL.
    """
    stats = stats or ProducerStats()
    timeout_s = config.attempt_timeout_s if config is not None else 10.0
    producer = create_producer(env, stats, timeout_s)
    manual_key = env.get("HELICONE_MANUAL_ACCESS_KEY") or None
    url = env.get("VALHALLA_URL") or (config.endpoint if config is not None else None)
    http: MessageProducer | None = None
    if url:
        http = ValhallaHttpProducer(
            url,
            connect_timeout_s=config.connect_timeout_s if config is not None else 5.0,
            timeout_s=timeout_s,
        )
    elif producer is None or manual_key is not None:
        if producer is not None:
            producer.close()
        raise ConfigError(
            "no queue is configured (QUEUE_PROVIDER, KAFKA_BOOTSTRAP_SERVERS, UPSTASH_KAFKA_*) "
            "or HELICONE_MANUAL_ACCESS_KEY is set, and VALHALLA_URL is not: "
            "messages would have nowhere to go"
        )
    return HeliconeProducer(producer, http, manual_key, stats)


class ProducerTransport:
    """A producer as the delivery worker's ``Transport``: one record, one message.

    Bodies up to ``inline_max_bytes`` (UTF-8) travel in the message; larger ones, or any
    that make the message too large for its queue, go to the blob store first and the
    message carries the reference. A broker or queue that cannot be reached yields
    ``retry``, so the record stays in the spool until it can.
    """

    in_flight = 32
    """Records the delivery worker keeps in flight through a queue: each send waits for
    its broker acknowledgement, and the broker batches concurrent sends, so throughput
    grows with this (``bench/run.py`` section 7); ``concurrency`` may raise it further."""

    def __init__(
        self,
        producer: HeliconeProducer,
        authorization: str,
        blobs: BlobStore,
        inline_max_bytes: int,
    ) -> None:
        self.producer = producer
        self._authorization = authorization
        self._blobs = blobs
        self._inline_max_bytes = inline_max_bytes

    def send(self, record: Record) -> Outcome:
        try:
            bodies = raw_bodies(record)
            body_bytes = len(bodies["request"].encode()) + len(bodies["response"].encode())
        except (TypeError, ValueError, UnicodeEncodeError) as exc:
            return Outcome.rejected(f"record cannot be encoded as a message: {exc}")
        if body_bytes <= self._inline_max_bytes:
            outcome = self.producer.send_message(
                to_message_data(record, self._authorization, bodies)
            )
            if not (outcome.kind is OutcomeKind.REJECTED and outcome.status == TOO_LARGE):
                return outcome
        try:
            reference = self._blobs.put(record.request_id, bodies)
        except OSError as exc:
            return Outcome.retry(f"cannot store the bodies of {record.request_id}: {exc}")
        self.producer.stats.count("offloaded")
        message = to_message_data(record, self._authorization)
        message["heliographBodyRef"] = reference
        return self.producer.send_message(message)

    def close(self) -> None:
        self.producer.close()


def producer_transport(config: Config, env: Mapping[str, str]) -> ProducerTransport:
    """The transport ``HELIOGRAPH_TRANSPORT=queue`` selects: a producer chosen from ``env``."""
    return ProducerTransport(
        create_helicone_producer(env, config),
        config.authorization,
        LocalBlobStore(config.blob_path),
        config.inline_body_max_bytes,
    )
