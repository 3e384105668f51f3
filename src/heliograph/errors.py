"""Heliograph's exceptions.

Telemetry never raises into the program it observes: capture and delivery failures are
logged and counted, not raised. These exceptions reach users only where they asked for
something directly (bad configuration at construction, a misused API, a CLI command).

    HeliographError
    ├── ConfigError        a setting is invalid; raised at construction, never later
    ├── SpoolError         the spool folder cannot be used (caught inside; see spool.fallback)
    └── UsageError         the API was misused (a sync/async mix-up)

Delivery failures are not exceptions: a transport returns an ``Outcome`` (delivered, retry,
rejected) and the worker acts on it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "HeliographError", "SpoolError", "UsageError"]


class HeliographError(Exception):
    """Base class of every exception Heliograph raises."""


class ConfigError(HeliographError, ValueError):
    """A setting is invalid. Raised when a logger or server is constructed."""


class SpoolError(HeliographError):
    """The spool folder cannot be created, locked or written."""


class UsageError(HeliographError, RuntimeError):
    """The API was used the wrong way, e.g. an async operation passed to log_request."""
