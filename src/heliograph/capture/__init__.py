"""Capture: turn what callers pass into records, on the caller's thread, in microseconds.

``builder.LogBuilder`` logs a call step by step; ``recorder.ResultRecorder`` is what
``log_request`` operations record into; ``inputs`` normalises arguments (dicts, SDK
objects, text, bytes) and picks request ids Helicone keeps. Capture never touches the
network or the disk: the ``ManualLogger`` facade (``heliograph/logger.py``) hands what it
builds to the pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from heliograph.capture.builder import LogBuilder
    from heliograph.capture.recorder import ResultRecorder

__all__ = ["LogBuilder", "ResultRecorder"]

_HOMES = {
    "LogBuilder": "heliograph.capture.builder",
    "ResultRecorder": "heliograph.capture.recorder",
}


def _public(name: str) -> object:
    # On first use (PEP 562): importing ``capture.sdk`` or ``capture.agents`` runs this
    # package first, and must not load the builder and its stream wrappers with it.
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


if not TYPE_CHECKING:  # mypy sees the imports above, and an unknown name stays an error
    __getattr__ = _public
