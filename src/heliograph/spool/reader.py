"""Read records out of held segments, acknowledge them, delete segments that are done.

Acknowledgements are appended to ``<segment>.acked`` as fixed-width lines (16 hex digits of
the record's byte offset, then a newline), so a torn acknowledgement is recognisable and
ignored: the record is then sent again, and the receiver's request-id dedupe absorbs it. A
record is never acknowledged before its delivery outcome is final, so no crash can lose it.
A segment file is deleted only once every record in it is acknowledged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator

from heliograph._ratelimit import RateLimitedLogger
from heliograph.spool.folder import FILE_MODE, HeldSegment, SpoolFolder
from heliograph.spool.segment import (
    SEGMENT_SUFFIX,
    STAGING_SUFFIX,
    CorruptLineError,
    decode_line,
)

__all__ = ["Entry", "SpoolReader"]

log = logging.getLogger("heliograph.spool")

_ACK_LINE = 17  # 16 hex digits + "\n"
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
    ) -> None:
        self._folder = folder
        self._max_line_bytes = max_line_bytes
        self._on_corrupt = on_corrupt
        self._warn = RateLimitedLogger(log)

    def claim_orphans(self) -> int:
        """Hold every segment that no live process holds; return how many were claimed."""
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
        return claimed

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
        _write_ack(entry.segment, entry.offset)
        entry.segment.outstanding -= 1
        entry.segment.finished += 1

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
        """Delete held, sealed segments past the age or size bound, oldest first.

        Returns the unacknowledged records lost, by reason (``evicted_age``,
        ``evicted_size``). Segments with records in flight are left for the next pass, and
        so is the size bound while another process is evicting (``eviction_turn``).
        """
        lost: dict[str, int] = {}
        now = time.time()
        candidates = [s for s in self._segments() if s.sealed and not s.outstanding]
        for segment in list(candidates):
            try:
                age = now - os.fstat(segment.lock_fd).st_mtime
            except OSError:
                continue
            if age > max_age_s:
                lost["evicted_age"] = lost.get("evicted_age", 0) + self._evict(segment, "age")
                candidates.remove(segment)
        with self._folder.eviction_turn() as our_turn:
            total = _folder_bytes(self._folder) if our_turn and candidates else 0
            for segment in candidates:
                if total <= max_bytes:
                    break
                size = self._size(segment)
                lost["evicted_size"] = lost.get("evicted_size", 0) + self._evict(segment, "size")
                total -= size
        return {reason: count for reason, count in lost.items() if count}

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

    def has_unread(self) -> bool:
        return any(self._size(s) > s.read_offset for s in self._segments())

    def release_all(self) -> None:
        """Drop every held segment (at close) so that other processes may claim them."""
        self._folder.release_all()

    # -- internals ---------------------------------------------------------------------

    def _segments(self) -> list[HeldSegment]:
        with self._folder.lock:
            return sorted(self._folder.held.values(), key=lambda s: s.name)

    def _size(self, segment: HeldSegment) -> int:
        try:
            return os.fstat(segment.lock_fd).st_size
        except OSError:
            return 0

    def _load_acks(self, segment: HeldSegment) -> None:
        try:
            with open(segment.ack_path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return
        for line in data.split(b"\n"):
            if len(line) == _ACK_LINE - 1:
                try:
                    segment.acked.add(int(line, 16))
                except ValueError:
                    continue

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
        _write_ack(segment, offset)
        self._on_corrupt("corrupt")


def _folder_bytes(folder: SpoolFolder) -> int:
    total = 0
    try:
        with os.scandir(folder.segments_dir) as entries:
            for entry in entries:
                if entry.name.endswith(SEGMENT_SUFFIX):
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        continue
    except FileNotFoundError:
        return 0
    return total


def _read_fd(segment: HeldSegment) -> int:
    if segment.read_fd is None:
        segment.read_fd = os.open(segment.path, os.O_RDONLY | os.O_CLOEXEC)
    return segment.read_fd


def _write_ack(segment: HeldSegment, offset: int) -> None:
    if segment.ack_fd is None:
        segment.ack_fd = os.open(
            segment.ack_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE
        )
    os.write(segment.ack_fd, b"%016x\n" % offset)
    segment.acked.add(offset)


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
