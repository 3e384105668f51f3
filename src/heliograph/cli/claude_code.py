"""``heliograph claude-code hook|export``: Claude Code sessions as Helicone Sessions.

``hook`` is what Claude Code's hooks run (``~/.claude/settings.json``). It reads the hook's
JSON on stdin, appends the session id and transcript path to the exporter's event file,
and on ``Stop``/``SessionEnd`` starts ``export`` as a detached process; then it exits 0. It
prints nothing and never fails, whatever happens: errors go to ``hook.log`` in the state
folder, because anything on stdout or a non-zero exit would reach the agent.

Why detached: ``Stop`` fires at the end of every turn and ``SessionEnd`` as Claude Code
exits. Reading the transcript and spooling takes milliseconds, but delivering may wait on
the network for seconds, and a hook that does it inline either slows the agent or (peers'
bug, ``peers.md`` §1.12) is cut short at exit and loses the session. The detached exporter
has its own lifetime: it takes the export lock, spools every complete turn (durable from
then on), saves the offsets, and delivers for at most ``--flush-timeout`` seconds. What is
not delivered by then stays in the spool; the next exporter, ``heliograph flush`` or
``heliograph serve`` sends it, under the same request ids.

``export`` can also be run by hand: with ``--transcript PATH`` it (re-)exports one
transcript, otherwise every session the hooks announced. Re-running it never duplicates:
request ids come from Claude Code's ids.

Subagents (the ``Agent`` tool) write their own transcripts, ``<session>/subagents/
agent-<id>.jsonl`` beside the session's; the exporter finds them there (the hook still
records only the session's ids) and exports each complete turn of one once the turn that
launched it is exported, under that call's path, with offsets of their own.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from io import TextIOWrapper
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from heliograph.capture.agents.claude_code import (
    Export,
    Progress,
    export_subagent,
    export_transcript,
)
from heliograph.capture.agents.claude_code_state import ClaudeCodeState, SessionState
from heliograph.config import Config
from heliograph.privacy import PRIVACY_ENV, PrivacyFilter

if TYPE_CHECKING:
    from heliograph.pipeline import Pipeline

__all__ = ["register", "run"]

log = logging.getLogger("heliograph")

EXPORT_EVENTS = frozenset({"Stop", "SessionEnd", "SubagentStop", "PreCompact"})
"""Hook events after which complete turns may be waiting in the transcript."""

_MAX_STDIN = 64 * 1024 * 1024
_LOG_BYTES = 1024 * 1024


def register(subparsers: Any) -> None:
    """Add ``claude-code`` and its subcommands to the ``heliograph`` parser."""
    parser = subparsers.add_parser(
        "claude-code",
        help="export Claude Code sessions (hooks and transcripts) as Helicone sessions",
        description="Export Claude Code sessions to Helicone: one log per LLM call and per "
        "tool execution, grouped as a Helicone session. Configure 'heliograph claude-code "
        "hook' as a Claude Code hook (Stop and SessionEnd at least).",
    )
    parser.set_defaults(run=run)
    sub = parser.add_subparsers(dest="claude_code_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--spool-dir",
            type=Path,
            help="spool folder (default: $HELIOGRAPH_SPOOL_DIR or the user state folder)",
        )
        p.add_argument(
            "--state-dir",
            type=Path,
            help="the exporter's folder for offsets and logs (default: 'claude-code' "
            "beside the spool folder)",
        )

    hook = sub.add_parser(
        "hook",
        help="the command for Claude Code's hooks: reads the hook JSON on stdin",
        description="Record a hook event and, on Stop/SessionEnd, start a detached export. "
        "Prints nothing and always exits 0; errors go to hook.log in the state folder.",
    )
    common(hook)
    export = sub.add_parser(
        "export",
        help="export complete turns of Claude Code transcripts (idempotent)",
        description="Export every complete turn not yet exported, from the sessions the "
        "hooks announced or from --transcript. Privacy: --privacy or HELIOGRAPH_PRIVACY "
        "(full, redacted (default), metadata_only, off).",
    )
    common(export)
    export.add_argument("--transcript", type=Path, help="a session transcript (.jsonl) to export")
    export.add_argument(
        "--final",
        action="store_true",
        help="the session is over: export an unfinished last turn too",
    )
    export.add_argument(
        "--privacy", choices=["full", "redacted", "metadata_only", "off"], help="privacy mode"
    )
    export.add_argument(
        "--flush-timeout",
        type=float,
        default=10.0,
        help="deliver for at most this many seconds; the rest stays spooled (10)",
    )
    export.add_argument(
        "--lock-timeout",
        type=float,
        default=120.0,
        help="wait this long for another running export (120)",
    )
    export.add_argument("--detached", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.claude_code_command == "hook":
        return run_hook(args)
    return run_export(args)


def _state_dir(args: argparse.Namespace) -> Path:
    if args.state_dir is not None:
        return Path(args.state_dir).expanduser()
    return Config.from_env(spool_dir=args.spool_dir).spool_dir.parent / "claude-code"


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_CLOEXEC, 0o600)


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Creates ``hook.log`` (and its successor after a rollover) 0600, whatever the umask."""

    def _open(self) -> TextIOWrapper:
        # Mode "a", as a RotatingFileHandler with a maxBytes always has.
        return open(self.baseFilename, "a", encoding=self.encoding, opener=_private_opener)


