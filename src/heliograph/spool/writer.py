"""Append spool lines on the caller's thread: one ``os.write``, no network, no per-call fsync.

Each process writes only to segments it created and holds, so lines from different
processes never interleave and no lock is shared between processes on the hot path.
A line written with ``os.write`` is in the kernel's page cache when ``append`` returns, so
it survives the process being killed; ``fsync`` decides what survives a power failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import weakref
from collections.abc import Callable

from heliograph.config import FsyncPolicy
from heliograph.spool.folder import FILE_MODE, HeldSegment, SpoolFolder
from heliograph.spool.segment import STAGING_SUFFIX, new_segment_name

__all__ = ["SpoolWriter"]


class SpoolWriter:
    """Appends lines to this process's current segment and rotates it by size.

    ``keep_sealed`` says whether a full segment stays held for this process's own delivery
    thread (True) or is released at once so that another deliverer may claim it (False);
    it changes when delivery moves between this process and the agent.
    """

    def __init__(
        self,
        folder: SpoolFolder,
        max_segment_bytes: int,
        fsync: FsyncPolicy = "never",
        keep_sealed: bool = True,
        on_rotate: Callable[[], None] = lambda: None,
    ) -> None:
        self._folder = folder
        self._max_segment_bytes = max_segment_bytes
        self._fsync = fsync
        self.keep_sealed = keep_sealed
        self._on_rotate = on_rotate
        self._lock = threading.Lock()
        self._current: HeldSegment | None = None
        self._size = 0
        self._dirty = False
        self._pid = os.getpid()
        _WRITERS.add(self)

    def append(self, line: bytes) -> None:
        """Write one whole line; raise ``OSError`` (e.g. ENOSPC) with nothing half-written.

        In a forked child every writer has already let go of its parent's segment (an
        at-fork hook), so the hot path asks no ``getpid`` of the kernel.
        """
        with self._lock:
            if self._current is None or (
                self._size > 0 and self._size + len(line) > self._max_segment_bytes
            ):
                self._rotate()
            segment = self._current
            assert segment is not None
            fd = segment.lock_fd
            written = 0
            try:
                while written < len(line):
                    written += os.write(fd, line[written:])
            except OSError:
                # Cut the torn bytes so the next line starts on a line boundary.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._size)
                raise
            self._size += written
            segment.lines += 1
            if self._fsync == "always":
                os.fsync(fd)
            else:
                self._dirty = True

    def sync(self) -> None:
        """fsync the current segment if it has unsynced lines (the "interval" policy)."""
        with self._lock:
            if self._current is not None and self._dirty and self._pid == os.getpid():
                os.fsync(self._current.lock_fd)
                self._dirty = False

    def set_keep_sealed(self, keep: bool) -> None:
        """Keep sealed segments for this process's own delivery, or let them go at once.

        Letting go also releases the sealed segments held so far: the deliverer that
        takes over claims them.
        """
        with self._lock:
            self.keep_sealed = keep
            if not keep:
                with self._folder.lock:
                    sealed = [s for s in self._folder.held.values() if s.sealed]
                for segment in sealed:
                    self._folder.release(segment)

    def seal(self) -> None:
        """Stop writing to the current segment (at close); the next append starts a new one."""
        with self._lock:
            if self._pid == os.getpid():
                self._seal_current()

    def _rotate(self) -> None:
        self._seal_current()
        self._folder.ensure()
        name = new_segment_name()
        path = self._folder.segments_dir / name
        # Created under a name readers ignore, locked, then renamed: a reader must never see
        # a live segment unlocked, or it would claim it as an orphan (empty, so deletable)
        # in the instant between our open and our lock, and our writes would then land in
        # an unlinked file. The lock belongs to the open file, so it survives the rename.
        staging = path.with_name(name + STAGING_SUFFIX)
        fd = os.open(
            staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, FILE_MODE
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(staging, path)
        except OSError:
            os.close(fd)
            raise
        segment = HeldSegment(name=name, path=path, lock_fd=fd, sealed=False)
        self._folder.hold(segment)
        self._current = segment
        self._size = 0
        self._on_rotate()

    def _seal_current(self) -> None:
        segment = self._current
        if segment is None:
            return
        if self._dirty and self._fsync != "never":
            os.fsync(segment.lock_fd)
        self._dirty = False
        self._current = None
        if self._size == 0:
            # Never used: nothing to deliver.
            segment.path.unlink(missing_ok=True)
            self._folder.release(segment)
        elif self.keep_sealed:
            segment.sealed = True
        else:
            self._folder.release(segment)

    def after_fork_in_child(self) -> None:
        """Called in a forked child: a fresh lock (the parent's may have been held by a
        thread that does not exist here) and no segment (the parent's stays the parent's)."""
        self._lock = threading.Lock()
        self._forget_parent_segment()

    def _forget_parent_segment(self) -> None:
        self._folder.forget_after_fork()
        self._current = None
        self._size = 0
        self._dirty = False
        self._pid = os.getpid()


_WRITERS: weakref.WeakSet[SpoolWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
