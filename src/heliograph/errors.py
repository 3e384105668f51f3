"""Heliograph's exceptions.

Telemetry never raises into the program it observes: capture and delivery failures are
logged and counted, not raised. These exceptions reach users only where they asked for
something directly (bad configuration at construction, a misused API, a CLI command).

    HeliographError
    ├── ConfigError        a setting is invalid; raised at construction, never later
    ├── SpoolError         the spool folder cannot be used (permissions, not a folder)
    ├── DeliveryError      a send to the endpoint failed (raised inside delivery only)
    │   ├── RetryableDeliveryError   408/429/5xx, timeouts, refused connections
    │   └── PermanentDeliveryError   other 4xx: the endpoint will never accept it
    └── UsageError         the API was misused (closed logger, sync/async mix-up)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeliveryError",
    "HeliographError",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "SpoolError",
    "UsageError",
]


class HeliographError(Exception):
    """Base class of every exception Heliograph raises."""


class ConfigError(HeliographError, ValueError):
    """A setting is invalid. Raised when a logger or server is constructed."""


class SpoolError(HeliographError):
    """The spool folder cannot be created, locked or written."""


class DeliveryError(HeliographError):
    """One attempt to deliver a record failed."""


class RetryableDeliveryError(DeliveryError):
    """The attempt may succeed later; ``retry_after_s`` is the server's hint, if any."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    """The endpoint refused the record for good (a 4xx other than 408 and 429)."""


class UsageError(HeliographError, RuntimeError):
    """The API was used the wrong way, e.g. logging through a closed logger."""
