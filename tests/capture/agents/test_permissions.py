"""The agent exporters' files are private (0600) and their folders 0700, whatever the umask."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heliograph.capture.agents.claude_code_state import ClaudeCodeState
from heliograph.receiver import ReceiverThread

OPENCODE_EVENTS = Path(__file__).parent / "data" / "opencode-1.18.33-events.jsonl"


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)  # inherited by the subprocesses below
    try:
        yield
    finally:
        os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.iterdir()]}


def heliograph(*args: str, env: dict[str, str], stdin: bytes = b"") -> None:
    done = subprocess.run(
        [sys.executable, "-m", "heliograph", *args],
        input=stdin, env={**os.environ, **env}, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()


def test_the_opencode_ingester_keeps_its_files_private(
    tmp_path: Path, sink: ReceiverThread
) -> None:
    state = tmp_path / "opencode"
    inbox = state / "inbox"
    env = {"HELIOGRAPH_SPOOL_DIR": str(tmp_path / "spool"), "HELIOGRAPH_ENDPOINT": sink.url}
    command = ["opencode", "ingest", "--state-dir", str(state), "--interval", "0",
               "--data-dir", str(tmp_path / "none")]  # fmt: skip
    heliograph(*command, env=env)  # creates the folders
    (inbox / "opencode-999999999.jsonl").write_bytes(OPENCODE_EVENTS.read_bytes())
    (inbox / "opencode-999999999.jsonl").chmod(0o600)  # the plugin's file, not ours
    heliograph(*command, env=env)
    assert sink.store.query_requests()
    found = {**modes(state), **modes(inbox)}
    assert {"exported-ids", ".lock"} <= found.keys()
    expected = {name: 0o700 if name in {"opencode", "inbox"} else 0o600 for name in found}
    assert found == expected


def test_the_opencode_inbox_offset_is_private(tmp_path: Path) -> None:
    from heliograph.capture.agents.opencode_inbox import Inbox

    writer = tmp_path / f"opencode-{os.getpid()}.jsonl"
    writer.write_bytes(b'{"type": "a"}\n')
    inbox = Inbox(tmp_path)
    assert inbox.read() == [{"type": "a"}]
    inbox.commit()
    offset = tmp_path / (writer.name + ".offset")
    assert stat.S_IMODE(offset.stat().st_mode) == 0o600


def test_the_claude_code_hook_and_exporter_keep_their_files_private(tmp_path: Path) -> None:
    folder = tmp_path / "claude-code"
    env = {"HELIOGRAPH_SPOOL_DIR": str(tmp_path / "spool")}
    payload = {"session_id": "s-1", "transcript_path": "/nowhere/x.jsonl",
               "hook_event_name": "UserPromptSubmit"}  # fmt: skip
    heliograph("claude-code", "hook", env=env, stdin=json.dumps(payload).encode())
    heliograph("claude-code", "hook", env=env, stdin=b"not json")  # something for hook.log
    assert "claude-code hook failed" in (folder / "hook.log").read_text()
    state = ClaudeCodeState(folder)
    with state.exporting(5.0) as locked:
        assert locked
        sessions = state.sessions()  # folds the hook's event into state.json
    assert set(sessions) == {"s-1"}
    sessions["s-1"].updated = time.time()
    state.save(sessions)
    found = modes(folder)
    assert {"hook.log", "state.json", "events.jsonl", "export.lock"} <= found.keys()
    expected = {name: 0o700 if name == "claude-code" else 0o600 for name in found}
    assert found == expected
