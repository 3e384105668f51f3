"""verify, dead-letters, replay and purge: a spool folder can be checked, repaired and cleaned."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from heliograph import ManualLogger
from heliograph.cli.main import main
from heliograph.receiver import ReceiverThread
from heliograph.spool import spool_status
from tests.support import FaultProxy, destination_dir, free_port

REQUEST = {"model": "m"}


def spooled(spool_dir: Path, count: int, endpoint: str | None = None) -> None:
    logger = ManualLogger(logging_endpoint=endpoint, spool_dir=spool_dir, deliver=False)
    for i in range(count):
        logger.log_single_request(REQUEST, "x", idempotency_key=f"m-{i}")
    logger.close(timeout=0)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_verify_reports_a_healthy_spool(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spooled(spool_dir, 5)
    code, out = cli(capsys, "verify", "--spool-dir", str(spool_dir))
    assert code == 0
    assert "5 records" in out and "healthy" in out


def test_verify_finds_damage_and_repair_quarantines_only_the_damaged_record(
    spool_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()  # the records' endpoint: down while they are checked and repaired
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("HELIOGRAPH_ENDPOINT", endpoint)  # the CLI acts on their destination
    spooled(spool_dir, 5, endpoint)
    segment = next((destination_dir(spool_dir) / "segments").glob("*.jsonl"))
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"status":200', b'"status":201')
    segment.write_bytes(b"".join(lines))
    segment.chmod(0o644)
    code, out = cli(capsys, "verify", "--spool-dir", str(spool_dir))
    assert code == 1
    assert "checksum mismatch" in out and "should be 0o600" in out
    code, out = cli(capsys, "verify", "--repair", "--spool-dir", str(spool_dir))
    assert "corrupt lines quarantined: 1" in out and "permissions tightened: 1" in out
    code, out = cli(capsys, "verify", "--spool-dir", str(spool_dir))
    assert code == 0, out
    with ReceiverThread(db_path=tmp_path / "sink.sqlite3", port=port) as sink:
        deliverer = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
        assert deliverer.flush(timeout=20).delivered == 4
        deliverer.close()
        assert sink.store.count() == 4
    assert spool_status(spool_dir).lost == {"corrupt": 1}


def test_dead_letters_are_listed_shown_and_replayed_with_their_request_id(
    spool_dir: Path,
    sink: ReceiverThread,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_id = str(uuid.uuid4())
    # The endpoint refuses the first request only; the replayed record goes to it again.
    with FaultProxy(sink.url, lambda n: (400, {}, b'{"error":"bad"}') if n == 1 else None) as proxy:
        monkeypatch.setenv("HELIOGRAPH_ENDPOINT", proxy.url)  # the CLI acts on its destination
        logger = ManualLogger(logging_endpoint=proxy.url, spool_dir=spool_dir)
        logger.log_single_request(REQUEST, "x", {"Helicone-Request-Id": request_id})
        assert logger.flush(timeout=20).dead_lettered == 1
        logger.close()
        code, out = cli(capsys, "dead-letters", "--spool-dir", str(spool_dir))
        assert code == 0 and request_id in out and "400" in out
        code, out = cli(capsys, "dead-letters", "show", request_id, "--spool-dir", str(spool_dir))
        assert json.loads(out)["response"] == '{"error":"bad"}'
        code, out = cli(capsys, "replay", request_id, "--spool-dir", str(spool_dir))
        assert code == 0 and "replayed 1" in out
        assert spool_status(spool_dir).pending == 1
        assert spool_status(spool_dir).dead_letters_on_disk == 0
        deliverer = ManualLogger(logging_endpoint=proxy.url, spool_dir=spool_dir)
        assert deliverer.flush(timeout=20).delivered == 1
        deliverer.close()
    assert sink.store.get_request(request_id) is not None


def test_replay_needs_ids_or_all(spool_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = cli(capsys, "replay", "--spool-dir", str(spool_dir))
    assert code == 2 and "--all" in out


def test_purge_shows_first_then_deletes_and_counts_the_loss(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spooled(spool_dir, 6)
    code, out = cli(capsys, "purge", "--pending", "--spool-dir", str(spool_dir))
    assert "would delete: 6 pending records" in out
    assert spool_status(spool_dir).pending == 6
    code, out = cli(capsys, "purge", "--pending", "--yes", "--spool-dir", str(spool_dir))
    assert code == 0 and "deleted: 6 pending records" in out
    status = spool_status(spool_dir)
    assert status.pending == 0
    assert status.lost == {"purged": 6}
