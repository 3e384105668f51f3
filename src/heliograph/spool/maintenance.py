"""Check, repair and purge a spool folder (``heliograph verify``, ``purge``, ``replay``).

Each function works on one destination's folder (or on the legacy unbound folder, the
spool folder itself, leaving the destinations inside it alone); ``spool_root`` is the
spool folder holding it.

Only segments no live process holds are changed: a repair or purge claims each segment
with the same ``flock`` the delivery workers use, so it can never pull a file from under
a running writer. Every record removed is counted in the ledger with its reason.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections import Counter
from pathlib import Path

import orjson

from heliograph.spool.dead_letters import rewrite_dead_letters
from heliograph.spool.destination import DESTINATIONS_DIR
from heliograph.spool.folder import DIR_MODE, FILE_MODE, SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.reader import SpoolReader
from heliograph.spool.segment import (
    ACK_SUFFIX,
    SEGMENT_SUFFIX,
    CorruptLineError,
    decode_line,
    encode_line,
    read_acks,
)
from heliograph.spool.writer import SpoolWriter

__all__ = ["PurgeReport", "VerifyReport", "purge_spool", "replay_dead_letters", "verify_spool"]


@dataclasses.dataclass
class VerifyReport:
    """What ``verify`` found; ``problems`` is empty for a healthy spool."""

    segments: int = 0
    held_by_live_processes: int = 0
    records: int = 0
    acknowledged: int = 0
    corrupt_lines: int = 0
    torn_tails: int = 0
    stray_ack_files: int = 0
    dead_letters: int = 0
    unreadable_dead_letters: int = 0
    loose_permissions: int = 0
    repaired: dict[str, int] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def verify_spool(root: Path, repair: bool = False, spool_root: Path | None = None) -> VerifyReport:
    """Scan every file of the folder; with ``repair``, fix what can be fixed safely."""
    folder = SpoolFolder(root, spool_root=spool_root)
    report = VerifyReport()
    if not folder.segments_dir.is_dir():
        return report
    names = sorted(os.listdir(folder.segments_dir))
    segments = {n for n in names if n.endswith(SEGMENT_SUFFIX)}
    for name in sorted(segments):
        _check_segment(folder.segments_dir / name, report)
        if not _claimable(folder, name):
            report.held_by_live_processes += 1
    for name in names:
        if name.endswith(ACK_SUFFIX) and name[: -len(ACK_SUFFIX)] not in segments:
            report.stray_ack_files += 1
            report.problems.append(f"acknowledgement file without its segment: {name}")
            if repair:
                (folder.segments_dir / name).unlink(missing_ok=True)
                _bump(report.repaired, "stray_ack_files_removed")
    _check_dead_letters(folder, report, repair)
    _check_permissions(folder, report, repair)
    if repair:
        _repair_segments(folder, report)
    return report


def _check_segment(path: Path, report: VerifyReport) -> None:
    report.segments += 1
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # bytes after the last newline: empty unless the tail is torn
    acked = read_acks(path.with_name(path.name + ACK_SUFFIX))
    offset = 0
    for line in lines:
        report.records += 1
        if offset in acked:
            report.acknowledged += 1
        else:
            try:
                decode_line(line)
            except CorruptLineError as exc:
                report.corrupt_lines += 1
                report.problems.append(f"{path.name} at byte {offset}: {exc}")
        offset += len(line) + 1
    if tail and offset not in acked:
        report.torn_tails += 1
        report.problems.append(f"{path.name} ends in a torn line of {len(tail)} bytes")


def _claimable(folder: SpoolFolder, name: str) -> bool:
    segment = folder.try_claim(name)
    if segment is None:
        return False
    folder.release(segment)
    return True


def _repair_segments(folder: SpoolFolder, report: VerifyReport) -> None:
    """Quarantine bad lines (as delivery would) and delete fully finished segments."""
    ledger = Ledger(folder.ledger_path)
    lost: Counter[str] = Counter()
    reader = SpoolReader(folder, 1 << 30, on_corrupt=lambda reason: lost.update([reason]))
    reader.claim_orphans()
    while entries := reader.read(1000):
        for entry in entries:
            reader.release(entry)  # only looking: good records stay for delivery
    reader.collect()
    reader.release_all()
    for reason, count in lost.items():
        ledger.add(f"lost:{reason}", count)
        _bump(report.repaired, "corrupt_lines_quarantined", count)
    ledger.persist()


def _check_dead_letters(folder: SpoolFolder, report: VerifyReport, repair: bool) -> None:
    kept, bad, _ = rewrite_dead_letters(folder, keep=lambda letter: True, dry_run=not repair)
    report.dead_letters = kept
    report.unreadable_dead_letters = bad
    if bad:
        report.problems.append(f"{bad} unreadable line(s) in {folder.dead_letters_path.name}")
        if repair:
            _bump(report.repaired, "unreadable_dead_letters_quarantined", bad)


def _check_permissions(folder: SpoolFolder, report: VerifyReport, repair: bool) -> None:
    for path in _own_paths(folder.root):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        wanted = DIR_MODE if path.is_dir() else FILE_MODE
        if mode & ~wanted:
            report.loose_permissions += 1
            report.problems.append(f"{path} is {oct(mode)}, should be {oct(wanted)}")
            if repair:
                path.chmod(wanted)
                _bump(report.repaired, "permissions_tightened")


def _own_paths(root: Path) -> list[Path]:
    """The folder and what is in it, less the destination folders inside a spool root:
    those are other destinations', checked on their own."""
    others = root / DESTINATIONS_DIR
    return [
        path for path in [root, *root.rglob("*")] if path != others and others not in path.parents
    ]


