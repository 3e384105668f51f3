"""OpenCode sessions as Helicone Sessions: bus events in, one Record per LLM call and tool run.

``OpenCodeCollector.handle`` takes OpenCode bus events in either shape (v1: ``{type,
properties}``, ``message.part.updated`` with ``delta``; v2: a top-level ``id``,
``properties.sessionID`` and ``time``, streaming as ``message.part.delta``; also the
``{directory, payload}`` wrapper of ``/global/event``) and keeps each session's messages and
parts. Unknown event types are ignored; a malformed event is logged, never raised.

What gets exported (helicone.md §5-§6):

* one log per LLM call, i.e. per ``step-start``…``step-finish`` pair: model, provider,
  tokens (cache included), OpenCode's own ``cost``, timing (the parts' creation times, which
  OpenCode encodes in their ids), finish reason, the step's text, reasoning and tool calls,
  and the conversation that led to it as the request's messages;
* one child log per tool run (``_type: "tool"``, Helicone's custom tool log).

Headers: ``Helicone-Session-Id`` = ``stable_id`` of the root session's id (subagent sessions,
which have a ``parentID``, join their parent's Helicone session); ``Helicone-Session-Name`` =
the root session's current title (a fixed name in ``metadata_only`` privacy: OpenCode
writes titles from the prompt); ``Helicone-Session-Path`` = ``/opencode/<session>/msg-<n>``
(``n`` counts the session's user messages) and ``…/msg-<n>/tool-<name>``, a subagent's path
nested below its parent's as ``/opencode/<parent>/<child>/msg-<n>``; ``Helicone-Request-Id``
= ``stable_id`` of (session, message, step or part), so a repeated event, a restart or a
re-import makes the same id and never a duplicate.

An item is exported once it is complete (its ``step-finish``, or a tool in ``completed`` or
``error`` state, or its message finished), by ``export``: the CLI calls it when a session
goes idle (``session.idle``, ``session.status`` idle), every 30 s, and at shutdown. Every
record passes the privacy filter before it reaches the sink (the spool).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from heliograph._ratelimit import RateLimitedLogger
from heliograph.capture.agents.opencode_format import ToolCall, Turn, Usage, fit, llm_bodies
from heliograph.model.headers import helicone_headers
from heliograph.model.ids import stable_id
from heliograph.model.record import Provider, Record

__all__ = [
    "ExportedIds",
    "History",
    "OpenCodeCollector",
    "RecordFilter",
    "SessionHistory",
    "part_time_ms",
]

log = logging.getLogger("heliograph.opencode")

JSON = dict[str, Any]


class RecordFilter(Protocol):
    """What the collector needs of ``heliograph.privacy.PrivacyFilter``."""

    @property
    def exports(self) -> bool: ...

    @property
    def mode(self) -> str: ...

    def record(self, record: Record) -> Record: ...


class ExportedIds(Protocol):
    """Request ids already handed to the sink (``set`` works; the CLI persists them)."""

    def __contains__(self, request_id: object) -> bool: ...

    def add(self, request_id: str) -> None: ...


@dataclasses.dataclass
class SessionHistory:
    """A session as OpenCode stores it: its info and its messages, each with its parts."""

    info: JSON | None
    messages: list[tuple[JSON, list[JSON]]]


History = Callable[[str], SessionHistory | None]
"""Looks a session up where OpenCode keeps it (its HTTP API, its data folder); None if unknown."""


def part_time_ms(identifier: str, reference_ms: float) -> float | None:
    """When OpenCode created the object with this ascending id (``prt_…``, ``msg_…``).

    OpenCode's ascending ids start with 12 hex digits: the low 48 bits of
    ``milliseconds * 0x1000 + counter``. The wrap (every ~795 days) is resolved with
    ``reference_ms``, any time within a year of the creation (the message's).
    """
    _, sep, rest = identifier.partition("_")
    if not sep or len(rest) < 12:
        return None
    try:
        value = int(rest[:12], 16)
    except ValueError:
        return None
    low = value // 0x1000
    period = 1 << 36
    return float(low + round((reference_ms - low) / period) * period)


@dataclasses.dataclass
class _Message:
    info: JSON
    parts: dict[str, JSON] = dataclasses.field(default_factory=dict)
    seen_ms: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Session:
    id: str
    info: JSON | None = None
    messages: dict[str, _Message] = dataclasses.field(default_factory=dict)
    history_asked: bool = False


@dataclasses.dataclass
class _Step:
    message: _Message
    parts: list[JSON]

    @property
    def key(self) -> str:
        return str(self.parts[0].get("id", ""))

    @property
    def finish(self) -> JSON | None:
        return next((p for p in self.parts if p.get("type") == "step-finish"), None)


class OpenCodeCollector:
    """Turns OpenCode bus events into Records; thread-safe, never raises into the caller."""

    def __init__(
        self,
        sink: Callable[[Record], object],
        privacy: RecordFilter,
        *,
        exported: ExportedIds | None = None,
        history: History | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sink = sink
        self._privacy = privacy
        self._exported: ExportedIds = exported if exported is not None else set()
        self._history = history
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.RLock()
        self._warn = RateLimitedLogger(log)
        self.exported_count = 0

    # -- events ----------------------------------------------------------------------------

    def handle(self, event: object) -> list[str]:
        """Take one bus event; returns the ids of sessions it made ready to export (idle)."""
        try:
            with self._lock:
                return self._handle(_unwrap(event))
        except Exception as exc:
            self._warn.log(logging.WARNING, "event", "ignored a malformed OpenCode event: %r", exc)
            return []

    def _handle(self, event: JSON | None) -> list[str]:
        if event is None:
            return []
        kind = event.get("type")
        props = event.get("properties")
        props = props if isinstance(props, dict) else {}
        seen = _number(props.get("time")) or self._clock() * 1000
        if kind in ("session.created", "session.updated") and isinstance(props.get("info"), dict):
            info = props["info"]
            self._session(str(info["id"])).info = info
        elif kind == "session.deleted" and isinstance(props.get("info"), dict):
            return [str(props["info"]["id"])]
        elif kind == "message.updated" and isinstance(props.get("info"), dict):
            self._put_message(props["info"])
        elif kind == "message.removed":
            self._session(str(props["sessionID"])).messages.pop(str(props["messageID"]), None)
        elif kind == "message.part.updated" and isinstance(props.get("part"), dict):
            self._put_part(props["part"], seen)
        elif kind == "message.part.delta":
            self._apply_delta(props)
        elif kind == "message.part.removed":
            message = self._session(str(props["sessionID"])).messages.get(str(props["messageID"]))
            if message is not None:
                message.parts.pop(str(props["partID"]), None)
        elif kind == "session.idle" or (
            kind == "session.status"
            and isinstance(props.get("status"), dict)
            and props["status"].get("type") == "idle"
        ):
            return [str(props["sessionID"])]
        elif kind in ("server.instance.disposed", "global.disposed"):
            return list(self._sessions)
        return []

    def load(self, history: SessionHistory, session_id: str) -> None:
        """Add a stored session (from the data folder or the HTTP API) to what is known.

        Events seen already win over the stored copy; the stored copy fills the gaps.
        """
        with self._lock:
            session = self._session(session_id, ask=False)
            session.history_asked = True
            if session.info is None and history.info is not None:
                session.info = history.info
            for info, parts in history.messages:
                message = session.messages.get(str(info.get("id")))
                if message is None:
                    message = self._put_message({**info, "sessionID": session_id})
                for part in parts:
                    if str(part.get("id")) not in message.parts:
                        message.parts[str(part["id"])] = part

    def _session(self, session_id: str, *, ask: bool = True) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            session = self._sessions[session_id] = _Session(session_id)
        if ask and not session.history_asked and self._history is not None:
            session.history_asked = True
            self._load_history(session_id)
        return session

    def _load_history(self, session_id: str) -> None:
        assert self._history is not None
        try:
            found = self._history(session_id)
        except Exception as exc:
            self._warn.log(logging.WARNING, "history", "cannot read OpenCode session %s: %s",
                           session_id, exc)  # fmt: skip
            return
        if found is not None:
            self.load(found, session_id)

    def _put_message(self, info: JSON) -> _Message:
        session = self._session(str(info["sessionID"]))
        message = session.messages.get(str(info["id"]))
        if message is None:
            message = session.messages[str(info["id"])] = _Message(info)
        else:
            message.info = info
        return message

    def _message_of(self, session_id: str, message_id: str) -> _Message:
        session = self._session(session_id)
        message = session.messages.get(message_id)
        if message is None:  # a part before its message: keep it until the message arrives
            message = session.messages[message_id] = _Message(
                {"id": message_id, "sessionID": session_id}
            )
        return message

    def _put_part(self, part: JSON, seen_ms: float) -> None:
        message = self._message_of(str(part["sessionID"]), str(part["messageID"]))
        part_id = str(part["id"])
        message.parts[part_id] = part
        message.seen_ms.setdefault(part_id, seen_ms)

    def _apply_delta(self, props: JSON) -> None:
        message = self._message_of(str(props["sessionID"]), str(props["messageID"]))
        part = message.parts.get(str(props["partID"]))
        field, delta = props.get("field"), props.get("delta")
        if part is not None and isinstance(field, str) and isinstance(delta, str):
            current = part.get(field)
            part[field] = (current if isinstance(current, str) else "") + delta

    # -- export ----------------------------------------------------------------------------

    def export(self, session_ids: Iterable[str] | None = None) -> int:
        """Hand every complete, not yet exported call and tool run to the sink; count them.

        ``None`` exports every known session. A session asked for by id is exported with
        its subagent sessions.
        """
        exported = 0
        with self._lock:
            if not self._privacy.exports:
                return 0
            wanted = set(self._sessions) if session_ids is None else set(session_ids)
            for session in list(self._sessions.values()):
                if session.id not in wanted and not (wanted & set(self._ancestors(session.id))):
                    continue
                for record in self._records(session):
                    exported += self._emit(record)
        return exported

    def forget(self, session_id: str) -> None:
        """Drop a session's state (after its final export, e.g. when it was deleted)."""
        with self._lock:
            self._sessions.pop(session_id, None)

    def _emit(self, record: Record) -> int:
        if record.request_id in self._exported:
            return 0
        try:
            filtered = self._privacy.record(record)
            self._sink(filtered)
        except Exception as exc:
            self._warn.log(logging.ERROR, "sink", "could not export an OpenCode log: %r", exc)
            return 0
        self._exported.add(record.request_id)
        self.exported_count += 1
        return 1

    def _ancestors(self, session_id: str) -> list[str]:
        chain: list[str] = []
        current = self._sessions.get(session_id)
        while current is not None and current.info is not None:
            parent = current.info.get("parentID")
            if not isinstance(parent, str) or not parent or parent in chain:
                break
            chain.append(parent)
            current = self._sessions.get(parent) or self._session(parent)
        return chain

    def _records(self, session: _Session) -> Iterable[Record]:
        lineage = [*reversed(self._ancestors(session.id)), session.id]
        root = self._sessions.get(lineage[0])
        title = _title(root.info if root is not None else None) or _title(session.info)
        if self._privacy.mode == "metadata_only":
            title = "OpenCode session"  # OpenCode writes titles from the prompt: content
        base = "/opencode/" + "/".join(lineage)
        headers = {"session_id": stable_id(f"opencode:session:{lineage[0]}"), "session_name": title}
        conversation: list[Turn] = []
        turn = 0
        for message in sorted(session.messages.values(), key=lambda m: str(m.info["id"])):
            role = message.info.get("role")
            if role == "user":
                turn += 1
                conversation.append(Turn("user", text=_user_text(message)))
                continue
            if role != "assistant":
                continue
            path = f"{base}/msg-{max(turn, 1)}"
            for step in _steps(message):
                answer, results = _answer(step)
                if _step_done(step):
                    yield self._llm_record(session.id, step, conversation, answer, path, headers)
                for part in step.parts:
                    if part.get("type") == "tool" and _tool_done(part, message):
                        yield self._tool_record(session.id, message, part, path, headers)
                conversation.append(answer)
                conversation.extend(results)

    def _llm_record(
        self,
        session_id: str,
        step: _Step,
        conversation: list[Turn],
        answer: Turn,
        path: str,
        session: Mapping[str, str | None],
    ) -> Record:
        info = step.message.info
        created = _number(_get(info, "time", "created")) or self._clock() * 1000
        first = step.parts[0]
        start = self._part_ms(step.message, first, created)
        finish = step.finish
        end = (
            self._part_ms(step.message, finish, created)
            if finish is not None
            else _number(_get(info, "time", "completed")) or start
        )
        model = str(info.get("modelID") or "unknown")
        provider_id = str(info.get("providerID") or "")
        anthropic = provider_id == "anthropic"
        request_id = stable_id(f"opencode:{session_id}:{info['id']}:{step.key}")
        usage = Usage.from_tokens(finish.get("tokens")) if finish is not None else None
        request, response = llm_bodies(
            anthropic=anthropic,
            call_id=f"opencode-{step.key}",
            model=model,
            created_ms=start,
            conversation=list(conversation),
            answer=answer,
            finish=str(finish.get("reason")) if finish is not None else info.get("finish"),
            usage=usage,
        )
        request, response, notes = fit(request, response)
        status = 200
        error = info.get("error")
        if finish is None and isinstance(error, dict):
            status = -3 if error.get("name") == "MessageAbortedError" else 500
            response["error"] = error
        cost = _number(finish.get("cost")) if finish is not None else None
        provider = Provider.ANTHROPIC if anthropic else (
            Provider.OPENAI if provider_id == "openai" else Provider.CUSTOM
        )  # fmt: skip
        properties = {
            "opencode-session": session_id,
            "opencode-agent": info.get("agent") or info.get("mode"),
            "opencode-provider": provider_id or None,
        }
        return _session_record(
            request_id, request, response, notes, start=start, end=end, status=status,
            provider=provider, session=session, path=path, properties=properties,
            ttft_ms=self._first_output_ms(step, created, start), cost_usd=cost,
        )  # fmt: skip

    def _tool_record(
        self,
        session_id: str,
        message: _Message,
        part: JSON,
        path: str,
        session: Mapping[str, str | None],
    ) -> Record:
        state = _dict(part.get("state"))
        name = str(part.get("tool") or "unknown")
        created = _number(_get(message.info, "time", "created")) or self._clock() * 1000
        start = _number(_get(state, "time", "start")) or self._part_ms(message, part, created)
        end = _number(_get(state, "time", "end")) or _number(
            _get(message.info, "time", "completed")
        ) or start  # fmt: skip
        status_name = state.get("status")
        request: JSON = {
            "_type": "tool",
            "toolName": name,
            "input": state.get("input"),
            "callID": part.get("callID"),
        }
        response: JSON = {"status": status_name}
        if status_name == "completed":
            response.update(output=state.get("output"), title=state.get("title"))
            status = 200
        elif status_name == "error":
            response["error"] = state.get("error")
            status = 500
        else:  # the message ended while the tool was pending or running: interrupted
            status = -3
        request, response, notes = fit(request, response)
        request_id = stable_id(f"opencode:{session_id}:{message.info['id']}:{part['id']}")
        return _session_record(
            request_id, request, response, notes, start=start, end=end, status=status,
            provider=Provider.CUSTOM, session=session, path=f"{path}/tool-{name}",
            properties={"opencode-session": session_id},
        )  # fmt: skip

    def _part_ms(self, message: _Message, part: JSON, reference_ms: float) -> float:
        seen = message.seen_ms.get(str(part.get("id")))
        decoded = part_time_ms(str(part.get("id", "")), reference_ms)
        if decoded is not None:
            return decoded
        return seen if seen is not None else reference_ms

    def _first_output_ms(self, step: _Step, created: float, start: float) -> float | None:
        times = [
            _number(_get(p, "time", "start")) or self._part_ms(step.message, p, created)
            for p in step.parts
            if p.get("type") in ("text", "reasoning", "tool")
        ]
        return max(0.0, min(times) - start) if times else None


# --- helpers ---------------------------------------------------------------------------------


def _session_record(
    request_id: str,
    request: JSON,
    response: JSON,
    notes: list[str],
    *,
    start: float,
    end: float,
    status: int,
    provider: str,
    session: Mapping[str, str | None],
    path: str,
    properties: Mapping[str, object],
    ttft_ms: float | None = None,
    cost_usd: float | None = None,
) -> Record:
    """One record of an OpenCode session (an LLM call or a tool run), at ``path`` in it,
    ending no earlier than it starts."""
    return Record(
        request_id=request_id,
        request=request,
        response_json=response,
        start_ms=start,
        end_ms=max(end, start),
        status=status,
        provider=provider,
        ttft_ms=ttft_ms,
        headers=helicone_headers(
            **session, session_path=path, request_id=request_id, properties=properties
        ),
        cost_usd=cost_usd,
        notes=notes,
    )


def _unwrap(event: object) -> JSON | None:
    if not isinstance(event, dict):
        return None
    if "type" not in event and isinstance(event.get("payload"), dict):
        return _unwrap(event["payload"])  # /global/event: {directory, payload}
    return event


def _dict(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _get(obj: Mapping[str, Any], *keys: str) -> object:
    value: object = obj
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _title(info: JSON | None) -> str | None:
    title = info.get("title") if info else None
    return title if isinstance(title, str) and title.strip() else None


def _user_text(message: _Message) -> str:
    pieces = []
    for part in sorted(message.parts.values(), key=lambda p: str(p.get("id"))):
        if part.get("type") == "text" and not part.get("ignored"):
            pieces.append(str(part.get("text") or ""))
        elif part.get("type") == "file":
            pieces.append(f"[file: {part.get('filename') or part.get('url') or ''}]")
    return "\n".join(pieces)


def _steps(message: _Message) -> list[_Step]:
    """The message's LLM calls: its parts split at each ``step-start``."""
    steps: list[_Step] = []
    for part in sorted(message.parts.values(), key=lambda p: str(p.get("id"))):
        if part.get("type") == "step-start" or not steps:
            steps.append(_Step(message, []))
        steps[-1].parts.append(part)
    return steps


def _message_done(message: _Message) -> bool:
    return _get(message.info, "time", "completed") is not None or bool(message.info.get("error"))


def _step_done(step: _Step) -> bool:
    if step.finish is not None:
        return True
    started = any(p.get("type") == "step-start" for p in step.parts)
    return started and _message_done(step.message)


def _tool_done(part: JSON, message: _Message) -> bool:
    status = _get(part, "state", "status")
    return status in ("completed", "error") or _message_done(message)


def _answer(step: _Step) -> tuple[Turn, list[Turn]]:
    """The step's output as an assistant turn, and its tool results as tool turns."""
    text, reasoning, calls, results = [], [], [], []
    for part in step.parts:
        kind = part.get("type")
        if kind == "text" and not part.get("synthetic"):
            text.append(str(part.get("text") or ""))
        elif kind == "reasoning":
            reasoning.append(str(part.get("text") or ""))
        elif kind == "tool":
            state = _dict(part.get("state"))
            call_id = str(part.get("callID") or part.get("id"))
            calls.append(ToolCall(call_id, str(part.get("tool")), state.get("input")))
            output = (
                state.get("output") if state.get("status") == "completed" else state.get("error")
            )
            if output is not None:
                results.append(Turn("tool", text=str(output), tool_call_id=call_id))
    answer = Turn("assistant", text="".join(text), reasoning="".join(reasoning),
                  tool_calls=tuple(calls))  # fmt: skip
    return answer, results