def _log_to_file(folder: Path) -> None:
    """Send Heliograph's log to ``hook.log`` only: the agent's terminal must not see it."""
    handler = _PrivateRotatingFileHandler(
        folder / "hook.log", maxBytes=_LOG_BYTES, backupCount=1, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING)
    log.propagate = False


# -- the hook ----------------------------------------------------------------------------


def run_hook(args: argparse.Namespace) -> int:
    """Record the event and maybe start an exporter; exit 0 and print nothing, always."""
    # Whatever a library might print goes nowhere; our own log goes to hook.log.
    sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
    log.handlers[:] = [logging.NullHandler()]
    log.propagate = False
    try:
        _hook(args)
    except BaseException:  # the agent must never see a failure of ours
        log.exception("claude-code hook failed; the agent is unaffected")
    return 0


def _hook(args: argparse.Namespace) -> None:
    raw = sys.stdin.buffer.read(_MAX_STDIN)
    if os.environ.get(PRIVACY_ENV, "").strip().lower() == "off":
        return
    state = ClaudeCodeState(_state_dir(args))
    state.ensure()
    _log_to_file(state.folder)
    PrivacyFilter.from_env()  # a bad HELIOGRAPH_PRIVACY is logged here, not at export
    payload = orjson.loads(raw)
    if not isinstance(payload, dict):
        raise ValueError(f"hook input is not a JSON object but {type(payload).__name__}")
    state.append_event(payload)
    if payload.get("hook_event_name") in EXPORT_EVENTS:
        _spawn_export(args, state.folder)


def _spawn_export(args: argparse.Namespace, folder: Path) -> None:
    import subprocess  # only Stop/SessionEnd-like events need it, not every hook run

    command = [sys.executable, "-m", "heliograph", "claude-code", "export", "--detached"]
    command += ["--state-dir", str(folder)]
    if args.spool_dir is not None:
        command += ["--spool-dir", str(args.spool_dir)]
    subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives Claude Code and its process group
        close_fds=True,
    )


# -- the exporter ------------------------------------------------------------------------


def run_export(args: argparse.Namespace) -> int:
    # Imported here: the hook, which runs on every event, needs none of the pipeline.
    from heliograph.cli.main import EXIT_INCOMPLETE, EXIT_OK
    from heliograph.pipeline import Pipeline

    state = ClaudeCodeState(_state_dir(args))
    state.ensure()
    if args.detached:
        _log_to_file(state.folder)
    privacy = PrivacyFilter.from_env(mode=args.privacy)
    if not privacy.exports:
        log.info("privacy mode is off: nothing exported")
        return EXIT_OK
    from heliograph.cli.agent import agent_delivery_default

    config = Config.from_env(
        spool_dir=args.spool_dir, handle_sigterm=False, delivery=agent_delivery_default()
    )
    pipeline = Pipeline(config)
    pipeline.start()  # the agent also delivers what earlier exporters left in the spool
    exported = 0
    try:
        with state.exporting(args.lock_timeout) as locked:
            if not locked:
                log.warning("another claude-code export is still running; try again later")
                return EXIT_INCOMPLETE
            exported = _export_sessions(args, state, privacy, pipeline)
    finally:
        if not args.detached:  # by hand: wait (bounded) until delivered, by the agent or here
            pipeline.flush(args.flush_timeout)
        report = pipeline.close(args.flush_timeout, stop_on_failure=args.detached)
    if privacy.counts:
        log.info("masked: %s", dict(privacy.counts))
    if not args.detached:
        delivered = (
            "the delivery agent delivers"
            if config.delivery == "agent"
            else f"delivered {report.delivered}"
        )
        print(
            f"exported {exported} records; {delivered}, pending {report.pending} "
            f"(to {config.endpoint})"
        )
    return EXIT_OK if report.pending == 0 else EXIT_INCOMPLETE


