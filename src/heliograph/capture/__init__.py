"""Capture: turn LLM calls into records, on the caller's thread, in microseconds.

``logger.ManualLogger`` is Helicone's manual logger (``log_request``, ``log_single_request``,
``log_builder``, ``send_log``); ``builder.LogBuilder`` logs a call step by step;
``recorder.ResultRecorder`` is what ``log_request`` operations record into; ``inputs``
normalises arguments and picks request ids. Capture never raises into the caller and
never touches the network: it hands records to the pipeline, which spools them.
"""

from heliograph.capture.builder import LogBuilder
from heliograph.capture.logger import ManualLogger
from heliograph.capture.recorder import ResultRecorder

__all__ = ["LogBuilder", "ManualLogger", "ResultRecorder"]
