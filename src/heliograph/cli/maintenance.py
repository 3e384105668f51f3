"""``verify``, ``dead-letters``, ``replay`` and ``purge``: looking after a spool folder."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from heliograph.cli.main import EXIT_INCOMPLETE, EXIT_OK, EXIT_USAGE, spool_dir_from
from heliograph.spool.dead_letters import read_dead_letters
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.maintenance import purge_spool, replay_dead_letters, verify_spool


def run_verify(args: argparse.Namespace) -> int:
    report = verify_spool(spool_dir_from(args), repair=args.repair)
    if args.json:
        print(json.dumps({**dataclasses.asdict(report), "healthy": report.healthy}, indent=2))
    else:
        print(
            f"{report.segments} segment(s) ({report.held_by_live_processes} held by running "
            f"processes), {report.records} records, {report.acknowledged} acknowledged, "
            f"{report.dead_letters} dead letters"
        )
        for problem in report.problems:
            print(f"problem: {problem}")
        for action, count in report.repaired.items():
            print(f"repaired: {action.replace('_', ' ')}: {count}")
        print("healthy" if report.healthy else f"{len(report.problems)} problem(s) found")
    return EXIT_OK if report.healthy or args.repair else EXIT_INCOMPLETE


def run_dead_letters(args: argparse.Namespace) -> int:
    letters = list(read_dead_letters(SpoolFolder(spool_dir_from(args)).dead_letters_path))
    if args.action == "show":
        matches = [x for x in letters if _record(x).get("id") == args.request_id]
        if not matches:
            print(f"heliograph: no dead letter with request id {args.request_id!r}")
            return EXIT_USAGE
        print(json.dumps(matches[-1], indent=2, ensure_ascii=False))
        return EXIT_OK
    if args.json:
        print(json.dumps(letters, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not letters:
        print("no dead letters")
        return EXIT_OK
    print(f"{'when (UTC)':<20} {'status':>6}  {'request id':<36}  error")
    for letter in letters:
        when = dt.datetime.fromtimestamp(letter.get("at", 0) / 1000, tz=dt.UTC)
        error = str(letter.get("error", ""))
        print(
            f"{when:%Y-%m-%d %H:%M:%S} {letter.get('status') or '-':>6}  "
            f"{_record(letter).get('id', '?'):<36}  {error[:80]}"
        )
    return EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    if not args.all and not args.request_ids:
        print("heliograph: name the request ids to replay, or pass --all")
        return EXIT_USAGE
    wanted = None if args.all else set(args.request_ids)
    count = replay_dead_letters(spool_dir_from(args), wanted)
    print(f"replayed {count} dead letter(s) into the spool; they are delivered next")
    return EXIT_OK if count or args.all else EXIT_INCOMPLETE


def run_purge(args: argparse.Namespace) -> int:
    if not (args.pending or args.dead_letters or args.corrupt):
        print("heliograph: choose what to purge: --pending, --dead-letters and/or --corrupt")
        return EXIT_USAGE
    report = purge_spool(
        spool_dir_from(args), args.pending, args.dead_letters, args.corrupt, dry_run=not args.yes
    )
    verb = "deleted" if args.yes else "would delete"
    print(
        f"{verb}: {report.pending_records} pending records, {report.dead_letters} dead "
        f"letters, {report.corrupt_files} quarantine files"
    )
    if report.segments_held_by_live_processes:
        print(f"left alone: {report.segments_held_by_live_processes} segment(s) in use")
    if not args.yes:
        print("nothing deleted; add --yes to delete")
    return EXIT_OK


def _record(letter: dict[str, Any]) -> dict[str, Any]:
    record = letter.get("record")
    return record if isinstance(record, dict) else {}


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "verify": run_verify,
    "dead-letters": run_dead_letters,
    "replay": run_replay,
    "purge": run_purge,
}
