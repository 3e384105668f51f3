"""``heliograph opencode``: export OpenCode sessions as Helicone Sessions.

* ``install [--global]`` writes the plugin into ``.opencode/plugin/`` (or OpenCode's global
  config folder). It appends every bus event to an inbox file and starts ``ingest --follow``.
* ``ingest [--follow]`` turns the inbox into logs; with ``--follow`` it keeps going while an
  OpenCode process writes to the inbox (one ingester at a time), then exits.
* ``watch --url URL`` follows a running ``opencode serve`` over its ``/event`` stream.
* ``import [--since …]`` exports the sessions OpenCode stored in its data folder.

All of them export a turn when its session goes idle, the rest every ``--interval`` seconds
and at exit (SIGINT/SIGTERM: final export, bounded flush, exit 0). Records pass the privacy
filter (``--privacy``, ``$HELIOGRAPH_PRIVACY``, default ``redacted``) before the spool; what
is not delivered by exit stays there for ``heliograph serve`` or ``heliograph flush``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from heliograph.config import Config
from heliograph.errors import ConfigError

if TYPE_CHECKING:
    from heliograph.capture.agents.opencode import History

# The collector, pipeline and privacy rules are imported by the commands that use them, so
# that building the CLI's parser loads none of them.

__all__ = ["register", "run_opencode"]

log = logging.getLogger("heliograph.opencode")

PLUGIN_NAME = "heliograph.ts"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``heliograph opencode …`` to the CLI."""
    parser = sub.add_parser(
        "opencode",
        help="export OpenCode sessions to Helicone (plugin, live watch, import)",
        description="Export OpenCode sessions as Helicone Sessions: one log per LLM call, "
        "one child log per tool run, stable ids so nothing is ever sent twice.",
    )
    parser.set_defaults(run=run_opencode)
    commands = parser.add_subparsers(dest="opencode_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--spool-dir", type=Path, help="spool folder (default: $HELIOGRAPH_SPOOL_DIR)"
        )
        p.add_argument(
            "--state-dir",
            type=Path,
            help="inbox and exported-id ledger (default: 'opencode' beside the spool folder)",
        )
        p.add_argument(
            "--privacy",
            choices=["redacted", "full", "metadata_only", "off"],
            help="what content to export (default: $HELIOGRAPH_PRIVACY or redacted)",
        )
        p.add_argument(
            "--flush-timeout",
            type=float,
            default=10.0,
            help="at exit, deliver for at most this many seconds; the rest stays spooled (10)",
        )

    install = commands.add_parser(
        "install",
        help="install the Heliograph plugin for OpenCode",
        description="Write the plugin into <project>/.opencode/plugin/ (or, with --global, "
        "OpenCode's global config folder). It appends every event to Heliograph's inbox and "
        "starts 'heliograph opencode ingest --follow' in the background.",
    )
    install.add_argument("--global", dest="global_", action="store_true", help="for every project")
    install.add_argument("--project", type=Path, default=Path("."), help="project folder (.)")
    install.add_argument(
        "--no-autostart", action="store_true", help="do not start the ingester from the plugin"
    )
    common(install)

    ingest = commands.add_parser(
        "ingest",
        help="export the events the plugin wrote",
        description="Read the plugin's inbox and export it. With --follow, keep reading "
        "while an OpenCode process writes to it, then exit.",
    )
    ingest.add_argument("--follow", action="store_true", help="keep going while OpenCode runs")
    ingest.add_argument("--data-dir", type=Path, help="OpenCode's data folder (for history)")
    ingest.add_argument("--interval", type=float, default=30.0, help="export interval (30 s)")
    common(ingest)

    watch = commands.add_parser(
        "watch",
        help="follow a running OpenCode server's event stream",
        description="Subscribe to GET URL/event and export as sessions complete. Reconnects "
        "with backoff. Ctrl-C or SIGTERM: final export, then exit 0.",
    )
    watch.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:4096")
    watch.add_argument("--username", default=None, help="basic auth user (default opencode)")
    watch.add_argument(
        "--password", default=None, help="basic auth password ($OPENCODE_SERVER_PASSWORD)"
    )
    watch.add_argument("--interval", type=float, default=30.0, help="export interval (30 s)")
    common(watch)

    backfill = commands.add_parser(
        "import",
        help="export the sessions OpenCode stored",
        description="Read OpenCode's data folder (opencode.db, or the older storage/ "
        "files) and export every session; re-running exports nothing new.",
    )
    backfill.add_argument(
        "--since", help="only sessions updated since: ISO date/time, or an age like 7d, 12h"
    )
    backfill.add_argument("--data-dir", type=Path, help="default: ~/.local/share/opencode")
    common(backfill)


