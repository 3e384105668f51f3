"""The spool commands act per destination: status lists each, never a key; flush, verify
and purge touch only the destination they were given."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from heliograph import ManualLogger, stable_id
from heliograph.cli.main import main
from heliograph.config import Config
from heliograph.receiver import ReceiverThread
from heliograph.spool import spool_status
from heliograph.spool.destination import destination_of, key_fingerprint
from tests.support import FaultProxy, free_port, wait_for

KEY_A = "sk-helicone-aaaa1111-secret-of-team-a"
KEY_B = "sk-helicone-bbbb2222-secret-of-team-b"


def log(spool_dir: Path, key: str | None, endpoint: str, count: int, tag: str) -> str:
    """Spool ``count`` records for this key and endpoint; return their destination's fingerprint."""
    logger = ManualLogger(key, endpoint, spool_dir=spool_dir, deliver=False)
    for i in range(count):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"{tag}-{i}")
    logger.close(timeout=0)
    return destination_of(Config(api_key=key, endpoint=endpoint, spool_dir=spool_dir)).fingerprint


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def by_fingerprint(status: dict[str, object]) -> dict[str, dict[str, object]]:
    parts = status["destinations"]
    assert isinstance(parts, list)
    return {part["fingerprint"]: part for part in parts}


def every_file_under(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_status_lists_every_destination_with_its_key_fingerprint_and_never_a_key(
    spool_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = log(spool_dir, KEY_A, "http://127.0.0.1:9/a", 3, "a")
    b = log(spool_dir, KEY_B, "http://127.0.0.1:9/b", 2, "b")
    assert a != b
    monkeypatch.setenv("HELICONE_API_KEY", KEY_A)  # the command's own settings hold a key too
    monkeypatch.setenv("HELIOGRAPH_ENDPOINT", "http://127.0.0.1:9/a")

    code, text, err = cli(capsys, "status", "--spool-dir", str(spool_dir))
    assert code == 0, err
    assert f"destination {a}  (the current settings log here)" in text
    assert f"destination {b}\n" in text
    assert key_fingerprint(KEY_A) in text and key_fingerprint(KEY_B) in text
    assert "http://127.0.0.1:9/b" in text
    assert "5 records" in text  # the totals

    code, raw, err = cli(capsys, "status", "--json", "--spool-dir", str(spool_dir))
    assert code == 0, err
    status = json.loads(raw)
    assert status["pending"] == 5
    parts = by_fingerprint(status)
    assert set(parts) == {a, b}
    assert parts[a]["pending"] == 3 and parts[b]["pending"] == 2
    assert parts[a]["key_fingerprint"] == key_fingerprint(KEY_A)
    assert parts[b]["key_fingerprint"] == key_fingerprint(KEY_B)
    assert parts[b]["target"] == "http://127.0.0.1:9/b"
    assert parts[a]["agent_pid"] is None
    for key in (KEY_A, KEY_B):
        assert key not in text + raw
        assert key.encode() not in every_file_under(spool_dir)


def test_status_shows_the_delivery_agent_of_a_destination(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # down: the agent keeps retrying
    a = log(spool_dir, KEY_A, endpoint, 2, "a")
    agent = subprocess.Popen(
        [sys.executable, "-m", "heliograph", "agent", "--spool-dir", str(spool_dir),
         "--stop-timeout", "1"],
        env={"PATH": "/usr/bin:/bin", "HELICONE_API_KEY": KEY_A, "HELIOGRAPH_ENDPOINT": endpoint},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def agent_shown() -> bool:
            main(["status", "--json", "--spool-dir", str(spool_dir)])
            part = by_fingerprint(json.loads(capsys.readouterr().out))[a]
            return part["agent_pid"] == agent.pid and part["agent"] is not None

        assert wait_for(agent_shown), "status never showed the agent"
        code, text, _ = cli(capsys, "status", "--spool-dir", str(spool_dir))
        assert code == 0 and f"pid {agent.pid}, " in text
        assert KEY_A not in text
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=30)
    assert KEY_A not in stderr
    assert KEY_A.encode() not in every_file_under(spool_dir)
    code, text, _ = cli(capsys, "status", "--spool-dir", str(spool_dir))
    assert code == 0 and "delivery agent  not running" in text


def test_flush_delivers_only_its_own_destination_and_leaves_the_other_pending(
    spool_dir: Path, tmp_path: Path
) -> None:
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    a = log(spool_dir, KEY_A, url_a, 3, "a")
    b = log(spool_dir, KEY_B, url_b, 2, "b")
    with (
        ReceiverThread(db_path=tmp_path / "a.sqlite3", port=port_a, require_keys=[KEY_A]) as sink_a,
        ReceiverThread(db_path=tmp_path / "b.sqlite3", port=port_b) as sink_b,
    ):
        flushed = subprocess.run(
            [sys.executable, "-m", "heliograph", "flush", "--spool-dir", str(spool_dir),
             "--timeout", "30"],
            env={"PATH": "/usr/bin:/bin", "HELICONE_API_KEY": KEY_A, "HELIOGRAPH_ENDPOINT": url_a},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert flushed.returncode == 0, flushed.stdout + flushed.stderr
        received = {r["request_id"] for r in sink_a.store.query_requests(limit=100)}
        assert received == {stable_id(f"request:a-{i}") for i in range(3)}
        assert sink_b.store.count() == 0
    lines = flushed.stdout.splitlines()
    assert lines[0].startswith("delivered 3, dead-lettered 0, pending 0 for " + url_a)
    assert f"key {key_fingerprint(KEY_A)}" in lines[0] and a in lines[0]
    assert lines[1].startswith("2 record(s) pending for 1 other destination(s)")
    assert "heliograph status" in lines[1]
    assert KEY_A not in flushed.stdout + flushed.stderr
    parts = {d.fingerprint: d for d in spool_status(spool_dir).destinations}
    assert (parts[a].pending, parts[a].delivered) == (0, 3)
    assert (parts[b].pending, parts[b].delivered) == (2, 0)


def damage_one_line(folder: Path) -> None:
    segment = next((folder / "segments").glob("*.jsonl"))
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"status":200', b'"status":201')
    segment.write_bytes(b"".join(lines))


def test_verify_and_purge_with_destination_act_on_that_one_only(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = log(spool_dir, KEY_A, "http://127.0.0.1:9/a", 3, "a")
    b = log(spool_dir, KEY_B, "http://127.0.0.1:9/b", 2, "b")
    damage_one_line(spool_dir / "destinations" / b)
    spool = ("--spool-dir", str(spool_dir))

    code, out, _ = cli(capsys, "verify", *spool)  # the current settings': nothing spooled
    assert code == 0 and "0 records" in out
    assert "2 other destination(s)" in out
    code, out, _ = cli(capsys, "verify", "--destination", a, *spool)
    assert code == 0 and "3 records" in out and "healthy" in out
    code, out, _ = cli(capsys, "verify", "--destination", b[:6], *spool)  # a unique start
    assert code == 1 and "2 records" in out and "checksum mismatch" in out
    code, out, _ = cli(capsys, "verify", "--all-destinations", "--json", *spool)
    reports = {r["destination"]: r for r in json.loads(out)}
    assert code == 1
    assert (reports[a]["healthy"], reports[b]["healthy"]) == (True, False)

    code, out, _ = cli(capsys, "purge", "--pending", "--yes", "--destination", a, *spool)
    assert code == 0 and "deleted: 3 pending records" in out
    parts = {d.fingerprint: d for d in spool_status(spool_dir).destinations}
    assert (parts[a].pending, parts[a].lost) == (0, {"purged": 3})
    assert (parts[b].pending, parts[b].lost) == (2, {})

    code, out, _ = cli(capsys, "purge", "--pending", "--all-destinations", *spool)
    assert "would delete: 0 pending records" in out and "would delete: 2 pending records" in out
    assert spool_status(spool_dir).pending == 2


def test_an_unknown_destination_is_a_usage_error_that_lists_the_known_ones(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = log(spool_dir, KEY_A, "http://127.0.0.1:9/a", 1, "a")
    b = log(spool_dir, KEY_B, "http://127.0.0.1:9/b", 1, "b")
    for command in (["verify"], ["purge", "--pending"], ["dead-letters"], ["replay", "--all"]):
        code, _, err = cli(capsys, *command, "--destination", "nope", "--spool-dir", str(spool_dir))
        assert code == 2
        assert "'nope' is not a destination" in err
        assert a in err and b in err and key_fingerprint(KEY_B) in err
        assert KEY_A not in err and KEY_B not in err


def test_unbound_records_are_checked_on_their_own(
    spool_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = log(spool_dir, None, "http://127.0.0.1:9/legacy", 4, "old")
    # Lay them out as a version before destinations did: <spool dir>/segments.
    shutil.move(spool_dir / "destinations" / legacy / "segments", spool_dir / "segments")
    shutil.rmtree(spool_dir / "destinations" / legacy)
    a = log(spool_dir, KEY_A, "http://127.0.0.1:9/a", 2, "a")
    os.chmod(spool_dir / "destinations" / a / "corrupt", 0o755)  # a problem in a only
    spool = ("--spool-dir", str(spool_dir))

    code, out, _ = cli(capsys, "verify", "--destination", "unbound", *spool)
    assert code == 0 and "4 records" in out and "nobody delivers these" in out
    code, out, _ = cli(capsys, "verify", "--all-destinations", *spool)
    assert code == 1 and out.count("should be 0o700") == 1
    code, out, _ = cli(capsys, "status", "--json", *spool)
    assert by_fingerprint(json.loads(out))["unbound"]["pending"] == 4


def test_dead_letters_are_replayed_into_the_destination_they_came_from(
    spool_dir: Path, sink: ReceiverThread, capsys: pytest.CaptureFixture[str]
) -> None:
    request_id = str(uuid.uuid4())
    other = log(spool_dir, KEY_B, "http://127.0.0.1:9/b", 1, "b")
    with FaultProxy(sink.url, lambda n: (400, {}, b'{"error":"bad"}') if n == 1 else None) as proxy:
        logger = ManualLogger(KEY_A, proxy.url, spool_dir=spool_dir)
        logger.log_single_request({"model": "m"}, "x", {"Helicone-Request-Id": request_id})
        assert logger.flush(timeout=20).dead_lettered == 1
        logger.close()
        refused = destination_of(logger._pipeline.config).fingerprint
        spool = ("--spool-dir", str(spool_dir))

        code, out, _ = cli(capsys, "dead-letters", *spool)  # the current settings': none
        assert code == 0 and request_id not in out and "other destination(s)" in out
        code, out, _ = cli(capsys, "dead-letters", "--all-destinations", "--json", *spool)
        assert [(x["destination"], x["record"]["id"]) for x in json.loads(out)] == [
            (refused, request_id)
        ]
        code, out, _ = cli(capsys, "replay", "--all", "--destination", refused, *spool)
        assert code == 0 and f"replayed 1 dead letter(s) into destination {refused}" in out
        parts = {d.fingerprint: d for d in spool_status(spool_dir).destinations}
        assert (parts[refused].pending, parts[refused].dead_letters_on_disk) == (1, 0)
        assert parts[other].pending == 1
        deliverer = ManualLogger(KEY_A, proxy.url, spool_dir=spool_dir)
        assert deliverer.flush(timeout=20).delivered == 1
        deliverer.close()
    assert sink.store.get_request(request_id) is not None
