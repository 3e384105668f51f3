"""Heliograph: capture LLM telemetry and deliver it to Helicone in the background.

    import heliograph

    logger = heliograph.ManualLogger()          # local receiver unless HELICONE_API_KEY is set
    logger.log_single_request(request, response_text, latency_ms=420)

    client = heliograph.instrument(openai.OpenAI())   # or log every call of an SDK client

Every ``log_*`` call appends to a durable local spool and returns in microseconds; a
background worker delivers to Helicone with retries. Telemetry never raises into, blocks
or slows the program it observes.
"""

import contextlib

from heliograph._version import __version__
from heliograph.capture import LogBuilder, ResultRecorder
from heliograph.capture.sdk import instrument, set_default_logger_factory, uninstrument
from heliograph.config import Config
from heliograph.delivery.report import DeliveryReport
from heliograph.errors import ConfigError, HeliographError, SpoolError, UsageError
from heliograph.logger import ManualLogger
from heliograph.model import Provider, Record, Session, helicone_headers, stable_id

set_default_logger_factory(ManualLogger)  # for instrument(client) with no logger

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

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, str):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "heliograph"
del _name, _obj
