"""Who delivers a destination: one deliverer's view of the spool at a time.

Two locks in each destination folder, both ``flock`` (the kernel drops them when their
holder dies, even by SIGKILL, so nothing is ever stranded behind a dead process):

- ``delivery.lock``: in-process delivery threads hold it shared, each delivering the
  segments its own process holds; the delivery agent holds it exclusively, because it
  reads every segment, live ones included. So the agent never reads a line an app's
  thread may be sending, and an app's thread never starts while the agent delivers.
- ``agent.lock``: held by the one running agent for its lifetime, with its pid inside.
  Apps in ``auto`` mode probe it about once a second and hand over while it is held.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import time

import orjson

from heliograph.spool.folder import FILE_MODE, SpoolFolder

__all__ = [
    "AgentLock",
    "AgentState",
    "DeliveryLock",
    "agent_alive",
    "agent_pid",
    "read_agent_state",
]


def _try_lock(path: os.PathLike[str] | str, operation: int) -> int | None:
    """An open descriptor holding ``operation`` on ``path``, or ``None`` if taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class DeliveryLock:
    """This process's hold on a destination's ``delivery.lock``."""

    def __init__(self, folder: SpoolFolder) -> None:
        self._path = folder.delivery_lock_path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_share(self) -> bool:
        """Deliver beside other in-process deliverers; False while the agent delivers."""
        if self._fd is None:
            self._fd = _try_lock(self._path, fcntl.LOCK_SH)
        return self._fd is not None

    def try_exclusive(self) -> bool:
        """Deliver alone; False while anyone else delivers."""
        if self._fd is None:
            self._fd = _try_lock(self._path, fcntl.LOCK_EX)
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def after_fork_in_child(self) -> None:
        """The lock belongs to the parent's open file: forget it without unlocking."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # a flock is released only when its last descriptor closes


def agent_alive(folder: SpoolFolder) -> bool:
    """Whether a delivery agent holds this destination (cheap: one open and one flock)."""
    try:
        fd = os.open(folder.agent_lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops our probe's shared lock
    return False


def agent_pid(folder: SpoolFolder) -> int | None:
    """The pid the running agent wrote into its lock file, if one runs."""
    if not agent_alive(folder):
        return None
    try:
        return int(folder.agent_lock_path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


class AgentLock:
    """The one-agent-per-destination lock, held for the agent's lifetime."""

    def __init__(self, folder: SpoolFolder) -> None:
        self._path = folder.agent_lock_path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Become the destination's agent; False if another agent already is."""
        for _ in range(20):  # an app's liveness probe holds the lock shared for microseconds
            fd = _try_lock(self._path, fcntl.LOCK_EX)
            if fd is not None:
                break
            time.sleep(0.01)
        else:
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)


@dataclasses.dataclass(frozen=True)
class AgentState:
    """What ``agent.json`` says about the destination's agent."""

    pid: int
    state: str  # waiting (for app threads to hand over) | delivering | stopping | stopped
    destination: str
    started_at: float
    updated_at: float
    delivered: int
    dead_lettered: int
    retries: int
    pending: int


def read_agent_state(folder: SpoolFolder) -> AgentState | None:
    try:
        data = orjson.loads(folder.agent_state_path.read_bytes())
        return AgentState(**{f.name: data[f.name] for f in dataclasses.fields(AgentState)})
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
