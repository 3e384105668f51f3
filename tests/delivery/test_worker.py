"""Delivery under faults, against the real receiver: nothing lost, nothing duplicated."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from heliograph import ManualLogger
from heliograph.delivery.retry import backoff_s, parse_retry_after
from heliograph.receiver import ReceiverThread
from heliograph.spool import read_dead_letters
from tests.support import FaultProxy, destination_dir, free_port

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
Logger = Callable[..., ManualLogger]


def log_many(logger: ManualLogger, count: int) -> set[str]:
    ids = {str(uuid.uuid4()) for _ in range(count)}
    for request_id in ids:
        logger.log_single_request(REQUEST, "ok", {"Helicone-Request-Id": request_id})
    return ids


def stored_ids(sink: ReceiverThread) -> set[str]:
    return {row["request_id"] for row in sink.store.query_requests(limit=10_000)}


def test_receiver_down_at_start_then_up_loses_and_duplicates_nothing(
    make_logger: Logger, tmp_path: Path
) -> None:
    port = free_port()
    logger = make_logger(f"http://127.0.0.1:{port}")
    ids = log_many(logger, 40)
    assert logger.flush(timeout=0.5).pending == 40  # connection refused: all kept
    with ReceiverThread(port=port, db_path=tmp_path / "late.sqlite3") as sink:
        report = logger.flush(timeout=20)
        assert report.pending == 0
        assert report.delivered == 40
        assert stored_ids(sink) == ids
        assert sink.store.stats()["duplicates"] == 0


def test_server_errors_are_retried_until_delivered_exactly_once(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    fail_first = 8
    with FaultProxy(sink.url, lambda n: (500, {}, b"boom") if n <= fail_first else None) as proxy:
        logger = make_logger(proxy.url)
        ids = log_many(logger, 30)
        report = logger.flush(timeout=20)
    assert proxy.outcomes["500"] == fail_first
    assert report.delivered == 30 and report.pending == 0 and report.dead_lettered == 0
    assert stored_ids(sink) == ids
    assert sink.store.stats()["duplicates"] == 0


def test_429_retry_after_is_honoured_before_the_next_attempt(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    def fault(n: int) -> tuple[int, dict[str, str], bytes] | None:
        return (429, {"Retry-After": "1"}, b"slow down") if n == 1 else None

    with FaultProxy(sink.url, fault) as proxy:
        logger = make_logger(proxy.url, concurrency=1)
        ids = log_many(logger, 3)
        report = logger.flush(timeout=20)
    assert report.pending == 0
    assert stored_ids(sink) == ids
    gap = proxy.arrivals[1] - proxy.arrivals[0]
    assert gap >= 0.95, f"retried after {gap:.3f} s despite Retry-After: 1"


def test_hanging_receiver_times_out_and_the_record_is_delivered_once(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    with FaultProxy(sink.url, lambda n: "hang" if n == 1 else None) as proxy:
        logger = make_logger(proxy.url, attempt_timeout_s=0.5, concurrency=1)
        ids = log_many(logger, 2)
        report = logger.flush(timeout=20)
    assert proxy.outcomes["hang"] == 1
    assert report.pending == 0
    assert stored_ids(sink) == ids
    assert sink.store.stats()["duplicates"] == 0


def test_400_is_dead_lettered_with_the_error_text_and_not_retried(
    make_logger: Logger, sink: ReceiverThread, spool_dir: Path
) -> None:
    rejection = b'{"error":"providerResponse.status must be a number"}'
    with FaultProxy(sink.url, lambda n: (400, {}, rejection) if n == 1 else None) as proxy:
        logger = make_logger(proxy.url, concurrency=1)
        ids = log_many(logger, 3)
        report = logger.flush(timeout=20)
    assert report.dead_lettered == 1 and report.delivered == 2 and report.pending == 0
    assert proxy.requests == 3
    letters = list(read_dead_letters(destination_dir(spool_dir) / "dead-letters.jsonl"))
    assert len(letters) == 1
    assert letters[0]["status"] == 400
    assert "providerResponse.status must be a number" in letters[0]["response"]
    assert letters[0]["record"]["id"] in ids
    assert stored_ids(sink) == ids - {letters[0]["record"]["id"]}


def test_records_another_process_left_behind_are_delivered_by_this_one(
    make_logger: Logger, sink: ReceiverThread, spool_dir: Path
) -> None:
    writer_only = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir, deliver=False)
    ids = log_many(writer_only, 10)
    writer_only.close(timeout=0)  # releases its segments, like a process that exited
    deliverer = make_logger(sink.url)
    assert deliverer.flush(timeout=20).delivered == 10
    assert stored_ids(sink) == ids


@pytest.mark.parametrize(
    ("value", "expected"), [("3", 3.0), ("0", 0.0), ("-5", 0.0), ("junk", None), (None, None),
                            ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)  # fmt: skip
def test_retry_after_accepts_seconds_and_http_dates(
    value: str | None, expected: float | None
) -> None:
    assert parse_retry_after(value) == expected


def test_backoff_grows_exponentially_within_jitter_and_is_capped() -> None:
    delays = [backoff_s(n, 0.5, 30.0) for n in range(1, 10)]
    assert 0.4 <= delays[0] <= 0.6
    assert 0.8 <= delays[1] <= 1.2
    assert all(d <= 30.0 for d in delays)
    assert delays[-1] >= 24.0
