"""A read-only summary of a spool folder, for ``heliograph status`` and reports."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from heliograph.spool.dead_letters import read_dead_letters
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.segment import ACK_SUFFIX, SEGMENT_SUFFIX, segment_created_ns

__all__ = ["SpoolStatus", "spool_status"]


@dataclasses.dataclass(frozen=True)
class SpoolStatus:
    """What a spool folder holds now and what it has done so far (all processes)."""

    spool_dir: str
    pending: int
    pending_bytes: int
    segments: int
    oldest_pending_age_s: float | None
    delivered: int
    dead_lettered: int
    dead_letters_on_disk: int
    lost: dict[str, int]


def spool_status(root: Path) -> SpoolStatus:
    folder = SpoolFolder(root)
    pending = 0
    size = 0
    segments = 0
    oldest_ns: int | None = None
    try:
        names = sorted(os.listdir(folder.segments_dir))
    except OSError:  # missing, or not a folder at all: nothing is pending there
        names = []
    for name in names:
        if not name.endswith(SEGMENT_SUFFIX):
            continue
        path = folder.segments_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            continue
        acked = _ack_count(path.with_name(name + ACK_SUFFIX))
        remaining = max(0, data.count(b"\n") - acked)
        segments += 1
        size += len(data)
        pending += remaining
        created = segment_created_ns(name)
        if remaining and created is not None and (oldest_ns is None or created < oldest_ns):
            oldest_ns = created
    totals = Ledger.totals(folder.ledger_path)
    return SpoolStatus(
        spool_dir=str(root),
        pending=pending,
        pending_bytes=size,
        segments=segments,
        oldest_pending_age_s=None if oldest_ns is None else (time.time_ns() - oldest_ns) / 1e9,
        delivered=totals.get("delivered", 0),
        dead_lettered=totals.get("dead_lettered", 0),
        dead_letters_on_disk=sum(1 for _ in read_dead_letters(folder.dead_letters_path)),
        lost={k.split(":", 1)[1]: v for k, v in sorted(totals.items()) if k.startswith("lost:")},
    )


def _ack_count(path: Path) -> int:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    return sum(1 for line in data.split(b"\n") if len(line) == 16)
