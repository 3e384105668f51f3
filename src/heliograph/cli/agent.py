"""``heliograph agent``: deliver one destination's spool in a process of its own.

Configured exactly like ``ManualLogger``: ``HELICONE_API_KEY``, ``HELIOGRAPH_ENDPOINT``,
``HELIOGRAPH_SPOOL_DIR``, ``HELIOGRAPH_TRANSPORT`` and the other ``HELIOGRAPH_*`` variables,
or the options below. Runs until SIGTERM or SIGINT (then finishes what is in flight and
exits 0), or with ``--idle-exit`` until the spool is empty and no writer is alive.
"""

from __future__ import annotations

import argparse
import os

from heliograph.cli.main import spool_option
from heliograph.config import Config

__all__ = ["AGENT_CONCURRENCY", "agent_delivery_default", "register", "run_agent"]

AGENT_CONCURRENCY = 16


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``heliograph agent`` to the CLI."""
    agent = sub.add_parser(
        "agent",
        help="deliver the spool in a process of its own (apps then only append)",
        description="Deliver one destination's spool: what running apps append, as they "
        "append it, and what earlier runs left. Apps in delivery mode 'auto' hand their "
        "delivery over to it and only append. One agent runs per destination and spool "
        "folder; a second one exits at once. SIGTERM or SIGINT: finish what is in flight, "
        "acknowledge it, exit 0.",
    )
    agent.set_defaults(run=run_agent)
    agent.add_argument(
        "--endpoint", help="Helicone base URL ($HELIOGRAPH_ENDPOINT; default: as the library)"
    )
    spool_option(agent)
    agent.add_argument(
        "--concurrency",
        type=int,
        help=f"requests in flight ($HELIOGRAPH_CONCURRENCY; default {AGENT_CONCURRENCY}, "
        "more than an app's 4: the agent's threads cost the app nothing)",
    )
    agent.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="exit once the spool has been empty, with no writer alive, this long",
    )
    agent.add_argument(
        "--stop-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="on SIGTERM, wait at most this long for requests in flight (10)",
    )


def agent_delivery_default() -> str | None:
    """Agent exporters hand delivery to the delivery agent, so that a short-lived hook or
    exporter process never has to deliver, unless ``HELIOGRAPH_DELIVERY`` says otherwise."""
    return None if os.environ.get("HELIOGRAPH_DELIVERY") else "agent"


def run_agent(args: argparse.Namespace) -> int:
    from heliograph.agent import DeliveryAgent

    concurrency = args.concurrency
    if concurrency is None and not os.environ.get("HELIOGRAPH_CONCURRENCY"):
        concurrency = AGENT_CONCURRENCY
    config = Config.from_env(
        endpoint=args.endpoint,
        spool_dir=args.spool_dir,
        concurrency=concurrency,
        handle_sigterm=False,
    )
    agent = DeliveryAgent(config, idle_exit_s=args.idle_exit, stop_timeout_s=args.stop_timeout)
    agent.install_signal_handlers()
    return agent.run()
