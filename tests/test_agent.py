"""The delivery agent (``heliograph agent``) and the handover between it and the apps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from heliograph import ManualLogger
from heliograph.cli.agent import AGENT_CONCURRENCY
from heliograph.config import Config
from heliograph.spool import spool_status
from heliograph.spool.deliverers import agent_pid
from heliograph.spool.destination import destination_of
from heliograph.spool.folder import SpoolFolder
from tests.support import CountingSink, wait_for


class Agents:
    """Starts ``heliograph agent`` processes for a test and kills any left at teardown."""

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self.started: list[subprocess.Popen[str]] = []

    def start(self, endpoint: str, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "HELIOGRAPH_ENDPOINT": endpoint,
               "HELIOGRAPH_SPOOL_DIR": str(self.spool_dir)}  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "heliograph", "agent", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.started.append(process)
        return process

    def folder(self, endpoint: str) -> SpoolFolder:
        config = Config(endpoint=endpoint, spool_dir=self.spool_dir)
        return SpoolFolder(destination_of(config).folder(self.spool_dir))

    def delivering(self, endpoint: str) -> int | None:
        """The pid of the agent that delivers ``endpoint``'s records now, if one does."""
        folder = self.folder(endpoint)
        pid = agent_pid(folder)
        if pid is None or not folder.agent_state_path.exists():
            return None
        return pid if b'"delivering"' in folder.agent_state_path.read_bytes() else None


@pytest.fixture
def agents(spool_dir: Path) -> Iterator[Agents]:
    made = Agents(spool_dir)
    yield made
    for process in made.started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    for folder in spool_dir.glob("destinations/*"):  # agents a logger started itself
        pid = agent_pid(SpoolFolder(folder))
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def spool_only(spool_dir: Path, endpoint: str, prefix: str, count: int) -> None:
    """Records an app logged and left, for an agent to deliver."""
    logger = ManualLogger(logging_endpoint=endpoint, spool_dir=spool_dir, deliver=False)
    log(logger, prefix, count)
    logger.close(timeout=0)


def log(logger: ManualLogger, prefix: str, count: int, pause_s: float = 0.0) -> None:
    for i in range(count):
        logger.log_single_request({"model": "m"}, "x", idempotency_key=f"{prefix}-{i}")
        if pause_s:
            time.sleep(pause_s)


def test_agent_delivers_what_a_running_app_appends_without_rotation_or_exit(
    agents: Agents, spool_dir: Path
) -> None:
    with CountingSink() as sink:
        agents.start(sink.url)
        assert wait_for(lambda: agents.delivering(sink.url) is not None)
        logger = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
        log(logger, "live", 1)
        assert not logger._pipeline.delivering_here  # it only appended
        started = time.monotonic()
        assert wait_for(lambda: sink.received() == 1, timeout=5)
        assert time.monotonic() - started < 2.0
        assert not sink.duplicates
        logger.close()


def test_a_second_agent_exits_at_once_naming_the_one_that_delivers(
    agents: Agents, spool_dir: Path
) -> None:
    with CountingSink() as sink:
        first, second = agents.start(sink.url), agents.start(sink.url)
        assert wait_for(lambda: (first.poll() is None) != (second.poll() is None), timeout=20)
        running, exited = (first, second) if second.poll() is not None else (second, first)
        assert exited.wait(10) == 0
        assert exited.stdout is not None
        assert f"pid {running.pid}" in exited.stdout.read()
        assert running.poll() is None


def test_agent_stops_on_sigterm_after_acknowledging_what_is_in_flight(
    agents: Agents, spool_dir: Path
) -> None:
    with CountingSink() as sink:
        spool_only(spool_dir, sink.url, "term", 500)
        agent = agents.start(sink.url)
        assert wait_for(lambda: sink.received() > 0)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        delivered_before_restart = sink.received()
        agents.start(sink.url, "--idle-exit", "0.5").wait(30)
        assert sink.received() == 500 and not sink.duplicates
        assert delivered_before_restart <= 500
        assert spool_status(spool_dir).pending == 0


