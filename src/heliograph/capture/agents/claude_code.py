"""Claude Code session transcripts → one Helicone log per LLM call and per tool execution.

Claude Code appends every session to ``~/.claude/projects/<cwd-slug>/<session>.jsonl``,
one JSON object per line: the user's prompt, each assistant message (with its API
``message.id``, ``model`` and Anthropic ``usage``, cache tokens included), tool results,
and bookkeeping lines (attachments, queue operations, hook summaries). Two facts shape this
module (both seen in peers' bugs, ``peers.md`` §1.12):

* **One API message is split over several lines**, one per content block, each repeating
  the message's usage. Lines are coalesced by ``message.id`` (blocks joined, usage taken
  once), or tokens would be counted two or three times.
* **A turn is exported only once it is complete**: its last assistant message stopped for a
  reason other than ``tool_use``, or the next prompt began, or the session ended. The
  caller keeps a byte offset and advances it only past complete turns, so a transcript
  read mid-turn (or mid-line) is simply read again later.

Ids come from Claude Code's own ids: ``Helicone-Session-Id`` from the session id, each
call's ``Helicone-Request-Id`` from (session, ``message.id``), each tool's from (session,
``tool_use_id``). Exporting the same transcript twice therefore sends the same ids, and
Helicone (or the receiver) keeps one row each. Paths are ``/claude-code/<session>/msg-<n>``
(``n`` counts LLM calls from the start of the session) and ``…/msg-<n>/tool-<name>``.

**Subagents** (the ``Agent`` tool, ``Task`` before 2.1) are not in the session's transcript:
Claude Code 2.1.197 writes each to ``<session>/subagents/agent-<agentId>.jsonl`` beside
``<session>.jsonl`` (lines shaped like the session's, with ``isSidechain: true`` and
``agentId``), and ``agent-<agentId>.meta.json`` names the ``toolUseId`` that launched it.
``export_subagent`` reads such a file like a transcript; its calls go to the same Helicone
session under the launching call, ``…/msg-<n>/agent-<agentId>/msg-<k>`` (``k`` counts the
subagent's calls), with ids from the same (session, ``message.id``) scheme. The path of each
``Agent``/``Task`` call is in ``Export.launches``, so the caller can place a subagent once
its launching turn is exported. Sidechain lines inside a session transcript (older
versions) are still skipped.

This module is pure: bytes in, filtered records out. ``export_transcript`` never raises on
bad input: lines that are not JSON objects are skipped and counted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson

from heliograph.model.headers import Session, helicone_headers
from heliograph.model.ids import stable_id
from heliograph.model.record import Provider, Record
from heliograph.privacy import PrivacyFilter

__all__ = [
    "CONTEXT_CHARS",
    "LAUNCHERS",
    "Export",
    "Progress",
    "export_subagent",
    "export_transcript",
    "session_headers",
]

CONTEXT_CHARS = 20_000
"""Strings in a call's request context (earlier messages of its turn) are cut to this many
characters, with a visible marker: each call repeats its turn so far, and a turn that
reads many large files would otherwise grow quadratically."""

NAME_CHARS = 80
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
LAUNCHERS = frozenset({"Agent", "Task"})
"""Tools whose call starts a subagent (``Task`` is the tool's name before Claude Code 2.1)."""

_FINAL_STOPS = frozenset({"end_turn", "max_tokens", "stop_sequence", "refusal", "pause_turn"})
_TOOL_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_SPACES = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a session's export stands: persist it after the records are spooled.

    ``offset`` is the byte offset in the transcript just past the last exported turn,
    ``calls`` the number of LLM calls exported so far (the ``n`` of the next ``msg-<n>``
    is ``calls + 1``), and ``name`` the Helicone session name chosen at the first export.
    """

    offset: int = 0
    calls: int = 0
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class Export:
    """What one pass over a transcript's tail produced.

    ``launches`` maps the ``tool_use`` id of each exported ``Agent``/``Task`` call to the
    Helicone path of the LLM call that made it; ``agents`` maps an ``agentId`` named by an
    exported tool result (``toolUseResult.agentId``) to its ``tool_use`` id.
    """

    records: list[Record]
    progress: Progress
    bad_lines: int = 0
    launches: dict[str, str] = dataclasses.field(default_factory=dict)
    agents: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Call:
    """One LLM call: an API message, coalesced from its lines."""

    key: str
    message: dict[str, Any]
    start_ms: float
    end_ms: float
    context: list[dict[str, Any]]
    tool_starts: dict[str, float]


@dataclasses.dataclass
class _Turn:
    """A prompt and everything up to the next prompt."""

    prompt: str | None = None
    messages: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    calls: list[_Call] = dataclasses.field(default_factory=list)
    results: dict[str, tuple[dict[str, Any], float]] = dataclasses.field(default_factory=dict)
    agents: dict[str, str] = dataclasses.field(default_factory=dict)
    end: int = 0
    version: str | None = None

    @property
    def finished(self) -> bool:
        if not self.calls:
            return self.prompt is None  # bookkeeping lines only: nothing to wait for
        return self.calls[-1].message.get("stop_reason") in _FINAL_STOPS


def export_transcript(
    data: bytes,
    session_id: str,
    progress: Progress,
    privacy: PrivacyFilter,
    *,
    final: bool = False,
) -> Export:
    """Records for the complete turns in ``data``, the transcript from ``progress.offset`` on.

    ``final`` (the session ended) exports a trailing incomplete turn too. A last line with
    no newline yet is left for the next pass. Records are already privacy-filtered; in
    ``metadata_only`` mode the session name is not the prompt but ``Claude Code <id>``.
    """
    return _export(data, session_id, progress, privacy, final=final, agent=None)


def export_subagent(
    data: bytes,
    session_id: str,
    agent_id: str,
    parent_path: str | None,
    name: str,
    progress: Progress,
    privacy: PrivacyFilter,
    *,
    final: bool = False,
) -> Export:
    """Records for the complete turns of a subagent's transcript, from ``progress.offset`` on.

    The calls go to session ``session_id`` (named ``name``, the session's name) under
    ``parent_path``/``agent-<agent_id>``: ``parent_path`` is the path of the call that
    launched the subagent (from ``Export.launches``), or None for the session's root when
    that call cannot be found. ``progress.calls`` counts the subagent's own calls.
    """
    agent = (parent_path or _session(session_id, name).path, agent_id, name)
    return _export(data, session_id, progress, privacy, final=final, agent=agent)


def _export(
    data: bytes,
    session_id: str,
    progress: Progress,
    privacy: PrivacyFilter,
    *,
    final: bool,
    agent: tuple[str, str, str] | None,
) -> Export:
    turns, bad_lines, title = _turns(data, progress.offset, sidechain=agent is not None)
    versions = [t.version for t in turns if t.version]
    version = versions[-1] if versions else None
    name = progress.name
    records: list[Record] = []
    launches: dict[str, str] = {}
    agents: dict[str, str] = {}
    offset, calls = progress.offset, progress.calls
    for index, turn in enumerate(turns):
        complete = turn.finished or index < len(turns) - 1 or final
        if not complete:
            break
        if agent is not None:
            parent_path, agent_id, session_name = agent
            base = dataclasses.replace(_session(session_id, session_name), path=parent_path)
            base = base.child(f"agent-{_TOOL_NAME_UNSAFE.sub('-', agent_id)}")
        else:
            if name is None and (title or turn.prompt):
                name = _session_name(title or turn.prompt or "", session_id, privacy)
            base = _session(session_id, name or _session_name("", session_id, privacy))
        for call in turn.calls:
            calls += 1
            path = base.child(f"msg-{calls}")
            records.extend(_call_records(path, session_id, call, turn, version))
            for block in call.message["content"]:
                if block.get("type") == "tool_use" and block.get("name") in LAUNCHERS:
                    launches[str(block.get("id"))] = path.path
        agents.update(turn.agents)
        offset = turn.end
    filtered = [privacy.record(r) for r in records]
    return Export(filtered, Progress(offset, calls, name), bad_lines, launches, agents)


def session_headers(session_id: str, name: str) -> dict[str, str]:
    """The session headers of a Claude Code session at its root path."""
    return _session(session_id, name).headers()


# -- reading the transcript --------------------------------------------------------------


def _lines(data: bytes, base: int) -> Iterator[tuple[dict[str, Any] | None, int]]:
    """Each complete line as a dict (None if it is not one) and the offset just past it."""
    pos = 0
    while True:
        newline = data.find(b"\n", pos)
        if newline < 0:
            return
        line = data[pos:newline]
        pos = newline + 1
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value = None
        yield (value if isinstance(value, dict) else None), base + pos


def _turns(data: bytes, base: int, *, sidechain: bool) -> tuple[list[_Turn], int, str | None]:
    """The turns in ``data``: of the main chain, or of a subagent's file (``sidechain``)."""
    turns: list[_Turn] = []
    turn = _Turn(end=base)
    bad = 0
    title: str | None = None
    last_input_ms: float | None = None
    for entry, end in _lines(data, base):
        if entry is None:
            bad += 1
            turn.end = end
            continue
        kind = entry.get("type")
        if isinstance(entry.get("version"), str):
            turn.version = entry["version"]
        if kind in ("summary", "custom-title") and title is None:
            text = entry.get("summary") or entry.get("customTitle")
            title = text if isinstance(text, str) and text.strip() else None
        elif (
            kind == "user"
            and bool(entry.get("isSidechain")) == sidechain
            and not entry.get("isMeta")
        ):
            stamp = _ms(entry.get("timestamp"))
            message = entry.get("message") or {}
            content = message.get("content") if isinstance(message, dict) else None
            results = _tool_results(content)
            if results:
                for block in results:
                    turn.results[str(block.get("tool_use_id"))] = (block, stamp or 0.0)
                outcome = entry.get("toolUseResult")
                if len(results) == 1 and isinstance(outcome, dict):
                    agent_id = outcome.get("agentId")
                    if isinstance(agent_id, str) and agent_id:
                        turn.agents[agent_id] = str(results[0].get("tool_use_id"))
                turn.messages.append({"role": "user", "content": content})
            else:
                prompt = _text_of(content)
                if turn.calls or turn.prompt is not None:
                    turns.append(turn)
                    turn = _Turn(end=turn.end)
                turn.prompt = prompt
                turn.messages.append({"role": "user", "content": content})
            last_input_ms = stamp if stamp is not None else last_input_ms
        elif kind == "assistant" and bool(entry.get("isSidechain")) == sidechain:
            _add_assistant(turn, entry, last_input_ms)
        turn.end = end
    turns.append(turn)
    return turns, bad, title


def _add_assistant(turn: _Turn, entry: dict[str, Any], last_input_ms: float | None) -> None:
    message = entry.get("message")
    if not isinstance(message, dict) or message.get("model") == "<synthetic>":
        return  # Claude Code's own error notices are not LLM calls
    stamp = _ms(entry.get("timestamp")) or last_input_ms or 0.0
    key = str(message.get("id") or entry.get("uuid") or "")
    if not key:
        return
    blocks = [b for b in message.get("content") or [] if isinstance(b, dict)]
    if turn.calls and turn.calls[-1].key == key:
        call = turn.calls[-1]
        content = call.message["content"]
        content.extend(b for b in blocks if b not in content)  # a line may repeat a block
        for field in ("usage", "stop_reason", "stop_sequence", "model"):
            if message.get(field) is not None:
                call.message[field] = message[field]
        call.end_ms = max(call.end_ms, stamp)
    else:
        coalesced = {k: v for k, v in message.items() if k != "content"}
        coalesced["content"] = list(blocks)
        call = _Call(
            key=key,
            message=coalesced,
            start_ms=min(last_input_ms or stamp, stamp),
            end_ms=stamp,
            context=[_clip(m) for m in turn.messages],
            tool_starts={},
        )
        turn.calls.append(call)
        turn.messages.append({"role": "assistant", "content": call.message["content"]})
    for block in blocks:
        if block.get("type") == "tool_use" and block.get("id"):
            call.tool_starts[str(block["id"])] = stamp


def _tool_results(content: object) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [b.get("text") for b in content if isinstance(b, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _ms(stamp: object) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp() * 1000
    except ValueError:
        return None


def _clip(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) <= CONTEXT_CHARS:
            return value
        cut = len(value) - CONTEXT_CHARS
        return f"{value[:CONTEXT_CHARS]}…[heliograph: {cut} more characters not exported]"
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v) for v in value]
    return value


# -- building records --------------------------------------------------------------------


def _session_name(text: str, session_id: str, privacy: PrivacyFilter) -> str:
    fallback = f"Claude Code {session_id[:8]}"
    if privacy.mode in ("metadata_only", "off"):
        return fallback
    flat = _SPACES.sub(" ", privacy.text(text)).strip()
    if len(flat) > NAME_CHARS:
        flat = flat[: NAME_CHARS - 1].rstrip() + "…"
    return flat or fallback


def _session(session_id: str, name: str) -> Session:
    return Session.from_key(f"claude-code:{session_id}", name=name).child("claude-code", session_id)


def _properties(version: str | None) -> dict[str, str]:
    props = {"Agent": "claude-code"}
    if version:
        props["Claude-Code-Version"] = version
    return helicone_headers(properties=props)


def _call_records(
    path: Session, session_id: str, call: _Call, turn: _Turn, version: str | None
) -> Iterator[Record]:
    request_id = stable_id(f"claude-code:{session_id}:message:{call.key}")
    model = str(call.message.get("model") or "")
    yield Record(
        request_id=request_id,
        request={"model": model, "messages": call.context},
        start_ms=call.start_ms,
        end_ms=call.end_ms,
        provider=Provider.ANTHROPIC,
        provider_given=True,
        response_json=call.message,
        request_url=ANTHROPIC_URL,
        headers={
            **path.headers(),
            **_properties(version),
            "Helicone-Request-Id": request_id,
        },
    )
    for block in call.message["content"]:
        tool_id = str(block.get("id") or "")
        if block.get("type") != "tool_use" or tool_id not in turn.results:
            continue
        result, finished_ms = turn.results[tool_id]
        name = str(block.get("name") or "tool")
        tool_request_id = stable_id(f"claude-code:{session_id}:tool:{tool_id}")
        started_ms = call.tool_starts.get(tool_id, call.end_ms)
        yield Record(
            request_id=tool_request_id,
            request={
                "_type": "tool",
                "toolName": name,
                "tool_use_id": tool_id,
                "input": block.get("input"),
            },
            start_ms=started_ms,
            end_ms=max(finished_ms, started_ms),
            response_json={
                "content": result.get("content"),
                "is_error": bool(result.get("is_error")),
            },
            headers={
                **path.child(f"tool-{_TOOL_NAME_UNSAFE.sub('-', name)}").headers(),
                **_properties(version),
                "Helicone-Request-Id": tool_request_id,
            },
        )
