"""The composition root: capture → spool → delivery → transport, for one spool folder.

Only this module sees every stage. Capture hands it finished records (``submit``); it
encodes and appends them on the caller's thread, and starts the delivery worker lazily on
first use, so importing Heliograph or building a logger starts no thread and opens no
socket. It also owns the process lifecycle: a fork gives the child its own segment and
worker (``os.register_at_fork``), and interpreter exit runs one bounded flush.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from types import FrameType

from heliograph._ratelimit import RateLimitedLogger
from heliograph.config import Config
from heliograph.delivery.outcome import Transport
from heliograph.delivery.report import DeliveryReport, DeliveryStats
from heliograph.delivery.worker import DeliveryWorker
from heliograph.errors import SpoolError
from heliograph.model.codec import OversizeRecordError, encode_record
from heliograph.model.record import Record
from heliograph.spool.fallback import FallbackWriter
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.reader import SpoolReader
from heliograph.spool.segment import encode_line
from heliograph.spool.status import spool_status
from heliograph.spool.writer import SpoolWriter

__all__ = ["Pipeline"]

log = logging.getLogger("heliograph")
_LIVE: weakref.WeakSet[Pipeline] = weakref.WeakSet()


def _transport(config: Config) -> Transport:
    # Imported here, on the delivery thread, so that a logger that never delivers
    # never loads the HTTP and TLS modules (nor a Kafka or SQS client).
    if config.transport == "queue":
        from heliograph.transports.producer import producer_transport

        return producer_transport(config, os.environ)
    from heliograph.transports.helicone_http import HeliconeHttpTransport

    return HeliconeHttpTransport(config)


class Pipeline:
    """Spool writer and delivery worker for one configuration. Thread-safe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.stats = DeliveryStats()
        self._warn = RateLimitedLogger(log)
        self._setup()
        _LIVE.add(self)
        if config.handle_sigterm:
            _install_sigterm_handler()

    def _setup(self) -> None:
        self.folder = SpoolFolder(self.config.spool_dir)
        self.ledger = Ledger(self.folder.ledger_path)
        self.writer = SpoolWriter(
            self.folder,
            self.config.max_segment_bytes,
            self.config.fsync,
            keep_sealed=self.config.deliver,
            on_rotate=self._segment_rotated,
        )
        self.spool = FallbackWriter(self.writer, self.config.memory_buffer_bytes, self.count_lost)
        self._lock = threading.Lock()
        self._worker: DeliveryWorker | None = None
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
        self.stats.count("accepted")
        if self.config.deliver:
            worker = self._started_worker()
            if worker is not None:
                worker.wake()
        return True

    def start(self) -> None:
        """Start delivering now (claiming orphaned segments) instead of on first record."""
        self._ensure_worker()

    def flush(self, timeout: float) -> DeliveryReport:
        """Deliver what this process holds and any orphaned segments, for up to ``timeout`` s."""
        if self._closed:
            return self.stats.report(pending=spool_status(self.config.spool_dir).pending)
        worker = self._started_worker()
        if worker is None:
            return self.stats.report(pending=self.spool.buffered)
        return worker.flush(timeout)

    def close(self, timeout: float, stop_on_failure: bool = False) -> DeliveryReport:
        """Seal the spool, flush for up to ``timeout`` s, stop. Later calls are no-ops.

        ``stop_on_failure`` (used at exit) ends the flush at the first retryable failure.
        """
        with self._lock:
            if self._closed:
                return self.stats.report(pending=0)
            self._closed = True
            worker = self._worker
        self.spool.retry()
        self.writer.seal()
        self.spool.discard()
        if worker is not None:
            report = worker.close(timeout, stop_on_failure)
        else:
            self.folder.release_all()
            report = self.stats.report(pending=spool_status(self.config.spool_dir).pending)
        try:
            self.ledger.persist()  # the worker persists as it goes; this catches the rest
        except OSError as exc:
            log.warning("cannot update the spool ledger at close: %s", exc)
        _LIVE.discard(self)
        return report

    def _started_worker(self) -> DeliveryWorker | None:
        """The worker, or None (logged) while the spool folder cannot be created.

        Records then wait in the bounded memory buffer and reach the disk, and delivery
        starts, once the folder can be made; the caller never sees the error.
        """
        try:
            return self._ensure_worker()
        except (SpoolError, OSError) as exc:
            self._warn.log(logging.ERROR, "no-spool", "cannot start delivery: %s", exc)
            return None

    def _ensure_worker(self) -> DeliveryWorker:
        worker = self._worker
        if worker is not None:
            return worker
        with self._lock:
            if self._worker is None:
                self.folder.ensure()
                reader = SpoolReader(
                    self.folder,
                    self.config.max_record_bytes * 2,
                    on_corrupt=self.count_lost,
                )
                config = self.config
                self._worker = DeliveryWorker(
                    reader,
                    lambda: _transport(config),
                    config,
                    self.stats,
                    self.ledger,
                    self.folder.dead_letters_path,
                    on_lost=self.count_lost,
                    housekeeping=self._housekeeping,
                )
                self._worker.start()
            return self._worker

    def _segment_rotated(self) -> None:
        # A full segment may push the spool past its bound: check now, not in a second.
        worker = self._worker
        if worker is not None:
            worker.request_housekeeping()

    def _housekeeping(self) -> None:
        """Run by the delivery worker about once a second, off the caller's thread."""
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
        worker = self._worker
        if worker is not None and not self._closed:
            worker.flush(self.config.exit_timeout_s, stop_on_failure=True)

    def _after_fork_in_child(self) -> None:
        # The parent's threads do not exist here and its locks may be held forever:
        # rebuild everything; the parent's records stay the parent's.
        self.writer.after_fork_in_child()
        self.stats = DeliveryStats()
        self._setup()


def _after_fork_in_child() -> None:
    for pipeline in list(_LIVE):
        pipeline._after_fork_in_child()


def _close_all_at_exit() -> None:
    for pipeline in list(_LIVE):
        try:
            pipeline.close(pipeline.config.exit_timeout_s, stop_on_failure=True)
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
