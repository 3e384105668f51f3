"""`heliograph serve` receives logs and drains what short-lived processes left in the spool."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from heliograph import ManualLogger, stable_id
from tests.support import destination_dir, free_port, wait_for


def test_serve_delivers_records_left_by_an_exited_process_into_itself(
    spool_dir: Path, tmp_path: Path
) -> None:
    # The exited process logged to the address serve listens on (nothing listened then):
    # the same destination, so serve's own drain may deliver its records.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    writer = ManualLogger(logging_endpoint=url, spool_dir=spool_dir, deliver=False)
    for i in range(25):
        writer.log_single_request({"model": "m"}, "x", idempotency_key=f"left-{i}")
    writer.close(timeout=0)

    server = subprocess.Popen(
        [sys.executable, "-m", "heliograph", "serve", "--port", str(port),
         "--db", str(tmp_path / "serve.sqlite3"), "--spool-dir", str(spool_dir)],
        env={"PATH": "/usr/bin:/bin"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def stored() -> int:
            try:
                return int(httpx.get(f"{url}/v1/receiver/stats", timeout=1).json()["requests"])
            except (httpx.HTTPError, KeyError, ValueError):
                return -1

        assert wait_for(lambda: stored() == 25, timeout=30), stored()
        row = httpx.get(f"{url}/v1/request/{stable_id('request:left-3')}", timeout=5).json()
        assert row["data"]["request_id"] == stable_id("request:left-3")
    finally:
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=20)
    assert time.monotonic() - started < 15
    assert "Shutting down" in stderr
    assert not list((destination_dir(spool_dir) / "segments").glob("*.jsonl"))
