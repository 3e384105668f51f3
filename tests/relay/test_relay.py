"""Producer → queue → relay → receiver, over a real broker (tansu) and moto's SQS.

Proves: each record arrives exactly once (bodies too, even out of band); two relays on
one topic or queue share the work with no message forwarded twice; poison messages go
to the dead-letter topic/queue with an attempt counter; a destination that is down
delays delivery but loses and dead-letters nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from heliograph import ManualLogger
from heliograph.config import Config
from heliograph.delivery.outcome import OutcomeKind
from heliograph.model.ids import stable_id
from heliograph.receiver import ReceiverThread
from heliograph.relay.forward import HeliconeForwarder, ValhallaForwarder
from heliograph.relay.kafka import KafkaRelay
from heliograph.relay.sqs import SqsRelay
from heliograph.transports.kafka import KafkaProducer, KafkaSettings, encode_value
from heliograph.transports.sqs import SqsProducer, SqsSettings
from tests.queues import FAST_GROUP, Broker, SqsServer, consume_all, create_topic
from tests.support import free_port, wait_for
from tests.transports.helpers import in_parallel, make_message

BIG = "large body " * 20_000  # 220 KB: goes out of band with the default 64 KiB threshold

Relay = KafkaRelay | SqsRelay


@contextlib.contextmanager
def running(*relays: Relay) -> Iterator[None]:
    stop = threading.Event()
    threads = [threading.Thread(target=r.run, args=(stop,), daemon=True) for r in relays]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)


def kafka_relay(broker: Broker, topic: str, url: str, **kwargs: Any) -> KafkaRelay:
    kwargs.setdefault("initial_backoff_s", 0.05)
    kwargs.setdefault("max_backoff_s", 0.2)
    return KafkaRelay(
        KafkaSettings(broker.bootstrap, topic=topic),
        ValhallaForwarder(url, Config(attempt_timeout_s=2.0)),
        consumer_config=FAST_GROUP,
        **kwargs,
    )


def sqs_relay(
    server: SqsServer, queue_url: str, url: str, to: str = "valhalla", **kwargs: Any
) -> SqsRelay:
    kwargs.setdefault("initial_backoff_s", 0.05)
    kwargs.setdefault("max_backoff_s", 0.2)
    config = Config(endpoint=url, attempt_timeout_s=2.0)
    forwarder = HeliconeForwarder(config) if to == "helicone" else ValhallaForwarder(url, config)
    return SqsRelay(SqsSettings.from_env(server.env(queue_url)), forwarder, **kwargs)


SESSION = {"Helicone-Session-Id": "relay-session", "Helicone-Session-Path": "/relay",
           "Helicone-Property-Team": "queues"}  # fmt: skip


def log_records(logger: ManualLogger, count: int) -> None:
    for n in range(count):
        logger.log_single_request(
            {"model": "gpt-4o-mini", "n": n}, {"answer": n}, SESSION, idempotency_key=f"relay-{n}"
        )
    logger.log_single_request({"model": "gpt-4o-mini"}, BIG, idempotency_key="relay-big")
    report = logger.flush(timeout=20.0)
    assert (report.delivered, report.pending, report.dead_lettered) == (count + 1, 0, 0)


def assert_big_body_arrived(sink: ReceiverThread) -> None:
    row = sink.store.get_request(stable_id("request:relay-big"))
    assert row is not None
    assert BIG in str(row["response_body"])


def test_kafka_producer_to_relay_to_receiver_delivers_each_record_once(
    kafka_broker: Broker,
    sink: ReceiverThread,
    make_logger: Callable[..., ManualLogger],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = create_topic(kafka_broker.bootstrap, partitions=2)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap)
    monkeypatch.setenv("HELIOGRAPH_KAFKA_TOPIC", topic)
    log_records(make_logger("http://127.0.0.1:9", transport="queue"), 10)

    relay = kafka_relay(kafka_broker, topic, sink.url)
    with running(relay):
        assert wait_for(lambda: sink.store.count() == 11)
    assert relay.stats.snapshot() == {"forwarded": 11}
    assert sink.store.count() == 11
    assert_big_body_arrived(sink)


def test_sqs_producer_to_relay_to_receiver_delivers_each_record_once(
    sqs_server: SqsServer,
    sink: ReceiverThread,
    make_logger: Callable[..., ManualLogger],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue_url = sqs_server.create_queue()
    for name, value in {**sqs_server.env(queue_url), "QUEUE_PROVIDER": "sqs"}.items():
        monkeypatch.setenv(name, value)
    log_records(make_logger("http://127.0.0.1:9", transport="queue"), 10)

    relay = sqs_relay(sqs_server, queue_url, sink.url)
    with running(relay):
        assert wait_for(lambda: sink.store.count() == 11)
    assert relay.stats.snapshot() == {"forwarded": 11}
    assert_big_body_arrived(sink)


def test_sqs_relay_to_the_helicone_api_delivers_each_record_once_as_logged(
    sqs_server: SqsServer,
    sink: ReceiverThread,
    make_logger: Callable[..., ManualLogger],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--to helicone``: each queued message becomes the async log it started as, posted to
    Helicone's API under the key it was logged with, bodies and session headers intact."""
    queue_url = sqs_server.create_queue()
    for name, value in {**sqs_server.env(queue_url), "QUEUE_PROVIDER": "sqs"}.items():
        monkeypatch.setenv(name, value)
    log_records(make_logger("http://127.0.0.1:9", transport="queue"), 10)

    relay = sqs_relay(sqs_server, queue_url, sink.url, to="helicone")
    with running(relay):
        assert wait_for(lambda: sink.store.count() == 11)
    assert relay.stats.snapshot() == {"forwarded": 11}
    assert_big_body_arrived(sink)
    row = sink.store.get_request(stable_id("request:relay-7"))
    assert row is not None
    assert row["request_body"] == {"model": "gpt-4o-mini", "n": 7}
    assert orjson.loads(row["response_body"]) == {"answer": 7}
    assert (row["session_id"], row["session_path"]) == ("relay-session", "/relay")
    # Keyed as Helicone keys them: the lower-cased property name, and the session keys.
    expected = {"team": "queues", "Helicone-Session-Id": "relay-session",
                "Helicone-Session-Path": "/relay"}  # fmt: skip
    assert row["request_properties"] == expected


