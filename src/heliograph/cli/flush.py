"""``heliograph flush``: deliver the spool now, with a progress line on stderr."""

from __future__ import annotations

import argparse
import sys
import threading
import time

from heliograph.cli.main import EXIT_INCOMPLETE, EXIT_OK
from heliograph.config import Config
from heliograph.delivery.report import DeliveryReport
from heliograph.pipeline import Pipeline
from heliograph.spool.status import spool_status


def run_flush(args: argparse.Namespace) -> int:
    config = Config.from_env(spool_dir=args.spool_dir)
    total = spool_status(config.spool_dir).pending
    pipeline = Pipeline(config)
    result: list[DeliveryReport] = []
    worker = threading.Thread(
        target=lambda: result.append(pipeline.close(args.timeout)), name="heliograph-flush"
    )
    started = time.monotonic()
    pipeline.start()
    worker.start()
    interactive = sys.stderr.isatty()
    while worker.is_alive():
        worker.join(0.25)
        if interactive:
            _progress(total, pipeline.stats.delivered + pipeline.stats.dead_lettered, started)
    report = result[0]
    if interactive:
        sys.stderr.write("\n")
    left = spool_status(config.spool_dir).pending
    print(
        f"delivered {report.delivered}, dead-lettered {report.dead_lettered}, "
        f"pending {left} (to {config.endpoint}, {time.monotonic() - started:.1f} s)"
    )
    return EXIT_OK if left == 0 else EXIT_INCOMPLETE


def _progress(total: int, done: int, started: float) -> None:
    width = 30
    fraction = 1.0 if total == 0 else min(1.0, done / total)
    bar = "#" * int(fraction * width)
    sys.stderr.write(
        f"\r[{bar:<{width}}] {done}/{total} records, {time.monotonic() - started:.1f} s"
    )
    sys.stderr.flush()
