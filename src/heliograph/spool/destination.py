"""Where a record was logged for: its destination, and the spool folder kept for it.

A record must reach the account it was logged for and no other. So every record is
spooled under its destination: the transport, its endpoint or queue settings, and the
API key, reduced to a one-way fingerprint. A deliverer opens only its own destination's
folder, so it can never send another destination's records, nor send them with its key.

    <spool dir>/destinations/<fingerprint>/   a spool folder (see ``heliograph.spool``)
    <spool dir>/destinations/<fp>/destination.json   what the fingerprint stands for:
                                               transport, endpoint, key fingerprint
                                               (never the key itself)
    <spool dir>/eviction.lock                  one size bound for all destinations

Segments written by versions before destinations (``<spool dir>/segments``) belong to no
known destination: nobody delivers them, ``heliograph status`` lists them as
``unbound``, and they age out under ``max_age_s``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import orjson

from heliograph.config import Config
from heliograph.model.helicone import split_logging_endpoint
from heliograph.spool.folder import write_private

__all__ = [
    "DESTINATIONS_DIR",
    "Destination",
    "destination_folders",
    "destination_of",
    "key_fingerprint",
    "UNBOUND",
    "read_destination",
]

DESTINATIONS_DIR = "destinations"
DESCRIPTOR = "destination.json"
UNBOUND = "unbound"

# The producer layer's variables that choose where a queue message goes (Helicone's own
# names: transports/producer.py). Secrets among them enter only the hash.
_QUEUE_VARIABLES = (
    "QUEUE_PROVIDER",
    "KAFKA_BOOTSTRAP_SERVERS",
    "UPSTASH_KAFKA_URL",
    "UPSTASH_KAFKA_USERNAME",
    "UPSTASH_KAFKA_PASSWORD",
    "HELIOGRAPH_KAFKA_TOPIC",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_ENDPOINT_URL_SQS",
    "REQUEST_LOGS_QUEUE_URL",
    "REQUEST_LOGS_QUEUE_URL_LOW_PRIORITY",
    "VALHALLA_URL",
    "HELICONE_MANUAL_ACCESS_KEY",
)
_SHOWN_QUEUE_VARIABLES = (
    "QUEUE_PROVIDER",
    "KAFKA_BOOTSTRAP_SERVERS",
    "UPSTASH_KAFKA_URL",
    "HELIOGRAPH_KAFKA_TOPIC",
    "REQUEST_LOGS_QUEUE_URL",
    "VALHALLA_URL",
)


@dataclasses.dataclass(frozen=True)
class Destination:
    """One destination: a fingerprint naming its folder, and what it may show of itself."""

    fingerprint: str
    transport: str
    target: str  # the endpoint URL, or the queue settings that are not secret
    key_fingerprint: str  # "none" without a key

    def folder(self, spool_dir: Path) -> Path:
        return Path(spool_dir) / DESTINATIONS_DIR / self.fingerprint

    def describe(self) -> str:
        return f"{self.transport} {self.target} (key {self.key_fingerprint})"

    def write_descriptor(self, folder: Path) -> None:
        """Write ``destination.json`` once, so ``status`` can say what the folder is for."""
        path = folder / DESCRIPTOR
        if not path.exists():
            write_private(path, orjson.dumps(dataclasses.asdict(self), option=orjson.OPT_INDENT_2))


def key_fingerprint(api_key: str | None) -> str:
    """A short one-way fingerprint of a key, safe to print and to store."""
    if not api_key:
        return "none"
    return "sha256:" + hashlib.sha256(b"heliograph-key\0" + api_key.encode()).hexdigest()[:12]


def destination_of(config: Config, environ: Mapping[str, str] | None = None) -> Destination:
    """The destination ``config`` delivers to (for a queue: as the environment chooses it)."""
    env = os.environ if environ is None else environ
    # A base URL and the same base with a ``/custom/v1/log`` route are one place.
    endpoint = split_logging_endpoint(config.endpoint)
    identity: dict[str, object] = {
        "transport": config.transport,
        "endpoint": endpoint,
        "authorization": config.authorization,
        "headers": dict(sorted(config.headers.items())),
    }
    target = _shown_url(endpoint)
    if config.transport == "queue":
        identity["queue"] = {name: env.get(name, "") for name in _QUEUE_VARIABLES}
        shown = [f"{n}={_shown_url(env[n])}" for n in _SHOWN_QUEUE_VARIABLES if env.get(n)]
        target = " ".join(shown) or f"VALHALLA_URL={target}"
    digest = hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return Destination(
        fingerprint=digest[:16],
        transport=config.transport,
        target=target,
        key_fingerprint=key_fingerprint(config.api_key),
    )


def _shown_url(url: str) -> str:
    """A URL fit to print and store: no password, no query string (either may hold a key)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else f"{user}@{host}"
    query = "…" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def read_destination(folder: Path) -> Destination | None:
    """The destination a folder was created for, or ``None`` if it does not say."""
    try:
        data = orjson.loads((folder / DESCRIPTOR).read_bytes())
        return Destination(**{f.name: str(data[f.name]) for f in dataclasses.fields(Destination)})
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None


def destination_folders(spool_dir: Path) -> list[tuple[Path, Destination | None]]:
    """Every destination folder in a spool folder, and the legacy unbound one if present.

    The unbound folder is the spool folder itself, holding segments written before
    destinations existed; its destination is ``None``.
    """
    root = Path(spool_dir)
    found: list[tuple[Path, Destination | None]] = []
    try:
        names = sorted(os.listdir(root / DESTINATIONS_DIR))
    except OSError:
        names = []
    for name in names:
        folder = root / DESTINATIONS_DIR / name
        if folder.is_dir():
            found.append((folder, read_destination(folder)))
    if (root / "segments").is_dir():
        found.append((root, read_destination(root)))
    return found
