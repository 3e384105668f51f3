"""Capture: turn what callers pass into records, on the caller's thread, in microseconds.

``builder.LogBuilder`` logs a call step by step; ``recorder.ResultRecorder`` is what
``log_request`` operations record into; ``inputs`` normalises arguments (dicts, SDK
objects, text, bytes) and picks request ids Helicone keeps. Capture never touches the
network or the disk: the ``ManualLogger`` facade (``heliograph/logger.py``) hands what it
builds to the pipeline.
"""

from heliograph.capture.builder import LogBuilder
from heliograph.capture.recorder import ResultRecorder

__all__ = ["LogBuilder", "ResultRecorder"]