def run_opencode(args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "install": _install,
        "ingest": _ingest,
        "watch": _watch,
        "import": _import,
    }
    return commands[args.opencode_command](args)


# -- shared -----------------------------------------------------------------------------------


class _Export:
    """The pipeline, privacy filter, ledger and collector one command uses."""

    def __init__(self, args: argparse.Namespace, history: History | None = None) -> None:
        from heliograph.capture.agents.opencode import OpenCodeCollector
        from heliograph.capture.agents.opencode_store import ExportedLedger
        from heliograph.cli.agent import agent_delivery_default
        from heliograph.pipeline import Pipeline
        from heliograph.privacy import PrivacyFilter

        self.config = Config.from_env(
            spool_dir=args.spool_dir, handle_sigterm=False, delivery=agent_delivery_default()
        )
        self.state_dir = _state_dir(args, self.config)
        self.privacy = PrivacyFilter.from_env(mode=args.privacy)
        self.pipeline = Pipeline(self.config)
        self.ledger = ExportedLedger(self.state_dir / "exported-ids")
        self.collector = OpenCodeCollector(
            self.pipeline.submit, self.privacy, exported=self.ledger, history=history
        )
        self.flush_timeout = float(args.flush_timeout)

    def close(self) -> int:
        self.collector.export()
        self.pipeline.flush(self.flush_timeout)  # the agent delivers: wait for it, bounded
        report = self.pipeline.close(self.flush_timeout)
        delivered = (
            "the delivery agent delivers"
            if self.config.delivery == "agent"
            else f"delivered {report.delivered}"
        )
        print(
            f"exported {self.collector.exported_count} OpenCode logs "
            f"(privacy {self.privacy.mode}); {delivered}, "
            f"still spooled {report.pending} (to {self.config.endpoint})",
            file=sys.stderr,
        )
        return 0


def _state_dir(args: argparse.Namespace, config: Config) -> Path:
    chosen: Path | None = args.state_dir
    return (chosen or config.spool_dir.parent / "opencode").expanduser()


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _handle(export: _Export, event: object) -> None:
    ready = export.collector.handle(event)
    if ready:
        export.collector.export(ready)


# -- install ----------------------------------------------------------------------------------


def _install(args: argparse.Namespace) -> int:
    config = Config.from_env(spool_dir=args.spool_dir, handle_sigterm=False)
    inbox = _state_dir(args, config).resolve() / "inbox"
    if args.global_:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        folder = Path(base) / "opencode" / "plugin"
    else:
        folder = args.project.resolve() / ".opencode" / "plugin"
    command: list[str] = []
    if not args.no_autostart:
        command = [sys.executable, "-m", "heliograph", "opencode", "ingest", "--follow"]
        command += ["--state-dir", str(inbox.parent)]
        if args.spool_dir is not None:
            command += ["--spool-dir", str(args.spool_dir.resolve())]
        if args.privacy is not None:
            command += ["--privacy", args.privacy]
    source = resources.files("heliograph.capture.agents").joinpath("opencode_plugin.ts")
    text = (
        source.read_text()
        .replace('"__HELIOGRAPH_INBOX__"', json.dumps(str(inbox)))
        .replace("__HELIOGRAPH_INGEST__", json.dumps(command))
    )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / PLUGIN_NAME
    target.write_text(text)
    print(f"installed the OpenCode plugin: {target}")
    print(f"events go to {inbox}" + ("" if command else "; run 'heliograph opencode ingest'"))
    return 0


