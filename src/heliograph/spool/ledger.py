"""Counts that outlive the process: delivered, dead-lettered and lost records, by reason.

Each worker appends one small JSON line per update to ``ledger.jsonl`` (``O_APPEND``, so
lines from several processes never interleave); totals are the sum of all lines. Each
entry starts with a newline, so a line torn by a crash is cut off there and skipped.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import orjson

from heliograph.spool.folder import FILE_MODE

__all__ = ["Ledger", "LedgerTotals"]

LedgerTotals = dict[str, int]
"""Keys: ``delivered``, ``dead_lettered`` and ``lost:<reason>`` for each reason."""


class Ledger:
    """Buffered counters, written to disk by ``persist``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pending: Counter[str] = Counter()

    def add(self, key: str, count: int = 1) -> None:
        self._pending[key] += count

    def persist(self) -> None:
        """Append the buffered counts as one line; keep them buffered if the write fails."""
        if not self._pending:
            return
        line = orjson.dumps(
            {"at": int(time.time() * 1000), "pid": os.getpid(), "counts": dict(self._pending)}
        )
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        try:
            # Leading newline: a line torn by a crash ends here instead of swallowing ours.
            os.write(fd, b"\n" + line + b"\n")
        finally:
            os.close(fd)
        self._pending.clear()

    @staticmethod
    def totals(path: Path) -> LedgerTotals:
        """Sum every complete line of a ledger file."""
        totals: Counter[str] = Counter()
        try:
            data = path.read_bytes()
        except OSError:
            return {}
        for line in data.splitlines():
            try:
                counts = orjson.loads(line)["counts"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            for key, value in counts.items():
                if isinstance(value, int):
                    totals[key] += value
        return dict(totals)
