"""Claude Code sessions as Helicone sessions: the transcript reader, the hook, and the real CLI.

The first tests feed the transcript reader lines in the exact shape Claude Code 2.1.197
writes (captured from the real CLI). The last ones run the real ``claude`` binary offline
against the fake Anthropic provider, with ``heliograph claude-code hook`` configured as its
hooks in an isolated HOME, and check what reaches the receiver.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heliograph.capture.agents.claude_code import Progress, export_subagent, export_transcript
from heliograph.model.ids import stable_id
from heliograph.privacy import PrivacyFilter
from heliograph.receiver import ReceiverThread
from heliograph.spool.status import spool_status
from tests.providers.fake_provider import FakeProvider, Script
from tests.support import free_port, small_tmpfs, wait_for

ROOT = Path(__file__).resolve().parents[3]
CLAUDE = ROOT / ".cache" / "npm-claude" / "node_modules" / ".bin" / "claude"
HELIOGRAPH = Path(sys.executable).parent / "heliograph"
SESSION = "8cc8e7a0-cd7f-443d-aee9-40e3146b5c65"
REDACTED = PrivacyFilter("redacted")


# -- transcript lines as Claude Code writes them ------------------------------------------


def usage(inp: int, out: int, read: int = 0, write: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
        "output_tokens": out,
        "service_tier": "standard",
    }


def line(kind: str, second: float, **fields: Any) -> bytes:
    entry = {
        "type": kind,
        "uuid": f"u-{kind}-{second}",
        "timestamp": f"2026-11-22T08:37:{second:06.3f}Z",
        "sessionId": SESSION,
        "version": "2.1.197",
        "isSidechain": False,
        **fields,
    }
    return json.dumps(entry).encode() + b"\n"


def prompt(second: float, text: str) -> bytes:
    return line("user", second, message={"role": "user", "content": text})


def assistant(
    second: float, msg_id: str, block: dict[str, Any], stop: str, use: dict[str, Any]
) -> bytes:
    message = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": use,
    }
    return line("assistant", second, message=message, requestId=f"req_{msg_id}")


def tool_result(second: float, tool_id: str, content: str) -> bytes:
    block = {"tool_use_id": tool_id, "type": "tool_result", "content": content}
    return line("user", second, message={"role": "user", "content": [block]})


def tool_turn(first: str = "What does notes.txt say?") -> list[bytes]:
    """A prompt, a message split over two lines (text, then tool_use), the tool's result,
    and the final answer: Claude Code's own shape for a turn with one Read."""
    read = {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "Read",
        "input": {"file_path": "/w/notes.txt"},
    }
    return [
        line("queue-operation", 9.0, operation="enqueue"),
        prompt(9.8, first),
        line("attachment", 9.81, attachment={"type": "skill_listing"}),
        assistant(9.9, "msg_A", {"type": "text", "text": "Reading it."}, "tool_use", usage(50, 10)),
        assistant(9.95, "msg_A", read, "tool_use", usage(50, 10)),
        tool_result(10.0, "toolu_01", "1\tThe launch code is 4242.\n"),
        assistant(
            10.5,
            "msg_B",
            {"type": "text", "text": "It says 4242."},
            "end_turn",
            usage(100, 20, 30, 7),
        ),
        line("last-prompt", 10.6, lastPrompt=first),
    ]


def paths(records: list[Any]) -> list[str]:
    return [r.headers["Helicone-Session-Path"] for r in records]


# -- the transcript reader ----------------------------------------------------------------


