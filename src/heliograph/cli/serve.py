"""``heliograph serve``: the receiver in the foreground, plus a worker draining the spool.

It drains one destination, the one its own settings choose: this very receiver when no
``HELICONE_API_KEY`` or ``HELIOGRAPH_ENDPOINT`` is set, else that endpoint with that key.
The Pipeline opens only that destination's folder; other destinations' records stay put.
"""

from __future__ import annotations

import argparse
import logging
import os

from heliograph.cli.main import EXIT_OK, other_destinations_note
from heliograph.config import Config
from heliograph.pipeline import Pipeline

log = logging.getLogger("heliograph.cli")


def run_serve(args: argparse.Namespace) -> int:
    from heliograph.receiver.server import serve

    pipelines: list[Pipeline] = []

    def start_draining(url: str) -> None:
        if args.no_drain:
            return
        overrides: dict[str, object] = {"spool_dir": args.spool_dir}
        if not os.environ.get("HELICONE_API_KEY") and not os.environ.get("HELIOGRAPH_ENDPOINT"):
            overrides["endpoint"] = url  # deliver the spool to this very receiver
        config = Config.from_env(None, **overrides)
        pipeline = Pipeline(config)
        pipeline.start()
        pipelines.append(pipeline)
        log.info(
            "delivering destination %s (%s) from %s",
            pipeline.destination.fingerprint,
            pipeline.destination.describe(),
            pipeline.folder.root,
        )
        note = other_destinations_note(config.spool_dir, pipeline.folder.root)
        if note:
            log.info("%s", note)

    def stop_draining() -> None:
        for pipeline in pipelines:
            report = pipeline.close(timeout=5.0)
            log.info(
                "spool delivery stopped: %d delivered, %d pending",
                report.delivered,
                report.pending,
            )

    serve(
        host=args.host,
        port=args.port,
        db_path=args.db,
        require_keys=args.require_key,
        log_level="debug" if args.verbose else "info",
        on_startup=start_draining,
        on_shutdown=stop_draining,
    )
    return EXIT_OK
