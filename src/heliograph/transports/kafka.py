"""Kafka producer over the native protocol (confluent-kafka / librdkafka).

Helicone's worker uses Upstash's REST API, one HTTP call per message, no batching
(helicone.md §1.4). What it puts on the topic is kept exactly, so Jawn's consumers read
Heliograph's messages unchanged: topic ``request-response-logs-prod``, key = request id,
value = ``JSON.stringify({value: JSON.stringify(msg)})`` (the double encoding that
``JSON.parse(JSON.parse(message.value).value)`` undoes).

The transport is librdkafka's: an idempotent producer (no duplicates from its own
retries, order kept per partition), batching (``linger.ms``) and compression. The default
codec is gzip because Jawn's consumer, kafkajs, decodes only gzip without plugins.
``send_message`` waits for the message's delivery report, so the spool acknowledges a
record only once the broker has it; ``message.timeout.ms`` is the attempt timeout, so a
broker that is down yields ``retry`` in bounded time and the record stays spooled.

Settings (environment):
- ``KAFKA_BOOTSTRAP_SERVERS``: ``host:port[,host:port]``, no authentication; or
- ``UPSTASH_KAFKA_URL`` + ``UPSTASH_KAFKA_USERNAME`` + ``UPSTASH_KAFKA_PASSWORD``
  (Helicone's rule: all three). An ``https://`` URL is the REST endpoint: its host's
  native port 9092 is used, with SASL_SSL and SCRAM-SHA-512, as Upstash serves it.
- ``HELIOGRAPH_KAFKA_TOPIC`` (default ``request-response-logs-prod``),
  ``HELIOGRAPH_KAFKA_COMPRESSION`` (gzip), ``HELIOGRAPH_KAFKA_LINGER_MS`` (5),
  ``HELIOGRAPH_KAFKA_MAX_MESSAGE_BYTES`` (1000000, the broker's default limit).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import orjson

from heliograph._ratelimit import RateLimitedLogger
from heliograph.delivery.outcome import Outcome
from heliograph.errors import ConfigError
from heliograph.model.message_data import MessageData
from heliograph.transports.base import TOO_LARGE

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

__all__ = [
    "DLQ_TOPIC",
    "LOGS_TOPIC",
    "KafkaProducer",
    "KafkaSettings",
    "decode_value",
    "encode_value",
    "import_confluent_kafka",
]

LOGS_TOPIC = "request-response-logs-prod"
DLQ_TOPIC = "request-response-logs-prod-dlq"

log = logging.getLogger("heliograph")
_POLL_S = 0.1


def import_confluent_kafka() -> Any:
    """The ``confluent_kafka`` module, or a ``ConfigError`` saying how to install it."""
    try:
        import confluent_kafka
    except ImportError as exc:
        raise ConfigError("Kafka needs confluent-kafka: pip install 'heliograph[kafka]'") from exc
    return confluent_kafka


def encode_value(msg: MessageData) -> bytes:
    """The record value Helicone's worker writes: ``{"value": "<MessageData JSON>"}``."""
    return orjson.dumps({"value": orjson.dumps(msg).decode()})


def decode_value(value: bytes) -> MessageData:
    """Jawn's decode, ``JSON.parse(JSON.parse(value).value)``; raises ``ValueError``."""
    outer = orjson.loads(value)
    if not isinstance(outer, dict) or not isinstance(outer.get("value"), str):
        raise ValueError('Kafka value is not {"value": "<MessageData JSON>"}')
    return cast(MessageData, orjson.loads(outer["value"]))