# -- ingest -----------------------------------------------------------------------------------


def _ingest(args: argparse.Namespace) -> int:
    config = Config.from_env(spool_dir=args.spool_dir, handle_sigterm=False)
    folder = _state_dir(args, config) / "inbox"
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.mkdir(exist_ok=True, mode=0o700)
    lock = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if args.follow:
                return 0  # another ingester is following this inbox
            fcntl.flock(lock, fcntl.LOCK_EX)
        return _ingest_locked(args, folder)
    finally:
        os.close(lock)


def _ingest_locked(args: argparse.Namespace, folder: Path) -> int:
    from heliograph.capture.agents.opencode_inbox import Inbox
    from heliograph.capture.agents.opencode_store import OpenCodeStore, default_data_dir

    stop = threading.Event()
    _on_signals(stop)
    store = OpenCodeStore(args.data_dir or default_data_dir())
    export = _Export(args, history=store.history)
    inbox = Inbox(folder)
    last_export = time.monotonic()
    quiet_since: float | None = None
    while True:
        for event in inbox.read():
            _handle(export, event)
        if time.monotonic() - last_export >= args.interval:
            export.collector.export()
            last_export = time.monotonic()
        inbox.commit()
        if not args.follow or stop.is_set():
            break
        if inbox.writers_alive():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 2.0:
            break  # every OpenCode process has exited and its events are read
        stop.wait(0.5)
    export.collector.export()
    inbox.commit()
    inbox.sweep()
    if inbox.skipped:
        log.warning("skipped %d inbox lines that were not JSON", inbox.skipped)
    return export.close()


# -- watch ------------------------------------------------------------------------------------


def _watch(args: argparse.Namespace) -> int:
    from heliograph.capture.agents.opencode_watch import OpenCodeServer

    stop = threading.Event()
    _on_signals(stop)
    password = args.password or os.environ.get("OPENCODE_SERVER_PASSWORD")
    username = args.username or os.environ.get("OPENCODE_SERVER_USERNAME") or "opencode"
    server = OpenCodeServer(args.url, username=username, password=password)
    export = _Export(args, history=server.http_history)
    reader = threading.Thread(
        target=server.follow_events,
        args=(lambda event: _handle(export, event), stop),
        name="heliograph-opencode-watch",
        daemon=True,
    )
    reader.start()
    while not stop.wait(args.interval):
        export.collector.export()
    return export.close()


# -- import -----------------------------------------------------------------------------------


def _import(args: argparse.Namespace) -> int:
    from heliograph.capture.agents.opencode_store import OpenCodeStore, default_data_dir

    store = OpenCodeStore(args.data_dir or default_data_dir())
    if not store.exists():
        raise ConfigError(f"no OpenCode data in {store.data_dir} (use --data-dir)")
    since = parse_since(args.since, time.time()) if args.since else 0.0
    export = _Export(args, history=store.history)
    sessions = store.sessions(since)
    before = export.collector.exported_count
    for session in sessions:
        history = store.history(session.id)
        if history is not None:
            export.collector.load(history, session.id)
            export.collector.export([session.id])
            export.collector.forget(session.id)
    print(
        f"imported {len(sessions)} OpenCode sessions from {store.data_dir}: "
        f"{export.collector.exported_count - before} new logs, {len(export.ledger)} known",
        file=sys.stderr,
    )
    return export.close()


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(value: str, now_s: float) -> float:
    """Epoch ms for ``--since``: an age (``30m``, ``12h``, ``7d``, ``2w``) or an ISO date/time
    (local time unless it names a zone)."""
    age = _AGE.match(value)
    if age:
        return (now_s - float(age.group(1)) * _UNITS[age.group(2)]) * 1000
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"--since {value!r}: use an ISO date/time or an age like 7d") from None
    return moment.timestamp() * 1000