def test_a_turn_becomes_one_log_per_call_and_a_child_log_per_tool() -> None:
    data = b"".join(tool_turn())
    result = export_transcript(data, SESSION, Progress(), REDACTED)
    first, tool, second = result.records
    assert paths(result.records) == [
        f"/claude-code/{SESSION}/msg-1",
        f"/claude-code/{SESSION}/msg-1/tool-Read",
        f"/claude-code/{SESSION}/msg-2",
    ]
    session_id = stable_id(f"session:claude-code:{SESSION}")
    assert {r.headers["Helicone-Session-Id"] for r in result.records} == {session_id}
    assert {r.headers["Helicone-Session-Name"] for r in result.records} == {
        "What does notes.txt say?"
    }
    # Split lines coalesced: both blocks, usage counted once.
    assert first.response_json is not None
    assert [b["type"] for b in first.response_json["content"]] == ["text", "tool_use"]
    assert first.response_json["usage"]["input_tokens"] == 50
    assert first.provider == "ANTHROPIC" and first.request["model"] == "claude-sonnet-4-5-20250929"
    assert first.request["messages"] == [{"role": "user", "content": "What does notes.txt say?"}]
    assert first.request_id == stable_id(f"claude-code:{SESSION}:message:msg_A")
    assert second.response_json is not None
    assert second.response_json["usage"]["cache_read_input_tokens"] == 30
    assert [m["role"] for m in second.request["messages"]] == ["user", "assistant", "user"]
    # The tool ran from the tool_use line to the tool_result line.
    assert tool.request == {
        "_type": "tool",
        "toolName": "Read",
        "tool_use_id": "toolu_01",
        "input": {"file_path": "/w/notes.txt"},
    }
    assert tool.response_json == {"content": "1\tThe launch code is 4242.\n", "is_error": False}
    assert tool.end_ms - tool.start_ms == pytest.approx(50.0)
    assert tool.request_id == stable_id(f"claude-code:{SESSION}:tool:toolu_01")
    # Timing of a call: from its input (prompt or tool result) to its last line.
    assert first.end_ms - first.start_ms == pytest.approx(150.0)
    assert second.end_ms - second.start_ms == pytest.approx(500.0)
    assert result.progress == Progress(len(data), 2, "What does notes.txt say?")


def test_a_block_repeated_on_a_later_line_is_kept_once() -> None:
    lines = tool_turn()
    data = b"".join([*lines[:5], lines[4], *lines[5:]])  # the tool_use line written twice
    first = export_transcript(data, SESSION, Progress(), REDACTED).records[0]
    assert first.response_json is not None
    assert [b["type"] for b in first.response_json["content"]] == ["text", "tool_use"]


def test_an_unfinished_turn_and_a_half_written_line_wait_for_the_next_pass() -> None:
    lines = tool_turn()
    whole = b"".join(lines)
    partial = b"".join(lines[:6]) + lines[6][:40]  # tool result in, answer half written
    first = export_transcript(partial, SESSION, Progress(), REDACTED)
    assert first.records == [] and first.progress == Progress()
    rest = export_transcript(whole[first.progress.offset :], SESSION, first.progress, REDACTED)
    assert len(rest.records) == 3
    assert rest.progress.offset == len(whole)


def test_exporting_in_pieces_gives_the_same_records_as_one_pass() -> None:
    second_turn = [
        prompt(20.0, "And now?"),
        assistant(21.0, "msg_C", {"type": "text", "text": "Done."}, "end_turn", usage(5, 1)),
    ]
    data = b"".join([*tool_turn(), *second_turn])
    once = export_transcript(data, SESSION, Progress(), REDACTED)
    progress, pieces = Progress(), []
    for cut in (len(b"".join(tool_turn()[:5])), len(b"".join(tool_turn())), len(data)):
        step = export_transcript(data[progress.offset : cut], SESSION, progress, REDACTED)
        pieces += step.records
        progress = step.progress
    assert [(r.request_id, paths([r])) for r in pieces] == [
        (r.request_id, paths([r])) for r in once.records
    ]
    assert paths(pieces)[-1] == f"/claude-code/{SESSION}/msg-3"
    assert {r.headers["Helicone-Session-Name"] for r in pieces} == {"What does notes.txt say?"}


def test_a_session_end_exports_the_unfinished_turn_and_bad_lines_are_skipped() -> None:
    lines = [*tool_turn()[:5], b"{not json\n", b"[1, 2]\n"]
    data = b"".join(lines)
    assert export_transcript(data, SESSION, Progress(), REDACTED).records == []
    final = export_transcript(data, SESSION, Progress(), REDACTED, final=True)
    assert paths(final.records) == [f"/claude-code/{SESSION}/msg-1"]  # no result: no tool log
    assert final.bad_lines == 2 and final.progress.offset == len(data)


