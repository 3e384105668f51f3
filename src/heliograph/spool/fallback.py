"""When the disk refuses a write (full, read-only, gone), hold lines in bounded memory.

The caller never sees the error. Lines wait, in order, in a buffer of at most ``max_bytes``
and are written as soon as the disk accepts writes again (on the next append or the
delivery worker's next housekeeping pass). A line that does not fit is lost and counted,
as is anything still buffered when the process exits.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections import deque
from collections.abc import Callable

from heliograph._ratelimit import RateLimitedLogger
from heliograph.errors import SpoolError
from heliograph.spool.writer import SpoolWriter

__all__ = ["FallbackWriter", "failure_reason"]

log = logging.getLogger("heliograph.spool")


def failure_reason(exc: BaseException) -> str:
    """The loss reason for a failed write: disk_full, spool_unwritable or spool_write."""
    if isinstance(exc, SpoolError):
        return "spool_unwritable"
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "disk_full"
    if code in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT):
        return "spool_unwritable"
    return "spool_write"


class FallbackWriter:
    """A ``SpoolWriter`` that degrades to a bounded in-memory buffer instead of failing."""

    def __init__(
        self, writer: SpoolWriter, max_bytes: int, on_lost: Callable[[str, int], None]
    ) -> None:
        self._writer = writer
        self._max_bytes = max_bytes
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._buffer: deque[bytes] = deque()
        self._buffered_bytes = 0
        self._reason = ""
        self._warn = RateLimitedLogger(log)

    def append(self, line: bytes) -> bool:
        """Write or buffer ``line``; False if it was lost (counted). Never raises."""
        if not self._buffer:  # the common case: no lock beyond the writer's own
            try:
                self._writer.append(line)
                return True
            except (OSError, SpoolError) as exc:
                return self._hold(line, exc)
        with self._lock:
            self._drain_locked()
            if not self._buffer:
                try:
                    self._writer.append(line)
                    return True
                except (OSError, SpoolError) as exc:
                    return self._hold_locked(line, exc)
            return self._keep_locked(line)

    def retry(self) -> int:
        """Write what is buffered, if the disk takes it now; return how many lines were written."""
        if not self._buffer:
            return 0
        with self._lock:
            return self._drain_locked()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def discard(self) -> int:
        """Count what is still buffered as lost (at exit) and forget it."""
        with self._lock:
            self._drain_locked()
            lost = len(self._buffer)
            if lost:
                self._on_lost(self._reason, lost)
                log.error(
                    "%d records waiting in memory for the spool (%s) were lost at exit",
                    lost,
                    self._reason,
                )
            self._buffer.clear()
            self._buffered_bytes = 0
            return lost

    def _hold(self, line: bytes, exc: BaseException) -> bool:
        with self._lock:
            return self._hold_locked(line, exc)

    def _hold_locked(self, line: bytes, exc: BaseException) -> bool:
        self._reason = failure_reason(exc)
        self._warn.log(
            logging.ERROR,
            "spool-failed",
            "cannot write to the spool (%s: %s); holding records in memory (up to %d bytes) "
            "until it accepts writes again",
            self._reason,
            exc,
            self._max_bytes,
        )
        return self._keep_locked(line)

    def _keep_locked(self, line: bytes) -> bool:
        if self._buffered_bytes + len(line) > self._max_bytes:
            self._on_lost(self._reason or "spool_write", 1)
            self._warn.log(
                logging.ERROR,
                "buffer-full",
                "spool unavailable (%s) and the %d-byte memory buffer is full: record lost",
                self._reason,
                self._max_bytes,
            )
            return False
        self._buffer.append(line)
        self._buffered_bytes += len(line)
        return True

    def _drain_locked(self) -> int:
        written = 0
        while self._buffer:
            line = self._buffer[0]
            try:
                self._writer.append(line)
            except (OSError, SpoolError):
                break
            self._buffer.popleft()
            self._buffered_bytes -= len(line)
            written += 1
        if written and not self._buffer:
            log.warning("the spool accepts writes again; %d buffered records written", written)
        return written
