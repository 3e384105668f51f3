"""Process lifecycle: the exit flush delivers, a dead endpoint cannot hang exit, forks are safe."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NoReturn

import pytest

from heliograph import ManualLogger, stable_id
from heliograph.receiver import ReceiverThread
from heliograph.spool import spool_status
from tests.support import CountingSink, free_port

LOG_AND_RETURN = textwrap.dedent(
    """
    import sys
    from heliograph import ManualLogger
    logger = ManualLogger(logging_endpoint=sys.argv[1], spool_dir=sys.argv[2],
                          exit_timeout_s=float(sys.argv[4]))
    for i in range(int(sys.argv[3])):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"exit-{i}")
    # no flush, no close: returning from the program must be enough
    """
)


def run_and_exit(endpoint: str, spool_dir: Path, count: int, exit_timeout_s: float) -> None:
    subprocess.run(
        [sys.executable, "-c", LOG_AND_RETURN, endpoint, str(spool_dir), str(count),
         str(exit_timeout_s)],
        check=True, timeout=60,
    )  # fmt: skip


def test_program_that_never_flushes_is_delivered_by_the_exit_hook(
    sink: ReceiverThread, spool_dir: Path
) -> None:
    run_and_exit(sink.url, spool_dir, 100, exit_timeout_s=10)
    assert sink.store.count() == 100
    assert spool_status(spool_dir).pending == 0


def test_dead_endpoint_does_not_hold_exit_and_keeps_every_record(spool_dir: Path) -> None:
    run_and_exit("http://127.0.0.1:9", spool_dir, 100, exit_timeout_s=0.5)
    assert spool_status(spool_dir).pending == 100


def test_zero_exit_budget_skips_delivery_and_keeps_records_for_later(
    spool_dir: Path, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens yet: the endpoint is down while the app runs
    run_and_exit(f"http://127.0.0.1:{port}", spool_dir, 20, exit_timeout_s=0)
    assert spool_status(spool_dir).pending == 20
    with ReceiverThread(db_path=tmp_path / "later.db", port=port) as sink:
        later = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
        assert later.flush(timeout=20).delivered == 20
        later.close()
        assert sink.store.count() == 20


def test_forked_child_delivers_its_own_records_and_nothing_twice(
    sink: ReceiverThread, spool_dir: Path
) -> None:
    logger = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
    for i in range(10):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"parent-a-{i}")
    pid = os.fork()
    if pid == 0:  # child: its own segment, its own worker
        code = 1
        try:
            for i in range(10):
                logger.log_single_request({"model": "m"}, "x", idempotency_key=f"child-{i}")
            report = logger.close(timeout=20)
            code = 0 if report.delivered == 10 and report.pending == 0 else 1
        finally:
            os._exit(code)
    for i in range(10):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"parent-b-{i}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = logger.close(timeout=20)
    assert report.pending == 0
    expected = {stable_id(f"request:{k}-{i}") for k in ("parent-a", "child", "parent-b")
                for i in range(10)}  # fmt: skip
    assert {r["request_id"] for r in sink.store.query_requests(limit=100)} == expected
    assert sink.store.stats()["duplicates"] == 0


def test_close_reports_what_is_still_pending_when_the_endpoint_is_down(spool_dir: Path) -> None:
    logger = ManualLogger(logging_endpoint="http://127.0.0.1:9", spool_dir=spool_dir)
    for i in range(300):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"pending-{i}")
    report = logger.close(timeout=0)
    assert report.pending == 300
    assert spool_status(spool_dir).pending == 300


EXIT_NORMALLY = textwrap.dedent(
    """
    import sys
    from heliograph import ManualLogger
    logger = ManualLogger(logging_endpoint=sys.argv[1], spool_dir=sys.argv[2])
    for i in range(1000):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"{sys.argv[3]}-{i}")
    """
)


def test_a_normal_exit_never_leaves_a_received_record_to_be_sent_again(
    spool_dir: Path, delivery_mode: str
) -> None:
    """Four processes log 1,000 records each and return; then a flush runs. A sink that
    counts every POST must see each request id exactly once: requests in flight at the exit
    bound have their answers waited for and acknowledged. The sink answers in 10 ms, so the
    2 s exit bound ends with requests in flight."""
    with CountingSink(delay_s=0.01) as sink:
        writers = [
            subprocess.Popen([sys.executable, "-c", EXIT_NORMALLY, sink.url, str(spool_dir),
                              f"p{n}"])
            for n in range(4)
        ]  # fmt: skip
        assert [w.wait(timeout=120) for w in writers] == [0] * 4
        flushed = subprocess.run(
            [sys.executable, "-m", "heliograph", "flush", "--spool-dir", str(spool_dir)],
            env={**os.environ, "HELIOGRAPH_ENDPOINT": sink.url},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert flushed.returncode == 0, flushed.stdout + flushed.stderr
        assert sink.received() == 4000
        assert sink.duplicates == {}


def test_delivery_that_cannot_start_reports_what_waits_and_prints_no_traceback(
    spool_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(config: object) -> NoReturn:
        raise RuntimeError("no transport today")

    monkeypatch.setattr("heliograph.pipeline.build_transport", broken)
    logger = ManualLogger(logging_endpoint="http://127.0.0.1:9", spool_dir=spool_dir)
    logger.log_single_request({"model": "m"}, "x")
    assert logger.flush(timeout=2).pending == 1
    assert logger.close(timeout=1).pending == 1
    assert "cannot start delivery (no transport today)" in caplog.text
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)
