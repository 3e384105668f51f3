"""Damaged spool files: only the damaged records are quarantined and counted; the rest arrive."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from heliograph import ManualLogger, stable_id
from heliograph.receiver import ReceiverThread
from heliograph.spool import spool_status
from tests.support import destination_dir

WRITE_THEN_DIE = textwrap.dedent(
    """
    import os, signal, sys
    from heliograph import ManualLogger
    logger = ManualLogger(logging_endpoint=sys.argv[3], spool_dir=sys.argv[1], deliver=False,
                          max_segment_bytes=20_000)
    for i in range(int(sys.argv[2])):
        logger.log_single_request({"model": "m", "n": i}, "answer %d" % i,
                                  idempotency_key="rec-%d" % i)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_byte_flips_truncation_and_garbage_lose_only_the_damaged_records(
    spool_dir: Path, sink: ReceiverThread
) -> None:
    count = 300
    died = subprocess.run([sys.executable, "-c", WRITE_THEN_DIE, str(spool_dir), str(count),
                           sink.url], check=False)  # fmt: skip
    assert died.returncode == -signal.SIGKILL
    rng = random.Random(20261122)
    damaged: set[int] = set()
    garbage = 0
    segments = sorted((destination_dir(spool_dir) / "segments").glob("*.jsonl"))
    assert len(segments) > 3
    for path in segments:
        lines = path.read_bytes().splitlines(keepends=True)
        for index, line in enumerate(lines):
            if rng.random() < 0.08:  # flip one byte inside the record (never a newline)
                pos = rng.randrange(1, len(line) - 1)
                flipped = bytes([line[pos] ^ (1 << rng.randrange(7))])
                if flipped == b"\n" or line[pos : pos + 1] == flipped:
                    continue
                lines[index] = line[:pos] + flipped + line[pos + 1 :]
                damaged.add(_number(line))
        if rng.random() < 0.5:  # garbage lines between records
            at = rng.randrange(len(lines))
            lines.insert(at, b"\x00\xffnot a record at all\n")
            garbage += 1
        if path == segments[-1]:  # a torn tail: the last record cut in half
            damaged.add(_number(lines[-1]))
            lines[-1] = lines[-1][: len(lines[-1]) // 2]
        path.write_bytes(b"".join(lines))

    logger = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
    report = logger.flush(timeout=60)
    logger.close()
    intact = {stable_id(f"request:rec-{i}") for i in range(count) if i not in damaged}
    assert {r["request_id"] for r in sink.store.query_requests(limit=1000)} == intact
    assert report.dropped == {"corrupt": len(damaged) + garbage}
    assert spool_status(spool_dir).lost == {"corrupt": len(damaged) + garbage}
    assert spool_status(spool_dir).pending == 0
    assert list((destination_dir(spool_dir) / "corrupt").glob("*.bad"))


def _number(line: bytes) -> int:
    marker = b'"n":'
    start = line.index(marker) + len(marker)
    end = start
    while line[end : end + 1].isdigit():
        end += 1
    return int(line[start:end])


def test_corrupt_ack_and_ledger_lines_stop_nothing(spool_dir: Path, sink: ReceiverThread) -> None:
    died = subprocess.run([sys.executable, "-c", WRITE_THEN_DIE, str(spool_dir), "20", sink.url],
                          check=False)  # fmt: skip
    assert died.returncode == -signal.SIGKILL
    for segment in (destination_dir(spool_dir) / "segments").glob("*.jsonl"):
        segment.with_name(segment.name + ".acked").write_bytes(b"zz\n0000\x00garbage\n")
    (destination_dir(spool_dir) / "ledger.jsonl").write_bytes(
        b'{"counts": {"delivered": "many"}}\n{torn'
    )
    logger = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
    assert logger.flush(timeout=30).delivered == 20
    logger.close()
    assert spool_status(spool_dir).delivered == 20
