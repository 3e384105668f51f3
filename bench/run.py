"""Heliograph's benchmark: caller cost, delivery throughput, import, exit and memory.

    .venv/bin/python bench/run.py            # full run, about 13-14 minutes on 2 cores
    .venv/bin/python bench/run.py --quick    # smoke run, about 2.5 minutes
    .venv/bin/python bench/run.py --sections peers   # one section (or a comma list)
    .venv/bin/python bench/run.py --sections delivery   # section 10: threads vs the agent

Every measurement runs in a fresh interpreter (``child.py``) against a fresh
``heliograph.receiver.server.ReceiverThread`` in this process, which stays idle meanwhile.
Sections 4 and 5 (exit and memory with the receiver down) are in ``downtime.py``; section 9
(the peers: the same workload through Heliograph, helicone-helpers, OpenTelemetry, Langfuse
and LangSmith, against ``sink.py``) is in ``peers.py``; section 10 (delivery by the app's
threads or by ``heliograph agent``, against ``sink.py``) is in ``delivery_modes.py``.
Prints a table and writes the raw figures to ``bench/results/latest.json``. See README.md
for what each figure means and its caveats. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import http.client
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from dashboard import render_dashboard, run_dashboard
from delivery_modes import FULL as DELIVERY_FULL
from delivery_modes import QUICK as DELIVERY_QUICK
from delivery_modes import render_delivery, run_delivery
from downtime import render_downtime, run_downtime
from kafka import render_kafka, run_kafka
from peers import FULL as PEERS_FULL
from peers import QUICK as PEERS_QUICK
from peers import render_peers, run_peers, time_imports
from report import DOCS, write_report
from streams import render_streams, run_streams
from workload import sizes

from heliograph.receiver.server import ReceiverThread

BENCH_DIR = Path(__file__).resolve().parent
CHILD = BENCH_DIR / "child.py"
RESULTS = BENCH_DIR / "results" / "latest.json"

HOT_ADAPTERS = ("floor", "heliograph", "heliograph-nodeliver", "helicone-helpers")
E2E_ADAPTERS = ("heliograph", "helicone-helpers")
IMPORT_MODULES = ("orjson", "heliograph", "helicone_helpers")
# Records these adapters send to the receiver; the others only write local files.
SENDS = frozenset({"heliograph", "helicone-helpers"})
PACKAGES = ("heliograph", "helicone-helpers", "requests", "urllib3", "httpx", "httpcore")
PACKAGES += ("orjson", "uvicorn", "h11")
# A keep-alive round trip slower than this is a sink problem, not a client one (~1 ms is normal).
SLOW_SINK_MS = 20.0
# --sections: every section in order; numbers and the names of sections 4 and 5 map to these.
SECTIONS = ("hot", "e2e", "import", "downtime", "streams", "kafka", "dashboard", "peers")
SECTIONS += ("delivery",)
SECTION_ALIASES = {"1": "hot", "2": "e2e", "3": "import", "4": "downtime", "5": "downtime"}
SECTION_ALIASES |= {"exit": "downtime", "rss": "downtime", "memory": "downtime", "6": "streams"}
SECTION_ALIASES |= {"7": "kafka", "8": "dashboard", "9": "peers", "10": "delivery"}


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    repeats: int  # fresh processes per adapter and measurement
    hot_calls: int
    hot_warmup: int
    hh_hot_calls: int  # helicone-helpers posts synchronously: ~1-3 ms a call
    hh_hot_warmup: int
    hot_flush_s: float
    e2e_calls: int
    e2e_warmup: int
    hh_e2e_calls: int
    hh_e2e_warmup: int
    e2e_flush_s: float
    import_runs: int
    exit_calls: int = 1_000  # logged before returning from main, receiver down or hanging
    rss_calls: int = 1_000_000  # logged with the receiver down while VmRSS is sampled
    kafka_records: int = 5_000  # section 7, per path and process
    dashboard_sessions: int = 10_000  # section 8; bench/dashboard.py --requests 1000000 for 1M
    dashboard_requests: int = 200_000
    dashboard_rounds: int = 20

    def calls(self, mode: str, adapter: str) -> tuple[int, int, float]:
        """(calls, warm-up calls, flush timeout) for one child."""
        hh = adapter == "helicone-helpers"
        if mode == "hot":
            if hh:
                return self.hh_hot_calls, self.hh_hot_warmup, self.hot_flush_s
            return self.hot_calls, self.hot_warmup, self.hot_flush_s
        if hh:
            return self.hh_e2e_calls, self.hh_e2e_warmup, self.e2e_flush_s
        return self.e2e_calls, self.e2e_warmup, self.e2e_flush_s


FULL = Profile("full", 3, 20_000, 1_000, 2_000, 100, 60.0, 5_000, 200, 2_000, 50, 120.0, 5)
QUICK = Profile("quick", 1, 1_000, 100, 100, 10, 10.0, 300, 30, 100, 10, 30.0, 2, 200, 20_000, 500,
                dashboard_sessions=1_000, dashboard_requests=20_000,
                dashboard_rounds=5)  # fmt: skip


# -- environment -------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """Our environment minus anything that would point a client elsewhere or proxy it.

    ``PYTHONDONTWRITEBYTECODE`` goes too: with it, every import of a module that has no
    ``.pyc`` yet (an editable install's) compiles it again, which an installed package's
    user never pays; the warm-up round of the import timings writes the ``.pyc`` files.
    """
    dropped = ("HELICONE_", "HELIOGRAPH_", "OTEL_", "LANGFUSE_", "LANGSMITH_", "LANGCHAIN_")
    unwanted = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "pythondontwritebytecode"}
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(dropped) and k.lower() not in unwanted
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(BENCH_DIR.parent), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine_info() -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "switch_interval_s": sys.getswitchinterval(),
        "load_avg_start": os.getloadavg(),
        "versions": versions,
        "git": git_revision(),
    }


# -- the sink ----------------------------------------------------------------------------


def receiver_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/v1/receiver/stats", timeout=10) as response:
        payload = json.load(response)
    return payload.get("data", payload)


def sink_check(receiver: ReceiverThread, rounds: int = 10) -> dict[str, float]:
    """Median ms of ``GET /healthz``: on one keep-alive connection, and one connection each."""

    def get(conn: http.client.HTTPConnection) -> None:
        conn.request("GET", "/healthz")
        conn.getresponse().read()

    keepalive = http.client.HTTPConnection(receiver.host, receiver.port, timeout=10)
    get(keepalive)
    timings: dict[str, list[float]] = {"keepalive_ms": [], "new_connection_ms": []}
    for _ in range(rounds):
        start = time.perf_counter()
        get(keepalive)
        timings["keepalive_ms"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        fresh = http.client.HTTPConnection(receiver.host, receiver.port, timeout=10)
        get(fresh)
        fresh.close()
        timings["new_connection_ms"].append((time.perf_counter() - start) * 1000)
    keepalive.close()
    return {name: statistics.median(values) for name, values in timings.items()}


# -- children ----------------------------------------------------------------------------


def run_child(mode: str, adapter: str, profile: Profile, tmp: Path, index: int) -> dict:
    """One measurement in a fresh interpreter against a fresh receiver; never raises."""
    calls, warmup, flush_s = profile.calls(mode, adapter)
    workdir = tmp / f"{index:02d}-{mode}-{adapter}"
    workdir.mkdir()
    out = workdir / "result.json"
    run: dict[str, Any] = {"mode": mode, "adapter": adapter, "calls": calls, "warmup": warmup}
    run["flush_timeout_s"] = flush_s
    db_path = workdir / "receiver.sqlite3"
    with ReceiverThread(port=0, db_path=db_path) as receiver:
        before = receiver_stats(receiver.url)
        command = [sys.executable, str(CHILD), mode, adapter, "--url", receiver.url]
        command += ["--workdir", str(workdir), "--out", str(out)]
        command += ["--calls", str(calls), "--warmup", str(warmup), "--timeout", str(flush_s)]
        started = time.perf_counter()
        # This process only serves the receiver meanwhile, so its CPU time is the sink's.
        sink_cpu_start = time.process_time()
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=child_env(),
                timeout=flush_s * 2 + 300,
                check=False,
                cwd=workdir,
            )
        except subprocess.TimeoutExpired as exc:
            run["error"] = f"child timed out after {exc.timeout:.0f} s"
            return run
        run["wall_s"] = time.perf_counter() - started
        run["sink_cpu_s"] = time.process_time() - sink_cpu_start
        after = receiver_stats(receiver.url)
    run["returncode"] = proc.returncode
    run["stderr"] = proc.stderr.splitlines()
    run["stdout_lines"] = len(proc.stdout.splitlines())
    run["stdout_head"] = proc.stdout.splitlines()[:3]
    run["receiver_grew_by"] = after["requests"] - before["requests"]
    run["receiver_duplicates"] = after.get("duplicates", 0) - before.get("duplicates", 0)
    run["receiver_rejected"] = after.get("rejected", {})
    run["expected_at_receiver"] = calls + warmup if adapter in SENDS else 0
    if proc.returncode != 0 or not out.exists():
        run["error"] = f"child exited with {proc.returncode}"
        return run
    run["result"] = json.loads(out.read_text())
    db_path.unlink(missing_ok=True)  # tens of MB each
    return run


def measure_imports(runs: int) -> dict[str, dict[str, Any]]:
    """Section 3: ``import <module>`` for each of ``IMPORT_MODULES``."""
    statements = {module: f"import {module}" for module in IMPORT_MODULES}
    return time_imports(statements, runs, child_env(), timeout_s=60.0)


# -- summary -----------------------------------------------------------------------------


def ok_runs(runs: list[dict], mode: str, adapter: str) -> list[dict]:
    return [r for r in runs if r["mode"] == mode and r["adapter"] == adapter and "result" in r]


def summarise_hot(runs: list[dict]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for adapter in HOT_ADAPTERS:
        done = ok_runs(runs, "hot", adapter)
        if not done:
            continue
        figures = [r["result"]["us"] for r in done]
        entry = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
        entry["p50_min"] = min(f["p50"] for f in figures)
        entry["p50_max"] = max(f["p50"] for f in figures)
        entry["processes"] = len(done)
        entry["calls"] = done[0]["calls"]
        entry["flush_s"] = statistics.median(r["result"]["finish_s"] for r in done)
        entry["delivered"] = [r["receiver_grew_by"] for r in done]
        entry["expected"] = done[0]["expected_at_receiver"]
        reports = [r["result"]["finish"].get("report") for r in done]
        entry["reports"] = [rep for rep in reports if rep is not None]
        entry["delivered_during_loop"] = [r["result"]["delivered_during_loop"] for r in done]
        if entry["reports"]:
            # Records delivered while flush() waited, per second, and the backlog it began with.
            entry["flush_drain_per_s"] = statistics.median(
                (
                    r["result"]["finish"]["report"]["delivered"]
                    - r["result"]["delivered_during_loop"]
                )
                / r["result"]["finish_s"]
                for r in done
            )
            entry["backlog_at_loop_end"] = statistics.median(
                r["calls"] + r["warmup"] - r["result"]["delivered_during_loop"] for r in done
            )
        summary[adapter] = entry
    floor = summary.get("floor")
    for entry in summary.values():
        if floor:
            entry["p50_vs_floor"] = entry["p50"] / floor["p50"]
            entry["mean_vs_floor"] = entry["mean"] / floor["mean"]
    return summary


def summarise_e2e(runs: list[dict]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for adapter in E2E_ADAPTERS:
        done = ok_runs(runs, "e2e", adapter)
        if not done:
            continue
        rates = [r["result"]["records_per_s"] for r in done]
        summary[adapter] = {
            "processes": len(done),
            "calls": done[0]["calls"],
            "records_per_s": statistics.median(rates),
            "records_per_s_min": min(rates),
            "records_per_s_max": max(rates),
            "log_phase_s": statistics.median(r["result"]["log_phase_s"] for r in done),
            # Per record of the whole child (warm-up included) for the sink, timed phase
            # only for the client.
            "client_cpu_us_per_record": statistics.median(
                r["result"]["client_cpu_s"] / r["calls"] * 1e6 for r in done
            ),
            "sink_cpu_us_per_record": statistics.median(
                r["sink_cpu_s"] / (r["calls"] + r["warmup"]) * 1e6 for r in done
            ),
            "total_s": statistics.median(r["result"]["total_s"] for r in done),
            "receiver_grew_by": [r["result"]["receiver_grew_by"] for r in done],
            "reports": [r["result"]["finish"].get("report") for r in done],
        }
    return summary


def find_problems(runs: list[dict], sink: dict[str, Any]) -> list[str]:
    """Everything that is not a clean run, in words: errors, lost or late records, logs."""
    problems: list[str] = []
    if sink["keepalive_ms"] > SLOW_SINK_MS:
        problems.append(
            f"sink: a keep-alive round trip to the receiver takes {sink['keepalive_ms']:.1f} ms "
            f"(a new connection: {sink['new_connection_ms']:.1f} ms). That is the Nagle/"
            "delayed-ACK stall (~40 ms): the listener has no TCP_NODELAY, so the response "
            "body waits for the ACK of its headers. Heliograph's delivery (keep-alive pool) is "
            "bound by it; helicone-helpers (a new connection per call) is not."
        )
    stderr_seen: dict[str, int] = {}
    for run in runs:
        label = f"{run['mode']} {run['adapter']}"
        if "error" in run:
            problems.append(f"{label}: {run['error']}; stderr tail: {run.get('stderr', [])[-3:]}")
            continue
        report = run["result"]["finish"].get("report")
        if report and run["adapter"] == "heliograph" and report["pending"]:
            # Not lost: pending records stay in the spool for the next process.
            problems.append(
                f"{label}: flush({run['flush_timeout_s']:.0f}) returned with "
                f"{report['pending']} of {report['accepted']} records pending in the spool "
                f"(delivered {report['delivered']}); the receiver held "
                f"{run['receiver_grew_by']} once close(5) had returned"
            )
        elif run["receiver_grew_by"] != run["expected_at_receiver"]:
            problems.append(
                f"{label}: the receiver stored {run['receiver_grew_by']} records, "
                f"expected {run['expected_at_receiver']} (calls + warm-up)"
            )
        if report and (report["dead_lettered"] or report["dropped"]):
            problems.append(
                f"{label}: dead_lettered={report['dead_lettered']} dropped={report['dropped']}"
            )
        if run["receiver_duplicates"]:
            problems.append(f"{label}: {run['receiver_duplicates']} duplicates at the receiver")
        if run["receiver_rejected"]:
            problems.append(f"{label}: receiver rejections {run['receiver_rejected']}")
        if run["stdout_lines"] and run["adapter"] != "helicone-helpers":
            problems.append(f"{label}: printed {run['stdout_lines']} lines to stdout")
        if run["adapter"] == "helicone-helpers" and run["stdout_lines"]:
            problems.append(
                f"{label}: helicone-helpers printed {run['stdout_lines']} error lines, "
                f"e.g. {run['stdout_head'][:1]}"
            )
        for line in run["stderr"]:
            key = f"{label}: {line[:300]}"
            stderr_seen[key] = stderr_seen.get(key, 0) + 1
    problems += [f"stderr x{n}: {line}" for line, n in list(stderr_seen.items())[:20]]
    return problems


# -- printing ----------------------------------------------------------------------------


def fmt_us(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def slowest(n: int, q: float) -> int:
    """Which slowest call (1 = the slowest) the nearest-rank percentile ``q`` picks of ``n``."""
    return n - min(n - 1, max(0, round(q * n) - 1))


def kth_slowest(k: int) -> str:
    if k == 1:
        return "the slowest call"
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"the {k}{suffix}-slowest call"


def table(header: list[str], rows: list[list[str]]) -> str:
    """Plain aligned columns: the first left-aligned, the rest right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [str(cells[0]).ljust(widths[0])]
        parts += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def delivered_cell(adapter: str, entry: dict[str, Any]) -> str:
    if adapter == "floor":
        return "n/a (file only)"
    if adapter == "heliograph-nodeliver":
        pending = [rep["pending"] for rep in entry["reports"]]
        return f"spool only; {min(pending)} spooled"
    got = entry["delivered"]
    expected = entry["expected"]
    text = f"{min(got)}/{expected}" if min(got) == max(got) else f"{min(got)}-{max(got)}/{expected}"
    if adapter == "heliograph":
        text += f", flush {entry['flush_s']:.1f} s"
    return text


def render(data: dict[str, Any]) -> str:
    m, p, w = data["machine"], data["profile"], data["workload"]
    hot = data["hot"]["summary"] if "hot" in data else None
    e2e = data["e2e"]["summary"] if "e2e" in data else None
    imports = data.get("import")
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    out = [
        f"Heliograph benchmark, {p['name']} mode, {data['started_utc']} "
        f"({data['elapsed_s']:.0f} s, git {m['git']})",
        f"machine: {m['nproc']} cores, {m['cpu_model']}, Linux {m['kernel']}, "
        f"{m['implementation']} {m['python']}, switch interval {m['switch_interval_s']} s, "
        f"load avg {m['load_avg_start'][0]:.2f} at start / {data['load_avg_end'][0]:.2f} at end",
        f"versions: {versions}",
        f"workload: request {w['request_bytes']} B + response {w['response_bytes']} B + 3 "
        "Helicone headers, 256 distinct calls cycled",
    ]
    if "sink" in data:
        out[-1] += (
            "; sink (sections 1-2): heliograph ReceiverThread (SQLite) on 127.0.0.1, a fresh one "
            "per process"
        )
        out.append(
            f"sink check: GET /healthz {data['sink']['keepalive_ms']:.1f} ms on a keep-alive "
            f"connection, {data['sink']['new_connection_ms']:.1f} ms on a new one (median of 10)"
        )
    if hot is not None:
        out += [
            "",
            "1. Caller-thread cost of one log call, µs (each figure: the median over the fresh "
            f"processes ({p['repeats']} per adapter) of that process's percentile; GC on)",
        ]
        rows = []
        for adapter in HOT_ADAPTERS:
            if adapter not in hot:
                rows.append([adapter, "failed", *[""] * 9])
                continue
            e = hot[adapter]
            rows.append(
                [
                    adapter,
                    f"{e['calls']:,}",
                    fmt_us(e["p50"]),
                    f"{fmt_us(e['p50_min'])}-{fmt_us(e['p50_max'])}",
                    fmt_us(e["p99"]),
                    fmt_us(e["p99.9"]),
                    fmt_us(e["mean"]),
                    f"{e['p50_vs_floor']:.1f}x",
                    f"{e['mean_vs_floor']:.1f}x",
                    delivered_cell(adapter, e),
                ]
            )
        header = ["adapter", "calls", "p50", "p50 range", "p99", "p99.9", "mean"]
        header += ["p50/floor", "mean/floor", "at receiver (incl. warm-up)"]
        out.append(table(header, rows))
        out.append(
            f"   calls per process after {p['hot_warmup']:,} warm-up calls "
            f"({p['hh_hot_warmup']} for helicone-helpers, which posts synchronously, so it gets "
            f"{p['hh_hot_calls']:,} calls). p99 and above are noisy (±30% between runs is "
            f"usual here); with {p['hh_hot_calls']:,} calls, p99.9 is "
            f"{kth_slowest(slowest(p['hh_hot_calls'], 0.999))}."
        )
        if "heliograph" in hot:
            e = hot["heliograph"]
            out.append(
                "   heliograph: the delivery worker runs during the loop; receiver rows gained "
                f"during the loop: {e['delivered_during_loop']}; then flush("
                f"{p['hot_flush_s']:.0f}) took {e['flush_s']:.1f} s and delivered "
                f"{e['flush_drain_per_s']:,.0f} records/s from a backlog of "
                f"{e['backlog_at_loop_end']:,.0f} (medians)."
            )

    if e2e is not None:
        out += [
            "",
            f"2. Delivery throughput to the receiver (median of {p['repeats']} processes each)",
        ]
        rows = []
        for adapter in E2E_ADAPTERS:
            if adapter not in e2e:
                rows.append([adapter, "failed", *[""] * 7])
                continue
            e = e2e[adapter]
            grew = e["receiver_grew_by"]
            rows.append(
                [
                    adapter,
                    f"{e['calls']:,}",
                    f"{e['log_phase_s']:.2f}",
                    f"{e['total_s']:.2f}",
                    f"{e['records_per_s']:,.0f}",
                    f"{e['records_per_s_min']:,.0f}-{e['records_per_s_max']:,.0f}",
                    f"{min(grew)}/{e['calls']}"
                    + ("" if min(grew) == max(grew) else f"..{max(grew)}"),
                    f"{e['client_cpu_us_per_record']:,.0f}",
                    f"{e['sink_cpu_us_per_record']:,.0f}",
                ]
            )
        header = ["adapter", "calls", "log s", "delivered s", "records/s", "range", "receiver +"]
        header += ["client CPU µs/rec", "sink CPU µs/rec"]
        out.append(table(header, rows))
        out.append(
            "   heliograph: first log call to flush() returning with all delivered (after a "
            f"{p['e2e_warmup']}-call warm-up and flush); helicone-helpers: {p['hh_e2e_calls']:,} "
            "synchronous send_log calls (one new TCP connection each), so log s = delivered s. "
            "CPU µs/rec: CPU time of all threads per record, of the logging process (client) and "
            "of the receiver (sink); with 2 cores, their sum bounds records/s."
        )

    if imports is not None:
        out += [
            "",
            f"3. Import time, ms (import statement in {p['import_runs']} fresh interpreters)",
        ]
        rows = []
        for module, e in imports.items():
            pulls = [n for n in ("httpx", "requests", "uvicorn") if e[f"loads_{n}"]]
            rows.append(
                [
                    module + (" (reference)" if module == "orjson" else ""),
                    f"{e['median_ms']:.1f}",
                    f"{e['min_ms']:.1f}-{e['max_ms']:.1f}",
                    str(e["modules_loaded"]),
                    ", ".join(pulls) or "-",
                ]
            )
        out.append(table(["module", "median", "range", "modules loaded", "imports"], rows))

    if "downtime" in data:
        out += render_downtime(data["downtime"], p["repeats"], table)
    if "streams" in data:
        out.append(render_streams(data["streams"], table))
    if "kafka" in data:
        out.append(render_kafka(data["kafka"], table))
    if "dashboard" in data:
        out += render_dashboard(data["dashboard"], table)
    if "peers" in data:
        out += render_peers(data["peers"], table)
    if "delivery" in data:
        out += render_delivery(data["delivery"], table)

    rows = []
    if hot and "heliograph" in hot and "helicone-helpers" in hot:
        h, c = hot["heliograph"], hot["helicone-helpers"]
        rows.append(["caller p50 (lower is better)", fmt_us(h["p50"]), fmt_us(c["p50"])])
        rows[-1].append(f"{c['p50'] / h['p50']:.0f}x less time on the caller")
        rows.append(["caller mean", fmt_us(h["mean"]), fmt_us(c["mean"])])
        rows[-1].append(f"{c['mean'] / h['mean']:.0f}x")
        rows.append(["caller p99 (noisy)", fmt_us(h["p99"]), fmt_us(c["p99"])])
        rows[-1].append(f"{c['p99'] / h['p99']:.1f}x")
    if e2e and "heliograph" in e2e and "helicone-helpers" in e2e:
        h, c = e2e["heliograph"], e2e["helicone-helpers"]
        ratio = h["records_per_s"] / c["records_per_s"]
        rows.append(["delivery records/s", f"{h['records_per_s']:,.0f}"])
        rows[-1] += [f"{c['records_per_s']:,.0f}", f"{ratio:.2f}x (heliograph/helicone-helpers)"]
    if imports and "heliograph" in imports and "helicone_helpers" in imports:
        h, c = imports["heliograph"], imports["helicone_helpers"]
        rows.append(["import ms", f"{h['median_ms']:.1f}", f"{c['median_ms']:.1f}"])
        rows[-1].append(f"{h['median_ms'] / c['median_ms']:.2f}x (heliograph/helicone-helpers)")
    if rows:
        out += ["", "heliograph vs helicone-helpers"]
        out.append(table(["figure", "heliograph", "helicone-helpers", "ratio"], rows))

    if data.get("measured_once") and p["repeats"] > 1:
        out += ["", "Measured in one process only, to keep the run short:"]
        out += [f"- {label}: {reason}" for label, reason in data["measured_once"].items()]
    out += ["", "Problems seen"]
    out += [f"- {line}" for line in data["problems"]] or ["- none"]
    out.append("")
    if "sink" in data:
        out.append(
            "Caveats: 2 shared cores; the sink runs on the same machine (its per-request cost is "
            "inside helicone-helpers' caller time and bounds both throughputs); heliograph's "
            "delivery threads share the GIL with the caller, which shows in its p99/p99.9 "
            "(compare heliograph-nodeliver)."
        )
    out.append(f"Raw results: {data['results_path']}")
    return "\n".join(out)


# -- main --------------------------------------------------------------------------------


def run_all(
    profile: Profile, tmp: Path, sink: dict[str, float], modes: tuple[str, ...] = ("hot", "e2e")
) -> tuple[list[dict], dict[str, str]]:
    """Every child, round-robin by repeat; returns the runs and what was measured only once.

    A heliograph delivery run that cannot finish within its flush timeout lasts over a
    minute, so it is not repeated: the full run stays within a few minutes, and the first
    run already shows the problem.
    """
    once: dict[str, str] = {}
    if sink["keepalive_ms"] > SLOW_SINK_MS:
        reason = "the sink stalls on keep-alive connections (see Problems)"
        once = {"hot heliograph": reason, "e2e heliograph": reason}
    runs: list[dict] = []
    index = 0
    for mode, adapters in (("hot", HOT_ADAPTERS), ("e2e", E2E_ADAPTERS)):
        if mode not in modes:
            continue
        for repeat in range(profile.repeats):
            shift = repeat % len(adapters)  # rotate the order: drift hits every adapter
            for adapter in adapters[shift:] + adapters[:shift]:
                label = f"{mode} {adapter}"
                if repeat and label in once:
                    continue
                index += 1
                print(f"[{index}] {label} (repeat {repeat + 1})", file=sys.stderr)
                run = run_child(mode, adapter, profile, tmp, index) | {"repeat": repeat}
                runs.append(run)
                report = run.get("result", {}).get("finish", {}).get("report")
                if adapter == "heliograph" and report and report["pending"]:
                    once.setdefault(
                        label,
                        f"its flush({run['flush_timeout_s']:.0f}) ended with "
                        f"{report['pending']} records pending (see Problems)",
                    )
    return runs, once


def parse_sections(text: str | None) -> tuple[str, ...]:
    """``--sections``: names or numbers, comma-separated; every section when not given."""
    if not text:
        return SECTIONS
    chosen = set()
    for item in (part.strip().lower() for part in text.split(",")):
        name = SECTION_ALIASES.get(item, item)
        if name not in SECTIONS:
            raise SystemExit(
                f"unknown section {item!r}; choose from {', '.join(SECTIONS)} "
                "(or 1-10; 4/5/exit/rss are 'downtime')"
            )
        chosen.add(name)
    return tuple(name for name in SECTIONS if name in chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: small counts, one process each"
    )
    parser.add_argument("--repeats", type=int, help="fresh processes per adapter (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--sections",
        help="comma-separated sections to run (default all): " + ", ".join(SECTIONS),
    )
    parser.add_argument(
        "--docs",
        type=Path,
        help="write benchmarks.md, its charts and the results into this folder "
        "(default: docs/ after a full run of every section, nowhere otherwise)",
    )
    args = parser.parse_args()
    sections = parse_sections(args.sections)
    profile = QUICK if args.quick else FULL
    peers_profile = PEERS_QUICK if args.quick else PEERS_FULL
    delivery_profile = DELIVERY_QUICK if args.quick else DELIVERY_FULL
    if args.repeats:
        profile = dataclasses.replace(profile, repeats=args.repeats)
        peers_profile = dataclasses.replace(peers_profile, repeats=args.repeats)
        delivery_profile = dataclasses.replace(delivery_profile, repeats=args.repeats)
    logging.basicConfig(level=logging.WARNING, format="run.py %(name)s %(levelname)s %(message)s")

    started = time.perf_counter()
    data: dict[str, Any] = {
        "started_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "profile": dataclasses.asdict(profile),
        "sections": list(sections),
        "workload": sizes(),
    }
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="heliograph-bench-") as tmp_name:
        tmp = Path(tmp_name)
        modes = tuple(m for m in ("hot", "e2e") if m in sections)
        if modes:
            with ReceiverThread(port=0, db_path=tmp / "sink-check.sqlite3") as receiver:
                data["sink"] = sink_check(receiver)
            runs, data["measured_once"] = run_all(profile, tmp, data["sink"], modes)
        if "import" in sections:
            print("[import] timing imports", file=sys.stderr)
            data["import"] = measure_imports(profile.import_runs)
        if "streams" in sections:
            print("[streams] stream pass-through overhead", file=sys.stderr)
            data["streams"] = run_streams(profile.repeats)
        if "kafka" in sections:
            print("[kafka] produce throughput", file=sys.stderr)
            data["kafka"] = run_kafka(profile.repeats, profile.kafka_records)
        if "dashboard" in sections:
            data["dashboard"] = run_dashboard(
                profile.dashboard_sessions, profile.dashboard_requests, profile.dashboard_rounds
            )
        if "downtime" in sections:
            data["downtime"] = run_downtime(
                profile.repeats, profile.exit_calls, profile.rss_calls, tmp, len(runs), child_env()
            )
        if "peers" in sections:
            print("[peers] the same workload through each SDK", file=sys.stderr)
            peers_started = time.perf_counter()
            data["peers"] = run_peers(peers_profile, tmp, child_env())
            data["peers_elapsed_s"] = time.perf_counter() - peers_started
        if "delivery" in sections:
            print("[delivery] the app's sender threads or the delivery agent", file=sys.stderr)
            data["delivery"] = run_delivery(delivery_profile, tmp, child_env())
    for mode in modes:
        summarise_mode = summarise_hot if mode == "hot" else summarise_e2e
        data[mode] = {
            "summary": summarise_mode(runs),
            "runs": [r for r in runs if r["mode"] == mode],
        }
    data["problems"] = find_problems(runs, data["sink"]) if modes else []
    if "downtime" in data:
        data["problems"] += data["downtime"]["problems"]
    data["load_avg_end"] = os.getloadavg()
    data["elapsed_s"] = time.perf_counter() - started
    data["results_path"] = str(args.out)
    data["printed"] = render(data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, default=str))
    print(data["printed"])
    docs = args.docs or (DOCS if not args.quick and args.sections is None else None)
    if docs is not None:
        for path in write_report(data, docs):
            print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
