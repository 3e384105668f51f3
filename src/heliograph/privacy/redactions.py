"""Counts of what the privacy filter masked, by kind of secret.

Users need to know that redaction happened (and how much) without seeing what was masked,
so the filter keeps only counts. ``Redactions`` is an immutable snapshot; ``Tally`` is the
thread-safe accumulator behind it, because one filter is shared by every capture thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping

__all__ = ["Redactions", "Tally"]


class Redactions(Mapping[str, int]):
    """Per-kind counts of masked values, e.g. ``{"openai_key": 2, "aws_access_key": 1}``."""

    __slots__ = ("_counts",)

    def __init__(self, counts: Mapping[str, int] | None = None) -> None:
        self._counts = {k: v for k, v in sorted((counts or {}).items()) if v}

    def __getitem__(self, kind: str) -> int:
        return self._counts[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    @property
    def total(self) -> int:
        """How many values were masked, all kinds together."""
        return sum(self._counts.values())

    def __repr__(self) -> str:
        return f"Redactions({self._counts!r})"


class Tally:
    """Adds up counts from many threads; ``snapshot`` returns a ``Redactions``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, counts: Mapping[str, int]) -> None:
        if counts:
            with self._lock:
                self._counts.update(counts)

    def snapshot(self) -> Redactions:
        with self._lock:
            return Redactions(self._counts)
