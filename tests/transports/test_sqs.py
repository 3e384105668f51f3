"""The SQS producer against moto's server: batching, per-entry retries, the 256 KiB
limit measured in UTF-8 bytes, large bodies out of band, the low-priority queue."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from heliograph.config import Config
from heliograph.delivery.outcome import OutcomeKind
from heliograph.errors import ConfigError
from heliograph.transports.blobs import read_blob
from heliograph.transports.producer import producer_transport
from heliograph.transports.sqs import SqsProducer, SqsSettings
from tests.queues import SqsServer
from tests.transports.helpers import in_parallel, make_message, make_record


def _producer(sqs_server: SqsServer, queue_url: str, **kwargs: Any) -> SqsProducer:
    return SqsProducer(SqsSettings.from_env(sqs_server.env(queue_url)), **kwargs)


class _Calls:
    """Counts API calls by name through botocore's event hooks."""

    def __init__(self, client: Any) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        client.meta.events.register("before-call.sqs.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.counts[model.name] = self.counts.get(model.name, 0) + 1


def test_concurrent_messages_go_out_in_batches_each_exactly_once(sqs_server: SqsServer) -> None:
    queue_url = sqs_server.create_queue()
    producer = _producer(sqs_server, queue_url, linger_s=0.05)
    calls = _Calls(producer.client)
    messages = [make_message() for _ in range(24)]
    try:
        outcomes = in_parallel(producer.send_message, messages)
    finally:
        producer.close()
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    bodies = sqs_server.drain(queue_url, expected=24)
    assert sorted(orjson.loads(b)["id"] for b in bodies) == sorted(m["id"] for m in messages)
    assert calls.counts.get("SendMessageBatch", 0) >= 3  # 24 messages, at most 10 a batch
    assert calls.counts.get("SendMessageBatch", 0) < 24


def test_an_entry_the_batch_refuses_is_retried_alone(sqs_server: SqsServer) -> None:
    queue_url = sqs_server.create_queue()
    producer = _producer(sqs_server, queue_url, linger_s=0.3)
    calls = _Calls(producer.client)
    messages = [make_message() for _ in range(6)]
    bad_id = messages[3]["id"]
    spoiled: list[str] = []

    def spoil_one_entry(params: dict[str, Any], **_: Any) -> None:
        # An invalid DelaySeconds makes SQS (and moto) fail just that entry of the batch.
        for entry in params["Entries"]:
            if bad_id in entry["MessageBody"] and not spoiled:
                entry["DelaySeconds"] = 901
                spoiled.append(entry["Id"])

    producer.client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", spoil_one_entry
    )
    try:
        outcomes = in_parallel(producer.send_message, messages)
    finally:
        producer.close()
    assert spoiled, "the bad entry was never part of a batch"
    assert {o.kind for o in outcomes} == {OutcomeKind.DELIVERED}
    assert calls.counts.get("SendMessage") == 1  # only the refused entry, alone
    bodies = sqs_server.drain(queue_url, expected=6)
    assert sorted(orjson.loads(b)["id"] for b in bodies) == sorted(m["id"] for m in messages)


def test_size_is_measured_in_utf8_bytes_not_characters(sqs_server: SqsServer) -> None:
    queue_url = sqs_server.create_queue()
    producer = _producer(sqs_server, queue_url)
    # 70,000 emoji: 70,000 characters (moto would accept them) but 280,000 bytes.
    message = make_message(request={"prompt": "😀" * 70_000})
    try:
        outcome = producer.send_message(message)
    finally:
        producer.close()
    assert (outcome.kind, outcome.status) == (OutcomeKind.REJECTED, 413)


def test_an_oversize_record_goes_out_of_band_and_the_message_carries_its_reference(
    sqs_server: SqsServer, tmp_path: Path
) -> None:
    queue_url = sqs_server.create_queue()
    config = Config(spool_dir=tmp_path / "spool", blob_dir=tmp_path / "blobs",
                    inline_body_max_bytes=4 * 1024 * 1024)  # fmt: skip
    transport = producer_transport(config, {**sqs_server.env(queue_url), "QUEUE_PROVIDER": "sqs"})
    big = "é" * 200_000  # 400,000 bytes: over 256 KiB only when counted in UTF-8
    small, large = make_record(), make_record(response_json=None, response_text=big)
    try:
        assert transport.send(small).kind is OutcomeKind.DELIVERED
        assert transport.send(large).kind is OutcomeKind.DELIVERED
    finally:
        transport.close()
    bodies = {orjson.loads(b)["id"]: orjson.loads(b) for b in sqs_server.drain(queue_url, 2)}
    assert len(bodies) == 2
    assert "heliographBody" in bodies[small.request_id]
    carried = bodies[large.request_id]
    assert "heliographBody" not in carried
    assert read_blob(carried["heliographBodyRef"])["response"] == big
    assert transport.producer.stats.snapshot()["offloaded"] == 1


def test_set_lower_priority_switches_to_the_low_priority_queue(sqs_server: SqsServer) -> None:
    high, low = sqs_server.create_queue("high"), sqs_server.create_queue("low")
    producer = SqsProducer(SqsSettings.from_env(sqs_server.env(high, low)))
    first, second = make_message(), make_message()
    try:
        assert producer.send_message(first).kind is OutcomeKind.DELIVERED
        producer.set_lower_priority()
        assert producer.send_message(second).kind is OutcomeKind.DELIVERED
    finally:
        producer.close()
    assert [orjson.loads(b)["id"] for b in sqs_server.drain(high, 1)] == [first["id"]]
    assert [orjson.loads(b)["id"] for b in sqs_server.drain(low, 1)] == [second["id"]]


def test_every_setting_helicone_requires_must_be_present() -> None:
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY, REQUEST_LOGS_QUEUE_URL_LOW"):
        SqsSettings.from_env({"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "a",
                              "REQUEST_LOGS_QUEUE_URL": "http://q"})  # fmt: skip