def test_two_kafka_relays_share_the_partitions_and_forward_nothing_twice(
    kafka_broker: Broker, sink: ReceiverThread
) -> None:
    topic = create_topic(kafka_broker.bootstrap, partitions=4)
    first = kafka_relay(kafka_broker, topic, sink.url, group_id=f"g-{topic}")
    second = kafka_relay(kafka_broker, topic, sink.url, group_id=f"g-{topic}")
    with running(first, second):

        def balanced() -> bool:
            a, b = first.assigned, second.assigned
            return bool(a) and bool(b) and not (a & b) and len(a | b) == 4

        assert wait_for(balanced), (first.assigned, second.assigned)
        producer = KafkaProducer(KafkaSettings(kafka_broker.bootstrap, topic=topic))
        try:
            outcomes = in_parallel(producer.send_message, [make_message() for _ in range(40)])
        finally:
            producer.close()
        assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
        assert wait_for(lambda: sink.store.count() == 40)
    forwarded = [first.stats.snapshot()["forwarded"], second.stats.snapshot()["forwarded"]]
    assert sum(forwarded) == 40  # every message forwarded once: no duplicates sent
    assert min(forwarded) > 0


def test_two_sqs_relays_share_the_queue_and_forward_nothing_twice(
    sqs_server: SqsServer, sink: ReceiverThread
) -> None:
    queue_url = sqs_server.create_queue()
    first = sqs_relay(sqs_server, queue_url, sink.url, max_messages=2)
    second = sqs_relay(sqs_server, queue_url, sink.url, max_messages=2)
    producer = SqsProducer(SqsSettings.from_env(sqs_server.env(queue_url)))
    with running(first, second):
        try:
            in_parallel(producer.send_message, [make_message() for _ in range(30)])
        finally:
            producer.close()
        assert wait_for(lambda: sink.store.count() == 30)
    forwarded = [first.stats.snapshot().get("forwarded", 0),
                 second.stats.snapshot().get("forwarded", 0)]  # fmt: skip
    assert sum(forwarded) == 30
    assert min(forwarded) > 0


