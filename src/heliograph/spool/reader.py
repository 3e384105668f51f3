"""Read records out of held segments, acknowledge them, delete segments that are done.

Acknowledgements are appended to ``<segment>.acked`` as fixed-width lines (16 hex digits of
the record's byte offset, then a newline), so a torn acknowledgement is recognisable and
ignored: the record is then sent again, and the receiver's request-id dedupe absorbs it. A
record is never acknowledged before its delivery outcome is final, so no crash can lose it.
A segment file is deleted only once every record in it is acknowledged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from heliograph._ratelimit import RateLimitedLogger
from heliograph.spool.destination import DESTINATIONS_DIR
from heliograph.spool.folder import FILE_MODE, HeldSegment, SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.segment import (
    ACK_SUFFIX,
    SEGMENT_SUFFIX,
    STAGING_SUFFIX,
    CorruptLineError,
    decode_line,
    read_acks,
)

__all__ = ["Entry", "SpoolReader"]

log = logging.getLogger("heliograph.spool")

_CHUNK = 256 * 1024
_STAGING_GRACE_S = 60.0


@dataclasses.dataclass(frozen=True, eq=False)
class Entry:
    """One record read from the spool: where it lives and its JSON bytes."""

    segment: HeldSegment
    offset: int
    payload: bytes


class SpoolReader:
    """The delivery side of the spool. Use from one thread only (the delivery worker)."""

    def __init__(
        self,
        folder: SpoolFolder,
        max_line_bytes: int,
        on_corrupt: Callable[[str], None] = lambda reason: None,
        read_live: bool = False,
    ) -> None:
        """``read_live``: also read segments live writers hold, as they grow. Only the
        destination's sole deliverer (the delivery agent) may, or two readers would
        send the same lines."""
        self._folder = folder
        self._max_line_bytes = max_line_bytes
        self._on_corrupt = on_corrupt
        self._read_live = read_live
        self._sorted: list[HeldSegment] = []
        self._sorted_version = -1
        self._warn = RateLimitedLogger(log)

    def claim_orphans(self) -> int:
        """Hold every segment that no live process holds; return how many were claimed.

        With ``read_live``, segments live writers hold are followed too, and each is
        claimed as soon as its writer lets go of it (sealed it, or exited).
        """
        self._promote_live()
        try:
            names = sorted(os.listdir(self._folder.segments_dir))
        except FileNotFoundError:
            return 0
        claimed = 0
        for name in names:
            if name.endswith(STAGING_SUFFIX):
                self._remove_abandoned_staging(name)
                continue
            if not name.endswith(SEGMENT_SUFFIX) or name in self._folder.held:
                continue
            segment = self._folder.try_claim(name)
            if segment is not None:
                self._load_acks(segment)
                starts = _line_starts(_read_fd(segment), self._size(segment))
                segment.lines = len(starts)
                segment.finished = len(starts & segment.acked)
                claimed += 1
            elif self._read_live:
                segment = self._folder.watch(name)
                if segment is not None:
                    self._load_acks(segment)
                    segment.finished = len(segment.acked)
        self._count_live_lines()
        return claimed

    def adopt_held(self) -> None:
        """Start afresh on segments already held (the writer's current one) when delivery
        starts: another deliverer may have acknowledged lines of it since."""
        for segment in self._segments():
            segment.read_offset = segment.buffer_start = segment.outstanding = 0
            segment.buffer = b""
            segment.acked = set()
            self._load_acks(segment)
            segment.finished = len(segment.acked)

    def _promote_live(self) -> None:
        """Claim each followed segment whose writer has let go of it."""
        for segment in self._segments():
            if not segment.live:
                continue
            try:
                fcntl.flock(segment.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # still written to
            segment.live = False
            segment.sealed = True
            if not segment.path.exists():  # an unused segment its writer removed
                self._folder.release(segment)
                continue
            segment.lines = len(_line_starts(_read_fd(segment), self._size(segment)))

    def _count_live_lines(self) -> None:
        for segment in self._segments():
            if segment.live:
                size = self._size(segment)
                if size > segment.scanned:
                    data = os.pread(_read_fd(segment), size - segment.scanned, segment.scanned)
                    complete = data.rfind(b"\n") + 1
                    segment.lines += data.count(b"\n", 0, complete)
                    segment.scanned += complete

    def _remove_abandoned_staging(self, name: str) -> None:
        """A staging file nobody holds was left by a writer that died before renaming it;
        it is always empty (nothing is written before the rename). Young ones are left
        alone: their writer may be between creating and locking them right now."""
        try:
            age_s = time.time() - (self._folder.segments_dir / name).stat().st_mtime
        except OSError:
            return
        if age_s < _STAGING_GRACE_S:
            return
        segment = self._folder.try_claim(name)
        if segment is not None:
            segment.path.unlink(missing_ok=True)
            self._folder.release(segment)

    def read(self, limit: int) -> list[Entry]:
        """Up to ``limit`` unacknowledged records, oldest segment first, each handed out once."""
        entries: list[Entry] = []
        for segment in self._segments():
            if len(entries) >= limit:
                break
            try:
                entries.extend(self._read_segment(segment, limit - len(entries)))
            except OSError as exc:
                # One unreadable file must not stop the others: let go of it (it stays on
                # disk for `heliograph verify`) and carry on.
                self._warn.log(
                    logging.ERROR, "unreadable-segment",
                    "cannot read spool segment %s (%s); skipping it", segment.name, exc,
                )  # fmt: skip
                self._folder.release(segment)
        return entries

    def ack(self, entry: Entry) -> None:
        """Record ``entry`` as finished (delivered or dead-lettered) on disk."""
        self.ack_many([entry])

    def ack_many(self, entries: list[Entry]) -> None:
        """``ack`` for several records, with one write per segment."""
        by_segment: dict[int, list[Entry]] = {}
        for entry in entries:
            by_segment.setdefault(id(entry.segment), []).append(entry)
        for group in by_segment.values():
            segment = group[0].segment
            _write_acks(segment, [entry.offset for entry in group])
            segment.outstanding -= len(group)
            segment.finished += len(group)

    def release(self, entry: Entry) -> None:
        """Give back a record that was read but will not be finished by this process.

        It stays unacknowledged, so its segment is kept and the next reader sends it.
        """
        entry.segment.outstanding -= 1

    def collect(self) -> int:
        """Delete segments that are sealed, read to the end and fully acknowledged."""
        removed = 0
        for segment in self._segments():
            if not segment.sealed or segment.outstanding or segment.finished < segment.lines:
                continue
            if segment.read_offset < self._size(segment):
                continue
            segment.path.unlink(missing_ok=True)
            segment.ack_path.unlink(missing_ok=True)
            self._folder.release(segment)
            removed += 1
        return removed

    def evict(self, max_bytes: int, max_age_s: float) -> dict[str, int]:
        """Delete sealed segments past the age or size bound, oldest first.

        The bounds cover the whole spool folder, every destination in it: besides the
        segments this process holds, it evicts segments of other destinations that no
        process holds (a destination nobody delivers any more), counting their loss in
        their own ledger. Returns this destination's unacknowledged records lost, by
        reason (``evicted_age``, ``evicted_size``). Segments with records in flight are left
        for the next pass, and so is the size bound while another process is evicting
        (``eviction_turn``).
        """
        lost: dict[str, int] = {}
        now = time.time()
        candidates: list[HeldSegment | Path] = [
            s for s in self._segments() if s.sealed and not s.outstanding
        ]
        candidates += _foreign_segments(self._folder)
        candidates.sort(key=lambda c: c.name)
        for candidate in list(candidates):
            age = _age_s(candidate, now)
            if age is not None and age > max_age_s:
                count = self._evict_any(candidate, "age")
                if isinstance(candidate, HeldSegment):
                    lost["evicted_age"] = lost.get("evicted_age", 0) + count
                candidates.remove(candidate)
        with self._folder.eviction_turn() as our_turn:
            total = _spool_bytes(self._folder.spool_root) if our_turn and candidates else 0
            for candidate in candidates:
                if total <= max_bytes:
                    break
                size = _size_of(candidate)
                count = self._evict_any(candidate, "size")
                if isinstance(candidate, HeldSegment):
                    lost["evicted_size"] = lost.get("evicted_size", 0) + count
                total -= size
        return {reason: count for reason, count in lost.items() if count}

    def _evict_any(self, candidate: HeldSegment | Path, bound: str) -> int:
        if isinstance(candidate, HeldSegment):
            return self._evict(candidate, bound)
        return _evict_foreign(candidate, bound, self._warn)

    def _evict(self, segment: HeldSegment, bound: str) -> int:
        remaining = max(0, segment.lines - segment.finished)
        segment.path.unlink(missing_ok=True)
        segment.ack_path.unlink(missing_ok=True)
        self._folder.release(segment)
        if remaining:
            self._warn.log(
                logging.WARNING, f"evict-{bound}",
                "spool over its %s bound: deleted %s with %d undelivered records",
                bound, segment.name, remaining,
            )  # fmt: skip
        return remaining

    def backlog(self) -> int:
        """Records held by this process and not yet acknowledged (read or not). O(segments)."""
        return sum(max(0, s.lines - s.finished) for s in self._segments())

    def live_segments(self) -> int:
        """Segments followed while their writers still hold them (writers alive)."""
        return sum(1 for s in self._segments() if s.live)

    def has_unread(self) -> bool:
        return any(self._size(s) > s.read_offset for s in self._segments())

    def release_all(self) -> None:
        """Let go of every segment this reader delivers (at close or handover) so that
        another deliverer may claim them; the writer's current segment stays held."""
        for segment in self._segments():
            if segment.sealed or segment.live:
                self._folder.release(segment)
            else:
                segment.outstanding = 0

    # -- internals ---------------------------------------------------------------------

    def _segments(self) -> list[HeldSegment]:
        """Held segments, oldest first (sorted again only when the set changed)."""
        with self._folder.lock:
            if self._sorted_version != self._folder.version:
                self._sorted = sorted(self._folder.held.values(), key=lambda s: s.name)
                self._sorted_version = self._folder.version
            return self._sorted

    def _size(self, segment: HeldSegment) -> int:
        try:
            return os.fstat(segment.lock_fd).st_size
        except OSError:
            return 0

    def _load_acks(self, segment: HeldSegment) -> None:
        segment.acked |= read_acks(segment.ack_path)

    def _read_segment(self, segment: HeldSegment, limit: int) -> Iterator[Entry]:
        """Yield up to ``limit`` records, reading the file ahead in chunks (one ``pread``
        serves many records)."""
        produced = 0
        while produced < limit:
            pos = segment.read_offset - segment.buffer_start
            newline = segment.buffer.find(b"\n", pos)
            if newline < 0:
                if not self._fill(segment, pos):
                    return
                continue
            offset = segment.read_offset
            line = segment.buffer[pos : newline + 1]
            segment.read_offset = segment.buffer_start + newline + 1
            if offset in segment.acked:
                continue
            try:
                payload = decode_line(line)
            except CorruptLineError as exc:
                self._quarantine(segment, offset, line, str(exc))
                segment.finished += 1
                continue
            segment.outstanding += 1
            produced += 1
            yield Entry(segment, offset, payload)

    def _fill(self, segment: HeldSegment, pos: int) -> bool:
        """Read more of the file after the unconsumed part of the buffer; False at the end."""
        rest = segment.buffer[pos:]
        segment.buffer, segment.buffer_start = rest, segment.read_offset
        size = self._size(segment)
        have = segment.buffer_start + len(rest)
        if have >= size:
            if rest and segment.sealed:  # a torn last line left by a crash
                if segment.read_offset not in segment.acked:
                    self._quarantine(segment, segment.read_offset, rest, "torn last line")
                segment.read_offset, segment.buffer, segment.buffer_start = size, b"", size
            elif rest:
                # A line still being written: read it afresh next time, never stitched to
                # what was there before (a failed write is cut off and written again).
                segment.buffer = b""
            return False
        if len(rest) > self._max_line_bytes:
            self._quarantine(segment, segment.read_offset, rest, "line longer than the limit")
            segment.read_offset, segment.buffer, segment.buffer_start = have, b"", have
            return True
        segment.buffer = rest + os.pread(_read_fd(segment), min(_CHUNK, size - have), have)
        return True

    def _quarantine(self, segment: HeldSegment, offset: int, data: bytes, reason: str) -> None:
        """Move a bad line aside (never deliver it, never stop on it) and count it."""
        self._warn.log(
            logging.WARNING, "corrupt",
            "spool record at %s:%d is unreadable (%s); moved to %s and counted as lost",
            segment.name, offset, reason, self._folder.corrupt_dir,
        )  # fmt: skip
        try:
            self._folder.corrupt_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            target = self._folder.corrupt_dir / f"{segment.name}.bad"
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            try:
                os.write(fd, b"# offset %d: %s\n" % (offset, reason.encode()))
                os.write(fd, data if data.endswith(b"\n") else data + b"\n")
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("could not keep the unreadable record aside: %s", exc)
        # Acknowledged so that no later reader counts it twice.
        _write_acks(segment, [offset])
        self._on_corrupt("corrupt")


def _segment_dirs(spool_root: Path) -> list[Path]:
    """Every ``segments`` folder in a spool folder: each destination's and the unbound one."""
    dirs = [spool_root / "segments"]
    try:
        with os.scandir(spool_root / DESTINATIONS_DIR) as entries:
            dirs += [Path(e.path) / "segments" for e in entries if e.is_dir()]
    except OSError:
        pass
    return dirs


def _spool_bytes(spool_root: Path) -> int:
    total = 0
    for segments_dir in _segment_dirs(spool_root):
        try:
            with os.scandir(segments_dir) as entries:
                for entry in entries:
                    if entry.name.endswith(SEGMENT_SUFFIX):
                        try:
                            total += entry.stat().st_size
                        except OSError:
                            continue
        except OSError:
            continue
    return total


def _foreign_segments(folder: SpoolFolder) -> list[Path]:
    """Segments of the spool folder's other destinations (candidates to evict, if unheld)."""
    own = folder.segments_dir
    found: list[Path] = []
    for segments_dir in _segment_dirs(folder.spool_root):
        if segments_dir == own:
            continue
        try:
            names = os.listdir(segments_dir)
        except OSError:
            continue
        found += [segments_dir / n for n in names if n.endswith(SEGMENT_SUFFIX)]
    return found


def _age_s(candidate: HeldSegment | Path, now: float) -> float | None:
    try:
        if isinstance(candidate, HeldSegment):
            return now - os.fstat(candidate.lock_fd).st_mtime
        return now - candidate.stat().st_mtime
    except OSError:
        return None


def _size_of(candidate: HeldSegment | Path) -> int:
    try:
        if isinstance(candidate, HeldSegment):
            return os.fstat(candidate.lock_fd).st_size
        return candidate.stat().st_size
    except OSError:
        return 0


def _evict_foreign(path: Path, bound: str, warn: RateLimitedLogger) -> int:
    """Delete another destination's segment if no process holds it; count its loss there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return 0  # its writer or deliverer is alive: theirs to bound
        if not path.exists():
            return 0
        ack_path = path.with_name(path.name + ACK_SUFFIX)
        remaining = len(_line_starts(fd, os.fstat(fd).st_size) - read_acks(ack_path))
        path.unlink(missing_ok=True)
        ack_path.unlink(missing_ok=True)
    finally:
        os.close(fd)
    if remaining:
        ledger = Ledger(path.parent.parent / "ledger.jsonl")
        ledger.add(f"lost:evicted_{bound}", remaining)
        with contextlib.suppress(OSError):
            ledger.persist()
        warn.log(
            logging.WARNING, f"evict-{bound}",
            "spool over its %s bound: deleted %s (a destination nobody delivers) "
            "with %d undelivered records", bound, path, remaining,
        )  # fmt: skip
    return remaining


def _read_fd(segment: HeldSegment) -> int:
    if segment.read_fd is None:
        segment.read_fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
    return segment.read_fd


def _write_acks(segment: HeldSegment, offsets: list[int]) -> None:
    """Append fixed-width acknowledgements in one write (each line stands alone if torn)."""
    if segment.ack_fd is None:
        segment.ack_fd = os.open(
            segment.ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE
        )
    data = b"".join(b"%016x\n" % offset for offset in offsets)
    written = 0
    while written < len(data):
        written += os.write(segment.ack_fd, data[written:])
    segment.acked.update(offsets)


def _line_starts(fd: int, size: int) -> set[int]:
    """Byte offsets at which the file's complete lines start."""
    starts: set[int] = set()
    position = 0
    line_start = 0
    while position < size:
        data = os.pread(fd, min(_CHUNK, size - position), position)
        if not data:
            break
        newline = data.find(b"\n")
        while newline >= 0:
            starts.add(line_start)
            line_start = position + newline + 1
            newline = data.find(b"\n", newline + 1)
        position += len(data)
    return starts
