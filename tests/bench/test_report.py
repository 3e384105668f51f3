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
