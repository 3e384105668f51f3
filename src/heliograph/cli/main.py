"""``heliograph``: serve the receiver and dashboard, manage the spool, relay queues, export agents.

A thin shell over the public API; every option has a ``HELIOGRAPH_*``/``HELICONE_*``
environment variable where the library reads one. Exit codes: 0 success, 1 the work is
not complete (records still pending), 2 usage or configuration error.

The spool commands act on one destination's folder (see ``heliograph.spool.destination``):
by default the one the library would log to with the same settings, so that a command
never handles records logged for another key or endpoint unless asked to by name.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from heliograph._version import __version__
from heliograph.errors import ConfigError, HeliographError

if TYPE_CHECKING:
    from heliograph.config import Config
    from heliograph.spool.destination import Destination
    from heliograph.spool.status import DestinationStatus, SpoolStatus

__all__ = [
    "DestinationFolder",
    "chosen_destination",
    "chosen_destinations",
    "config_from",
    "destination_options",
    "known_destinations",
    "main",
    "other_destinations_note",
    "spool_option",
]

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2


def _command_modules(argv: Sequence[str]) -> tuple[ModuleType, ...]:
    """The command modules to register: all of them, but for ``claude-code`` only its own.

    ``claude-code hook`` runs on every Claude Code hook event, and the other modules
    import an HTTP client and package resources it never uses.
    """
    from heliograph.cli import claude_code

    if argv and argv[0] == "claude-code":
        return (claude_code,)
    from heliograph.cli import agent, opencode, relay, sessions

    return (agent, relay, sessions, opencode, claude_code)


def _parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heliograph",
        description="Capture LLM telemetry and deliver it to Helicone in the background.",
        epilog="Environment: HELICONE_API_KEY (deliver to Helicone cloud), HELIOGRAPH_ENDPOINT, "
        "HELIOGRAPH_SPOOL_DIR. Run 'heliograph COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"heliograph {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the local Helicone-compatible receiver and drain the spool into it",
        description="Run the local receiver (Helicone's /custom|/oai|/anthropic|/googleapis"
        "/v1/log routes plus a read API) and deliver spooled records. Without "
        "HELICONE_API_KEY the spool is delivered to this receiver; with it, to Helicone.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8585, help="port (default 8585)")
    serve.add_argument("--db", type=Path, help="SQLite file (default: user data folder)")
    serve.add_argument(
        "--require-key",
        action="append",
        metavar="KEY",
        help="accept only this bearer key (repeat for several); default: any key",
    )
    serve.add_argument(
        "--no-drain", action="store_true", help="only receive; do not deliver the spool"
    )
    spool_option(serve)

    status = sub.add_parser(
        "status",
        help="show what the spool holds and has delivered, per destination",
        description="Pending records, bytes, age of the oldest, delivered, dead-lettered "
        "and lost counts (all processes sharing the spool folder), in all and for every "
        "destination: its transport, endpoint, key fingerprint (never the key) and "
        "delivery agent.",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    spool_option(status)

    flush = sub.add_parser(
        "flush",
        help="deliver the spool's records for the current destination now",
        description="Deliver what is spooled for the destination HELICONE_API_KEY, "
        "HELIOGRAPH_ENDPOINT and HELIOGRAPH_TRANSPORT choose (including records left by "
        "other processes; its delivery agent delivers them if one runs) and exit 0 if "
        "nothing is left pending for it, 1 otherwise. Records of other destinations stay "
        "spooled: they may be sent only with their own key, to their own endpoint.",
    )
    flush.add_argument(
        "--timeout", type=float, default=60.0, help="give up after this many seconds (60)"
    )
    spool_option(flush)

    verify = sub.add_parser(
        "verify",
        help="check the spool's integrity (and repair it with --repair)",
        description="Check every segment's checksums, acknowledgement files, dead letters "
        "and permissions. Exit 0 if healthy, 1 if problems were found. --repair quarantines "
        "damaged lines, removes stray files and tightens permissions; segments held by "
        "running processes are left alone.",
    )
    verify.add_argument("--repair", action="store_true", help="fix what can be fixed safely")
    verify.add_argument(
        "--json",
        action="store_true",
        help="print JSON (a list of reports with --all-destinations)",
    )
    spool_option(verify)
    destination_options(verify)

    letters = sub.add_parser(
        "dead-letters",
        help="list or show records the endpoint refused",
        description="Records the endpoint refused for good (a 4xx other than 408/429, or "
        "retries exhausted), kept with the status and response.",
    )
    letters.add_argument("action", choices=["list", "show"], nargs="?", default="list")
    letters.add_argument("request_id", nargs="?", help="for show: the record's request id")
    letters.add_argument("--json", action="store_true", help="print JSON")
    spool_option(letters)
    destination_options(letters)

    replay = sub.add_parser(
        "replay",
        help="put dead letters back into the spool, with their original request ids",
        description="Move dead letters back into the spool to be delivered again, into "
        "the folder of the destination they were dead-lettered for. They keep their "
        "request ids, so a replay never creates a duplicate.",
    )
    replay.add_argument("request_ids", nargs="*", metavar="REQUEST_ID")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")
    spool_option(replay)
    destination_options(replay, all_destinations=False)

    purge = sub.add_parser(
        "purge",
        help="delete pending records, dead letters or quarantined lines",
        description="Delete spool contents. Without --yes, only shows what would go. "
        "Purged pending records are counted as lost ('purged').",
    )
    purge.add_argument("--pending", action="store_true", help="undelivered records")
    purge.add_argument("--dead-letters", action="store_true", help="dead letters")
    purge.add_argument("--corrupt", action="store_true", help="quarantined damaged lines")
    purge.add_argument("--yes", action="store_true", help="really delete")
    spool_option(purge)
    destination_options(purge)

    demo = sub.add_parser(
        "demo",
        help="see it work: start a receiver, log a sample session, show what arrived",
        description="Starts the local receiver (port 8585, or a free one), logs a small "
        "sample chat session through ManualLogger, delivers it and prints what the "
        "receiver stored. Needs no Helicone account and no network.",
    )
    demo.add_argument("--port", type=int, default=8585, help="receiver port (default 8585)")
    demo.add_argument("--db", type=Path, help="SQLite file (default: a temporary folder)")
    demo.add_argument("--keep-serving", action="store_true", help="keep the receiver running")

    # Each of these modules adds its commands and sets ``run`` to the function that runs them.
    for module in _command_modules(argv):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            from heliograph.cli.serve import run_serve

            return run_serve(args)
        if args.command == "status":
            return _status(args)
        if args.command == "flush":
            from heliograph.cli.flush import run_flush

            return run_flush(args)
        run = getattr(args, "run", None)
        if run is not None:
            return int(run(args))
        if args.command in ("verify", "dead-letters", "replay", "purge"):
            from heliograph.cli import maintenance

            return maintenance.COMMANDS[args.command](args)
        from heliograph.cli.demo import run_demo

        return run_demo(args)
    except HeliographError as exc:
        print(f"heliograph: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"heliograph: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def spool_option(parser: argparse.ArgumentParser) -> None:
    """``--spool-dir``, defined once for every command that reads the spool."""
    parser.add_argument(
        "--spool-dir",
        type=Path,
        help="spool folder (default: $HELIOGRAPH_SPOOL_DIR or the user state folder)",
    )


def destination_options(parser: argparse.ArgumentParser, all_destinations: bool = True) -> None:
    """``--destination`` and ``--all-destinations``: whose records a command touches."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--destination",
        metavar="FINGERPRINT",
        help="act on this destination's folder (a fingerprint, or a unique start of one, "
        "as 'heliograph status' lists it; 'unbound' for records spooled before "
        "destinations); default: the destination that HELICONE_API_KEY, "
        "HELIOGRAPH_ENDPOINT and HELIOGRAPH_TRANSPORT choose, as for the library",
    )
    if all_destinations:
        group.add_argument(
            "--all-destinations",
            action="store_true",
            help="act on every destination in the spool folder",
        )


