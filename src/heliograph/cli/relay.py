"""``heliograph relay``: drain a Kafka topic or SQS queue into Helicone or ``/v1/log/request``.

The queue is configured with the variables the producers read (``KAFKA_BOOTSTRAP_SERVERS``
or ``UPSTASH_KAFKA_*``, ``HELIOGRAPH_KAFKA_TOPIC``; ``AWS_*`` and ``REQUEST_LOGS_QUEUE_URL``).
Runs until SIGINT or SIGTERM, then finishes the message in hand, commits and exits 0.
Start as many as you like: they share the work (see ``heliograph.relay``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from heliograph.config import CLOUD_ENDPOINT, Config
from heliograph.errors import ConfigError

if TYPE_CHECKING:
    from heliograph.relay.forward import Forwarder

__all__ = ["register", "run_relay"]

log = logging.getLogger("heliograph.relay")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``heliograph relay`` to the CLI."""
    relay = sub.add_parser(
        "relay",
        help="forward a Kafka topic or SQS queue to Helicone or a /v1/log/request endpoint",
        description="Consume Helicone's request-log queue and forward each message, "
        "acknowledging it only once forwarded. Poison messages go to a dead-letter "
        "topic/queue with an attempt counter. Run several to share the work.",
    )
    relay.set_defaults(run=run_relay)
    relay.add_argument("--from", dest="source", choices=["kafka", "sqs"], required=True)
    relay.add_argument("--to", dest="destination", choices=["helicone", "valhalla"], required=True)
    relay.add_argument(
        "--url",
        help="destination base URL (helicone: $HELIOGRAPH_ENDPOINT or Helicone cloud; "
        "valhalla: $VALHALLA_URL or the local receiver)",
    )
    relay.add_argument("--group", default="heliograph-relay", help="Kafka consumer group")
    relay.add_argument(
        "--dlq",
        help="dead-letter topic (Kafka, default request-response-logs-prod-dlq) or queue "
        "URL (SQS, default request-response-logs-dlq beside the queue)",
    )
    relay.add_argument(
        "--max-attempts", type=int, default=5, help="drop a poison message after this many (5)"
    )
    relay.add_argument(
        "--low-priority",
        action="store_true",
        help="SQS: drain REQUEST_LOGS_QUEUE_URL_LOW_PRIORITY instead",
    )


def _forwarder(args: argparse.Namespace) -> Forwarder:
    from heliograph.relay.forward import HeliconeForwarder, ValhallaForwarder

    if args.destination == "helicone":
        endpoint = args.url or os.environ.get("HELIOGRAPH_ENDPOINT") or CLOUD_ENDPOINT
        return HeliconeForwarder(Config.from_env(endpoint=endpoint))
    config = Config.from_env()
    return ValhallaForwarder(args.url or os.environ.get("VALHALLA_URL") or config.endpoint, config)


def run_relay(args: argparse.Namespace) -> int:
    # Imported here, so that the rest of the CLI never loads HTTP, Kafka or SQS code.
    from heliograph.relay.kafka import KafkaRelay
    from heliograph.relay.sqs import SqsRelay
    from heliograph.transports.kafka import DLQ_TOPIC, KafkaSettings
    from heliograph.transports.sqs import SqsSettings

    if args.max_attempts < 1:
        raise ConfigError(f"--max-attempts must be at least 1, got {args.max_attempts}")
    stop = threading.Event()
    forwarder = _forwarder(args)
    if args.source == "kafka":
        settings = KafkaSettings.from_env(os.environ)
        if settings is None:
            raise ConfigError("set KAFKA_BOOTSTRAP_SERVERS (or UPSTASH_KAFKA_*) to relay Kafka")
        relay: KafkaRelay | SqsRelay = KafkaRelay(
            settings, forwarder, group_id=args.group,
            dlq_topic=args.dlq or DLQ_TOPIC, max_attempts=args.max_attempts,
        )  # fmt: skip
    else:
        settings_sqs = SqsSettings.from_env(os.environ)
        if args.low_priority:
            settings_sqs = dataclasses.replace(
                settings_sqs, queue_url=settings_sqs.low_priority_queue_url
            )
        relay = SqsRelay(settings_sqs, forwarder, dlq_url=args.dlq, max_attempts=args.max_attempts)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("relay: stopping on signal %d", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info("relay: forwarding %s to %s", args.source, args.destination)
    relay.run(stop)
    log.info("relay: stopped; %s", relay.stats.snapshot())
    return 0
