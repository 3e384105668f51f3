"""Forwarders: one queue message to its destination, with an ``Outcome``."""

from __future__ import annotations

import logging
from typing import Protocol

from heliograph.config import Config
from heliograph.delivery.outcome import Outcome
from heliograph.model.message_data import MessageData, RawBodies, to_record
from heliograph.transports.blobs import read_blob
from heliograph.transports.helicone_http import HeliconeHttpTransport
from heliograph.transports.valhalla_http import ValhallaHttpProducer

__all__ = [
    "Forwarder",
    "HeliconeForwarder",
    "PoisonMessageError",
    "ValhallaForwarder",
    "bodies_of",
]

log = logging.getLogger("heliograph.relay")


class PoisonMessageError(ValueError):
    """The message can never be forwarded as it is; it belongs in the dead-letter queue."""


class Forwarder(Protocol):
    def forward(self, msg: MessageData) -> Outcome:
        """Send ``msg`` on; raises ``PoisonMessageError`` if it cannot ever be sent."""
        ...

    def close(self) -> None: ...


def bodies_of(msg: MessageData) -> RawBodies | None:
    """The message's bodies: inline, or read from the blob store.

    A blob that is missing gives no bodies, as Jawn proceeds when its S3 object is
    missing (helicone.md §1.8); a reference that cannot be read as a blob is poison.
    """
    if "heliographBody" in msg:
        return msg["heliographBody"]
    reference = msg.get("heliographBodyRef")
    if reference is None:
        return None
    try:
        return read_blob(reference)
    except FileNotFoundError:
        log.warning("the bodies of %s are missing (%s); forwarding without", msg["id"], reference)
        return None
    except (OSError, ValueError) as exc:
        raise PoisonMessageError(f"cannot read the bodies of {msg['id']}: {exc}") from exc


class ValhallaForwarder:
    """To ``{url}/v1/log/request``, bodies inline (the far end cannot read our blobs)."""

    def __init__(self, url: str, config: Config) -> None:
        self._producer = ValhallaHttpProducer(
            url, config.connect_timeout_s, config.attempt_timeout_s
        )

    def forward(self, msg: MessageData) -> Outcome:
        bodies = bodies_of(msg)
        out: MessageData = {
            "id": msg["id"],
            "authorization": msg["authorization"],
            "heliconeMeta": msg["heliconeMeta"],
            "log": msg["log"],
        }
        if bodies is not None:
            out["heliographBody"] = bodies
        return self._producer.send_message(out)

    def close(self) -> None:
        self._producer.close()


class HeliconeForwarder:
    """To Helicone's async-log API at ``config.endpoint``, under the message's key."""

    def __init__(self, config: Config) -> None:
        self._transport = HeliconeHttpTransport(config)

    def forward(self, msg: MessageData) -> Outcome:
        record = to_record(msg, bodies_of(msg))
        record.headers["Authorization"] = msg["authorization"]
        return self._transport.send(record)

    def close(self) -> None:
        self._transport.close()
