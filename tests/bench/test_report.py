"""The benchmarks page is generated, never typed: it is the rendering of the results beside it.

``bench/run.py`` writes ``docs/benchmarks.md``, its charts and ``docs/benchmarks/results.json``
(the run's whole output) together. If the page were edited by hand, or its results replaced,
rendering the committed results again would no longer give the committed page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
DOCS = ROOT / "docs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

sys.path.insert(0, str(BENCH))
import report  # noqa: E402


def test_the_committed_page_is_the_rendering_of_the_committed_results() -> None:
    data = json.loads((DOCS / "benchmarks" / "results.json").read_text())
    assert (DOCS / "benchmarks.md").read_text() == report.render_page(data)


def test_the_committed_results_come_from_a_full_run_with_every_peer_measured() -> None:
    data = json.loads((DOCS / "benchmarks" / "results.json").read_text())
    assert data["profile"]["name"] == "full"
    peers = data["peers"]
    assert set(peers["summary"]) == set(peers["adapters"]) >= {
        "heliograph", "helicone-helpers", "opentelemetry", "langfuse", "langsmith",
    }  # fmt: skip
    for adapter, entry in peers["summary"].items():
        assert entry["hot"]["p50_us"] > 0, adapter
        assert entry["import"]["median_ms"] > 0, adapter
    for chart in ("caller", "throughput", "exit", "kept", "memory", "import"):
        assert (DOCS / "benchmarks" / f"{chart}.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.timeout(600)
def test_a_quick_peer_run_writes_a_page_with_every_adapter_and_its_charts(
    tmp_path: Path,
) -> None:
    """The one command works on this machine: every peer SDK runs against the local sink."""
    results = tmp_path / "results.json"
    command = [sys.executable, str(BENCH / "run.py"), "--quick", "--sections", "peers",
               "--out", str(results), "--docs", str(tmp_path / "docs")]  # fmt: skip
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=540, cwd=ROOT, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(results.read_text())
    summary = data["peers"]["summary"]
    page = (tmp_path / "docs" / "benchmarks.md").read_text()
    for adapter in data["peers"]["adapters"]:
        assert summary[adapter]["hot"]["p50_us"] > 0, adapter
        assert f"| {report.name(adapter)} |" in page
    heliograph = summary["heliograph"]  # exit with the sink down, and SIGKILL: nothing lost
    for case in ("exit", "kill"):
        assert report.recovered(case, heliograph[case]) == heliograph[case]["calls"], case
    for chart in ("caller", "throughput", "exit", "kept", "memory", "import"):
        png = tmp_path / "docs" / "benchmarks" / f"{chart}.png"
        assert png.read_bytes().startswith(PNG_MAGIC)


def delivery_run() -> dict:
    """A made-up run with only section 10: every figure below is chosen, none measured."""

    def hot(p50: float, p99: float, p999: float) -> dict:
        return {"calls": 1_000, "p50_us": p50, "p99_us": p99, "p999_us": p999}

    def e2e(rate: float, agent_cpu_us: float | None) -> dict:
        return {"calls": 2_000, "records_per_s": rate, "agent_cpu_us": agent_cpu_us}

    def exit_(seconds: float) -> dict:
        return {"calls": 200, "exit_s": seconds, "killed_at_cap": 0}

    def back(no_restart: int, restart: int) -> dict:
        return {"calls": 200, "reached_after_sink_up": no_restart, "reached_after_restart": restart}

    def dups(duplicates: int) -> dict:
        return {"calls": 4_000, "posts": 4_000 + duplicates, "duplicates": duplicates}

    none = {"e2e": None, "comeback": None, "duplicates": None}
    summary = {
        "floor": {"hot": hot(4.0, 9.5, 50.0), "exit": exit_(0.0123)} | none,
        "nodeliver": {"hot": hot(8.0, 20.0, 90.0), "exit": exit_(0.0234)} | none,
        "thread": {"hot": hot(11.0, 30.0, 150.0), "e2e": e2e(5_000.0, None),
                   "exit": exit_(0.0612), "comeback": back(0, 200), "duplicates": dups(2)},
        "agent": {"hot": hot(12.0, 40.0, 80.0), "e2e": e2e(12_000.0, 85.7),
                  "exit": exit_(0.0154), "comeback": back(150, 50), "duplicates": dups(0)},
    }  # fmt: skip
    profile = {"name": "quick", "repeats": 1, "hot_calls": 1_000, "hot_warmup": 100,
               "e2e_calls": 2_000, "exit_calls": 200, "after_up_s": 10.0, "dup_processes": 4,
               "dup_calls": 1_000}  # fmt: skip
    return {
        "started_utc": "2026-01-01 00:00 UTC",
        "machine": {
            "git": "abc1234",
            "nproc": 2,
            "cpu_model": "CPU",
            "kernel": "6.0",
            "implementation": "CPython",
            "python": "3.11.7",
            "load_avg_start": [0.5, 0.5, 0.5],
        },
        "profile": {"name": "quick"},
        "load_avg_end": [0.6, 0.6, 0.6],
        "elapsed_s": 60.0,
        "problems": [],
        "delivery": {"profile": profile, "summary": summary, "problems": []},
    }


def test_the_delivery_section_shows_the_runs_figures_and_targets() -> None:
    page = report.render_page(delivery_run())
    assert "## Delivery modes: in the app's threads or in the delivery agent" in page
    rows = {line.split(" | ")[0].lstrip("| "): line for line in page.splitlines()}
    assert rows["floor (orjson line, O_APPEND)"] == (
        "| floor (orjson line, O_APPEND) | 4.0 | 9.5 | 50.0 | n/a | 0.012 | n/a | n/a | n/a | - |"
    )
    assert rows["`deliver=False` (spool append alone)"] == (
        "| `deliver=False` (spool append alone) | 8.0 | 20.0 | 90.0 | n/a | 0.023 | n/a | n/a "
        "| n/a | - |"
    )
    assert rows["thread (sender threads in the app)"] == (
        "| thread (sender threads in the app) | 11.0 | 30.0 | 150 | 5,000 | 0.061 | 0/200 | 200 "
        "| 2 of 4,002 | - |"
    )
    assert rows["agent (`heliograph agent`)"] == (
        "| agent (`heliograph agent`) | 12.0 | 40.0 | 80.0 | 12,000 | 0.015 | 150/200 | 50 "
        "| 0 of 4,000 | 85.7 |"
    )
    # The targets: delivery_modes.targets of the summary, with its ratios and ✓/✗.
    for line in (
        "| agent caller p50 / floor p50 ≤ 2.5 | 3.00x | ✗ |",
        "| agent caller p99 ≤ 50 µs | 40.0 µs | ✓ |",
        "| agent records/s / thread records/s ≥ 2 | 2.40x | ✓ |",
        "| agent records/s ≥ 8,000 | 12,000 | ✓ |",
        "| agent: all delivered after the sink is back, no restart | 75% | ✗ |",
        "| thread: 0 duplicate POSTs | 2 | ✗ |",
        "| agent: 0 duplicate POSTs | 0 | ✓ |",
    ):
        assert line in page.splitlines(), line


def test_a_run_without_the_delivery_section_renders_no_delivery_section() -> None:
    data = delivery_run()
    with_section = report.render_page(data)
    del data["delivery"]
    page = report.render_page(data)
    assert "Delivery modes" not in page
    start = with_section.index("\n## Delivery modes")
    end = with_section.index("\n## Caveats")
    assert with_section[:start] + with_section[end:] == page
