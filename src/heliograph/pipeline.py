"""The composition root: capture → spool → delivery → transport, for one spool folder.

Only this module sees every stage. Capture hands it finished records (``submit``); it
encodes and appends them on the caller's thread, and starts the delivery worker lazily on
first use, so importing Heliograph or building a logger starts no thread and opens no
socket. It also owns the process lifecycle: a fork gives the child its own segment and
worker (``os.register_at_fork``), and interpreter exit runs one bounded flush.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import threading
import weakref

from heliograph._ratelimit import RateLimitedLogger
from heliograph.config import Config
from heliograph.delivery.outcome import Transport
from heliograph.delivery.report import DeliveryReport, DeliveryStats
from heliograph.delivery.worker import DeliveryWorker
from heliograph.model.codec import OversizeRecordError, encode_record
from heliograph.model.record import Record
from heliograph.spool.folder import SpoolFolder
from heliograph.spool.ledger import Ledger
from heliograph.spool.reader import SpoolReader
from heliograph.spool.segment import encode_line
from heliograph.spool.status import spool_status
from heliograph.spool.writer import SpoolWriter

__all__ = ["Pipeline"]

log = logging.getLogger("heliograph")
_LIVE: weakref.WeakSet[Pipeline] = weakref.WeakSet()


def _http_transport(config: Config) -> Transport:
    # Imported here, on the delivery thread, so that a logger that never delivers
    # never loads the HTTP and TLS modules.
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

    def _setup(self) -> None:
        self.folder = SpoolFolder(self.config.spool_dir)
        self.ledger = Ledger(self.folder.ledger_path)
        self.writer = SpoolWriter(
            self.folder,
            self.config.max_segment_bytes,
            self.config.fsync,
            keep_sealed=self.config.deliver,
        )
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
        try:
            self.writer.append(line)
        except OSError as exc:
            reason = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "spool_write"
            return self._drop(reason, "record %s was not spooled: %s", record, exc)
        self.stats.count("accepted")
        if self.config.deliver:
            self._ensure_worker().wake()
        return True

    def start(self) -> None:
        """Start delivering now (claiming orphaned segments) instead of on first record."""
        self._ensure_worker()

    def flush(self, timeout: float) -> DeliveryReport:
        """Deliver what this process holds and any orphaned segments, for up to ``timeout`` s."""
        if self._closed:
            return self.stats.report(pending=spool_status(self.config.spool_dir).pending)
        return self._ensure_worker().flush(timeout)

    def close(self, timeout: float) -> DeliveryReport:
        """Seal the spool, flush for up to ``timeout`` s, stop. Later calls are no-ops."""
        with self._lock:
            if self._closed:
                return self.stats.report(pending=0)
            self._closed = True
            worker = self._worker
        self.writer.seal()
        if worker is not None:
            report = worker.close(timeout)
        else:
            self.folder.release_all()
            report = self.stats.report(pending=spool_status(self.config.spool_dir).pending)
        _LIVE.discard(self)
        return report

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
                    lambda: _http_transport(config),
                    config,
                    self.stats,
                    self.ledger,
                    self.folder.dead_letters_path,
                    sync_spool=self.writer.sync,
                )
                self._worker.start()
            return self._worker

    def count_lost(self, reason: str) -> None:
        """Count a lost record in this process's report and in the on-disk ledger."""
        self.stats.drop(reason)
        self.ledger.add(f"lost:{reason}")

    def _drop(self, reason: str, message: str, record: Record, *args: object) -> bool:
        self.count_lost(reason)
        self._warn.log(logging.WARNING, reason, message, record.request_id, *args)
        return False

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
            pipeline.close(pipeline.config.exit_timeout_s)
        except Exception:
            log.exception("error while flushing at exit; records stay in the spool")


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)
