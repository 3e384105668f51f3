"""The Claude Code exporter's own folder: hook events, per-session offsets, an error log.

Layout (default ``<spool folder>/../claude-code/``, private to the user)::

    events.jsonl   hook events, one short line each, appended by ``heliograph claude-code hook``
    state.json     per session: transcript path, Progress (offset, calls, name), ended, and
                   for its subagents: each one's Progress, the paths of the calls that
                   launched them (by tool_use id), agentId → tool_use id from tool results
    export.lock    held by the one exporter running at a time
    hook.log       errors of the hook and of detached exporters (the agent's terminal never
                   sees them)

The hook only appends to ``events.jsonl`` (under ``flock``, one ``write``), so it costs
a millisecond and can run concurrently with anything. The exporter folds those events into
``state.json`` and truncates the file under the same lock, so no event is lost between the
two. Events hold ids and paths only, never a prompt or a tool's output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from heliograph.capture.agents.claude_code import Progress

__all__ = ["EVENT_FIELDS", "ClaudeCodeState", "SessionState"]

EVENT_FIELDS = ("session_id", "transcript_path", "cwd", "hook_event_name")
"""The only fields of a hook's payload that are kept."""

log = logging.getLogger("heliograph")

# A session that ended and was fully exported is forgotten after this long.
_FORGET_AFTER_S = 7 * 24 * 3600.0


@dataclasses.dataclass
class SessionState:
    """One Claude Code session as the exporter knows it.

    ``agents`` is each subagent's Progress in its own transcript (by ``agentId``),
    ``launches`` the Helicone path of the call behind each exported ``Agent``/``Task``
    tool_use id, ``agent_links`` the tool_use id of each ``agentId`` seen in a tool result.
    """

    transcript: str
    progress: Progress = dataclasses.field(default_factory=Progress)
    ended: bool = False
    updated: float = dataclasses.field(default_factory=time.time)
    agents: dict[str, Progress] = dataclasses.field(default_factory=dict)
    launches: dict[str, str] = dataclasses.field(default_factory=dict)
    agent_links: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "transcript": self.transcript,
            "offset": self.progress.offset,
            "calls": self.progress.calls,
            "name": self.progress.name,
            "ended": self.ended,
            "updated": self.updated,
            "agents": {k: [p.offset, p.calls] for k, p in self.agents.items()},
            "launches": self.launches,
            "agent_links": self.agent_links,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionState:
        progress = Progress(int(data["offset"]), int(data["calls"]), data.get("name"))
        agents = {str(k): Progress(int(v[0]), int(v[1])) for k, v in data.get("agents", {}).items()}
        return cls(
            str(data["transcript"]),
            progress,
            bool(data["ended"]),
            float(data["updated"]),
            agents,
            {str(k): str(v) for k, v in data.get("launches", {}).items()},
            {str(k): str(v) for k, v in data.get("agent_links", {}).items()},
        )


class ClaudeCodeState:
    """The folder above; every method is safe against concurrent hooks and exporters."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.events_path = folder / "events.jsonl"
        self.state_path = folder / "state.json"
        self.lock_path = folder / "export.lock"
        self.log_path = folder / "hook.log"

    def ensure(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def append_event(self, payload: dict[str, Any]) -> None:
        """Append the id and path fields of a hook payload (one ``write``, under ``flock``)."""
        event = {k: payload[k] for k in EVENT_FIELDS if isinstance(payload.get(k), str)}
        event["at"] = time.time()
        line = orjson.dumps(event) + b"\n"
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def exporting(self, timeout_s: float) -> Iterator[bool]:
        """Hold the export lock (waiting up to ``timeout_s``); yields False if not obtained."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
                else:
                    break
            yield True
        finally:
            os.close(fd)

    def sessions(self) -> dict[str, SessionState]:
        """The saved sessions with the pending hook events folded in (call under the lock).

        Folding happens under the hooks' ``flock``: read the events, save the state, empty
        the file. A hook that appends meanwhile waits, and its event lands in the emptied
        file for the next exporter; none is lost and none is folded twice.
        """
        fd = os.open(self.events_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            sessions = self._load()
            events = _read_events(fd)
            for event in events:
                _fold(sessions, event)
            if events:
                self.save(sessions)
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)
        return sessions

    def save(self, sessions: dict[str, SessionState]) -> None:
        """Write ``state.json`` atomically; ended sessions are forgotten after a week."""
        now = time.time()
        kept = {
            sid: s.to_json()
            for sid, s in sessions.items()
            if not (s.ended and now - s.updated > _FORGET_AFTER_S)
        }
        tmp = self.state_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a leftover .tmp may predate private files
            os.write(fd, orjson.dumps(kept, option=orjson.OPT_INDENT_2))
        finally:
            os.close(fd)
        os.replace(tmp, self.state_path)

    def _load(self) -> dict[str, SessionState]:
        """The saved sessions; a damaged file is set aside and the export starts over,
        which only re-sends records under their same ids."""
        try:
            raw = orjson.loads(self.state_path.read_bytes())
            return {str(k): SessionState.from_json(v) for k, v in raw.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("claude-code state %s is damaged (%s); starting over", self.state_path, exc)
            os.replace(self.state_path, self.state_path.with_suffix(".damaged"))
            return {}


def _read_events(fd: int) -> list[dict[str, Any]]:
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    events: list[dict[str, Any]] = []
    for line in b"".join(chunks).splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(line)
            if isinstance(value, dict):
                events.append(value)
    return events


def _fold(sessions: dict[str, SessionState], event: dict[str, Any]) -> None:
    session_id, transcript = event.get("session_id"), event.get("transcript_path")
    if not isinstance(session_id, str) or not isinstance(transcript, str):
        return
    known = sessions.get(session_id)
    if known is None:
        known = sessions[session_id] = SessionState(transcript)
    known.transcript = transcript
    known.updated = time.time()
    if event.get("hook_event_name") == "SessionEnd":
        known.ended = True
