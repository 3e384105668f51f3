"""Every setting in one frozen dataclass, read from arguments or the environment.

Arguments win over environment variables, which win over defaults. ``Config.validate``
runs whenever a ``Config`` is built, so a bad value fails loudly once instead of silently
later.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, cast

from heliograph.errors import ConfigError

__all__ = ["CLOUD_ENDPOINT", "LOCAL_ENDPOINT", "Config", "FsyncPolicy", "default_spool_dir"]

CLOUD_ENDPOINT = "https://api.worker.helicone.ai"
LOCAL_ENDPOINT = "http://127.0.0.1:8585"
# Sent to the local receiver when no Helicone key is configured: the receiver accepts any
# bearer key unless it was started with the keys it must require.
LOCAL_API_KEY = "heliograph-local"

FsyncPolicy = Literal["never", "interval", "always"]
_FSYNC_POLICIES = ("never", "interval", "always")
TransportName = Literal["helicone", "queue"]
_TRANSPORTS = ("helicone", "queue")
DeliveryMode = Literal["auto", "thread", "agent"]
_DELIVERY_MODES = ("auto", "thread", "agent")


def default_spool_dir() -> Path:
    """The platform's user state folder, e.g. ``~/.local/state/heliograph/spool`` on Linux."""
    from platformdirs import user_state_dir

    return Path(user_state_dir("heliograph", appauthor=False)) / "spool"


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of a logger, a delivery worker or the receiver.

    ``api_key`` is never written to disk: the spool holds records, and the worker adds
    the ``Authorization`` header when it sends.
    """

    api_key: str | None = None
    endpoint: str = LOCAL_ENDPOINT
    spool_dir: Path = dataclasses.field(default_factory=default_spool_dir)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Spool durability: "never" survives a killed process (the kernel has the bytes);
    # "interval" also bounds the loss on power failure to fsync_interval_s; "always"
    # fsyncs every record on the caller's thread (slow: about a millisecond a record).
    fsync: FsyncPolicy = "never"
    fsync_interval_s: float = 1.0
    max_segment_bytes: int = 4 * 1024 * 1024
    max_record_bytes: int = 10 * 1024 * 1024
    deliver: bool = True
    # Who delivers: "auto" hands over to a running delivery agent (heliograph agent) and
    # delivers in-process otherwise; "thread" always in-process; "agent" never in-process,
    # starting an agent when none runs.
    delivery: DeliveryMode = "auto"
    concurrency: int = 4
    connect_timeout_s: float = 5.0
    attempt_timeout_s: float = 10.0
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    # A record that keeps failing with retryable errors is dead-lettered after this long.
    max_retry_elapsed_s: float = 24 * 3600.0
    exit_timeout_s: float = 2.0
    # Spool bounds: past them the oldest segments go first, each loss counted by reason.
    # The size bound keeps a long outage from filling the disk; it must not bite in a
    # burst the sender is about to absorb (a second of back-to-back logging is ~60 MB),
    # nor hold only a handful of coding-agent calls (they run to megabytes each).
    max_spool_bytes: int = 256 * 1024 * 1024
    max_age_s: float = 7 * 24 * 3600.0
    # Where records wait while the disk refuses writes (full, read-only).
    memory_buffer_bytes: int = 16 * 1024 * 1024
    # Flush once on SIGTERM (if the program has no SIGTERM handler of its own).
    handle_sigterm: bool = True
    # "helicone" posts to Helicone's async-log API at ``endpoint``; "queue" publishes
    # through Helicone's producer layer, chosen from QUEUE_PROVIDER and the queue's
    # variables (transports/producer.py), with ``endpoint`` as the default VALHALLA_URL.
    transport: TransportName = "helicone"
    # Queue transport: bodies larger than this (UTF-8 bytes) go to the blob folder and
    # the message carries a reference (default folder: "blobs" beside the spool folder).
    inline_body_max_bytes: int = 64 * 1024
    blob_dir: Path | None = None
    # Count tokens with tiktoken when a stream carries no usage (marked as estimated).
    estimate_tokens: bool = True

    def __post_init__(self) -> None:
        self.validate()  # however it is built: from_env, Config(...) or dataclasses.replace

    @property
    def blob_path(self) -> Path:
        """Where the queue transport writes large bodies."""
        return self.blob_dir if self.blob_dir is not None else self.spool_dir.parent / "blobs"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value sent with every log."""
        return f"Bearer {self.api_key or LOCAL_API_KEY}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """Build from ``HELICONE_API_KEY``, ``HELIOGRAPH_*`` variables and keyword overrides.

        With no key and no ``HELIOGRAPH_ENDPOINT``, records go to the local receiver;
        with a key, to Helicone cloud.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("HELICONE_API_KEY"):
            values["api_key"] = env["HELICONE_API_KEY"]
        api_key = overrides.get("api_key", values.get("api_key"))
        values["endpoint"] = env.get("HELIOGRAPH_ENDPOINT") or (
            CLOUD_ENDPOINT if api_key else LOCAL_ENDPOINT
        )
        if env.get("HELIOGRAPH_SPOOL_DIR"):
            values["spool_dir"] = Path(env["HELIOGRAPH_SPOOL_DIR"])
        if env.get("HELIOGRAPH_HEADERS"):
            values["headers"] = _parse_headers(env["HELIOGRAPH_HEADERS"])
        if env.get("HELIOGRAPH_BLOB_DIR"):
            values["blob_dir"] = Path(env["HELIOGRAPH_BLOB_DIR"]).expanduser()
        for name, field in _ENV_FIELDS.items():
            if env.get(name):
                values[field] = _parse(name, env[name], _FIELD_TYPES[field])
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "spool_dir" in values:
            values["spool_dir"] = Path(cast("str | Path", values["spool_dir"])).expanduser()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        return cls(**values)  # type: ignore[arg-type]

    def delivery_env(self) -> dict[str, str]:
        """The environment that configures a delivery agent exactly like this config.

        The key travels here (``HELICONE_API_KEY``), never on a command line or on disk.
        """
        env = {"HELIOGRAPH_ENDPOINT": self.endpoint, "HELIOGRAPH_SPOOL_DIR": str(self.spool_dir)}
        if self.api_key:
            env["HELICONE_API_KEY"] = self.api_key
        if self.blob_dir is not None:
            env["HELIOGRAPH_BLOB_DIR"] = str(self.blob_dir)
        if self.headers:
            env["HELIOGRAPH_HEADERS"] = json.dumps(dict(self.headers))
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name, field in _ENV_FIELDS.items():
            value = getattr(self, field)
            # Defaults stay unset, so the agent applies its own (more requests in flight:
            # its threads cost the app nothing); an inherited variable is overridden.
            if value != defaults[field] or name in os.environ:
                env[name] = (
                    ("true" if value else "false") if isinstance(value, bool) else str(value)
                )
        return env

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first invalid setting and what it expects."""
        if not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"endpoint {self.endpoint!r} must be an http:// or https:// URL, "
                f"e.g. {LOCAL_ENDPOINT} or {CLOUD_ENDPOINT}"
            )
        if self.transport not in _TRANSPORTS:
            raise ConfigError(
                f"transport must be one of {', '.join(_TRANSPORTS)}, not {self.transport!r}"
            )
        if self.delivery not in _DELIVERY_MODES:
            raise ConfigError(
                f"delivery must be one of {', '.join(_DELIVERY_MODES)}, not {self.delivery!r}"
            )
        if self.fsync not in _FSYNC_POLICIES:
            raise ConfigError(
                f"fsync must be one of {', '.join(_FSYNC_POLICIES)}, not {self.fsync!r}"
            )
        positive = {
            "fsync_interval_s": self.fsync_interval_s,
            "max_segment_bytes": self.max_segment_bytes,
            "max_record_bytes": self.max_record_bytes,
            "concurrency": self.concurrency,
            "connect_timeout_s": self.connect_timeout_s,
            "attempt_timeout_s": self.attempt_timeout_s,
            "initial_backoff_s": self.initial_backoff_s,
            "max_backoff_s": self.max_backoff_s,
            "max_retry_elapsed_s": self.max_retry_elapsed_s,
            "max_spool_bytes": self.max_spool_bytes,
            "max_age_s": self.max_age_s,
            "inline_body_max_bytes": self.inline_body_max_bytes,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be greater than 0, got {value!r}")
        if self.memory_buffer_bytes < 0:
            raise ConfigError(
                f"memory_buffer_bytes must be 0 or more, got {self.memory_buffer_bytes!r}"
            )
        if self.exit_timeout_s < 0:
            raise ConfigError(f"exit_timeout_s must be 0 or more, got {self.exit_timeout_s!r}")
        for key, header in self.headers.items():
            if not isinstance(key, str) or not isinstance(header, str):
                raise ConfigError(f"headers must map str to str; got {key!r}: {header!r}")
            if key.lower() == "authorization":
                raise ConfigError(
                    "pass the Helicone key as api_key, not as an Authorization header"
                )


_ENV_FIELDS = {
    "HELIOGRAPH_FSYNC": "fsync",
    "HELIOGRAPH_FSYNC_INTERVAL_S": "fsync_interval_s",
    "HELIOGRAPH_DELIVER": "deliver",
    "HELIOGRAPH_DELIVERY": "delivery",
    "HELIOGRAPH_CONCURRENCY": "concurrency",
    "HELIOGRAPH_CONNECT_TIMEOUT_S": "connect_timeout_s",
    "HELIOGRAPH_ATTEMPT_TIMEOUT_S": "attempt_timeout_s",
    "HELIOGRAPH_INITIAL_BACKOFF_S": "initial_backoff_s",
    "HELIOGRAPH_MAX_BACKOFF_S": "max_backoff_s",
    "HELIOGRAPH_MAX_SEGMENT_BYTES": "max_segment_bytes",
    "HELIOGRAPH_MAX_RECORD_BYTES": "max_record_bytes",
    "HELIOGRAPH_EXIT_TIMEOUT_S": "exit_timeout_s",
    "HELIOGRAPH_MAX_RETRY_ELAPSED_S": "max_retry_elapsed_s",
    "HELIOGRAPH_MAX_SPOOL_BYTES": "max_spool_bytes",
    "HELIOGRAPH_MAX_AGE_S": "max_age_s",
    "HELIOGRAPH_MEMORY_BUFFER_BYTES": "memory_buffer_bytes",
    "HELIOGRAPH_HANDLE_SIGTERM": "handle_sigterm",
    "HELIOGRAPH_TRANSPORT": "transport",
    "HELIOGRAPH_INLINE_BODY_MAX_BYTES": "inline_body_max_bytes",
    "HELIOGRAPH_ESTIMATE_TOKENS": "estimate_tokens",
}
_FIELD_TYPES: dict[str, type] = {f.name: f.type for f in dataclasses.fields(Config)}  # type: ignore[misc]


def _parse_headers(raw: str) -> dict[str, str]:
    try:
        headers = json.loads(raw)
    except ValueError:
        headers = None
    if not isinstance(headers, dict):
        raise ConfigError(
            f"environment variable HELIOGRAPH_HEADERS={raw!r} must be a JSON object of headers"
        )
    return {str(k): str(v) for k, v in headers.items()}


def _parse(name: str, raw: str, kind: object) -> object:
    text: str = raw.strip()
    try:
        if kind in ("float", float):
            return float(text)
        if kind in ("int", int):
            return int(text)
        if kind in ("bool", bool):
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not a valid {kind}") from None
    return text
