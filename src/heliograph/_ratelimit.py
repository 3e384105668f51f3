"""Log a recurring problem once, then a summary at most once a minute, never a flood."""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["RateLimitedLogger"]


class RateLimitedLogger:
    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message += " (%d similar messages suppressed in the last %.0f s)"
            args = (*args, suppressed, self._interval_s)
        self._logger.log(level, message, *args)