def test_secrets_are_masked_and_metadata_only_keeps_no_text() -> None:
    key = "ghp_" + "a1B2c3D4e5" * 4  # a GitHub token shape, not a real token
    data = b"".join(tool_turn(f"deploy with {key} please"))
    redacted = export_transcript(data, SESSION, Progress(), PrivacyFilter("redacted"))
    dumped = json.dumps([r.to_dict() for r in redacted.records])
    assert key not in dumped and "[REDACTED:github_token]" in dumped
    bare = export_transcript(data, SESSION, Progress(), PrivacyFilter("metadata_only"))
    dumped = json.dumps([r.to_dict() for r in bare.records])
    for text in ("deploy with", "Reading it.", "launch code", "It says 4242", "notes.txt"):
        assert text not in dumped
    assert {r.headers["Helicone-Session-Name"] for r in bare.records} == {
        f"Claude Code {SESSION[:8]}"
    }
    assert bare.records[2].response_json is not None
    assert bare.records[2].response_json["usage"]["output_tokens"] == 20
    assert bare.records[1].request["toolName"] == "Read"


# -- subagents: a real Claude Code 2.1.197 session that used the Agent tool ---------------
#
# Saved from the real CLI (``claude -p`` against the fake provider, scripted like
# ``ClaudeRun.run_agent``): the session's transcript, and beside it the subagent's own
# transcript and meta file, ``<session>/subagents/agent-<agentId>.jsonl`` / ``.meta.json``.

AGENT_DATA = Path(__file__).parent / "data" / "claude-code-2.1.197-agent"
AGENT_SESSION = "3eadfcc3-0c65-4eb7-b633-1f00bb89e71b"
AGENT_ID = "adf470cec7f7e5630"
AGENT_TOOL = "toolu_a45baa2bcd344d42aa1d2776"
MAIN_FILE = AGENT_DATA / f"{AGENT_SESSION}.jsonl"
AGENT_FILE = AGENT_DATA / AGENT_SESSION / "subagents" / f"agent-{AGENT_ID}.jsonl"


def test_the_real_transcripts_keep_a_subagent_in_its_own_file() -> None:
    main = [json.loads(x) for x in MAIN_FILE.read_bytes().splitlines()]
    sub = [json.loads(x) for x in AGENT_FILE.read_bytes().splitlines()]
    assert not any(e.get("isSidechain") for e in main)
    assert all(e.get("isSidechain") and e.get("agentId") == AGENT_ID for e in sub)
    meta = json.loads(AGENT_FILE.with_name(f"agent-{AGENT_ID}.meta.json").read_text())
    assert meta["toolUseId"] == AGENT_TOOL


def test_the_session_transcript_says_which_call_launched_the_subagent() -> None:
    data = MAIN_FILE.read_bytes()
    result = export_transcript(data, AGENT_SESSION, Progress(), REDACTED)
    root = f"/claude-code/{AGENT_SESSION}"
    assert paths(result.records) == [f"{root}/msg-1", f"{root}/msg-1/tool-Agent", f"{root}/msg-2"]
    assert result.launches == {AGENT_TOOL: f"{root}/msg-1"}
    assert result.agents == {AGENT_ID: AGENT_TOOL}
    assert result.progress == Progress(len(data), 2, "Summarise notes")


def export_agent(data: bytes, privacy: PrivacyFilter = REDACTED, **kw: Any) -> Any:
    parent = f"/claude-code/{AGENT_SESSION}/msg-1"
    name = "Summarise notes"
    return export_subagent(data, AGENT_SESSION, AGENT_ID, parent, name, Progress(), privacy, **kw)


def test_a_subagent_becomes_logs_under_the_call_that_launched_it() -> None:
    data = AGENT_FILE.read_bytes()
    result = export_agent(data)
    base = f"/claude-code/{AGENT_SESSION}/msg-1/agent-{AGENT_ID}"
    assert paths(result.records) == [f"{base}/msg-1", f"{base}/msg-1/tool-Read", f"{base}/msg-2"]
    first, tool, second = result.records
    assert {r.headers["Helicone-Session-Id"] for r in result.records} == {
        stable_id(f"session:claude-code:{AGENT_SESSION}")
    }
    assert {r.headers["Helicone-Session-Name"] for r in result.records} == {"Summarise notes"}
    assert first.request_id == stable_id(
        f"claude-code:{AGENT_SESSION}:message:msg_27ced8e12e094cf7b28f9447"
    )
    assert first.request["messages"] == [
        {"role": "user", "content": "Read notes.txt and report it"}
    ]
    assert first.response_json is not None and second.response_json is not None
    assert [b["type"] for b in first.response_json["content"]] == ["text", "tool_use"]
    assert first.response_json["usage"]["input_tokens"] == 300
    assert second.response_json["usage"]["cache_read_input_tokens"] == 100
    assert tool.request["toolName"] == "Read" and "4242" in json.dumps(tool.response_json)
    assert result.progress == Progress(len(data), 2)
    assert result.launches == {}


