"""The whole path over loopback: many threads and asyncio tasks, every record exactly once."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from heliograph import ManualLogger, Session, stable_id
from heliograph.receiver import ReceiverThread
from tests.support import free_port

THREADS = 8
PER_THREAD = 75
TASKS = 400


def request_for(key: str) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {key}"}]}


def test_thousand_calls_from_threads_and_tasks_arrive_exactly_once_with_their_fields(
    make_logger: Callable[..., ManualLogger], sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    session = Session.from_key("e2e", name="End to end")

    def worker(thread_no: int) -> None:
        for i in range(PER_THREAD):
            key = f"t{thread_no}-{i}"
            logger.log_single_request(
                request_for(key), f"answer {key}",
                {**session.child(f"thread-{thread_no}").headers(), "Helicone-User-Id": key},
                latency_ms=100, provider="openai", idempotency_key=key,
            )  # fmt: skip

    async def async_calls() -> None:
        async def one(i: int) -> None:
            key = f"a{i}"

            async def operation(recorder: object) -> None:
                await asyncio.sleep(0)
                recorder.append_results({"choices": [{"message": {"content": key}}]})  # type: ignore[attr-defined]

            await logger.alog_request(
                request_for(key), operation,
                {**session.child("async").headers(), "Helicone-User-Id": key},
                provider="anthropic", idempotency_key=key,
            )  # fmt: skip

        await asyncio.gather(*(one(i) for i in range(TASKS)))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    asyncio.run(async_calls())
    for thread in threads:
        thread.join()

    total = THREADS * PER_THREAD + TASKS
    assert total == 1000
    report = logger.flush(timeout=60)
    assert (report.accepted, report.delivered, report.pending) == (total, total, 0)
    assert sink.store.count() == total
    assert sink.store.stats()["duplicates"] == 0
    sample = sink.store.get_request(stable_id("request:t3-17"))
    assert sample is not None
    assert sample["provider"] == "OPENAI"
    assert sample["request_user_id"] == "t3-17"
    assert sample["session_id"] == session.id
    assert sample["session_path"] == "/thread-3"
    assert sample["response_body"] == "answer t3-17"
    assert sample["request_body"] == request_for("t3-17")
    other = sink.store.get_request(stable_id("request:a250"))
    assert other is not None
    assert other["provider"] == "ANTHROPIC"
    assert other["session_path"] == "/async"


KILLED_RIGHT_AFTER_LOG = textwrap.dedent(
    """
    import os, signal, sys
    from heliograph import ManualLogger
    logger = ManualLogger(logging_endpoint=sys.argv[1], spool_dir=sys.argv[2])
    for i in range(int(sys.argv[3])):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"killed-{i}")
    os.kill(os.getpid(), signal.SIGKILL)  # the instant the last log call returned
    """
)


def test_records_of_a_process_killed_right_after_logging_are_delivered_by_heliograph_flush(
    spool_dir: Path, tmp_path: Path
) -> None:
    count = 200
    # Nothing listens on the writer's endpoint yet, so nothing is delivered before the kill;
    # the receiver starts on that same endpoint afterwards.
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RIGHT_AFTER_LOG, endpoint, str(spool_dir), str(count)],
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    with ReceiverThread(db_path=tmp_path / "sink.sqlite3", port=port) as sink:
        assert sink.store.count() == 0
        flushed = subprocess.run(
            [sys.executable, "-m", "heliograph", "flush", "--spool-dir", str(spool_dir),
             "--timeout", "30"],
            env={"HELIOGRAPH_ENDPOINT": endpoint, "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert flushed.returncode == 0, flushed.stdout + flushed.stderr
        assert f"delivered {count}" in flushed.stdout
        expected = {stable_id(f"request:killed-{i}") for i in range(count)}
        assert {r["request_id"] for r in sink.store.query_requests(limit=1000)} == expected
