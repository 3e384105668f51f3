"""``verify``, ``dead-letters``, ``replay`` and ``purge``: looking after a spool folder.

Each acts on one destination's folder (``--destination``, default: the current settings'),
or on every one with ``--all-destinations`` where that makes sense.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from heliograph.cli.main import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USAGE,
    DestinationFolder,
    chosen_destination,
    chosen_destinations,
    known_destinations,
)
from heliograph.spool.dead_letters import read_dead_letters
from heliograph.spool.destination import UNBOUND
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.maintenance import purge_spool, replay_dead_letters, verify_spool


def run_verify(args: argparse.Namespace) -> int:
    chosen = chosen_destinations(args)
    reports = [
        (d, verify_spool(d.folder, repair=args.repair, spool_root=d.spool_root)) for d in chosen
    ]
    if args.json:
        found = [
            {
                "destination": d.name,
                "folder": str(d.folder),
                **dataclasses.asdict(report),
                "healthy": report.healthy,
            }
            for d, report in reports
        ]
        print(json.dumps(found if args.all_destinations else found[0], indent=2))
    else:
        _none_found(args, chosen)
        for d, report in reports:
            print(f"destination {d.describe()}")
            print(
                f"{report.segments} segment(s) ({report.held_by_live_processes} held by "
                f"running processes), {report.records} records, {report.acknowledged} "
                f"acknowledged, {report.dead_letters} dead letters"
            )
            for problem in report.problems:
                print(f"problem: {problem}")
            for action, count in report.repaired.items():
                print(f"repaired: {action.replace('_', ' ')}: {count}")
            print("healthy" if report.healthy else f"{len(report.problems)} problem(s) found")
        _other_destinations_hint(args, chosen)
    healthy = all(report.healthy for _, report in reports)
    return EXIT_OK if healthy or args.repair else EXIT_INCOMPLETE


def run_dead_letters(args: argparse.Namespace) -> int:
    chosen = chosen_destinations(args)
    letters = [
        (d, letter)
        for d in chosen
        for letter in read_dead_letters(SpoolFolder(d.folder).dead_letters_path)
    ]
    if args.action == "show":
        matches = [letter for _, letter in letters if _record(letter).get("id") == args.request_id]
        if not matches:
            where = "any destination" if args.all_destinations else f"destination {chosen[0].name}"
            print(f"heliograph: no dead letter with request id {args.request_id!r} in {where}")
            _other_destinations_hint(args, chosen)
            return EXIT_USAGE
        print(json.dumps(matches[-1], indent=2, ensure_ascii=False))
        return EXIT_OK
    if args.json:
        found = [{"destination": d.name, **letter} for d, letter in letters]
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not letters:
        names = ", ".join(d.name for d in chosen) or "none in this spool folder"
        print(f"no dead letters (destination: {names})")
        _other_destinations_hint(args, chosen)
        return EXIT_OK
    print(f"{'when (UTC)':<20} {'status':>6}  {'request id':<36}  {'destination':<16}  error")
    for d, letter in letters:
        when = dt.datetime.fromtimestamp(letter.get("at", 0) / 1000, tz=dt.UTC)
        error = str(letter.get("error", ""))
        print(
            f"{when:%Y-%m-%d %H:%M:%S} {letter.get('status') or '-':>6}  "
            f"{_record(letter).get('id', '?'):<36}  {d.name:<16}  {error[:80]}"
        )
    return EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    if not args.all and not args.request_ids:
        print("heliograph: name the request ids to replay, or pass --all")
        return EXIT_USAGE
    chosen = chosen_destination(args)
    wanted = None if args.all else set(args.request_ids)
    count = replay_dead_letters(chosen.folder, wanted, spool_root=chosen.spool_root)
    if chosen.name == UNBOUND:
        after = "nobody delivers unbound records; they age out of the spool"
    else:
        after = "they are delivered next, with this destination's own key and endpoint"
    print(f"replayed {count} dead letter(s) into destination {chosen.describe()}; {after}")
    if not count:
        _other_destinations_hint(args, [chosen])
    return EXIT_OK if count or args.all else EXIT_INCOMPLETE


def run_purge(args: argparse.Namespace) -> int:
    if not (args.pending or args.dead_letters or args.corrupt):
        print("heliograph: choose what to purge: --pending, --dead-letters and/or --corrupt")
        return EXIT_USAGE
    chosen = chosen_destinations(args)
    _none_found(args, chosen)
    verb = "deleted" if args.yes else "would delete"
    for d in chosen:
        report = purge_spool(
            d.folder,
            args.pending,
            args.dead_letters,
            args.corrupt,
            dry_run=not args.yes,
            spool_root=d.spool_root,
        )
        print(f"destination {d.describe()}")
        print(
            f"{verb}: {report.pending_records} pending records, {report.dead_letters} dead "
            f"letters, {report.corrupt_files} quarantine files"
        )
        if report.segments_held_by_live_processes:
            print(f"left alone: {report.segments_held_by_live_processes} segment(s) in use")
    _other_destinations_hint(args, chosen)
    if not args.yes:
        print("nothing deleted; add --yes to delete")
    return EXIT_OK


def _none_found(args: argparse.Namespace, chosen: list[DestinationFolder]) -> None:
    if args.all_destinations and not chosen:
        print("no destinations in this spool folder: nothing was spooled here yet")


def _other_destinations_hint(args: argparse.Namespace, chosen: list[DestinationFolder]) -> None:
    """When acting on the current settings' destination, say that others exist."""
    if getattr(args, "all_destinations", False) or args.destination is not None or not chosen:
        return
    others = [d for d in known_destinations(chosen[0].spool_root) if d.folder != chosen[0].folder]
    if others:
        print(
            f"({len(others)} other destination(s) in this spool folder, not looked at: "
            "choose one with --destination FINGERPRINT; 'heliograph status' lists them)"
        )


def _record(letter: dict[str, Any]) -> dict[str, Any]:
    record = letter.get("record")
    return record if isinstance(record, dict) else {}


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "verify": run_verify,
    "dead-letters": run_dead_letters,
    "replay": run_replay,
    "purge": run_purge,
}
