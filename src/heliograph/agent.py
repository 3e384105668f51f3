"""``heliograph agent``: one destination's delivery, in a process of its own.

Apps only append to the spool; the agent delivers what they append as they append it,
through the same stack as in-process delivery (delivery/dispatcher.py). It holds the
destination's ``agent.lock`` for its life (so a second agent exits at once, naming the
first) and its ``delivery.lock`` exclusively while it delivers (so no app thread sends the
same lines: apps in ``auto`` mode hand over within about a second and wait). Because it
outlives the apps, records an app left at exit are delivered once the endpoint is back,
without the app ever running again.

It writes ``agent.json`` beside the spool about once a second (pid, state, counts, last
error), which ``heliograph status`` shows, and logs progress and errors to stderr.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from types import FrameType

import orjson

from heliograph.config import Config
from heliograph.delivery.dispatcher import Dispatcher
from heliograph.delivery.report import DeliveryStats
from heliograph.pipeline import build_transport
from heliograph.spool.deliverers import AgentLock, AgentState, DeliveryLock, agent_pid
from heliograph.spool.destination import Destination, destination_of
from heliograph.spool.folder import SpoolFolder, write_private
from heliograph.spool.ledger import Ledger
from heliograph.spool.queue import SpoolQueue

__all__ = ["DeliveryAgent"]

log = logging.getLogger("heliograph.agent")

_TICK_S = 0.5
_PROGRESS_S = 10.0
_POLL_S = 0.1  # how soon the agent sees lines apps append
_DISCOVER_S = 0.25  # how soon it sees a segment an app has just created


class DeliveryAgent:
    """Delivers one destination until stopped, or idle for ``idle_exit_s``."""

    def __init__(
        self, config: Config, idle_exit_s: float | None = None, stop_timeout_s: float = 10.0
    ) -> None:
        self.config = config
        self.destination: Destination = destination_of(config)
        self.folder = SpoolFolder(
            self.destination.folder(config.spool_dir),
            spool_root=config.spool_dir,
            on_created=self.destination.write_descriptor,
        )
        self.stats = DeliveryStats()
        self._idle_exit_s = idle_exit_s
        self._stop_timeout_s = stop_timeout_s
        self._stop = threading.Event()
        self._lock_identity = (0, 0)
        self._started_at = time.time()
        self._state = "waiting"

    def stop(self) -> None:
        """Take no new work, finish what is in flight, and return from ``run``."""
        self._stop.set()

    def run(self) -> int:
        """Deliver until stopped; 0 when stopped cleanly or another agent already runs,
        1 when delivery could not start or stopped on its own (so a supervisor restarts it)."""
        self.folder.ensure()
        agent_lock = AgentLock(self.folder)
        if not agent_lock.acquire():
            pid = agent_pid(self.folder)
            log.warning(
                "an agent (pid %s) already delivers %s; exiting",
                pid or "unknown", self.destination.describe(),
            )  # fmt: skip
            return 0
        held = self.folder.agent_lock_path.stat()
        self._lock_identity = (held.st_dev, held.st_ino)
        delivery_lock = DeliveryLock(self.folder)
        try:
            log.info(
                "agent %d delivering %s from %s",
                os.getpid(), self.destination.describe(), self.folder.root,
            )  # fmt: skip
            if not self._wait_for(delivery_lock):
                return 0
            return self._deliver()
        finally:
            delivery_lock.release()
            self._state = "stopped"
            self._write_state(0)
            agent_lock.release()

    def _wait_for(self, delivery_lock: DeliveryLock) -> bool:
        """Wait until app threads have handed over (they notice the agent within ~1 s)."""
        told = False
        while not delivery_lock.try_exclusive():
            if not told:
                log.info("waiting for in-process deliverers to hand over")
                told = True
            self._write_state(-1)
            if self._stop.wait(_POLL_S):
                return False
        return True

    def _deliver(self) -> int:
        config = self.config
        ledger = Ledger(self.folder.ledger_path)

        def on_lost(reason: str, count: int = 1) -> None:
            self.stats.drop(reason, count)
            ledger.add(f"lost:{reason}", count)

        queue = SpoolQueue(
            self.folder, ledger, config.max_record_bytes * 2, on_lost, read_live=True
        )
        dispatcher = Dispatcher(
            queue, lambda: build_transport(config), config, self.stats,
            poll_s=_POLL_S, housekeeping_s=_DISCOVER_S,
        )  # fmt: skip
        dispatcher.start()
        dispatcher.request_housekeeping()
        self._state = "delivering"
        idle_since: float | None = None
        next_progress = time.monotonic() + _PROGRESS_S
        reported = -1
        flush_requested = self._flush_request_mtime()
        while not self._stop.wait(_TICK_S):
            requested = self._flush_request_mtime()
            if requested != flush_requested:
                flush_requested = requested
                dispatcher.retry_now()
            if not dispatcher.running:
                log.error("delivery stopped unexpectedly; exiting so a new agent can start")
                return 1
            if not self._folder_is_ours():
                log.warning("the destination folder %s was removed: exiting", self.folder.root)
                break
            now = time.monotonic()
            self._write_state(dispatcher.backlog)
            if now >= next_progress and self.stats.delivered != reported:
                reported = self.stats.delivered
                next_progress = now + _PROGRESS_S
                log.info(
                    "delivered %d, dead-lettered %d, retries %d, pending %d",
                    self.stats.delivered, self.stats.dead_lettered, self.stats.retries,
                    dispatcher.backlog,
                )  # fmt: skip
            idle = dispatcher.backlog == 0 and queue.live_writers() == 0
            idle_since = (idle_since or now) if idle else None
            if (
                self._idle_exit_s is not None
                and idle_since is not None
                and now - idle_since >= self._idle_exit_s
            ):
                log.info("spool empty and no writer alive for %.0f s: exiting", now - idle_since)
                break
        self._state = "stopping"
        self._write_state(dispatcher.backlog)
        # Stopped (SIGTERM, SIGINT): no new work, only the answers to what is in flight.
        # Idle: nothing is in flight, so stopping is immediate either way.
        report = dispatcher.stop(self._stop_timeout_s)
        log.info(
            "agent stopped: delivered %d, dead-lettered %d, pending %d",
            report.delivered, report.dead_lettered, report.pending,
        )  # fmt: skip
        return 0

    def _folder_is_ours(self) -> bool:
        """Whether the lock file we hold is still the destination's (not deleted with its
        folder): an agent must not deliver, or wait, for a spool that is gone."""
        try:
            on_disk = self.folder.agent_lock_path.stat()
        except OSError:
            return False
        return (on_disk.st_dev, on_disk.st_ino) == self._lock_identity

    def _flush_request_mtime(self) -> int:
        try:
            return self.folder.flush_request_path.stat().st_mtime_ns
        except OSError:
            return 0

    def _write_state(self, pending: int) -> None:
        state = AgentState(
            pid=os.getpid(),
            state=self._state,
            destination=self.destination.describe(),
            started_at=self._started_at,
            updated_at=time.time(),
            delivered=self.stats.delivered,
            dead_lettered=self.stats.dead_lettered,
            retries=self.stats.retries,
            pending=pending,
        )
        try:
            write_private(self.folder.agent_state_path, orjson.dumps(dataclasses.asdict(state)))
        except OSError as exc:
            log.debug("cannot write %s: %s", self.folder.agent_state_path, exc)

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the agent cleanly (from the main thread only)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("received %s: finishing what is in flight", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