@dataclasses.dataclass(frozen=True)
class DestinationFolder:
    """A destination's spool folder, as a command chose it."""

    name: str  # the fingerprint, or "unbound"
    folder: Path
    spool_root: Path
    destination: Destination | None  # None: its folder does not say (or unbound)

    def describe(self) -> str:
        from heliograph.spool.destination import UNBOUND

        if self.destination is not None:
            return f"{self.name}: {self.destination.describe()}"
        if self.name == UNBOUND:
            return f"{UNBOUND}: spooled before destinations; nobody delivers these"
        return f"{self.name}: its folder has no destination.json"


def config_from(args: argparse.Namespace) -> Config:
    """The settings the library would use, with the command's ``--spool-dir``."""
    from heliograph.config import Config

    return Config.from_env(spool_dir=args.spool_dir)


def chosen_destinations(args: argparse.Namespace) -> list[DestinationFolder]:
    """The folders a spool command acts on: ``--all-destinations``, ``--destination``,
    or else the destination of the current settings (whose folder may not exist yet)."""
    from heliograph.spool.destination import destination_of

    config = config_from(args)
    root = config.spool_dir
    if getattr(args, "all_destinations", False):
        return known_destinations(root)
    wanted = getattr(args, "destination", None)
    if wanted is None:
        current = destination_of(config)
        return [DestinationFolder(current.fingerprint, current.folder(root), root, current)]
    known = known_destinations(root)
    matches = [d for d in known if d.name == wanted] or [
        d for d in known if wanted and d.name.startswith(wanted)
    ]
    if len(matches) == 1:
        return matches
    listing = "; ".join(d.describe() for d in known) or "none: nothing was spooled here yet"
    problem = "matches more than one destination" if matches else "is not a destination"
    raise ConfigError(
        f"--destination {wanted!r} {problem} in spool folder {root}; known destinations: {listing}"
    )