def _bump(counter: dict[str, int], key: str, n: int = 1) -> None:
    counter[key] = counter.get(key, 0) + n


@dataclasses.dataclass
class PurgeReport:
    pending_records: int = 0
    segments_held_by_live_processes: int = 0
    dead_letters: int = 0
    corrupt_files: int = 0


def purge_spool(
    root: Path,
    pending: bool,
    dead_letters: bool,
    corrupt: bool,
    dry_run: bool,
    spool_root: Path | None = None,
) -> PurgeReport:
    """Delete what was asked; purged pending records are counted as lost (``purged``)."""
    folder = SpoolFolder(root, spool_root=spool_root)
    report = PurgeReport()
    if pending and folder.segments_dir.is_dir():
        for name in sorted(os.listdir(folder.segments_dir)):
            if not name.endswith(SEGMENT_SUFFIX):
                continue
            segment = folder.try_claim(name)
            if segment is None:
                report.segments_held_by_live_processes += 1
                continue
            data = segment.path.read_bytes()
            remaining = max(0, data.count(b"\n") - len(read_acks(segment.ack_path)))
            report.pending_records += remaining
            if not dry_run:
                segment.path.unlink(missing_ok=True)
                segment.ack_path.unlink(missing_ok=True)
            folder.release(segment)
        if not dry_run and report.pending_records:
            ledger = Ledger(folder.ledger_path)
            ledger.add("lost:purged", report.pending_records)
            ledger.persist()
    if dead_letters:
        _, _, removed = rewrite_dead_letters(folder, keep=lambda letter: False, dry_run=dry_run)
        report.dead_letters = len(removed)
    if corrupt and folder.corrupt_dir.is_dir():
        files = list(folder.corrupt_dir.iterdir())
        report.corrupt_files = len(files)
        if not dry_run:
            for path in files:
                path.unlink(missing_ok=True)
    return report


def replay_dead_letters(
    root: Path, request_ids: set[str] | None, spool_root: Path | None = None
) -> int:
    """Put dead letters (all, or those with these request ids) back into the spool.

    They go back into the folder they were dead-lettered from: a record may be sent only
    to the destination it was logged for. They keep their request ids, so a replay can
    never create a duplicate at the receiver.
    """
    folder = SpoolFolder(root, spool_root=spool_root)

    def keep(letter: dict[str, object]) -> bool:
        record = letter.get("record")
        if not isinstance(record, dict):
            return True
        return request_ids is not None and record.get("id") not in request_ids

    def respool(letters: list[dict[str, object]]) -> None:
        folder.ensure()
        writer = SpoolWriter(folder, max_segment_bytes=4 * 1024 * 1024, keep_sealed=False)
        for letter in letters:
            writer.append(encode_line(orjson.dumps(letter["record"])))
        writer.seal()

    _, _, chosen = rewrite_dead_letters(folder, keep, before_commit=respool)
    return len(chosen)