@dataclasses.dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    topic: str = LOGS_TOPIC
    username: str | None = None
    password: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    compression: str = "gzip"
    linger_ms: int = 5
    max_message_bytes: int = 1_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSettings | None:
        """The settings in ``env``, or None when Kafka is not configured."""
        tuning: dict[str, Any] = {}
        if env.get("HELIOGRAPH_KAFKA_TOPIC"):
            tuning["topic"] = env["HELIOGRAPH_KAFKA_TOPIC"]
        if env.get("HELIOGRAPH_KAFKA_COMPRESSION"):
            tuning["compression"] = env["HELIOGRAPH_KAFKA_COMPRESSION"]
        for name, field in (
            ("HELIOGRAPH_KAFKA_LINGER_MS", "linger_ms"),
            ("HELIOGRAPH_KAFKA_MAX_MESSAGE_BYTES", "max_message_bytes"),
        ):
            if env.get(name):
                try:
                    tuning[field] = int(env[name])
                except ValueError:
                    raise ConfigError(f"{name}={env[name]!r} is not an integer") from None
        if env.get("KAFKA_BOOTSTRAP_SERVERS"):
            return cls(env["KAFKA_BOOTSTRAP_SERVERS"], **tuning)
        url, user, password = (
            env.get("UPSTASH_KAFKA_URL"),
            env.get("UPSTASH_KAFKA_USERNAME"),
            env.get("UPSTASH_KAFKA_PASSWORD"),
        )
        if not (url and user and password):
            return None
        parts = urllib.parse.urlsplit(url)
        servers = f"{parts.hostname}:9092" if parts.scheme in ("http", "https") else url
        return cls(
            servers, username=user, password=password, security_protocol="SASL_SSL", **tuning
        )

    def client_config(self) -> dict[str, Any]:
        """The librdkafka settings every Heliograph client shares (connection, auth)."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "reconnect.backoff.max.ms": 1000,
            "logger": logging.getLogger("heliograph.kafka"),
        }
        if self.username is not None:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.username
            config["sasl.password"] = self.password
        return config


class _Pending:
    """One message waiting for its delivery report (set on the poller thread)."""

    __slots__ = ("done", "outcome")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome = Outcome.retry("no delivery report")

    def report(self, error: KafkaError | None, _message: Message) -> None:
        self.outcome = Outcome.delivered() if error is None else _classify(error)
        self.done.set()


def _classify(error: KafkaError) -> Outcome:
    from confluent_kafka import KafkaError

    detail = f"Kafka: {error.str()}"
    if error.code() in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE):
        return Outcome.rejected(detail, TOO_LARGE)
    if error.code() in (KafkaError.INVALID_MSG, KafkaError.INVALID_RECORD):
        return Outcome.rejected(detail)
    # Timeouts, brokers down, authorization and topic errors: keep the record for later.
    return Outcome.retry(detail)


class KafkaProducer:
    """Thread-safe; a poller thread serves delivery reports for all sender threads."""

    name = "kafka"

    def __init__(self, settings: KafkaSettings, timeout_s: float = 10.0) -> None:
        kafka = import_confluent_kafka()
        self.settings = settings
        self.max_message_bytes = settings.max_message_bytes
        self._timeout_s = timeout_s
        self._config = {
            **settings.client_config(),
            "client.id": "heliograph-producer",
            "enable.idempotence": True,
            "compression.type": settings.compression,
            "linger.ms": settings.linger_ms,
            "message.max.bytes": settings.max_message_bytes,
            "message.timeout.ms": max(1000, int(timeout_s * 1000)),
            "error_cb": self._on_error,
        }
        self._kafka = kafka
        self._warn = RateLimitedLogger(log)
        self._producer: Producer = kafka.Producer(self._config)
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._poll, name="heliograph-kafka-poll", daemon=True
        )
        self._poller.start()

    def send_message(self, msg: MessageData) -> Outcome:
        pending = _Pending()
        try:
            value = encode_value(msg)
            key = msg["log"]["request"]["id"]
        except (TypeError, ValueError, KeyError) as exc:
            return Outcome.rejected(f"message cannot be encoded: {exc!r}")
        if len(value) > self.max_message_bytes:
            return Outcome.rejected(
                f"message is {len(value)} bytes, over Kafka's {self.max_message_bytes}", TOO_LARGE
            )
        try:
            self._producer.produce(
                self.settings.topic, value=value, key=key, on_delivery=pending.report
            )
        except BufferError:
            return Outcome.retry("Kafka producer queue is full")
        except self._kafka.KafkaException as exc:
            return _classify(exc.args[0])
        # The report comes within message.timeout.ms; the margin covers the poll interval.
        if not pending.done.wait(self._timeout_s + 2.0):
            return Outcome.retry(f"no Kafka delivery report within {self._timeout_s:g} s")
        return pending.outcome

    def set_lower_priority(self) -> None:
        """Kafka has no low-priority topic (Helicone: "deprecated to SQS")."""

    def close(self, timeout_s: float = 1.0) -> None:
        """Deliver what is queued for up to ``timeout_s``, then stop the poller.

        Short by default: every ``send_message`` waited for its own report, so what is
        still queued here already came back as ``retry`` and is still in the spool.
        """
        if self._closed.is_set():
            return
        self._producer.flush(timeout_s)
        self._closed.set()
        self._poller.join(1.0)

    def _poll(self) -> None:
        while not self._closed.is_set():
            try:
                self._producer.poll(_POLL_S)
            except Exception as exc:  # a report callback failed: keep serving the others
                self._warn.log(logging.ERROR, "kafka-poll", "Kafka poll failed: %r", exc)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            # An idempotent producer that hit a fatal error refuses every later message:
            # replace it; what it held fails its reports and is retried from the spool.
            log.error("Kafka producer fatal error, starting a new producer: %s", error.str())
            old, self._producer = self._producer, self._kafka.Producer(self._config)
            old.purge()
            return
        self._warn.log(logging.WARNING, f"kafka-{error.code()}", "Kafka: %s", error.str())
