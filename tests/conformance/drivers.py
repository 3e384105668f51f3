"""Run one scenario (see ``scenarios.py``) through one manual-logger client.

Three clients, one shape: each driver gets a fresh :class:`CaptureServer` and returns a
:class:`Run` with what reached the server and what the call returned or raised.

- ``python``: PyPI ``helicone-helpers`` 1.2.1, in process.
- ``npm``: npm ``@helicone/helpers`` 1.8.3, via ``node npm_driver.mjs`` in a subprocess.
- ``heliograph``: ``heliograph.ManualLogger`` with a temporary spool, flushed and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .capture_server import Capture, CaptureServer
from .scenarios import API_KEY, Scenario

__all__ = [
    "NPM_ENTRY",
    "NPM_PACKAGE_DIR",
    "Run",
    "RunScenario",
    "npm_missing_reason",
    "run_heliograph",
    "run_npm_client",
    "run_python_client",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_PACKAGE_DIR = REPO_ROOT / ".cache" / "npm" / "node_modules" / "@helicone" / "helpers"
NPM_ENTRY = NPM_PACKAGE_DIR / "dist" / "index.mjs"
NPM_DRIVER = Path(__file__).with_name("npm_driver.mjs")

# How long a client that sends in the background gets to deliver (the capture server answers
# at once, so this bounds a hang, not a normal run).
DELIVERY_TIMEOUT_S = 10.0


@dataclasses.dataclass
class Run:
    """What one client did for one scenario.

    ``started``/``finished`` are epoch seconds around the logging call (for Heliograph the
    call itself, not the later flush), used to check the wire timestamps. ``extra`` holds
    what the client printed (``stdout``, or ``stderr`` for node) and Heliograph's flush
    report (``delivered``, ``pending``).
    """

    client: str
    captures: list[Capture]
    returned: Any
    raised: str | None
    started: float
    finished: float
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


RunScenario = Callable[[str, str], Run]
"""``run_scenario(client, scenario_name) -> Run``, the session fixture in ``conftest.py``."""


class _Boom(RuntimeError):
    pass


def _raise_and_catch(message: str) -> BaseException:
    """An exception with a real traceback, as callers hand to ``set_error``."""
    try:
        raise _Boom(message)
    except _Boom as exc:
        return exc


def _settle(server: CaptureServer) -> list[Capture]:
    # Every client here has finished sending when its call (or flush) returns; the short
    # wait only catches a stray late request, which would show up as an extra capture.
    time.sleep(0.05)
    return server.captures


# --- helicone-helpers (PyPI) --------------------------------------------------------------


def run_python_client(scenario: Scenario) -> Run:
    from helicone_helpers import HeliconeManualLogger

    printed = io.StringIO()
    with CaptureServer() as server, contextlib.redirect_stdout(printed):
        logger = HeliconeManualLogger(
            api_key=API_KEY,
            headers=dict(scenario.get("ctor_headers") or {}),
            logging_endpoint=server.url,
        )
        returned: Any = None
        raised: str | None = None
        kind = scenario["kind"]
        started = time.time()
        try:
            if kind == "single_request":
                # helicone-helpers 1.2.1 has no log_single_request; its public send_log is
                # what npm's logSingleRequest wraps: start = now, end = start + latency.
                start = time.time()
                logger.send_log(
                    None,
                    scenario["request"],
                    scenario["body"],
                    {
                        "start_time": start,
                        "end_time": start + scenario["latency_ms"] / 1000,
                        "additional_headers": scenario["headers"],
                    },
                )
            elif kind in ("log_request", "operation_raises"):

                def operation(recorder: Any) -> Any:
                    if kind == "operation_raises":
                        raise _Boom(scenario["error"])
                    for result in scenario["results"]:
                        recorder.append_results(result)
                    return scenario["returns"]

                returned = logger.log_request(
                    scenario["request"],
                    operation,
                    additional_headers=scenario["headers"],
                    provider=scenario.get("provider"),
                )
            elif kind == "builder_response":
                builder = logger.log_builder(scenario["request"], scenario["headers"])
                builder.add_response(scenario["response"])  # no set_response in 1.2.1
                asyncio.run(builder.send_log())
            elif kind == "builder_error":
                builder = logger.log_builder(scenario["request"], scenario["headers"])
                builder.set_error(_raise_and_catch(scenario["error"]))
                asyncio.run(builder.send_log())
            else:
                raise AssertionError(f"unknown scenario kind {kind}")
        except _Boom as exc:
            raised = str(exc)
        finished = time.time()
        captures = _settle(server)
    return Run(
        "python",
        captures,
        returned,
        raised,
        started,
        finished,
        extra={"stdout": printed.getvalue()},
    )


# --- @helicone/helpers (npm) --------------------------------------------------------------


def npm_missing_reason() -> str | None:
    """Why the npm client cannot run here, or ``None`` if it can."""
    if shutil.which("node") is None:
        return "node is not on PATH (needed to run npm @helicone/helpers)"
    if not NPM_ENTRY.is_file():
        return (
            f"npm @helicone/helpers is not installed at {NPM_PACKAGE_DIR}; "
            "run scripts/npm/install.sh"
        )
    return None


def run_npm_client(scenario: Scenario) -> Run:
    node = shutil.which("node")
    assert node is not None, npm_missing_reason()
    env = {
        **os.environ,
        "HELICONE_HELPERS_ENTRY": str(NPM_ENTRY),
        "CONFORMANCE_SCENARIO": json.dumps(scenario),
        "CONFORMANCE_API_KEY": API_KEY,
    }
    with CaptureServer() as server:
        started = time.time()
        proc = subprocess.run(
            [node, str(NPM_DRIVER), server.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        finished = time.time()
        assert proc.returncode == 0, f"npm driver failed ({proc.returncode}):\n{proc.stderr}"
        outcome = json.loads(proc.stdout.strip().splitlines()[-1])
        captures = _settle(server)
    return Run(
        "npm",
        captures,
        outcome["returned"],
        outcome["raised"],
        started,
        finished,
        extra={"stderr": proc.stderr},
    )


# --- Heliograph ---------------------------------------------------------------------------


def run_heliograph(scenario: Scenario, spool_dir: Path) -> Run:
    from heliograph import ManualLogger

    printed = io.StringIO()
    with CaptureServer() as server, contextlib.redirect_stdout(printed):
        logger = ManualLogger(
            api_key=API_KEY,
            logging_endpoint=server.url,
            headers=scenario.get("ctor_headers"),
            spool_dir=spool_dir,
        )
        returned: Any = None
        raised: str | None = None
        kind = scenario["kind"]
        try:
            started = time.time()
            try:
                if kind == "single_request":
                    logger.log_single_request(
                        scenario["request"],
                        scenario["body"],
                        additional_headers=scenario["headers"],
                        latency_ms=scenario["latency_ms"],
                    )
                elif kind in ("log_request", "operation_raises"):

                    def operation(recorder: Any) -> Any:
                        if kind == "operation_raises":
                            raise _Boom(scenario["error"])
                        for result in scenario["results"]:
                            recorder.append_results(result)
                        return scenario["returns"]

                    returned = logger.log_request(
                        scenario["request"],
                        operation,
                        additional_headers=scenario["headers"],
                        provider=scenario.get("provider"),
                    )
                elif kind == "builder_response":
                    builder = logger.log_builder(scenario["request"], scenario["headers"])
                    builder.set_response(scenario["response"])
                    builder.send_log()
                elif kind == "builder_error":
                    builder = logger.log_builder(scenario["request"], scenario["headers"])
                    builder.set_error(_raise_and_catch(scenario["error"]))
                    builder.send_log()
                else:
                    raise AssertionError(f"unknown scenario kind {kind}")
            except _Boom as exc:
                raised = str(exc)
            finished = time.time()
            report = logger.flush(timeout=DELIVERY_TIMEOUT_S)
        finally:
            logger.close()
        captures = _settle(server)
    return Run(
        "heliograph",
        captures,
        returned,
        raised,
        started,
        finished,
        extra={
            "delivered": report.delivered,
            "pending": report.pending,
            "stdout": printed.getvalue(),
        },
    )
