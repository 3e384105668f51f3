"""The heliograph command: helpful --help, truthful status, flush exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from heliograph import ManualLogger
from heliograph.cli.main import main
from heliograph.receiver import ReceiverThread
from tests.support import free_port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heliograph", *args],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin", **(env or {})},
    )  # fmt: skip


@pytest.mark.parametrize("command", [[], ["serve"], ["status"], ["flush"], ["demo"]])
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: heliograph" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = run("launch")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def spool_with_records(spool_dir: Path, count: int, endpoint: str | None = None) -> None:
    logger = ManualLogger(logging_endpoint=endpoint, spool_dir=spool_dir, deliver=False)
    for i in range(count):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"cli-{i}")
    logger.close(timeout=0)


def test_status_json_reports_pending_records(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spool_with_records(spool_dir, 4)
    assert main(["status", "--json", "--spool-dir", str(spool_dir)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 4
    assert status["delivered"] == 0


def test_flush_exits_1_while_the_endpoint_is_down_and_0_once_delivered(
    spool_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens yet: the records' endpoint is down
    endpoint = f"http://127.0.0.1:{port}"
    spool_with_records(spool_dir, 3, endpoint)
    down = run("flush", "--spool-dir", str(spool_dir), "--timeout", "1",
               env={"HELIOGRAPH_ENDPOINT": endpoint})  # fmt: skip
    assert down.returncode == 1, down.stderr
    assert "pending 3" in down.stdout
    with ReceiverThread(db_path=tmp_path / "sink.sqlite3", port=port) as sink:
        up = run("flush", "--spool-dir", str(spool_dir), env={"HELIOGRAPH_ENDPOINT": endpoint})
        assert up.returncode == 0, up.stderr
        assert sink.store.count() == 3
    assert main(["status", "--json", "--spool-dir", str(spool_dir)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pending"] == 0
    assert status["delivered"] == 3


def test_invalid_environment_setting_is_reported_as_a_usage_error(spool_dir: Path) -> None:
    result = run("flush", "--spool-dir", str(spool_dir), env={"HELIOGRAPH_FSYNC": "sometimes"})
    assert result.returncode == 2
    assert "fsync must be one of never, interval, always" in result.stderr


def test_demo_shows_a_delivered_session(tmp_path: Path) -> None:
    result = run("demo", "--port", "0", "--db", str(tmp_path / "demo.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert "delivered 3, pending 0" in result.stdout
    assert "/turn-3" in result.stdout
