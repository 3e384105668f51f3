"""HeliconeProducer and its factory: the environment picks the queue as in Helicone;
the manual-access-key rule; HTTP fallback; dual write; send_message never raises."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from heliograph import ManualLogger
from heliograph.config import Config
from heliograph.delivery.outcome import Outcome, OutcomeKind
from heliograph.errors import ConfigError
from heliograph.model.message_data import MessageData
from heliograph.receiver import ReceiverThread
from heliograph.transports.dual import DualWriteProducer
from heliograph.transports.kafka import KafkaProducer, KafkaSettings, decode_value
from heliograph.transports.producer import (
    HeliconeProducer,
    ProducerTransport,
    create_helicone_producer,
    producer_transport,
)
from heliograph.transports.sqs import SqsProducer
from heliograph.transports.valhalla_http import ValhallaHttpProducer
from tests.queues import Broker, SqsServer, consume_all, create_topic
from tests.support import free_port
from tests.transports.helpers import make_message, make_record


class FakeProducer:
    def __init__(self, name: str, outcome: Outcome | None = None) -> None:
        self.name = name
        self.sent: list[MessageData] = []
        self.outcome = outcome or Outcome.delivered()

    def send_message(self, msg: MessageData) -> Outcome:
        self.sent.append(msg)
        return self.outcome

    def set_lower_priority(self) -> None:
        pass

    def close(self) -> None:
        pass


class BrokenProducer(FakeProducer):
    def send_message(self, msg: MessageData) -> Outcome:
        raise RuntimeError("bug")


def test_no_queue_means_the_http_fallback_and_it_needs_a_url() -> None:
    producer = create_helicone_producer({"VALHALLA_URL": "http://jawn:8585"})
    assert producer.producer is None
    assert isinstance(producer.http, ValhallaHttpProducer)
    with pytest.raises(ConfigError, match="VALHALLA_URL"):
        create_helicone_producer({})


def test_queue_provider_picks_sqs_dual_or_kafka(sqs_server: SqsServer) -> None:
    queue = sqs_server.create_queue()
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    cases = [
        ({**sqs_server.env(queue), "QUEUE_PROVIDER": "sqs"}, SqsProducer),
        ({**sqs_server.env(queue), **kafka, "QUEUE_PROVIDER": "dual"}, DualWriteProducer),
        (kafka, KafkaProducer),
        ({**kafka, "QUEUE_PROVIDER": "anything-else"}, KafkaProducer),
    ]
    for env, kind in cases:
        producer = create_helicone_producer(env, Config(endpoint="http://127.0.0.1:9"))
        try:
            assert isinstance(producer.producer, kind), env
        finally:
            producer.close()
    with pytest.raises(ConfigError, match="AWS_REGION"):
        create_helicone_producer({"QUEUE_PROVIDER": "sqs", "VALHALLA_URL": "http://j"})
    with pytest.raises(ConfigError, match="Kafka settings"):
        create_helicone_producer({**sqs_server.env(queue), "QUEUE_PROVIDER": "dual"})


def test_upstash_settings_count_only_all_three_as_helicone_does() -> None:
    partial = {"UPSTASH_KAFKA_URL": "https://x.upstash.io", "UPSTASH_KAFKA_USERNAME": "u"}
    assert KafkaSettings.from_env(partial) is None
    settings = KafkaSettings.from_env({**partial, "UPSTASH_KAFKA_PASSWORD": "p"})
    assert settings is not None
    assert settings.bootstrap_servers == "x.upstash.io:9092"
    assert settings.client_config()["security.protocol"] == "SASL_SSL"
    assert settings.topic == "request-response-logs-prod"


def test_the_manual_access_key_sends_over_http_only_when_both_keys_are_set_and_equal() -> None:
    queue, http = FakeProducer("kafka"), FakeProducer("http")
    keyed = make_message(headers={"Helicone-Manual-Access-Key": "mk"})
    plain = make_message()

    producer = HeliconeProducer(queue, http, manual_access_key="mk")
    producer.send_message(keyed)
    producer.send_message(plain)
    assert [m["id"] for m in http.sent] == [keyed["id"]]
    assert [m["id"] for m in queue.sent] == [plain["id"]]

    # Neither key set: Helicone compares undefined === undefined and uses HTTP; we do not.
    queue.sent.clear()
    http.sent.clear()
    HeliconeProducer(queue, http, manual_access_key=None).send_message(plain)
    assert (len(queue.sent), len(http.sent)) == (1, 0)


def test_send_message_never_raises_and_counts_failures() -> None:
    producer = HeliconeProducer(BrokenProducer("kafka"), None)
    outcome = producer.send_message(make_message())
    assert outcome.kind is OutcomeKind.RETRY
    producer.send_message(make_message())
    assert producer.stats.snapshot() == {"failed:kafka": 2}


def test_http_fallback_delivers_to_the_receivers_log_request_route(
    make_logger: Callable[..., ManualLogger], sink: ReceiverThread
) -> None:
    # No queue configured: HELIOGRAPH_TRANSPORT=queue falls back to {endpoint}/v1/log/request.
    logger = make_logger(sink.url, transport="queue")
    for n in range(5):
        logger.log_single_request({"model": "m", "n": n}, {"ok": n}, idempotency_key=f"fb-{n}")
    report = logger.flush(timeout=10.0)
    assert (report.delivered, report.pending) == (5, 0)
    assert sink.store.count() == 5


def test_a_queue_transport_gets_its_in_flight_senders_and_http_keeps_concurrency(
    make_logger: Callable[..., ManualLogger], sink: ReceiverThread
) -> None:
    def senders_started_by(logger: ManualLogger) -> int:
        before = set(threading.enumerate())
        logger.log_single_request({"model": "m"}, "ok")
        assert logger.flush(timeout=10.0).pending == 0
        started = set(threading.enumerate()) - before
        return sum(t.name.startswith("heliograph-send-") for t in started)

    assert senders_started_by(make_logger(sink.url, transport="queue", concurrency=4)) == (
        ProducerTransport.in_flight
    )
    assert senders_started_by(make_logger(sink.url, concurrency=4)) == 4


def test_dual_write_lands_in_both_queues(
    kafka_broker: Broker, sqs_server: SqsServer, tmp_path: Path
) -> None:
    topic = create_topic(kafka_broker.bootstrap)
    queue = sqs_server.create_queue()
    env = {
        **sqs_server.env(queue),
        "QUEUE_PROVIDER": "dual",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap,
        "HELIOGRAPH_KAFKA_TOPIC": topic,
    }
    transport = producer_transport(Config(spool_dir=tmp_path / "spool"), env)  # fmt: skip
    records = [make_record() for _ in range(8)]
    try:
        assert {transport.send(r).kind for r in records} == {OutcomeKind.DELIVERED}
    finally:
        transport.close()
    ids = sorted(r.request_id for r in records)
    in_kafka = [
        decode_value(m.value())["id"] for m in consume_all(kafka_broker.bootstrap, topic, 8)
    ]
    in_sqs = [orjson.loads(b)["id"] for b in sqs_server.drain(queue, 8)]
    assert sorted(in_kafka) == ids
    assert sorted(in_sqs) == ids


def test_dual_write_counts_a_kafka_failure_and_keeps_the_sqs_result(
    sqs_server: SqsServer, tmp_path: Path
) -> None:
    queue = sqs_server.create_queue()
    env = {**sqs_server.env(queue), "QUEUE_PROVIDER": "dual",
           "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}  # fmt: skip
    config = Config(spool_dir=tmp_path / "spool", attempt_timeout_s=1.0)
    transport = producer_transport(config, env)
    record = make_record()
    try:
        outcome = transport.send(record)
    finally:
        transport.close()
    assert outcome.kind is OutcomeKind.DELIVERED  # the secondary's result, as in Helicone
    assert transport.producer.stats.snapshot() == {"failed:dual-kafka": 1, "sent:dual": 1}
    assert [orjson.loads(b)["id"] for b in sqs_server.drain(queue, 1)] == [record.request_id]


def test_a_queue_that_cannot_work_is_refused_when_the_logger_is_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not later, as a traceback from a background thread while flush reports nothing
    pending."""
    for name in (
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "REQUEST_LOGS_QUEUE_URL",
        "REQUEST_LOGS_QUEUE_URL_LOW_PRIORITY",
    ):
        monkeypatch.delenv(name, raising=False)  # fmt: skip
    monkeypatch.setenv("QUEUE_PROVIDER", "sqs")
    with pytest.raises(ConfigError, match="SQS needs AWS_REGION"):
        ManualLogger(transport="queue", spool_dir=tmp_path / "spool")
    monkeypatch.setenv("QUEUE_PROVIDER", "dual")
    with pytest.raises(ConfigError, match="dual needs Kafka settings"):
        ManualLogger(transport="queue", spool_dir=tmp_path / "spool")
