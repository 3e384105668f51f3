"""Crashes, many writers, prefork pools and SIGTERM: every accepted record arrives exactly once."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from heliograph import ManualLogger, stable_id
from heliograph.receiver import ReceiverThread
from heliograph.spool import spool_status

# Each test runs with in-process delivery, then with the delivery agent.
pytestmark = pytest.mark.usefixtures("delivery_mode")

LOG_FOREVER = textwrap.dedent(
    """
    import os, sys, time
    from heliograph import ManualLogger
    logger = ManualLogger(logging_endpoint=sys.argv[1], spool_dir=sys.argv[2],
                          max_segment_bytes=8_000)
    prefix, i = sys.argv[3], 0
    out = os.fdopen(1, "w", buffering=1)
    while True:  # bursts, so that kills land mid-write, mid-delivery and while idle
        key = f"{prefix}-{i}"
        logger.log_single_request({"model": "m"}, "x", idempotency_key=key)
        out.write(key + "\\n")  # written only after log_single_request returned
        i += 1
        if i % 25 == 0:
            time.sleep(0.005)
    """
)


@pytest.mark.timeout(900)  # --full-scale: 200 kills
def test_writers_killed_at_random_moments_lose_and_duplicate_nothing(
    sink: ReceiverThread, spool_dir: Path, scale: Callable[[int, int], int]
) -> None:
    rng = random.Random(7)
    kills = scale(25, 200)
    returned: list[str] = []
    for n in range(kills):
        writer = subprocess.Popen(
            [sys.executable, "-c", LOG_FOREVER, sink.url, str(spool_dir), f"k{n}"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert writer.stdout is not None
        first = writer.stdout.readline()  # it is logging (and delivering) now
        time.sleep(rng.uniform(0.0, 0.15))
        writer.send_signal(signal.SIGKILL)
        rest, _ = writer.communicate()
        returned.extend(line for line in (first + rest).splitlines() if line)
    deliverer = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
    report = deliverer.flush(timeout=120)
    deliverer.close()
    assert report.pending == 0
    stored = {r["request_id"] for r in sink.store.query_requests(limit=1_000_000)}
    expected = {stable_id(f"request:{key}") for key in returned}
    assert expected <= stored  # every record whose log call returned arrived
    assert sink.store.count() == len(stored)  # one row each, whatever was re-sent
    assert spool_status(spool_dir).pending == 0


WRITE_N = textwrap.dedent(
    """
    import sys
    from heliograph import ManualLogger
    logger = ManualLogger(logging_endpoint=sys.argv[1], spool_dir=sys.argv[2])
    for i in range(int(sys.argv[4])):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"{sys.argv[3]}-{i}")
    # With an agent, flush waits until it has delivered the whole destination (all eight
    # writers' records, at --full-scale 40,000 through one receiver).
    report = logger.flush(timeout=240)
    logger.close(timeout=60)
    sys.exit(0 if report.pending == 0 else 3)
    """
)


@pytest.mark.timeout(900)  # --full-scale: 8 x 5,000 records
def test_eight_processes_share_one_spool_and_each_record_arrives_once(
    sink: ReceiverThread, spool_dir: Path, scale: Callable[[int, int], int]
) -> None:
    per_process = scale(1_000, 5_000)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITE_N, sink.url, str(spool_dir), f"p{n}",
                          str(per_process)])
        for n in range(8)
    ]  # fmt: skip
    assert [w.wait(timeout=300) for w in writers] == [0] * 8
    assert sink.store.count() == 8 * per_process
    expected = {stable_id(f"request:p{n}-{i}") for n in range(8) for i in range(per_process)}
    stored = {r["request_id"] for r in sink.store.query_requests(limit=1_000_000)}
    assert stored == expected
    assert spool_status(spool_dir).pending == 0


_POOL_LOGGER: list[ManualLogger] = []  # inherited by the forked pool workers


def _log_in_pool_worker(key: str) -> int:
    _POOL_LOGGER[0].log_single_request({"model": "m"}, "x", idempotency_key=key)
    return os.getpid()


def test_prefork_pool_children_and_parent_are_all_delivered_once(
    sink: ReceiverThread, spool_dir: Path
) -> None:
    logger = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
    _POOL_LOGGER[:] = [logger]
    logger.log_single_request({"model": "m"}, "x", idempotency_key="parent-before")
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        pids = pool.map(_log_in_pool_worker, [f"child-{i}" for i in range(200)], chunksize=5)
    assert len(set(pids)) > 1
    logger.log_single_request({"model": "m"}, "x", idempotency_key="parent-after")
    # Pool workers exit without running atexit: what they spooled is claimed here.
    report = logger.flush(timeout=60)
    logger.close()
    assert report.pending == 0
    expected = {stable_id(f"request:child-{i}") for i in range(200)}
    expected |= {stable_id("request:parent-before"), stable_id("request:parent-after")}
    assert {r["request_id"] for r in sink.store.query_requests(limit=1000)} == expected


SLEEP_AFTER_LOGGING = textwrap.dedent(
    """
    import signal, sys, time
    from heliograph import ManualLogger
    if sys.argv[3] == "own-handler":
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
    logger = ManualLogger(logging_endpoint=sys.argv[1], spool_dir=sys.argv[2])
    for i in range(50):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"term-{i}")
    print("logged", flush=True)
    time.sleep(60)
    """
)


def test_sigterm_still_terminates_and_keeps_every_record(spool_dir: Path) -> None:
    dead_endpoint = "http://127.0.0.1:9"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEP_AFTER_LOGGING, dead_endpoint, str(spool_dir), "default"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "logged"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert spool_status(spool_dir).pending == 50


def test_program_with_its_own_sigterm_handler_keeps_it(spool_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SLEEP_AFTER_LOGGING, "http://127.0.0.1:9", str(spool_dir),
         "own-handler"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "logged"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 42
    assert spool_status(spool_dir).pending == 50
