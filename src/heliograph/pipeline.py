"""The composition root: capture → spool → delivery → transport, for one spool folder.

Only this module sees every stage. Capture hands it finished records (``submit``); it
encodes and appends them on the caller's thread, and starts the delivery worker lazily on
first use, so importing Heliograph or building a logger starts no thread and opens no
socket. It also owns the process lifecycle: a fork gives the child its own segment and
worker (``os.register_at_fork``), and interpreter exit runs one bounded flush.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from types import FrameType

from heliograph._ratelimit import RateLimitedLogger
from heliograph.config import Config
from heliograph.delivery.dispatcher import Dispatcher
from heliograph.delivery.outcome import Transport
from heliograph.delivery.report import DeliveryReport, DeliveryStats
from heliograph.errors import SpoolError
from heliograph.model.codec import OversizeRecordError, encode_record
from heliograph.model.record import Record
from heliograph.spool.deliverers import DeliveryLock, agent_alive
from heliograph.spool.destination import destination_of
from heliograph.spool.fallback import FallbackWriter
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.queue import SpoolQueue
from heliograph.spool.segment import encode_line
from heliograph.spool.status import spool_status
from heliograph.spool.writer import SpoolWriter

__all__ = ["Pipeline"]

log = logging.getLogger("heliograph")
_LIVE: weakref.WeakSet[Pipeline] = weakref.WeakSet()
_DELIVERER_CHECK_S = 1.0  # how often a process not delivering asks whether it should
_RESPAWN_S = 10.0  # the least time between two attempts to start an agent
_AGENT_IDLE_S = 30.0  # an agent started by a logger exits this long after its work is done


def build_transport(config: Config) -> Transport:
    # Imported here, on the delivery thread, so that a logger that never delivers
    # never loads the HTTP and TLS modules (nor a Kafka or SQS client).
    if config.transport == "queue":
        from heliograph.transports.producer import producer_transport

        return producer_transport(config, os.environ)
    from heliograph.transports.helicone_http import HeliconeHttpTransport

    return HeliconeHttpTransport(config)


class Pipeline:
    """Spool writer and delivery for one configuration and its destination. Thread-safe.

    Who delivers is decided lazily and again about once a second while this process is
    not delivering (``config.delivery``): a dispatcher thread here, or the destination's
    delivery agent, never both. A thread hands over when an agent starts; when the agent
    dies, the next record (or ``flush``/``close``) starts the thread again.
    """

    def __init__(self, config: Config) -> None:
        if config.transport == "queue":
            # Fail here, in the caller's hands, not later on a thread nobody watches.
            from heliograph.transports.producer import check_queue_settings

            check_queue_settings(os.environ)
        self.config = config
        self.stats = DeliveryStats()
        self.destination = destination_of(config)
        self._warn = RateLimitedLogger(log)
        self._setup()
        _LIVE.add(self)
        if config.handle_sigterm:
            _install_sigterm_handler()

    def _setup(self) -> None:
        self.folder = SpoolFolder(
            self.destination.folder(self.config.spool_dir),
            spool_root=self.config.spool_dir,
            on_created=self.destination.write_descriptor,
        )
        self.ledger = Ledger(self.folder.ledger_path)
        self.writer = SpoolWriter(
            self.folder,
            self.config.max_segment_bytes,
            self.config.fsync,
            keep_sealed=False,  # True while a dispatcher of this process delivers
            on_rotate=self._segment_rotated,
        )
        self.spool = FallbackWriter(self.writer, self.config.memory_buffer_bytes, self.count_lost)
        self._lock = threading.Lock()
        self._dispatcher: Dispatcher | None = None
        self._delivery_lock = DeliveryLock(self.folder)
        self._folder_ready = False
        self._next_check = 0.0
        self._agent_started_at: float | None = None
        self._closed = False

    def submit(self, record: Record) -> bool:
        """Spool ``record``; never raises. Returns False (and counts why) if it was lost."""
        if self._closed:
            return self._drop("closed", "logger is closed; record %s was not spooled", record)
        try:
            line = encode_line(encode_record(record, self.config.max_record_bytes))
        except OversizeRecordError as exc:
            return self._drop("oversize", "record %s was not spooled: %s", record, exc)
        except Exception as exc:
            return self._drop("unserialisable", "record %s cannot be encoded: %r", record, exc)
        if not self.spool.append(line):
            return False  # the memory buffer is full too: counted and logged there
        self.stats.accept()
        if self.config.deliver:
            dispatcher = self._dispatcher
            if dispatcher is not None:
                dispatcher.wake()
            elif time.monotonic() >= self._next_check:
                self._arrange_delivery()
        return True

    def start(self) -> None:
        """Start delivering now (claiming orphaned segments) instead of on first record."""
        self._arrange_delivery()

    @property
    def delivering_here(self) -> bool:
        """Whether a dispatcher thread of this process delivers the destination now."""
        return self._dispatcher is not None

    def flush(self, timeout: float) -> DeliveryReport:
        """Deliver what is spooled for this destination, for up to ``timeout`` s.

        When the agent delivers, wait for it to empty the destination's spool instead.
        """
        if self._closed or not self.config.deliver:
            return self.stats.report(pending=self._pending_on_disk())
        self.spool.retry()
        dispatcher = self._arrange_delivery()
        if dispatcher is None:
            return self._wait_for_agent(timeout)
        report = dispatcher.flush(timeout)
        if not dispatcher.running:  # it could not start, or stopped: count what is on disk
            return self.stats.report(pending=self._pending_on_disk())
        return report

    def close(
        self, timeout: float, stop_on_failure: bool = False, count_pending: bool = True
    ) -> DeliveryReport:
        """Seal the spool, flush for up to ``timeout`` s, stop. Later calls are no-ops.

        ``stop_on_failure`` (used at exit) ends the flush at the first retryable failure.
        With an agent delivering, this only closes the segment: the agent takes it from
        there. ``count_pending=False`` (the exit hook) skips reading the spool to count.
        """
        with self._lock:
            if self._closed:
                return self.stats.report(pending=0)
            self._closed = True
            dispatcher = self._dispatcher
        self.spool.retry()
        self.writer.seal()
        self.spool.discard()
        if dispatcher is None and self.config.deliver and self.stats.accepted:
            dispatcher = self._arrange_delivery(closing=True)
        report = None
        if dispatcher is not None:
            report = dispatcher.close(timeout, stop_on_failure)
        self.folder.release_all()
        self._delivery_lock.release()
        try:
            self.ledger.persist()  # the dispatcher persists as it goes; this catches the rest
        except OSError as exc:
            log.warning("cannot update the spool ledger at close: %s", exc)
        _LIVE.discard(self)
        delivered_here = dispatcher is not None and dispatcher.started
        if delivered_here and report is not None and (report.pending == 0 or not count_pending):
            return report
        # Delivery never ran here (an agent's, or it could not start): count what waits.
        return self.stats.report(pending=self._pending_on_disk() if count_pending else 0)

    # -- who delivers --------------------------------------------------------------------

    def _arrange_delivery(self, closing: bool = False) -> Dispatcher | None:
        """This process's dispatcher, started if it should deliver; else ``None``.

        Runs at most about once a second from ``submit`` (a clock read otherwise), and on
        ``start``, ``flush`` and ``close``. Never raises: a spool folder that cannot be
        made is logged, and records wait in the memory buffer meanwhile.
        """
        self._next_check = time.monotonic() + _DELIVERER_CHECK_S
        dispatcher = self._dispatcher
        if dispatcher is not None:
            return dispatcher
        try:
            if not self._folder_ready:
                self.folder.ensure()
                self._folder_ready = True
            mode = self.config.delivery
            if mode == "agent" or (mode == "auto" and agent_alive(self.folder)):
                if mode == "agent":
                    self._ensure_agent()
                dispatcher = None
            else:
                dispatcher = self._start_dispatcher(closing)
            if dispatcher is None:
                self._housekeeping()  # no thread here runs it: the memory buffer, fsyncs
            return dispatcher
        except (SpoolError, OSError) as exc:
            self._warn.log(logging.ERROR, "no-spool", "cannot start delivery: %s", exc)
            return None

    def _start_dispatcher(self, closing: bool) -> Dispatcher | None:
        with self._lock:
            if self._dispatcher is not None:
                return self._dispatcher
            if self._closed and not closing:
                return None
            if not self._delivery_lock.try_share():
                return None  # the agent holds the destination
            self.writer.set_keep_sealed(True)
            config = self.config
            self._dispatcher = Dispatcher(
                SpoolQueue(self.folder, self.ledger, config.max_record_bytes * 2, self.count_lost),
                lambda: build_transport(config),
                config,
                self.stats,
                housekeeping=self._housekeeping,
                hand_over=self._agent_takes_over,
                on_stopped=self._dispatcher_stopped,
            )
            self._dispatcher.start()
            return self._dispatcher

    def _agent_takes_over(self) -> bool:
        return self.config.delivery == "auto" and not self._closed and agent_alive(self.folder)

    def _dispatcher_stopped(self) -> None:
        """On the dispatcher's thread, once it has let go of the spool."""
        with self._lock:
            if self._closed:
                return
            self.writer.set_keep_sealed(False)
            self._delivery_lock.release()
            self._dispatcher = None
            # Not at once: a dispatcher that could not start would be retried on every log.
            self._next_check = time.monotonic() + _DELIVERER_CHECK_S

    def _ensure_agent(self) -> None:
        """Start a detached delivery agent for this destination unless one runs (or one
        this process started a moment ago is still starting up)."""
        if agent_alive(self.folder):
            return
        now = time.monotonic()
        if self._agent_started_at is not None and now - self._agent_started_at < _RESPAWN_S:
            return
        self._agent_started_at = now
        start_agent(self.config, self.folder.root)

    def _wait_for_agent(self, timeout: float) -> DeliveryReport:
        """Wait until the destination's spool is empty (another deliverer empties it)."""
        deadline = time.monotonic() + max(0.0, timeout)
        with contextlib.suppress(OSError):  # ask the agent to retry now, backoff waived
            self.folder.flush_request_path.touch(mode=0o600)
        pause = 0.02
        while True:
            pending = self._pending_on_disk()
            if pending == 0 or time.monotonic() >= deadline:
                return self.stats.report(pending=pending)
            if self._arrange_delivery() is not None:  # the agent went away: deliver here
                return self.flush(max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            pause = min(0.5, pause * 2)  # counting reads the destination's segments

    def _pending_on_disk(self) -> int:
        return spool_status(self.folder.root).pending + self.spool.buffered

    def _segment_rotated(self) -> None:
        # A full segment may push the spool past its bound: check now, not in a second.
        dispatcher = self._dispatcher
        if dispatcher is not None:
            dispatcher.request_housekeeping()

    def _housekeeping(self) -> None:
        """Run by the dispatcher about once a second, off the caller's thread."""
        self.spool.retry()
        if self.config.fsync == "interval":
            self.writer.sync()

    def count_lost(self, reason: str, count: int = 1) -> None:
        """Count lost records in this process's report and in the on-disk ledger."""
        self.stats.drop(reason, count)
        self.ledger.add(f"lost:{reason}", count)

    def _drop(self, reason: str, message: str, record: Record, *args: object) -> bool:
        self.count_lost(reason)
        self._warn.log(logging.WARNING, reason, message, record.request_id, *args)
        return False

    def flush_on_signal(self) -> None:
        """One bounded attempt from a signal handler: no locks the interrupted code may hold."""
        dispatcher = self._dispatcher
        if dispatcher is not None and not self._closed:
            dispatcher.flush(self.config.exit_timeout_s, stop_on_failure=True)

    def _after_fork_in_child(self) -> None:
        # The parent's threads do not exist here and its locks may be held forever:
        # rebuild everything; the parent's records stay the parent's (the writer has let go
        # of the parent's segment already, in its own at-fork hook).
        self._delivery_lock.after_fork_in_child()
        self.stats = DeliveryStats()
        self._setup()


def start_agent(config: Config, log_folder: Path) -> bool:
    """Start ``heliograph agent`` detached from this process, configured like ``config``.

    A shell starts it in the background and exits at once, so the agent is nobody's child
    (no zombie, no process handle to keep). The key reaches it through its environment
    only. Its output goes to ``agent.log`` in the destination folder. It exits once the
    spool is empty and no writer is alive.
    """
    env = {**os.environ, **config.delivery_env()}
    command = [sys.executable, "-m", "heliograph", "agent", "--idle-exit", str(_AGENT_IDLE_S)]
    try:
        fd = os.open(
            log_folder / "agent.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600
        )
    except OSError:
        fd = subprocess.DEVNULL
    try:
        subprocess.run(
            ["/bin/sh", "-c", '"$@" &', "heliograph-agent", *command],
            env=env, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
            start_new_session=True, close_fds=True, timeout=10, check=True,
        )  # fmt: skip
        return True
    except (OSError, subprocess.SubprocessError) as exc:
        log.error("cannot start the delivery agent (%s); records stay in the spool", exc)
        return False
    finally:
        if fd != subprocess.DEVNULL:
            os.close(fd)


def _after_fork_in_child() -> None:
    for pipeline in list(_LIVE):
        pipeline._after_fork_in_child()
    # A forked child (a pool worker, a prefork server's worker) dies of SIGTERM at once, as
    # it would without Heliograph: its parent owns its lifecycle (multiprocessing's
    # Pool.terminate was seen to hang on a worker that kept the inherited handler), and
    # what it logged is in the spool already, for the next deliverer.
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _close_all_at_exit() -> None:
    for pipeline in list(_LIVE):
        try:
            pipeline.close(
                pipeline.config.exit_timeout_s, stop_on_failure=True, count_pending=False
            )
        except Exception:
            log.exception("error while flushing at exit; records stay in the spool")


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Python's default SIGTERM skips atexit: flush once, then die of SIGTERM as before.
    for pipeline in list(_LIVE):
        try:
            pipeline.flush_on_signal()
        except Exception:
            log.exception("error while flushing on SIGTERM; records stay in the spool")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm_handler() -> None:
    """Only where it changes nothing else: the main thread, and no handler of the program's."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)