def chosen_destination(args: argparse.Namespace) -> DestinationFolder:
    """The one folder a command acts on (it takes no ``--all-destinations``)."""
    return chosen_destinations(args)[0]


def known_destinations(root: Path) -> list[DestinationFolder]:
    """Every destination folder in a spool folder, the unbound one last if present."""
    from heliograph.spool.destination import UNBOUND, destination_folders

    return [
        DestinationFolder(UNBOUND if folder == root else folder.name, folder, root, destination)
        for folder, destination in destination_folders(root)
    ]


def other_destinations_pending(root: Path, own: Path) -> tuple[int, int]:
    """Records pending in the spool folder's other destinations, and in how many."""
    from heliograph.spool.status import spool_status

    others = [d for d in spool_status(root).destinations if Path(d.folder) != own and d.pending]
    return sum(d.pending for d in others), len(others)


def other_destinations_note(root: Path, own: Path) -> str | None:
    """One line saying what waits for other destinations, or ``None`` if nothing does."""
    records, destinations = other_destinations_pending(root, own)
    if not records:
        return None
    return (
        f"{records} record(s) pending for {destinations} other destination(s) stay "
        "spooled (only their own key and endpoint may send them); "
        "'heliograph status' lists them"
    )


def _status(args: argparse.Namespace) -> int:
    from heliograph.spool.destination import destination_of
    from heliograph.spool.status import spool_status

    config = config_from(args)
    current = destination_of(config)
    status = spool_status(config.spool_dir)
    status = dataclasses.replace(
        status, destinations=[_named(d, current) for d in status.destinations]
    )
    if args.json:
        print(json.dumps(dataclasses.asdict(status), indent=2))
        return EXIT_OK
    _print_rows(
        [
            ("spool folder", status.spool_dir),
            ("destinations", str(len(status.destinations))),
            *_count_rows(status),
        ]
    )
    for part in status.destinations:
        mark = (
            "  (the current settings log here)" if part.fingerprint == current.fingerprint else ""
        )
        print(f"\ndestination {part.fingerprint}{mark}")
        agent = part.agent or {}
        _print_rows(
            [
                ("transport", part.transport),
                ("target", part.target),
                ("key", part.key_fingerprint),
                *_count_rows(part),
                (
                    "delivery agent",
                    f"pid {part.agent_pid}, {agent.get('state', 'starting')}"
                    if part.agent_pid is not None
                    else "not running",
                ),
            ],
            indent="  ",
        )
    if not any(d.fingerprint == current.fingerprint for d in status.destinations):
        print(
            "\nnothing spooled yet for the current settings' destination "
            f"{current.fingerprint}: {current.describe()}"
        )
    return EXIT_OK


def _named(part: DestinationStatus, current: Destination) -> DestinationStatus:
    """Name a destination folder that lacks its ``destination.json`` by its folder name
    (and by the current settings if they are its), so ``--destination`` can reach it."""
    from heliograph.spool.destination import DESTINATIONS_DIR, UNBOUND

    folder = Path(part.folder)
    if part.fingerprint != UNBOUND or folder.parent.name != DESTINATIONS_DIR:
        return part
    if folder.name == current.fingerprint:
        return dataclasses.replace(
            part,
            fingerprint=current.fingerprint,
            transport=current.transport,
            target=current.target,
            key_fingerprint=current.key_fingerprint,
        )
    return dataclasses.replace(
        part, fingerprint=folder.name, target="unknown (no destination.json)"
    )


def _count_rows(part: SpoolStatus | DestinationStatus) -> list[tuple[str, str]]:
    age = part.oldest_pending_age_s
    return [
        ("pending", f"{part.pending} records in {part.segments} segment file(s)"),
        ("pending bytes", f"{part.pending_bytes:,}"),
        ("oldest pending", "-" if age is None else f"{age:.1f} s ago"),
        ("delivered", str(part.delivered)),
        ("dead-lettered", f"{part.dead_lettered} ({part.dead_letters_on_disk} on disk)"),
        ("lost", ", ".join(f"{k}: {v}" for k, v in part.lost.items()) or "0"),
    ]


def _print_rows(rows: list[tuple[str, str]], indent: str = "") -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{indent}{name:<{width}}  {value}")
