"""The spool folder and the segments this process holds.

A process *holds* a segment while it holds an exclusive ``flock`` on it: the writer from
the moment it creates the file, a reader from the moment it claims an orphan. The kernel
drops the lock when the holder dies (even by SIGKILL), so a dead process's segments
become claimable by the next process that looks, and two live processes never deliver
the same segment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from heliograph.errors import SpoolError
from heliograph.spool.segment import ACK_SUFFIX

__all__ = ["HeldSegment", "SpoolFolder", "write_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once (0600): readers see the old file or the new."""
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(staging, path)


@dataclasses.dataclass(eq=False)
class HeldSegment:
    """A segment this process holds, with the reader's progress through it."""

    name: str
    path: Path
    lock_fd: int
    sealed: bool
    lines: int = 0  # complete lines in the file: counted by the writer, or once at claim
    finished: int = 0  # lines acknowledged (delivered, dead-lettered) or quarantined
    read_offset: int = 0
    buffer: bytes = b""  # read-ahead: file bytes from buffer_start on
    buffer_start: int = 0
    outstanding: int = 0  # records handed to delivery, not yet acknowledged
    acked: set[int] = dataclasses.field(default_factory=set)
    read_fd: int | None = None
    ack_fd: int | None = None
    # Live: read while its writer still holds it (the delivery agent's view). ``lock_fd``
    # is then an unlocked descriptor, and ``scanned`` is how far ``lines`` was counted.
    live: bool = False
    scanned: int = 0

    @property
    def ack_path(self) -> Path:
        return self.path.with_name(self.name + ACK_SUFFIX)


class SpoolFolder:
    """Paths inside the spool folder and the table of segments held by this process."""

    def __init__(
        self,
        root: Path,
        spool_root: Path | None = None,
        on_created: Callable[[Path], None] | None = None,
    ) -> None:
        """``root`` is one destination's folder; ``spool_root`` the spool folder holding all
        destinations (one size bound, one eviction turn). They are the same for a folder
        used on its own. ``on_created(root)`` runs once, after ``ensure`` first succeeds
        (to describe the destination beside its records)."""
        self._on_created = on_created
        self.root = Path(root)
        self.spool_root = self.root if spool_root is None else Path(spool_root)
        self.segments_dir = self.root / "segments"
        self.dead_letters_path = self.root / "dead-letters.jsonl"
        self.corrupt_dir = self.root / "corrupt"
        self.ledger_path = self.root / "ledger.jsonl"
        self.eviction_lock_path = self.spool_root / "eviction.lock"
        # Who delivers this destination: in-process workers share this lock, the delivery
        # agent holds it alone (delivery/deliverer.py).
        self.delivery_lock_path = self.root / "delivery.lock"
        self.agent_lock_path = self.root / "agent.lock"
        self.agent_state_path = self.root / "agent.json"
        # Touched by ``flush`` in another process: the agent then retries at once.
        self.flush_request_path = self.root / "flush.request"
        self.lock = threading.Lock()
        self.held: dict[str, HeldSegment] = {}
        self.version = 0  # changes whenever ``held`` does, so readers may cache its order
        self._pid = os.getpid()

    def ensure(self) -> None:
        """Create the folders (0700); raise ``SpoolError`` saying why if that fails."""
        folders = [self.spool_root]
        if self.root != self.spool_root:
            folders += [self.root.parent, self.root]
        try:
            for folder in (*folders, self.segments_dir, self.corrupt_dir):
                folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            if self._on_created is not None:
                self._on_created(self.root)
                self._on_created = None
        except OSError as exc:
            raise SpoolError(
                f"cannot create spool folder {self.root}: {exc.strerror}; "
                "set HELIOGRAPH_SPOOL_DIR to a writable folder"
            ) from exc

    def hold(self, segment: HeldSegment) -> None:
        with self.lock:
            self.held[segment.name] = segment
            self.version += 1

    def release(self, segment: HeldSegment) -> None:
        """Forget a segment and close its descriptors, which drops the lock. Idempotent.

        A descriptor is closed exactly once and its number forgotten at once: closing a
        stale number a second time would close whatever file reused it (the writer's new
        segment, say), and writes would then vanish without an error.
        """
        with self.lock:
            self.held.pop(segment.name, None)
            self.version += 1
            descriptors = (segment.read_fd, segment.ack_fd, segment.lock_fd)
            segment.read_fd = segment.ack_fd = None
            segment.lock_fd = -1
        for fd in descriptors:
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def release_all(self) -> None:
        with self.lock:
            held = list(self.held.values())
        for segment in held:
            self.release(segment)

    @contextlib.contextmanager
    def eviction_turn(self) -> Iterator[bool]:
        """Take the folder's eviction turn if no other process has it; yields whether we did.

        Each process measures the whole folder against the size bound but can delete only
        the segments it holds. Two processes measuring at once would each delete enough to
        meet the bound alone. Taking turns, the second one measures after the first has
        deleted; a process that finds the turn taken skips its pass and never waits.
        """
        try:
            fd = os.open(self.eviction_lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError:
            yield True  # no lock file (read-only root, say): evict alone, as before
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # drops the lock

    def try_claim(self, name: str) -> HeldSegment | None:
        """Hold a segment no live process holds, or return ``None``."""
        path = self.segments_dir / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        if not path.exists():  # deleted by its holder between our open and our lock
            os.close(fd)
            return None
        segment = HeldSegment(name=name, path=path, lock_fd=fd, sealed=True)
        self.hold(segment)
        return segment

    def watch(self, name: str) -> HeldSegment | None:
        """Follow a segment a live writer holds, without its lock (to read it as it grows)."""
        path = self.segments_dir / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        segment = HeldSegment(name=name, path=path, lock_fd=fd, sealed=False, live=True)
        self.hold(segment)
        return segment

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's table without unlocking the parent's files.

        The child shares the parent's open file descriptions, and ``flock`` belongs to
        those, so closing our copies is safe while unlocking would release the parent's
        lock. The child then creates and claims segments of its own.
        """
        with self.lock:
            inherited = list(self.held.values())
            self.held.clear()
            self.version += 1
        for segment in inherited:
            for fd in (segment.read_fd, segment.ack_fd, segment.lock_fd):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        self.lock = threading.Lock()
        self._pid = os.getpid()
