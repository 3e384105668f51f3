"""A read-only summary of a spool folder, for ``heliograph status`` and reports."""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from pathlib import Path

from heliograph.spool.dead_letters import read_dead_letters
from heliograph.spool.deliverers import agent_pid, read_agent_state
from heliograph.spool.destination import (
    DESTINATIONS_DIR,
    UNBOUND,
    Destination,
    destination_folders,
)
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.segment import ACK_SUFFIX, SEGMENT_SUFFIX, read_acks, segment_created_ns

__all__ = ["DestinationStatus", "SpoolCounts", "SpoolStatus", "spool_status"]


@dataclasses.dataclass(frozen=True)
class SpoolCounts:
    """What waits in a spool folder now, and what became of its records so far."""

    pending: int
    pending_bytes: int
    segments: int
    oldest_pending_age_s: float | None
    delivered: int
    dead_lettered: int
    dead_letters_on_disk: int
    lost: dict[str, int]


@dataclasses.dataclass(frozen=True)
class DestinationStatus(SpoolCounts):
    """One destination's folder: its counts, and who delivers it."""

    folder: str
    fingerprint: str  # "unbound" for segments written before destinations existed
    transport: str
    target: str
    key_fingerprint: str
    agent_pid: int | None  # the running delivery agent's, if one runs
    agent: dict[str, object] | None  # what the agent last wrote to agent.json


@dataclasses.dataclass(frozen=True)
class SpoolStatus(SpoolCounts):
    """A spool folder (all processes): the counts of all its destinations, and each one's."""

    spool_dir: str
    destinations: list[DestinationStatus] = dataclasses.field(default_factory=list)


def spool_status(root: Path) -> SpoolStatus:
    """The status of a spool folder (every destination in it) or of one destination's folder."""
    parts = [_destination_status(folder, destination) for folder, destination in
             destination_folders(root)]  # fmt: skip
    ages = [p.oldest_pending_age_s for p in parts if p.oldest_pending_age_s is not None]
    lost: Counter[str] = Counter()
    for part in parts:
        lost.update(part.lost)
    return SpoolStatus(
        spool_dir=str(root),
        pending=sum(p.pending for p in parts),
        pending_bytes=sum(p.pending_bytes for p in parts),
        segments=sum(p.segments for p in parts),
        oldest_pending_age_s=max(ages) if ages else None,
        delivered=sum(p.delivered for p in parts),
        dead_lettered=sum(p.dead_lettered for p in parts),
        dead_letters_on_disk=sum(p.dead_letters_on_disk for p in parts),
        lost=dict(sorted(lost.items())),
        destinations=parts,
    )


def _destination_status(root: Path, destination: Destination | None) -> DestinationStatus:
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
        acked = len(read_acks(path.with_name(name + ACK_SUFFIX)))
        remaining = max(0, data.count(b"\n") - acked)
        segments += 1
        size += len(data)
        pending += remaining
        created = segment_created_ns(name)
        if remaining and created is not None and (oldest_ns is None or created < oldest_ns):
            oldest_ns = created
    totals = Ledger.totals(folder.ledger_path)
    agent = read_agent_state(folder)
    pid = agent_pid(folder)
    return DestinationStatus(
        folder=str(root),
        fingerprint=destination.fingerprint if destination else _unknown_name(root),
        transport=destination.transport if destination else "-",
        target=destination.target if destination else _unknown_target(root),
        key_fingerprint=destination.key_fingerprint if destination else "-",
        pending=pending,
        pending_bytes=size,
        segments=segments,
        oldest_pending_age_s=None if oldest_ns is None else (time.time_ns() - oldest_ns) / 1e9,
        delivered=totals.get("delivered", 0),
        dead_lettered=totals.get("dead_lettered", 0),
        dead_letters_on_disk=sum(1 for _ in read_dead_letters(folder.dead_letters_path)),
        lost={k.split(":", 1)[1]: v for k, v in sorted(totals.items()) if k.startswith("lost:")},
        agent_pid=pid,
        agent=dataclasses.asdict(agent) if agent is not None and pid is not None else None,
    )


def _unknown_name(root: Path) -> str:
    """A destination folder that does not say what it is for keeps its folder's name."""
    return root.name if root.parent.name == DESTINATIONS_DIR else UNBOUND


def _unknown_target(root: Path) -> str:
    if root.parent.name == DESTINATIONS_DIR:
        return "unknown (destination.json is missing)"
    return "written before destinations"
