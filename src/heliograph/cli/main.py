"""``heliograph``: serve the receiver and dashboard, manage the spool, relay queues, export agents.

A thin shell over the public API; every option has a ``HELIOGRAPH_*``/``HELICONE_*``
environment variable where the library reads one. Exit codes: 0 success, 1 the work is
not complete (records still pending), 2 usage or configuration error.
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

from heliograph._version import __version__
from heliograph.errors import HeliographError

__all__ = ["main"]

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
    from heliograph.cli import opencode, relay, sessions

    return (relay, sessions, opencode, claude_code)


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

    def spool_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--spool-dir",
            type=Path,
            help="spool folder (default: $HELIOGRAPH_SPOOL_DIR or the user state folder)",
        )

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
        help="show what the spool holds and has delivered",
        description="Pending records, bytes, age of the oldest, delivered, dead-lettered "
        "and lost counts (all processes sharing the spool folder).",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    spool_option(status)

    flush = sub.add_parser(
        "flush",
        help="deliver everything in the spool now",
        description="Deliver what is in the spool (including records left by other "
        "processes) and exit 0 if nothing is left pending, 1 otherwise.",
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
    verify.add_argument("--json", action="store_true", help="print JSON")
    spool_option(verify)

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

    replay = sub.add_parser(
        "replay",
        help="put dead letters back into the spool, with their original request ids",
        description="Move dead letters back into the spool to be delivered again. They keep "
        "their request ids, so a replay never creates a duplicate.",
    )
    replay.add_argument("request_ids", nargs="*", metavar="REQUEST_ID")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")
    spool_option(replay)

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


def spool_dir_from(args: argparse.Namespace) -> Path:
    from heliograph.config import Config

    return Config.from_env(spool_dir=args.spool_dir).spool_dir


def _status(args: argparse.Namespace) -> int:
    from heliograph.spool.status import spool_status

    status = spool_status(spool_dir_from(args))
    if args.json:
        print(json.dumps(dataclasses.asdict(status), indent=2))
        return EXIT_OK
    age = status.oldest_pending_age_s
    rows = [
        ("spool folder", status.spool_dir),
        ("pending", f"{status.pending} records in {status.segments} segment file(s)"),
        ("pending bytes", f"{status.pending_bytes:,}"),
        ("oldest pending", "-" if age is None else f"{age:.1f} s ago"),
        ("delivered", str(status.delivered)),
        ("dead-lettered", f"{status.dead_lettered} ({status.dead_letters_on_disk} on disk)"),
        ("lost", ", ".join(f"{k}: {v}" for k, v in status.lost.items()) or "0"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return EXIT_OK
