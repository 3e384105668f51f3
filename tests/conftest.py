"""Fixtures shared by all tests: a temporary spool, a real receiver, loggers closed after use."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from heliograph import ManualLogger
from heliograph.receiver import ReceiverThread
from heliograph.spool.deliverers import agent_pid
from heliograph.spool.folder import SpoolFolder


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HELICONE_API_KEY",
        "HELIOGRAPH_ENDPOINT",
        "HELIOGRAPH_SPOOL_DIR",
        "HELIOGRAPH_DELIVERY",
    ):
        monkeypatch.delenv(name, raising=False)
    logging.getLogger("heliograph").setLevel(logging.DEBUG)


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture(params=["thread", "agent"])
def delivery_mode(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, spool_dir: Path
) -> Iterator[str]:
    """Run a test with in-process delivery, then with the delivery agent (every logger,
    the test's own and its child processes', through ``HELIOGRAPH_DELIVERY``)."""
    monkeypatch.setenv("HELIOGRAPH_DELIVERY", request.param)
    yield str(request.param)
    stop_agents(spool_dir)


@pytest.fixture(scope="session", autouse=True)
def _no_agent_outlives_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Agent exporters start delivery agents, which outlive their test by design."""
    yield
    stop_agents(tmp_path_factory.getbasetemp(), "**/")


def stop_agents(spool_dir: Path, depth: str = "") -> None:
    """Kill the delivery agents loggers started for a test's spool (they outlive the test)."""
    for folder in spool_dir.glob(f"{depth}destinations/*"):
        pid = agent_pid(SpoolFolder(folder))
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[ReceiverThread]:
    """Heliograph's own Helicone-compatible receiver on a free loopback port."""
    with ReceiverThread(db_path=tmp_path / "sink.sqlite3") as running:
        yield running


@pytest.fixture
def make_logger(spool_dir: Path) -> Iterator[Callable[..., ManualLogger]]:
    """Build loggers on the test's spool; each is closed (without waiting) at teardown."""
    made: list[ManualLogger] = []

    def build(endpoint: str, **settings: Any) -> ManualLogger:
        settings.setdefault("spool_dir", spool_dir)
        settings.setdefault("initial_backoff_s", 0.05)
        settings.setdefault("max_backoff_s", 0.5)
        logger = ManualLogger(logging_endpoint=endpoint, **settings)
        made.append(logger)
        return logger

    yield build
    for logger in made:
        logger.close(timeout=0)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full-scale",
        action="store_true",
        help="run fault-injection tests at full scale (200 kills, 8 processes x 5,000 records)",
    )


@pytest.fixture
def scale(request: pytest.FixtureRequest) -> Callable[[int, int], int]:
    """``scale(ci, full)``: the CI-sized count, or the full one with --full-scale."""
    full = bool(request.config.getoption("--full-scale"))
    return lambda ci, full_size: full_size if full else ci


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Any]:
    """A real Kafka-protocol broker (tansu) on a free loopback port, for the session."""
    pytest.importorskip("confluent_kafka", reason="confluent-kafka not installed")
    from tests.queues import running_broker

    with running_broker() as broker:
        yield broker


@pytest.fixture(scope="session")
def sqs_server() -> Iterator[Any]:
    """moto's SQS server on a free loopback port, for the session."""
    pytest.importorskip("boto3", reason="boto3 not installed")
    from tests.queues import SqsServer

    server = SqsServer().start()
    try:
        yield server
    finally:
        server.stop()
