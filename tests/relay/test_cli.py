"""``heliograph relay`` as a process: forwards until SIGTERM, then exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from heliograph.cli.main import main
from heliograph.delivery.outcome import OutcomeKind
from heliograph.receiver import ReceiverThread
from heliograph.transports.sqs import SqsProducer, SqsSettings
from tests.queues import SqsServer
from tests.support import wait_for
from tests.transports.helpers import make_message


@pytest.mark.parametrize("destination", ["valhalla", "helicone"])
def test_relay_command_forwards_sqs_to_the_receiver_until_sigterm(
    sqs_server: SqsServer, sink: ReceiverThread, destination: str
) -> None:
    queue_url = sqs_server.create_queue()
    env = {**os.environ, **sqs_server.env(queue_url)}
    command = [sys.executable, "-m", "heliograph", "relay", "--from", "sqs",
               "--to", destination, "--url", sink.url]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    try:
        producer = SqsProducer(SqsSettings.from_env(sqs_server.env(queue_url)))
        try:
            assert producer.send_message(make_message()).kind is OutcomeKind.DELIVERED
        finally:
            producer.close()
        assert wait_for(lambda: sink.store.count() == 1)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert b"'forwarded': 1" in stderr


def test_relay_from_kafka_without_settings_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "UPSTASH_KAFKA_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["relay", "--from", "kafka", "--to", "valhalla"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err
