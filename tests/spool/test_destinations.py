"""Records reach only the destination they were logged for: endpoint, key and transport."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from heliograph import ManualLogger
from heliograph.config import Config
from heliograph.spool import spool_status
from heliograph.spool.destination import destination_of
from tests.support import CountingSink, free_port

LOG_AND_EXIT = textwrap.dedent(
    """
    import sys
    from heliograph import ManualLogger
    endpoint, spool_dir, key, prefix, count = sys.argv[1:6]
    logger = ManualLogger(api_key=key, logging_endpoint=endpoint, spool_dir=spool_dir,
                          exit_timeout_s=0.5)
    for i in range(int(count)):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"{prefix}-{i}")
    """
)


def log_and_exit(endpoint: str, spool_dir: Path, key: str, prefix: str, count: int) -> None:
    subprocess.run(
        [sys.executable, "-c", LOG_AND_EXIT, endpoint, str(spool_dir), key, prefix, str(count)],
        check=True, timeout=60,
    )  # fmt: skip


def test_two_apps_sharing_a_spool_each_reach_only_their_own_endpoint_with_their_own_key(
    spool_dir: Path,
) -> None:
    """App A logs while its endpoint is down and exits; app B flushes the shared spool.
    B's endpoint must get none of A's records, and A's arrive later at A's endpoint with
    A's key."""
    port_a = free_port()  # nothing listens: A's endpoint is down while A runs
    log_and_exit(f"http://127.0.0.1:{port_a}", spool_dir, "sk-helicone-ORG-A", "a", 5)
    with CountingSink() as sink_b:
        b = ManualLogger(api_key="sk-helicone-ORG-B", logging_endpoint=sink_b.url,
                         spool_dir=spool_dir)  # fmt: skip
        for i in range(5):
            b.log_single_request({"model": "m"}, "x", idempotency_key=f"b-{i}")
        report = b.flush(timeout=20)
        b.close()
        assert report.delivered == 5 and report.pending == 0
        assert set(sink_b.keys) == {"Bearer sk-helicone-ORG-B"}
        assert sink_b.received() == 5
    assert spool_status(spool_dir).pending == 5  # A's, still waiting for A's endpoint
    with CountingSink(port=port_a) as sink_a:
        a = ManualLogger(api_key="sk-helicone-ORG-A", logging_endpoint=sink_a.url,
                         spool_dir=spool_dir)  # fmt: skip
        assert a.flush(timeout=20).pending == 0
        a.close()
        assert set(sink_a.keys) == {"Bearer sk-helicone-ORG-A"}
        assert sink_a.received() == 5 and not sink_a.duplicates


def test_the_local_receiver_and_a_helicone_key_are_different_destinations(tmp_path: Path) -> None:
    local = destination_of(Config(spool_dir=tmp_path))
    keyed = destination_of(Config(spool_dir=tmp_path, api_key="sk-helicone-x"))
    other_key = destination_of(Config(spool_dir=tmp_path, api_key="sk-helicone-y"))
    queue = destination_of(Config(spool_dir=tmp_path, transport="queue"))
    fingerprints = {d.fingerprint for d in (local, keyed, other_key, queue)}
    assert len(fingerprints) == 4
    assert destination_of(Config(spool_dir=tmp_path, api_key="sk-helicone-x")) == keyed


def test_no_key_is_ever_written_under_the_spool_folder(spool_dir: Path) -> None:
    key = "sk-helicone-SECRET-never-on-disk"
    logger = ManualLogger(api_key=key, logging_endpoint=f"http://127.0.0.1:{free_port()}",
                          spool_dir=spool_dir, deliver=False)  # fmt: skip
    logger.log_single_request({"model": "m"}, "x")
    logger.close(timeout=0)
    files = [p for p in spool_dir.rglob("*") if p.is_file()]
    assert any(p.name == "destination.json" for p in files)
    assert all(key.encode() not in p.read_bytes() for p in files)


def test_records_of_a_destination_nobody_delivers_age_out_counted_there(
    spool_dir: Path, tmp_path: Path
) -> None:
    import os
    import time

    abandoned = ManualLogger(logging_endpoint=f"http://127.0.0.1:{free_port()}",
                             spool_dir=spool_dir, deliver=False)  # fmt: skip
    for i in range(7):
        abandoned.log_single_request({"model": "m"}, "x", idempotency_key=f"old-{i}")
    abandoned.close(timeout=0)
    week_ago = time.time() - 8 * 24 * 3600
    for segment in spool_dir.glob("destinations/*/segments/*.jsonl"):
        os.utime(segment, (week_ago, week_ago))
    with CountingSink() as sink:
        active = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
        active.log_single_request({"model": "m"}, "x")
        assert active.flush(timeout=20).pending == 0
        active.close()
        assert sink.received() == 1
    status = spool_status(spool_dir)
    assert status.pending == 0
    assert status.lost == {"evicted_age": 7}
    [gone] = [d for d in status.destinations if d.lost]
    assert gone.lost == {"evicted_age": 7} and gone.target.startswith("http://127.0.0.1:")


def test_an_endpoint_with_or_without_its_log_route_is_one_destination(tmp_path: Path) -> None:
    base = destination_of(Config(spool_dir=tmp_path, endpoint="http://h:1"))
    routed = destination_of(Config(spool_dir=tmp_path, endpoint="http://h:1/custom/v1/log/"))
    assert routed == base


def test_a_destination_shows_no_password_or_query_of_its_endpoint(tmp_path: Path) -> None:
    config = Config(spool_dir=tmp_path, endpoint="https://me:hunter2@h/x?key=sk-abc")
    shown = destination_of(config)
    assert "hunter2" not in shown.describe() and "sk-abc" not in shown.describe()
    assert shown.target == "https://me:***@h/x?…"