def test_a_subagent_is_exported_by_complete_turns_only() -> None:
    data = AGENT_FILE.read_bytes()
    lines = data.splitlines(keepends=True)
    partial = b"".join(lines[:-1])  # the tool ran, the answer is not written yet
    assert export_agent(partial).records == []
    assert export_agent(partial).progress == Progress()
    assert len(export_agent(partial, final=True).records) == 2  # the call and its tool
    again = export_agent(data)
    assert [r.request_id for r in again.records] == [
        r.request_id for r in export_agent(data).records
    ]


def test_privacy_modes_apply_to_the_subagent_text() -> None:
    data = AGENT_FILE.read_bytes()
    bare = export_agent(data, PrivacyFilter("metadata_only"))
    dumped = json.dumps([r.to_dict() for r in bare.records])
    for text in ("Read notes.txt and report", "Sub reading", "launch code", "note says"):
        assert text not in dumped, text
    assert bare.records[2].response_json is not None
    assert bare.records[2].response_json["usage"]["output_tokens"] == 9
    key = "ghp_" + "a1B2c3D4e5" * 4  # a GitHub token shape, not a real token
    leaky = data.replace(b"The note says 4242.", f"Token {key}".encode())
    dumped = json.dumps([r.to_dict() for r in export_agent(leaky).records])
    assert key not in dumped and "[REDACTED:github_token]" in dumped


