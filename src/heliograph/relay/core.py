"""What the Kafka and SQS relays share: the verdict on one message, counters, backoff."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable

from heliograph.delivery.outcome import OutcomeKind
from heliograph.delivery.retry import backoff_s
from heliograph.model.message_data import MessageData, validate_message
from heliograph.relay.forward import Forwarder, PoisonMessageError
from heliograph.transports.base import ProducerStats

__all__ = ["ATTEMPTS_HEADER", "Backoff", "Verdict", "judge"]

log = logging.getLogger("heliograph.relay")

ATTEMPTS_HEADER = "heliograph-attempts"
"""How many times a dead-lettered message has failed: a Kafka header, an SQS attribute."""


class Verdict(enum.Enum):
    FORWARDED = "forwarded"  # acknowledge
    RETRY = "retry"  # keep it, back off, try again
    POISON = "poison"  # dead-letter it, then acknowledge


def judge(
    forwarder: Forwarder, raw: bytes, decode: Callable[[bytes], object]
) -> tuple[Verdict, str]:
    """Decode, check and forward one message; never raises."""
    try:
        msg: MessageData = validate_message(decode(raw))
        outcome = forwarder.forward(msg)
    except (PoisonMessageError, ValueError) as exc:
        return Verdict.POISON, f"undecodable or invalid message: {exc}"
    except Exception as exc:  # a bug must not stop the relay, nor lose the message
        log.exception("relay failed on a message; it will be retried")
        return Verdict.RETRY, repr(exc)
    if outcome.kind is OutcomeKind.DELIVERED:
        return Verdict.FORWARDED, ""
    if outcome.kind is OutcomeKind.REJECTED:
        return Verdict.POISON, outcome.detail
    return Verdict.RETRY, outcome.detail


class Backoff:
    """Exponential backoff between failed rounds, cut short by the relay's stop event."""

    def __init__(self, stop: threading.Event, initial_s: float, max_s: float) -> None:
        self._stop = stop
        self._initial_s = initial_s
        self._max_s = max_s
        self._failures = 0

    def failed(self, detail: str, stats: ProducerStats) -> None:
        self._failures += 1
        stats.count("retried")
        delay = backoff_s(self._failures, self._initial_s, self._max_s)
        log.warning("relay: cannot forward (%s); retrying in %.1f s", detail, delay)
        self._stop.wait(delay)

    def succeeded(self) -> None:
        self._failures = 0
