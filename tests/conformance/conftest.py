"""Fixtures for the conformance suite: every scenario run once per client, then cached."""

from __future__ import annotations

import pytest

from .drivers import Run, RunScenario, run_heliograph, run_npm_client, run_python_client
from .scenarios import SCENARIOS


@pytest.fixture(scope="session")
def run_scenario(tmp_path_factory: pytest.TempPathFactory) -> RunScenario:
    """``run_scenario(client, scenario_name)``: the :class:`Run`, computed once per session."""
    cache: dict[tuple[str, str], Run] = {}

    def run(client: str, name: str) -> Run:
        key = (client, name)
        if key not in cache:
            scenario = SCENARIOS[name]
            if client == "heliograph":
                spool = tmp_path_factory.mktemp(f"spool-{name}")
                cache[key] = run_heliograph(scenario, spool)
            elif client == "npm":
                cache[key] = run_npm_client(scenario)
            elif client == "python":
                cache[key] = run_python_client(scenario)
            else:
                raise AssertionError(f"unknown client {client}")
        return cache[key]

    return run