def test_the_exporter_places_a_subagent_once_its_launching_turn_is_exported(
    tmp_path: Path, sink: ReceiverThread
) -> None:
    projects = tmp_path / "projects"
    shutil.copytree(AGENT_DATA, projects)
    transcript = projects / MAIN_FILE.name
    whole = transcript.read_bytes()
    env = {**os.environ, "HELIOGRAPH_SPOOL_DIR": str(tmp_path / "spool"),
           "HELIOGRAPH_ENDPOINT": sink.url}  # fmt: skip

    def export() -> str:
        done = subprocess.run(
            [str(HELIOGRAPH), "claude-code", "export", "--transcript", str(transcript)],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    # The parent's turn is not over (its final answer is not written): nothing goes, not
    # even the finished subagent, whose place is not known yet.
    lines = whole.splitlines(keepends=True)
    transcript.write_bytes(b"".join(lines[:-2]))
    assert "exported 0 records" in export()
    transcript.write_bytes(whole)
    assert "exported 6 records; the delivery agent delivers, pending 0" in export()
    assert "exported 0 records" in export()
    state = json.loads((tmp_path / "claude-code" / "state.json").read_text())[AGENT_SESSION]
    assert state["agents"] == {AGENT_ID: [AGENT_FILE.stat().st_size, 2]}
    root = f"/claude-code/{AGENT_SESSION}"
    sub = f"{root}/msg-1/agent-{AGENT_ID}"
    assert {r["session_path"] for r in sink.store.query_requests()} == {
        f"{root}/msg-1", f"{root}/msg-1/tool-Agent", f"{root}/msg-2",
        f"{sub}/msg-1", f"{sub}/msg-1/tool-Read", f"{sub}/msg-2",
    }  # fmt: skip


# -- the hook command ---------------------------------------------------------------------


def run_hook(payload: bytes, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    environ = {**os.environ, "HELIOGRAPH_SPOOL_DIR": str(tmp_path / "spool"), **env}
    return subprocess.run(
        [str(HELIOGRAPH), "claude-code", "hook"],
        input=payload,
        capture_output=True,
        env=environ,
        timeout=30,
        check=False,
    )


def test_the_hook_only_appends_ids_prints_nothing_and_exits_0(tmp_path: Path) -> None:
    payload = {
        "session_id": SESSION,
        "transcript_path": "/nowhere/x.jsonl",
        "cwd": "/w",
        "hook_event_name": "UserPromptSubmit",
        "prompt": "a prompt that must not be kept",
    }
    done = run_hook(json.dumps(payload).encode(), tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    events = (tmp_path / "claude-code" / "events.jsonl").read_text().splitlines()
    assert len(events) == 1
    event = json.loads(events[0])
    assert {k: v for k, v in event.items() if k != "at"} == {
        k: v for k, v in payload.items() if k != "prompt"
    }


def test_a_broken_hook_input_is_logged_never_shown(tmp_path: Path) -> None:
    done = run_hook(b"this is not json", tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    assert "claude-code hook failed" in (tmp_path / "claude-code" / "hook.log").read_text()


def test_the_hook_survives_an_unusable_state_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    payload = json.dumps({"session_id": SESSION, "hook_event_name": "Stop"}).encode()
    done = run_hook(payload, tmp_path, HELIOGRAPH_SPOOL_DIR=str(blocker / "spool"))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_the_hook_exits_0_silently_on_a_full_disk(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "full", size="64k") as disk:
        filler = disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            while True:
                out.write(b"x" * 4096)
        payload = json.dumps({"session_id": SESSION, "hook_event_name": "Stop"}).encode()
        done = run_hook(payload, tmp_path, HELIOGRAPH_SPOOL_DIR=str(disk / "spool"))
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


# -- the real Claude Code -----------------------------------------------------------------


def claude_version() -> str | None:
    if not CLAUDE.exists():
        return None
    try:
        done = subprocess.run(
            [str(CLAUDE), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


VERSION = claude_version()
needs_claude = pytest.mark.skipif(
    VERSION is None,
    reason=f"no runnable Claude Code CLI at {CLAUDE}: run scripts/test.sh to install it",
)
NOTE = "The launch code is 4242 and the vault word is PERIWINKLE."
PROMPT = "Summarise notes.txt for the ORCHID team"
ANSWER = "The notes give the launch code and the vault word."
AGENT_PROMPT = "Read notes.txt and report what it says"
AGENT_ANSWER = "The note holds a launch code and a vault word."


class ClaudeRun:
    """One real ``claude -p`` session: isolated HOME, hooks → heliograph, fake Anthropic."""

    def __init__(self, tmp_path: Path, provider: FakeProvider, endpoint: str, **env: str) -> None:
        self.home = tmp_path / "home"
        self.work = tmp_path / "work"
        self.spool = tmp_path / "spool"
        self.state = tmp_path / "claude-code"
        self.provider = provider
        self.work.mkdir()
        (self.work / "notes.txt").write_text(NOTE + "\n")
        hook = {"type": "command", "command": f"{HELIOGRAPH} claude-code hook"}
        events = ("SessionStart", "UserPromptSubmit", "Stop", "SubagentStop", "SessionEnd")
        settings = {"hooks": {e: [{"hooks": [hook]}] for e in events}}
        (self.home / ".claude").mkdir(parents=True)
        (self.home / ".claude" / "settings.json").write_text(json.dumps(settings))
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "ANTHROPIC_BASE_URL": provider.url,
            "ANTHROPIC_API_KEY": "sk-ant-fake",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "HELIOGRAPH_SPOOL_DIR": str(self.spool),
            "HELIOGRAPH_ENDPOINT": endpoint,
            **env,
        }

    def run(self) -> dict[str, Any]:
        model = "claude-sonnet-4-5-20250929"
        read = {"name": "Read", "arguments": {"file_path": str(self.work / "notes.txt")}}
        self.provider.enqueue(
            Script(text="Let me read it.", tool_call=read, usage=(420, 31, 0, 0), model=model),
            Script(text=ANSWER, usage=(610, 12, 400, 0), cache_write=64, model=model),
        )
        return self._claude("Read")

    def run_agent(self) -> dict[str, Any]:
        """The parent calls the Agent tool; the subagent reads notes.txt and answers."""
        model = "claude-sonnet-4-5-20250929"
        task = {"description": "Read the notes", "prompt": AGENT_PROMPT}
        agent = {"name": "Agent", "arguments": {**task, "subagent_type": "general-purpose"}}
        read = {"name": "Read", "arguments": {"file_path": str(self.work / "notes.txt")}}
        self.provider.enqueue(
            Script(text="Delegating.", tool_call=agent, usage=(420, 31, 0, 0), model=model),
            Script(text="Sub reading.", tool_call=read, usage=(300, 20, 0, 0), model=model),
            Script(text=AGENT_ANSWER, usage=(350, 9, 100, 0), model=model),
            Script(text=ANSWER, usage=(610, 12, 400, 0), cache_write=64, model=model),
        )
        return self._claude("Read,Agent")

    def _claude(self, allowed: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(CLAUDE), "-p", PROMPT, "--output-format", "json", "--allowedTools", allowed],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        assert result["result"] == ANSWER
        return result

    def export(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """``heliograph claude-code export``: waits for any detached exporter, then runs."""
        return subprocess.run(
            [str(HELIOGRAPH), "claude-code", "export", *extra],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def transcript(self, session_id: str) -> Path:
        found = list((self.home / ".claude" / "projects").glob(f"*/{session_id}.jsonl"))
        assert len(found) == 1
        return found[0]


def exporters_running(state: Path) -> bool:
    """Detached exporters started by this test's hooks (found by their --state-dir)."""
    marker = b"\0--state-dir\0" + str(state).encode() + b"\0"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes():
                return True
        except OSError:
            continue  # the process ended while we looked
    return False


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@needs_claude
@pytest.mark.timeout(240)
def test_a_real_claude_code_session_arrives_as_one_helicone_session(
    tmp_path: Path, provider: FakeProvider, sink: ReceiverThread
) -> None:
    claude = ClaudeRun(tmp_path, provider, sink.url)
    session_id = claude.run()["session_id"]
    # The hooks started the exporters before claude exited; they deliver on their own.
    assert wait_for(lambda: not exporters_running(claude.state), 60), "exporters still running"
    # The exporters handed the records to the delivery agent, which delivers on its own.
    assert wait_for(lambda: sink.store.count() == 3, 30)
    helicone_session = stable_id(f"session:claude-code:{session_id}")
    stored = sink.store.get_session(helicone_session)
    assert stored is not None
    rows = stored["requests"]
    assert stored["session_name"] == PROMPT
    assert [r["session_path"] for r in rows] == [
        f"/claude-code/{session_id}/msg-1",
        f"/claude-code/{session_id}/msg-1/tool-Read",
        f"/claude-code/{session_id}/msg-2",
    ]
    first, tool, second = rows
    assert (first["model"], first["provider"]) == ("claude-sonnet-4-5-20250929", "ANTHROPIC")
    assert (first["prompt_tokens"], first["completion_tokens"]) == (420, 31)
    assert (second["prompt_tokens"], second["completion_tokens"]) == (610, 12)
    assert (second["prompt_cache_read_tokens"], second["prompt_cache_write_tokens"]) == (400, 64)
    assert first["cost"] > 0 and second["cost"] > 0
    assert tool["model"] == "tool:Read"
    assert "PERIWINKLE" in json.dumps(tool["response_body"])
    assert VERSION is not None
    assert first["request_properties"]["claude-code-version"] == VERSION.split()[0]

    # Re-exporting (the hooks' sessions, then the transcript from scratch) adds nothing.
    again = claude.export()
    assert again.returncode == 0, again.stderr
    assert "exported 0 records" in again.stdout
    (claude.state / "state.json").unlink()
    scratch = claude.export("--transcript", str(claude.transcript(session_id)))
    assert scratch.returncode == 0, scratch.stderr
    assert "exported 3 records; the delivery agent delivers, pending 0" in scratch.stdout
    assert sink.store.count() == 3


@needs_claude
@pytest.mark.timeout(240)
def test_a_real_subagent_arrives_under_the_call_that_launched_it(
    tmp_path: Path, provider: FakeProvider, sink: ReceiverThread
) -> None:
    claude = ClaudeRun(tmp_path, provider, sink.url)
    session_id = claude.run_agent()["session_id"]
    transcript = claude.transcript(session_id)
    agents = list((transcript.with_suffix("") / "subagents").glob("agent-*.jsonl"))
    assert len(agents) == 1, "Claude Code wrote no subagent transcript"
    agent_id = agents[0].name[len("agent-") : -len(".jsonl")]
    assert wait_for(lambda: not exporters_running(claude.state), 60), "exporters still running"
    # The exporters handed the records to the delivery agent, which delivers on its own.
    assert wait_for(lambda: sink.store.count() == 6, 30)
    stored = sink.store.get_session(stable_id(f"session:claude-code:{session_id}"))
    assert stored is not None
    rows = {r["session_path"]: r for r in stored["requests"]}
    root = f"/claude-code/{session_id}"
    sub = f"{root}/msg-1/agent-{agent_id}"
    assert sorted(rows) == sorted([
        f"{root}/msg-1", f"{root}/msg-1/tool-Agent", f"{root}/msg-2",
        f"{sub}/msg-1", f"{sub}/msg-1/tool-Read", f"{sub}/msg-2",
    ])  # fmt: skip
    assert {r["session_name"] for r in rows.values()} == {PROMPT}
    first, second = rows[f"{sub}/msg-1"], rows[f"{sub}/msg-2"]
    assert (first["prompt_tokens"], first["completion_tokens"]) == (300, 20)
    assert (second["prompt_tokens"], second["completion_tokens"]) == (350, 9)
    assert second["prompt_cache_read_tokens"] == 100
    assert first["cost"] > 0 and second["cost"] > 0
    assert first["model"] == "claude-sonnet-4-5-20250929"
    assert rows[f"{sub}/msg-1/tool-Read"]["model"] == "tool:Read"
    assert "PERIWINKLE" in json.dumps(rows[f"{sub}/msg-1/tool-Read"]["response_body"])
    assert rows[f"{root}/msg-1/tool-Agent"]["model"] == "tool:Agent"

    # Re-exporting (the hooks' sessions, then the transcript from scratch) adds nothing.
    again = claude.export()
    assert again.returncode == 0, again.stderr
    assert "exported 0 records" in again.stdout
    (claude.state / "state.json").unlink()
    scratch = claude.export("--transcript", str(transcript))
    assert scratch.returncode == 0, scratch.stderr
    assert "exported 6 records; the delivery agent delivers, pending 0" in scratch.stdout
    assert sink.store.count() == 6


def texts_in(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@needs_claude
@pytest.mark.timeout(240)
def test_metadata_only_leaves_no_prompt_or_output_text_anywhere(
    tmp_path: Path, provider: FakeProvider
) -> None:
    # The receiver starts late, so the records sit in the spool first and are checked there.
    port = free_port()
    claude = ClaudeRun(
        tmp_path, provider, f"http://127.0.0.1:{port}", HELIOGRAPH_PRIVACY="metadata_only"
    )
    session_id = claude.run()["session_id"]
    assert wait_for(lambda: not exporters_running(claude.state), 60), "exporters still running"
    assert spool_status(claude.spool).pending == 3
    spooled = texts_in(claude.spool) + texts_in(claude.state)
    assert b"claude-sonnet-4-5-20250929" in spooled and b'"toolName":"Read"' in spooled
    db = tmp_path / "receiver" / "sink.sqlite3"
    db.parent.mkdir()
    with ReceiverThread(port=port, db_path=db) as sink:
        flush(claude.spool, sink.url)
        rows = sink.store.query_requests(descending=False)
        assert [r["session_name"] for r in rows] == [f"Claude Code {session_id[:8]}"] * 3
        assert [r["completion_tokens"] for r in rows] == [31, None, 12]
        assert rows[1]["model"] == "tool:Read"
    everything = spooled + texts_in(claude.spool) + texts_in(db.parent)
    # Whole phrases: a bare "4242" can turn up by chance in ids, times or SQLite pages.
    for text in ("ORCHID", "PERIWINKLE", "code is 4242", "Let me read it", "notes give",
                 "notes.txt"):  # fmt: skip
        assert text.encode() not in everything, text


def flush(spool: Path, endpoint: str) -> None:
    flushed = subprocess.run(
        [str(HELIOGRAPH), "flush", "--timeout", "60", "--spool-dir", str(spool)],
        env={**os.environ, "HELIOGRAPH_ENDPOINT": endpoint},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr


@needs_claude
@pytest.mark.timeout(240)
def test_with_the_receiver_down_the_agent_succeeds_and_logs_arrive_later(
    tmp_path: Path, provider: FakeProvider
) -> None:
    port = free_port()
    claude = ClaudeRun(tmp_path, provider, f"http://127.0.0.1:{port}")
    session_id = claude.run()["session_id"]  # rc 0 and the right answer, receiver or not
    assert wait_for(lambda: not exporters_running(claude.state), 60), "exporters still running"
    assert spool_status(claude.spool).pending == 3  # all spooled, none delivered
    log = claude.state / "hook.log"
    assert not log.exists() or "Traceback" not in log.read_text(errors="replace")
    with ReceiverThread(port=port, db_path=tmp_path / "late.sqlite3") as sink:
        flush(claude.spool, sink.url)
        stored = sink.store.get_session(stable_id(f"session:claude-code:{session_id}"))
        assert stored is not None and len(stored["requests"]) == 3