def _export_sessions(
    args: argparse.Namespace, state: ClaudeCodeState, privacy: PrivacyFilter, pipeline: Pipeline
) -> int:
    sessions = state.sessions()
    if args.transcript is not None:
        path = Path(args.transcript).expanduser().resolve()
        session_id = path.stem
        known = sessions.setdefault(session_id, SessionState(str(path)))
        known.transcript = str(path)
        known.ended = known.ended or args.final
        targets = [session_id]
    else:
        targets = list(sessions)
    exported = 0
    for session_id in targets:
        exported += _export_one(session_id, sessions[session_id], privacy, pipeline)
        state.save(sessions)  # only after the session's records are spooled
    return exported


def _export_one(
    session_id: str, session: SessionState, privacy: PrivacyFilter, pipeline: Pipeline
) -> int:
    path = Path(session.transcript)
    data, session.progress = _tail(path, session.progress)
    if data is None:
        if not session.ended:
            log.warning("transcript %s of session %s is gone", path, session_id)
            session.ended = True
        return 0
    result = export_transcript(data, session_id, session.progress, privacy, final=session.ended)
    if not _spool(result, path, session_id, pipeline):
        return len(result.records)
    session.progress = result.progress  # on disk now: safe to move past these turns
    session.launches.update(result.launches)
    session.agent_links.update(result.agents)
    return len(result.records) + _export_agents(session_id, session, privacy, pipeline)


def _tail(path: Path, progress: Progress) -> tuple[bytes | None, Progress]:
    """The transcript from ``progress.offset`` on (None if it is gone); a file shorter than
    the offset was rewritten, and is read from the start (ids dedupe)."""
    try:
        with path.open("rb") as transcript:
            size = os.fstat(transcript.fileno()).st_size
            if size < progress.offset:
                progress = Progress(name=progress.name)
            transcript.seek(progress.offset)
            return transcript.read(), progress
    except FileNotFoundError:
        return None, progress


def _spool(result: Export, path: Path, session_id: str, pipeline: Pipeline) -> bool:
    """Submit every record; True once all of them are on disk."""
    if result.bad_lines:
        log.warning("skipped %d unreadable lines in %s", result.bad_lines, path)
    submitted = [pipeline.submit(record) for record in result.records]  # every one, no short-cut
    if all(submitted) and pipeline.spool.buffered == 0:
        return True
    log.warning("the spool did not take session %s's records; they will be re-read", session_id)
    return False


def _export_agents(
    session_id: str, session: SessionState, privacy: PrivacyFilter, pipeline: Pipeline
) -> int:
    """Export the subagent transcripts whose launching call is exported (nested ones after
    their parent); once the session ended, an agent whose launch is unknown goes under the
    session's root rather than nowhere."""
    folder = Path(session.transcript).with_suffix("") / "subagents"
    if not folder.is_dir():
        return 0
    pending = {
        f.name[len("agent-") : -len(".jsonl")]: f for f in sorted(folder.rglob("agent-*.jsonl"))
    }
    name = session.progress.name or f"Claude Code {session_id[:8]}"
    exported = 0
    while pending:
        ready: dict[str, str | None] = {}
        for agent_id, path in pending.items():
            tool_id = _launched_by(path, agent_id, session)
            if tool_id in session.launches:
                ready[agent_id] = session.launches[tool_id]
        if not ready:
            if not session.ended:
                break  # the rest wait for their launching turns
            ready = {next(iter(pending)): None}  # launched from nowhere we know: the root
        for agent_id, parent in ready.items():
            path = pending.pop(agent_id)
            data, progress = _tail(path, session.agents.get(agent_id, Progress()))
            if data is None:
                continue
            result = export_subagent(
                data, session_id, agent_id, parent, name, progress, privacy, final=session.ended
            )
            exported += len(result.records)
            if not _spool(result, path, session_id, pipeline):
                return exported
            session.agents[agent_id] = result.progress
            session.launches.update(result.launches)
            session.agent_links.update(result.agents)
    return exported


def _launched_by(path: Path, agent_id: str, session: SessionState) -> str | None:
    """The tool_use id that started a subagent: from its ``.meta.json``, or else from the
    ``agentId`` in the launching tool's result."""
    try:
        meta = orjson.loads(path.with_name(f"agent-{agent_id}.meta.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        meta = None
    if isinstance(meta, dict) and isinstance(meta.get("toolUseId"), str):
        return str(meta["toolUseId"])
    return session.agent_links.get(agent_id)
