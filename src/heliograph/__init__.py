"""Heliograph: capture LLM telemetry and deliver it to Helicone in the background.

    import heliograph

    logger = heliograph.ManualLogger()          # local receiver unless HELICONE_API_KEY is set
    logger.log_single_request(request, response_text, latency_ms=420)

    client = heliograph.instrument(openai.OpenAI())   # or log every call of an SDK client

Every ``log_*`` call appends to a durable local spool and returns in microseconds; a
background worker delivers to Helicone with retries. Telemetry never raises into, blocks
or slows the program it observes.

``import heliograph`` loads almost nothing: each public name is imported on first use
(PEP 562), so a program pays only for what it touches (``ManualLogger`` loads capture, the
spool and the pipeline; pricing, token counting and HTTP load later, on the worker's threads).
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from heliograph._version import __version__
from heliograph.capture.sdk import set_default_logger_factory

if TYPE_CHECKING:
    from heliograph.capture import LogBuilder as LogBuilder
    from heliograph.capture import ResultRecorder as ResultRecorder
    from heliograph.capture.sdk import instrument as instrument
    from heliograph.capture.sdk import uninstrument as uninstrument
    from heliograph.config import Config as Config
    from heliograph.delivery.report import DeliveryReport as DeliveryReport
    from heliograph.errors import ConfigError as ConfigError
    from heliograph.errors import HeliographError as HeliographError
    from heliograph.errors import SpoolError as SpoolError
    from heliograph.errors import UsageError as UsageError
    from heliograph.logger import ManualLogger as ManualLogger
    from heliograph.model import Provider as Provider
    from heliograph.model import Record as Record
    from heliograph.model import Session as Session
    from heliograph.model import helicone_headers as helicone_headers
    from heliograph.model import stable_id as stable_id

__all__ = [
    "Config",
    "ConfigError",
    "DeliveryReport",
    "HeliographError",
    "LogBuilder",
    "ManualLogger",
    "Provider",
    "Record",
    "ResultRecorder",
    "Session",
    "SpoolError",
    "UsageError",
    "__version__",
    "helicone_headers",
    "instrument",
    "stable_id",
    "uninstrument",
]

_HOMES = {
    "Config": "heliograph.config",
    "ConfigError": "heliograph.errors",
    "DeliveryReport": "heliograph.delivery.report",
    "HeliographError": "heliograph.errors",
    "LogBuilder": "heliograph.capture.builder",
    "ManualLogger": "heliograph.logger",
    "Provider": "heliograph.model.record",
    "Record": "heliograph.model.record",
    "ResultRecorder": "heliograph.capture.recorder",
    "Session": "heliograph.model.headers",
    "SpoolError": "heliograph.errors",
    "UsageError": "heliograph.errors",
    "helicone_headers": "heliograph.model.headers",
    "instrument": "heliograph.capture.sdk",
    "stable_id": "heliograph.model.ids",
    "uninstrument": "heliograph.capture.sdk",
}
"""Where each public name is defined; it is imported from there on first use."""


def _public(name: str) -> object:
    """Import public ``name`` from its home, present it as ``heliograph.<name>``, keep it."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'heliograph' has no attribute {name!r}")
    __import__(home)
    value: object = getattr(sys.modules[home], name)
    if not isinstance(value, str):
        with contextlib.suppress(AttributeError, TypeError):
            value.__module__ = "heliograph"  # e.g. repr: heliograph.ManualLogger
    globals()[name] = value  # later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if not TYPE_CHECKING:  # for mypy the names above are imported, so an unknown name is an error
    __getattr__ = _public


def _default_logger() -> ManualLogger:
    from heliograph.logger import ManualLogger

    return ManualLogger()


set_default_logger_factory(_default_logger)  # for instrument(client) with no logger
