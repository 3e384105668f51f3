"""The Kafka producer against a real broker (tansu): Helicone's topic contract, outcomes,
and the spool keeping records while the broker is down."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from heliograph import ManualLogger
from heliograph.delivery.outcome import OutcomeKind
from heliograph.transports.kafka import KafkaProducer, KafkaSettings, decode_value, encode_value
from tests.queues import Broker, consume_all, create_topic
from tests.support import free_port
from tests.transports.helpers import in_parallel, make_message


def test_the_value_is_double_encoded_as_jawns_consumer_decodes_it() -> None:
    message = make_message()
    value = encode_value(message)
    # Jawn: JSON.parse(JSON.parse(message.value).value)
    assert json.loads(json.loads(value)["value"]) == message
    assert decode_value(value) == message
    with pytest.raises(ValueError):
        decode_value(b'{"not": "wrapped"}')


def test_concurrent_senders_publish_each_message_once_keyed_by_request_id(
    kafka_broker: Broker,
) -> None:
    topic = create_topic(kafka_broker.bootstrap, partitions=2)
    producer = KafkaProducer(KafkaSettings(kafka_broker.bootstrap, topic=topic))
    messages = [make_message() for _ in range(30)]
    try:
        outcomes = in_parallel(producer.send_message, messages)
    finally:
        producer.close()
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    found = consume_all(kafka_broker.bootstrap, topic, expected=30)
    assert len(found) == 30
    by_key = {m.key().decode(): decode_value(m.value()) for m in found}
    assert by_key == {m["log"]["request"]["id"]: m for m in messages}


def test_an_unreachable_broker_is_a_retry_not_an_exception() -> None:
    producer = KafkaProducer(KafkaSettings(f"127.0.0.1:{free_port()}"), timeout_s=1.0)
    try:
        outcome = producer.send_message(make_message())
    finally:
        producer.close(timeout_s=0)
    assert outcome.kind is OutcomeKind.RETRY


def test_a_message_over_the_size_limit_is_rejected_as_too_large(kafka_broker: Broker) -> None:
    settings = KafkaSettings(kafka_broker.bootstrap, max_message_bytes=2000)
    producer = KafkaProducer(settings)
    try:
        outcome = producer.send_message(make_message(request={"prompt": "x" * 5000}))
    finally:
        producer.close()
    assert (outcome.kind, outcome.status) == (OutcomeKind.REJECTED, 413)


def test_broker_down_nothing_is_lost_and_all_is_delivered_when_it_returns(
    make_logger: Callable[..., ManualLogger], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Broker()  # its port is chosen, nothing listens on it yet
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap)
    monkeypatch.setenv("HELIOGRAPH_KAFKA_TOPIC", "request-response-logs-prod")
    logger = make_logger("http://127.0.0.1:9", transport="queue", attempt_timeout_s=1.0)
    ids = [f"down-{n}" for n in range(12)]
    for key in ids:
        logger.log_single_request({"model": "m"}, {"ok": True}, idempotency_key=key)
    report = logger.flush(timeout=2.0)
    assert (report.delivered, report.pending) == (0, 12)

    broker.start()
    try:
        report = logger.flush(timeout=30.0)
        assert (report.delivered, report.pending, report.dead_lettered) == (12, 0, 0)
        logger.close(timeout=1.0)
        found = consume_all(broker.bootstrap, "request-response-logs-prod", expected=12)
    finally:
        broker.stop()
    keys: list[Any] = sorted(m.key() for m in found)
    assert len(keys) == 12
    assert len(set(keys)) == 12
