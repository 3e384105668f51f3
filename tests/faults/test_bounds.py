"""The spool stays within its size and age bounds; every eviction is counted with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from heliograph import ManualLogger
from heliograph.spool import spool_status

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "y" * 1000}]}


def folder_bytes(spool_dir: Path) -> int:
    return sum(p.stat().st_size for p in spool_dir.glob("destinations/*/segments/*.jsonl"))


def test_size_bound_evicts_oldest_segments_and_counts_them(spool_dir: Path) -> None:
    logger = ManualLogger(logging_endpoint="http://127.0.0.1:9", spool_dir=spool_dir,
                          max_segment_bytes=20_000, max_spool_bytes=100_000)  # fmt: skip
    for i in range(400):  # ~500 KB against a 100 KB bound, with the endpoint down
        logger.log_single_request(REQUEST, "x", idempotency_key=f"size-{i}")
    logger.flush(timeout=1.5)  # housekeeping runs at least once
    report = logger.close(timeout=0)
    status = spool_status(spool_dir)
    assert folder_bytes(spool_dir) <= 100_000 + 20_000  # plus the segment being written
    evicted = report.dropped["evicted_size"]
    assert evicted > 0
    assert status.pending + evicted + report.delivered == 400
    assert status.lost == {"evicted_size": evicted}


def test_age_bound_evicts_segments_older_than_max_age(spool_dir: Path) -> None:
    writer = ManualLogger(logging_endpoint="http://127.0.0.1:9", spool_dir=spool_dir,
                          deliver=False, max_segment_bytes=5_000)  # fmt: skip
    for i in range(30):
        writer.log_single_request(REQUEST, "x", idempotency_key=f"old-{i}")
    writer.close(timeout=0)
    week_ago = time.time() - 8 * 24 * 3600
    for segment in spool_dir.glob("destinations/*/segments/*.jsonl"):
        os.utime(segment, (week_ago, week_ago))
    logger = ManualLogger(logging_endpoint="http://127.0.0.1:9", spool_dir=spool_dir)
    logger.flush(timeout=0.5)
    report = logger.close(timeout=0)
    assert report.dropped == {"evicted_age": 30}
    assert spool_status(spool_dir).pending == 0


def test_size_bound_waits_while_another_process_has_the_eviction_turn(spool_dir: Path) -> None:
    """Two processes measuring the folder at once would each evict enough to meet the bound
    alone; so a process skips its size pass while another holds the turn, and measures
    afresh once the turn is free."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_EVICTION_TURN, str(spool_dir / "eviction.lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        logger = ManualLogger(logging_endpoint="http://127.0.0.1:9", spool_dir=spool_dir,
                              max_segment_bytes=20_000, max_spool_bytes=100_000)  # fmt: skip
        for i in range(400):  # ~500 KB against a 100 KB bound, with the endpoint down
            logger.log_single_request(REQUEST, "x", idempotency_key=f"turn-{i}")
        while_held = logger.flush(timeout=1.5)  # housekeeping runs at least once
        assert "evicted_size" not in while_held.dropped
        assert folder_bytes(spool_dir) > 400_000
    finally:
        holder.communicate("")  # the holder exits, and its lock goes with it
    after = logger.flush(timeout=1.5)
    report = logger.close(timeout=0)
    assert after.dropped["evicted_size"] > 0
    assert folder_bytes(spool_dir) <= 100_000 + 20_000
    assert spool_status(spool_dir).lost == {"evicted_size": report.dropped["evicted_size"]}


HOLD_EVICTION_TURN = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""