def test_agent_killed_under_load_and_restarted_delivers_every_record_exactly_once(
    agents: Agents, spool_dir: Path
) -> None:
    with CountingSink() as sink:
        spool_only(spool_dir, sink.url, "kill", 2000)
        agent = agents.start(sink.url)
        assert wait_for(lambda: sink.received() >= 200)
        agent.kill()
        agent.wait(10)
        assert sink.received() < 2000
        assert agents.start(sink.url, "--idle-exit", "0.5").wait(60) == 0
        assert sink.received() == 2000
        # A kill may cut requests between the sink's answer and the acknowledgement:
        # those few are sent again under their own ids, which a receiver keys on.
        assert sum(sink.duplicates.values()) <= 2 * AGENT_CONCURRENCY
        assert spool_status(spool_dir).pending == 0


def test_app_hands_over_to_an_agent_and_takes_back_when_it_dies_losing_nothing(
    agents: Agents, spool_dir: Path
) -> None:
    with CountingSink() as sink:
        logger = ManualLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
        log(logger, "before", 100, pause_s=0.001)
        assert logger._pipeline.delivering_here
        agent = agents.start(sink.url)
        assert wait_for(lambda: agents.delivering(sink.url) is not None, timeout=10)
        log(logger, "agent", 300, pause_s=0.002)
        assert not logger._pipeline.delivering_here
        agent.kill()
        agent.wait(10)
        log(logger, "after", 1500, pause_s=0.002)  # ~3 s: the app notices within a second
        assert logger._pipeline.delivering_here
        report = logger.close(timeout=20)
        assert report.pending == 0
        assert sink.received() == 1900


def test_delivery_agent_mode_starts_one_agent_that_a_second_process_reuses(
    agents: Agents, spool_dir: Path
) -> None:
    script = textwrap.dedent(
        """
        import sys
        from heliograph import ManualLogger
        logger = ManualLogger(logging_endpoint=sys.argv[1], spool_dir=sys.argv[2],
                              delivery="agent")
        for i in range(50):
            logger.log_single_request({"model": "m"}, "x", idempotency_key=f"{sys.argv[3]}-{i}")
        """
    )
    with CountingSink() as sink:
        for prefix in ("first", "second"):
            subprocess.run(
                [sys.executable, "-c", script, sink.url, str(spool_dir), prefix],
                check=True, timeout=60,
            )  # fmt: skip
            if prefix == "first":
                assert wait_for(lambda: agent_pid(agents.folder(sink.url)) is not None)
                first_agent = agent_pid(agents.folder(sink.url))
        assert wait_for(lambda: sink.received() == 100)
        assert agent_pid(agents.folder(sink.url)) == first_agent
        assert not sink.duplicates


def test_records_left_at_exit_reach_the_endpoint_once_back_without_a_restart(
    agents: Agents, spool_dir: Path
) -> None:
    from tests.support import free_port

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    agents.start(endpoint)
    assert wait_for(lambda: agents.delivering(endpoint) is not None)
    logger = ManualLogger(logging_endpoint=endpoint, spool_dir=spool_dir, exit_timeout_s=0.5,
                          initial_backoff_s=0.05, max_backoff_s=0.5)  # fmt: skip
    log(logger, "outage", 200)
    logger.close(timeout=0.5)  # the app is gone; the endpoint is still down
    with CountingSink(port=port) as sink:
        assert wait_for(lambda: sink.received() == 200, timeout=30)
        assert not sink.duplicates


def test_an_agent_a_logger_starts_gets_the_key_through_its_environment_only(
    agents: Agents, spool_dir: Path
) -> None:
    key = "sk-helicone-agent-env-only"
    with CountingSink() as sink:
        logger = ManualLogger(api_key=key, logging_endpoint=sink.url, spool_dir=spool_dir,
                              delivery="agent")  # fmt: skip
        log(logger, "keyed", 20)
        assert wait_for(lambda: sink.received() == 20)
        assert set(sink.keys) == {f"Bearer {key}"}
        folder = SpoolFolder(destination_of(logger.config).folder(spool_dir))
        pid = agent_pid(folder)
        assert pid is not None
        assert key.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert key.encode() in Path(f"/proc/{pid}/environ").read_bytes()
        assert all(key.encode() not in p.read_bytes() for p in spool_dir.rglob("*") if p.is_file())
        logger.close()
