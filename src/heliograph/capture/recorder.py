"""``ResultRecorder``: what a ``log_request`` operation uses to record its result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ResultRecorder"]


class ResultRecorder:
    """Collects result fields; ``append_results`` merges them shallowly, as Helicone's does."""

    def __init__(self) -> None:
        self.results: dict[str, Any] = {}

    def append_results(self, data: Mapping[str, Any]) -> None:
        self.results.update(data)

    appendResults = append_results
