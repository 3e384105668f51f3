"""``heliograph flush``: deliver the current destination's spool now, with progress on stderr.

Only the destination the settings choose: its records may be sent with its key only, to
its endpoint only. Other destinations' records stay spooled, and the last line says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time

from heliograph.cli.main import EXIT_INCOMPLETE, EXIT_OK, config_from, other_destinations_note
from heliograph.delivery.report import DeliveryReport
from heliograph.pipeline import Pipeline
from heliograph.spool.deliverers import agent_pid
from heliograph.spool.status import spool_status

_CLOSE_S = 1.0  # the most ``close`` may add once the flush is over (or timed out)


def run_flush(args: argparse.Namespace) -> int:
    # Whatever the settings say about delivering, this command is asked to deliver: here,
    # unless the destination's delivery agent runs (then it waits for the agent).
    config = dataclasses.replace(config_from(args), deliver=True, delivery="auto")
    pipeline = Pipeline(config)
    destination = pipeline.destination
    folder = pipeline.folder
    total = spool_status(folder.root).pending
    agent = agent_pid(folder)
    if agent is not None:
        print(f"the delivery agent (pid {agent}) delivers this destination: waiting for it",
              file=sys.stderr)  # fmt: skip
    started = time.monotonic()
    deadline = started + args.timeout
    result: list[DeliveryReport] = []
    failure: list[BaseException] = []

    def deliver() -> None:
        try:
            pipeline.flush(args.timeout)
        except BaseException as exc:  # re-raised on the main thread
            failure.append(exc)
        finally:
            result.append(pipeline.close(min(_CLOSE_S, max(0.0, deadline - time.monotonic()))))

    worker = threading.Thread(target=deliver, name="heliograph-flush")
    worker.start()
    interactive = sys.stderr.isatty()
    while worker.is_alive():
        worker.join(0.25)
        if interactive:
            _progress(pipeline, total, started)
    if interactive:
        sys.stderr.write("\n")
    if failure:
        raise failure[0]
    report = result[0]
    left = spool_status(folder.root).pending
    if report.delivered or report.dead_lettered or agent is None:
        done = f"delivered {report.delivered}, dead-lettered {report.dead_lettered}"
    else:
        done = f"the delivery agent (pid {agent}) finished {max(0, total - left)}"
    key = destination.key_fingerprint
    print(
        f"{done}, pending {left} for {destination.target} "
        f"({'no key' if key == 'none' else f'key {key}'}, destination {destination.fingerprint}, "
        f"{time.monotonic() - started:.1f} s)"
    )
    note = other_destinations_note(config.spool_dir, folder.root)
    if note:
        print(note)
    return EXIT_OK if left == 0 else EXIT_INCOMPLETE


def _progress(pipeline: Pipeline, total: int, started: float) -> None:
    if pipeline.delivering_here:
        done = pipeline.stats.delivered + pipeline.stats.dead_lettered
    else:  # the agent delivers: count what has left the destination's spool
        done = max(0, total - spool_status(pipeline.folder.root).pending)
    width = 30
    fraction = 1.0 if total == 0 else min(1.0, done / total)
    bar = "#" * int(fraction * width)
    sys.stderr.write(
        f"\r[{bar:<{width}}] {done}/{total} records, {time.monotonic() - started:.1f} s"
    )
    sys.stderr.flush()