def _dlq_attempts(server: SqsServer, queue_url: str, expected: int) -> list[str]:
    client = server.client()
    found: list[str] = []

    def receive() -> bool:
        answer = client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        for message in answer.get("Messages", []):
            found.append(message["MessageAttributes"]["heliograph-attempts"]["StringValue"])
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(found) >= expected

    wait_for(receive, 10)
    return found


def test_sqs_poison_goes_to_the_dlq_with_a_counter_and_is_dropped_at_the_limit(
    sqs_server: SqsServer, sink: ReceiverThread
) -> None:
    queue_url, dlq_url = sqs_server.create_queue(), sqs_server.create_queue("dlq")
    client = sqs_server.client()
    client.send_message(QueueUrl=queue_url, MessageBody="not json")
    client.send_message(QueueUrl=queue_url, MessageBody='{"log": "not a message"}')
    client.send_message(QueueUrl=queue_url, MessageBody=orjson.dumps(make_message()).decode())

    relay = sqs_relay(sqs_server, queue_url, sink.url, dlq_url=dlq_url)
    with running(relay):
        assert wait_for(lambda: relay.stats.snapshot().get("dead_lettered") == 2)
        assert wait_for(lambda: sink.store.count() == 1)  # the good one is not held up
    assert _dlq_attempts(sqs_server, dlq_url, 2) == ["1", "1"]

    # Relaying the dead-letter queue into itself: each failure counts, then the limit drops.
    client.send_message(
        QueueUrl=dlq_url, MessageBody="not json",
        MessageAttributes={"heliograph-attempts": {"DataType": "Number", "StringValue": "1"}},
    )  # fmt: skip
    recycler = sqs_relay(sqs_server, dlq_url, sink.url, dlq_url=dlq_url, max_attempts=3)
    with running(recycler):
        assert wait_for(lambda: recycler.stats.snapshot().get("dropped") == 1)
    assert recycler.stats.snapshot()["dead_lettered"] == 1  # attempt 2 went back, 3 dropped


def test_kafka_poison_goes_to_the_dead_letter_topic_with_a_counter(
    kafka_broker: Broker, sink: ReceiverThread
) -> None:
    topic = create_topic(kafka_broker.bootstrap)
    dlq = create_topic(kafka_broker.bootstrap)
    from confluent_kafka import Producer

    raw = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    raw.produce(topic, value=b"garbage", key=b"poison")
    raw.produce(topic, value=encode_value(make_message()))
    assert raw.flush(10) == 0
    relay = kafka_relay(kafka_broker, topic, sink.url, dlq_topic=dlq)
    with running(relay):
        assert wait_for(lambda: sink.store.count() == 1)
    assert relay.stats.snapshot() == {"forwarded": 1, "dead_lettered": 1}
    (letter,) = consume_all(kafka_broker.bootstrap, dlq, expected=1)
    assert (letter.key(), letter.value()) == (b"poison", b"garbage")
    assert dict(letter.headers())["heliograph-attempts"] == b"1"


def test_a_destination_that_is_down_delays_but_loses_nothing(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    topic = create_topic(kafka_broker.bootstrap)
    producer = KafkaProducer(KafkaSettings(kafka_broker.bootstrap, topic=topic))
    try:
        in_parallel(producer.send_message, [make_message() for _ in range(5)])
    finally:
        producer.close()
    port = free_port()
    relay = kafka_relay(kafka_broker, topic, f"http://127.0.0.1:{port}")
    with running(relay):
        assert wait_for(lambda: relay.stats.snapshot().get("retried", 0) >= 2)
        with ReceiverThread(port=port, db_path=tmp_path / "late.sqlite3") as late:
            assert wait_for(lambda: late.store.count() == 5)
    stats = relay.stats.snapshot()
    assert stats["forwarded"] == 5
    assert "dead_lettered" not in stats
