"""A full or unusable disk never reaches the caller: records wait in memory, overflow is counted."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from heliograph import ManualLogger
from heliograph.receiver import ReceiverThread
from heliograph.spool import spool_status
from tests.support import small_tmpfs

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs, so writes fail with the kernel's own ENOSPC."""
    with small_tmpfs(tmp_path / "small-disk") as mount_point:
        yield mount_point


def grow(mount_point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=8m", str(mount_point)], check=True)


def test_full_disk_holds_records_in_memory_and_writes_them_when_space_returns(
    small_disk: Path, sink: ReceiverThread
) -> None:
    spool = small_disk / "spool"
    logger = ManualLogger(logging_endpoint=sink.url, spool_dir=spool, deliver=False,
                          max_segment_bytes=64 * 1024)  # fmt: skip
    for i in range(300):  # ~700 KB: far more than the disk holds
        logger.log_single_request(REQUEST, "x", idempotency_key=f"full-{i}")
    on_disk = spool_status(spool).pending
    assert 0 < on_disk < 300
    grow(small_disk)
    logger.log_single_request(REQUEST, "x", idempotency_key="full-300")  # drains the buffer
    assert spool_status(spool).pending == 301
    report = logger.close(timeout=0)
    assert report.dropped == {}
    deliverer = ManualLogger(logging_endpoint=sink.url, spool_dir=spool)
    assert deliverer.flush(timeout=30).delivered == 301
    deliverer.close()
    assert sink.store.count() == 301


def test_records_beyond_the_memory_buffer_are_counted_as_lost_to_a_full_disk(
    small_disk: Path,
) -> None:
    logger = ManualLogger(spool_dir=small_disk / "spool", deliver=False,
                          memory_buffer_bytes=20_000)  # fmt: skip
    for i in range(300):
        logger.log_single_request(REQUEST, "x", idempotency_key=f"over-{i}")
    grow(small_disk)  # the loss ledger lives on that disk too: it is written once there is room
    report = logger.close(timeout=0)
    lost = report.dropped.get("disk_full", 0)
    assert lost > 0
    assert spool_status(small_disk / "spool").pending + lost == 300
    assert spool_status(small_disk / "spool").lost == {"disk_full": lost}


def test_unusable_spool_folder_never_raises_into_the_caller(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    logger = ManualLogger(spool_dir=blocker / "spool", deliver=False, memory_buffer_bytes=10_000)
    for i in range(20):
        logger.log_single_request(REQUEST, "x", idempotency_key=f"ro-{i}")
    report = logger.close(timeout=0)
    assert sum(report.dropped.values()) == 20
    assert set(report.dropped) == {"spool_unwritable"}


def test_delivery_waits_for_an_uncreatable_spool_folder_without_raising(
    tmp_path: Path, sink: ReceiverThread
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    logger = ManualLogger(logging_endpoint=sink.url, spool_dir=blocker / "spool")
    for i in range(3):
        logger.log_single_request(REQUEST, "x", idempotency_key=f"wait-{i}")
    assert logger.flush(timeout=1).pending == 3  # held in memory, not raised
    blocker.unlink()  # the folder can be made now
    logger.log_single_request(REQUEST, "x", idempotency_key="wait-3")
    report = logger.close(timeout=20)
    assert report.pending == 0 and not report.dropped
    assert sink.store.count() == 4
