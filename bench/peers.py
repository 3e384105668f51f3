"""Section 9 of ``run.py``: the same workload through Heliograph and through its peers.

Adapters (``adapters.py``): ``floor``, ``heliograph``, ``helicone-helpers``,
``opentelemetry``, ``langfuse``, ``langsmith``, each logging the workload's calls its
SDK's idiomatic way, all pointed at one sink (``sink.py``, its own process on 127.0.0.1).
Every measurement runs in a fresh interpreter (``child.py peer-*``):

- **hot**: warm-up and flush, then N calls back to back, ``perf_counter_ns`` around each;
  what the sink received of the N once the client flushed.
- **e2e**: warm-up and flush, then N prebuilt calls; from the first log call to the sink's
  arrival of the last record; records/s and how many arrived.
- **exit**: the sink down (nothing listening), N calls, ``main`` returns without close; the
  exit timed through a pidfd, capped (then killed); then the sink comes up (what arrives
  in a few seconds), then a "restarted app" on the same state folder flushes.
- **kill**: the sink slow (50 ms per request), N calls, SIGKILL right after the last; what
  the sink had, then the restarted app.
- **rss**: the sink down, VmRSS before and after N calls, VmHWM.
- **import**: the SDK's import statement in fresh interpreters, median.

Nothing is asserted; the figures and everything odd go to ``data["peers"]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import importlib.metadata
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from downtime import wait_exit
from report import of

from heliograph.spool.status import spool_status

BENCH_DIR = Path(__file__).resolve().parent
CHILD = BENCH_DIR / "child.py"
SINK = BENCH_DIR / "sink.py"

PEER_ADAPTERS = (
    "floor",
    "heliograph",
    "helicone-helpers",
    "opentelemetry",
    "langfuse",
    "langsmith",
)
SENDERS = PEER_ADAPTERS[1:]  # floor writes a local file only
IMPORT_STATEMENTS = {
    "floor": "import orjson",
    "heliograph": "from heliograph import ManualLogger",  # import heliograph alone loads ~nothing
    "helicone-helpers": "import helicone_helpers",
    "opentelemetry": "import opentelemetry.sdk.trace, "
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "langfuse": "import langfuse",
    "langsmith": "import langsmith, langsmith.run_trees",
}
VERSION_PACKAGES = (
    "heliograph",
    "helicone-helpers",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "langfuse",
    "langsmith",
    "orjson",
)
# Where each adapter's records must land at the sink (route kind, path suffix).
EXPECTED_ROUTE = {
    "heliograph": ("helicone", "/custom/v1/log"),
    "helicone-helpers": ("helicone", "/custom/v1/log"),
    "opentelemetry": ("otlp", "/v1/traces"),
    "langfuse": ("otlp", "/api/public/otel/v1/traces"),
    "langsmith": ("langsmith-multipart", "/runs/multipart"),
}
SLOW_SINK_MS = 20.0
KIB_PER_MIB = 1024


@dataclasses.dataclass(frozen=True)
class PeerProfile:
    name: str
    repeats: int  # fresh processes per adapter for hot and e2e
    hot_calls: int
    hot_warmup: int
    hh_hot_calls: int  # helicone-helpers posts synchronously, ~1-3 ms a call
    hh_hot_warmup: int
    e2e_calls: int
    e2e_warmup: int
    hh_e2e_calls: int
    hh_e2e_warmup: int
    exit_calls: int
    exit_cap_s: float  # an exit slower than this is killed and marked
    after_up_s: float  # how long the sink is watched once it is back up
    kill_calls: int
    rss_calls: int
    hh_rss_calls: int
    flush_timeout_s: float
    import_runs: int

    def counts(self, mode: str, adapter: str) -> tuple[int, int]:
        """(calls, warm-up calls) of one measurement."""
        hh = adapter == "helicone-helpers"
        if mode == "hot":
            return (
                (self.hh_hot_calls, self.hh_hot_warmup) if hh else (self.hot_calls, self.hot_warmup)
            )
        if mode == "e2e":
            return (
                (self.hh_e2e_calls, self.hh_e2e_warmup) if hh else (self.e2e_calls, self.e2e_warmup)
            )
        if mode == "exit":
            return self.exit_calls, 0
        if mode == "kill":
            return self.kill_calls, 0
        if mode == "rss":
            return (self.hh_rss_calls if hh else self.rss_calls), 0
        raise ValueError(mode)


FULL = PeerProfile(
    "full", repeats=3, hot_calls=20_000, hot_warmup=1_000, hh_hot_calls=2_000, hh_hot_warmup=100,
    e2e_calls=5_000, e2e_warmup=200, hh_e2e_calls=2_000, hh_e2e_warmup=50,
    exit_calls=1_000, exit_cap_s=60.0, after_up_s=5.0, kill_calls=1_000,
    rss_calls=100_000, hh_rss_calls=100_000, flush_timeout_s=60.0, import_runs=5,
)  # fmt: skip
QUICK = PeerProfile(
    "quick", repeats=1, hot_calls=1_000, hot_warmup=100, hh_hot_calls=100, hh_hot_warmup=10,
    e2e_calls=300, e2e_warmup=30, hh_e2e_calls=100, hh_e2e_warmup=10,
    exit_calls=200, exit_cap_s=10.0, after_up_s=0.5, kill_calls=100,
    rss_calls=20_000, hh_rss_calls=2_000, flush_timeout_s=20.0, import_runs=1,
)  # fmt: skip


# -- the sink process --------------------------------------------------------------------


class SinkProcess:
    """``sink.py`` in its own process; its control port answers stats, reset and mode."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.stderr_path = workdir / "sink-stderr.txt"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(SINK)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=workdir,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sink did not start: {self.stderr_path.read_text()[-500:]}")
        ready = json.loads(line)
        self.port, self.control_port = int(ready["port"]), int(ready["control_port"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.control = f"http://127.0.0.1:{self.control_port}"

    def call(self, method: str, path: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=30)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            payload = json.loads(response.read() or b"{}")
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"sink {method} {path}: {response.status} {payload}")
        return payload

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "/_sink/stats")

    def reset(self, mode: str = "up") -> dict[str, Any]:
        self.call("POST", f"/_sink/mode/{mode}")
        return self.call("POST", "/_sink/reset")

    def mode(self, mode: str) -> dict[str, Any]:
        return self.call("POST", f"/_sink/mode/{mode}")

    def settle(self, quiet_s: float = 0.3, cap_s: float = 5.0) -> dict[str, Any]:
        """Stats once nothing new has arrived for ``quiet_s`` (at most ``cap_s``)."""
        deadline = time.monotonic() + cap_s
        stats = self.stats()
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.stats()
            if (now["records"], now["run_ends"], now["requests"]) != (
                stats["records"],
                stats["run_ends"],
                stats["requests"],
            ):
                stats, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                return now
        return self.stats()

    def rtt_check(self, rounds: int = 10) -> dict[str, float]:
        """Median ms of a GET on the data port: one keep-alive connection, and new ones."""
        timings: dict[str, list[float]] = {"keepalive_ms": [], "new_connection_ms": []}
        keep = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        keep.request("GET", "/_check")
        keep.getresponse().read()
        for _ in range(rounds):
            start = time.perf_counter()
            keep.request("GET", "/_check")
            keep.getresponse().read()
            timings["keepalive_ms"].append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            fresh = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            fresh.request("GET", "/_check")
            fresh.getresponse().read()
            fresh.close()
            timings["new_connection_ms"].append((time.perf_counter() - start) * 1000)
        keep.close()
        return {k: statistics.median(v) for k, v in timings.items()}

    def close(self) -> list[str]:
        with contextlib.suppress(Exception):
            self.call("POST", "/_sink/quit")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return read_lines(self.stderr_path)


# -- children ----------------------------------------------------------------------------


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def output_summary(lines: list[str]) -> dict[str, Any]:
    """How many lines a client wrote, and the distinct ones (first 5, with counts)."""
    distinct: dict[str, int] = {}
    for line in lines:
        key = line[:240]
        if key in distinct or len(distinct) < 5:
            distinct[key] = distinct.get(key, 0) + 1
    return {"lines": len(lines), "distinct": distinct}


def child_command(mode: str, adapter: str, sink: SinkProcess, workdir: Path, out: Path,
                  calls: int, warmup: int, timeout_s: float) -> list[str]:  # fmt: skip
    command = [sys.executable, str(CHILD), f"peer-{mode}", adapter, "--url", sink.url]
    command += ["--control", sink.control, "--workdir", str(workdir), "--out", str(out)]
    command += ["--calls", str(calls), "--warmup", str(warmup), "--timeout", str(timeout_s)]
    return command


def start_child(command: list[str], workdir: Path, env: dict, tag: str) -> subprocess.Popen[bytes]:
    with (
        (workdir / f"{tag}-stdout.txt").open("wb") as out,
        (workdir / f"{tag}-stderr.txt").open("wb") as err,
    ):
        return subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=workdir)


def child_outputs(run: dict[str, Any], workdir: Path, tag: str) -> None:
    run[f"{tag}_stdout"] = output_summary(read_lines(workdir / f"{tag}-stdout.txt"))
    run[f"{tag}_stderr"] = output_summary(read_lines(workdir / f"{tag}-stderr.txt"))
    egress = read_lines(workdir / "egress.txt")
    if egress:
        run["egress"] = egress[:20]


def sink_view(stats: dict[str, Any]) -> dict[str, Any]:
    """The part of the sink's stats kept with each run."""
    keep = ("requests", "records", "run_ends", "distinct_ids", "duplicates", "routes")
    view = {k: stats[k] for k in keep}
    view.update(other=stats["other"], agents=stats["agents"], errors=stats["errors"])
    if stats["error_samples"]:
        view["error_samples"] = stats["error_samples"][:3]
    return view


def run_measured(mode: str, adapter: str, profile: PeerProfile, sink: SinkProcess,
                 env: dict, workdir: Path) -> dict[str, Any]:  # fmt: skip
    """hot or e2e: one child against the sink up; never raises."""
    calls, warmup = profile.counts(mode, adapter)
    out = workdir / "result.json"
    run: dict[str, Any] = {"mode": mode, "adapter": adapter, "calls": calls, "warmup": warmup}
    sink_cpu_start = sink.reset("up")["cpu_s"]
    command = child_command(
        mode, adapter, sink, workdir, out, calls, warmup, profile.flush_timeout_s
    )
    started = time.perf_counter()
    proc = start_child(command, workdir, env, "child")
    try:
        proc.wait(profile.flush_timeout_s * 3 + 300)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        run["error"] = "the child timed out and was killed"
    run["wall_s"] = time.perf_counter() - started
    run["returncode"] = proc.returncode
    stats = sink.settle()
    run["sink"] = sink_view(stats)
    run["sink_cpu_s"] = stats["cpu_s"] - sink_cpu_start
    child_outputs(run, workdir, "child")
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        run.setdefault("error", f"no result from the child ({exc})")
        return run
    run["result"] = result
    base = result["sink_base"]
    run["delivered"] = stats["records"] - base["records"]
    run["run_ends"] = stats["run_ends"] - base["run_ends"]
    run["duplicates"] = stats["duplicates"] - base["duplicates"]
    if mode == "e2e":
        last = stats["last_record_s"]
        if run["delivered"] and last is not None:
            run["seconds"] = last - result["first_log_s"]
            run["records_per_s"] = run["delivered"] / run["seconds"]
    return run


def restart_app(adapter: str, profile: PeerProfile, sink: SinkProcess, env: dict,
                workdir: Path) -> dict[str, Any]:  # fmt: skip
    """The restarted app on the same state folder: what reaches the sink from it."""
    before = sink.stats()
    started = time.perf_counter()
    if adapter == "heliograph":
        command = [
            sys.executable,
            "-m",
            "heliograph",
            "flush",
            "--spool-dir",
            str(workdir / "spool"),
        ]
        command += ["--timeout", str(profile.flush_timeout_s)]
        env = env | {"HELIOGRAPH_ENDPOINT": sink.url}
    else:
        command = child_command("restart", adapter, sink, workdir, workdir / "restart.json", 0, 0,
                                profile.flush_timeout_s)  # fmt: skip
    proc = start_child(command, workdir, env, "restart")
    info: dict[str, Any] = {}
    try:
        proc.wait(profile.flush_timeout_s + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        info["error"] = "the restarted app timed out and was killed"
    info["seconds"] = time.perf_counter() - started
    info["returncode"] = proc.returncode
    after = sink.settle()
    info["records"] = after["records"] - before["records"]
    info["duplicates"] = after["duplicates"] - before["duplicates"]
    info["run_ends"] = after["run_ends"] - before["run_ends"]
    info["new_records"] = info["records"] - info["duplicates"]
    child_outputs(info, workdir, "restart")
    with contextlib.suppress(OSError, ValueError):
        info["result"] = json.loads((workdir / "restart.json").read_text())
    if adapter == "heliograph":
        info["spool_pending_after"] = spool_status(workdir / "spool").pending
    return info


def kept_on_disk(adapter: str, workdir: Path) -> int | None:
    if adapter == "floor":
        return len(read_lines(workdir / "floor.jsonl"))
    if adapter == "heliograph":
        return spool_status(workdir / "spool").pending
    return None


def spool_ledger(workdir: Path) -> dict[str, Any]:
    status = spool_status(workdir / "spool")
    return {
        "pending": status.pending,
        "delivered": status.delivered,
        "dead_lettered": status.dead_lettered,
        "lost": dict(status.lost),
        "segments": status.segments,
    }


def run_exit(adapter: str, profile: PeerProfile, sink: SinkProcess, env: dict,
             workdir: Path) -> dict[str, Any]:  # fmt: skip
    """Sink down, N calls, return from main; exit timed; sink up; restarted app."""
    calls, _ = profile.counts("exit", adapter)
    out = workdir / "result.json"
    run: dict[str, Any] = {"mode": "exit", "adapter": adapter, "calls": calls}
    run["cap_s"] = profile.exit_cap_s
    sink.reset("down")
    command = child_command("exit", adapter, sink, workdir, out, calls, 0, profile.flush_timeout_s)
    proc = start_child(command, workdir, env, "child")
    exited = wait_exit(proc, profile.exit_cap_s)
    killed_at = time.time() if exited is None else None
    run["returncode"] = proc.returncode
    run["killed_at_cap"] = exited is None
    child_outputs(run, workdir, "child")
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        run["error"] = f"no result from the child ({exc})"
        sink.mode("up")
        return run
    run["result"] = result
    run["exit_s"] = (exited if exited is not None else killed_at) - result["last_log_returned_s"]
    down = sink.stats()
    run["reached_while_down"] = down["records"]
    run["kept_on_disk"] = kept_on_disk(adapter, workdir)
    if adapter == "heliograph":
        run["spool_after_exit"] = spool_ledger(workdir)
    sink.mode("up")
    if adapter == "floor":
        return run
    time.sleep(profile.after_up_s)
    up = sink.settle()
    run["reached_after_sink_up"] = up["records"] - down["records"]
    run["restart"] = restart_app(adapter, profile, sink, env, workdir)
    run["reached_after_restart"] = run["restart"]["new_records"]
    run["sink"] = sink_view(sink.stats())
    return run


def run_kill(adapter: str, profile: PeerProfile, sink: SinkProcess, env: dict,
             workdir: Path) -> dict[str, Any]:  # fmt: skip
    """Sink slow, N calls, SIGKILL after the last; what reached the sink; restarted app."""
    calls, _ = profile.counts("kill", adapter)
    out = workdir / "result.json"
    run: dict[str, Any] = {"mode": "kill", "adapter": adapter, "calls": calls}
    sink.reset("slow")
    command = child_command("kill", adapter, sink, workdir, out, calls, 0, profile.flush_timeout_s)
    proc = start_child(command, workdir, env, "child")
    try:
        proc.wait(calls * 0.2 + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        run["error"] = "the child did not finish its calls in time; killed"
    run["returncode"] = proc.returncode
    child_outputs(run, workdir, "child")
    lines = read_lines(out)
    if len(lines) == 2:
        run["result"] = json.loads(lines[0]) | {"last_log_returned_s": float(lines[1])}
        run["log_phase_s"] = run["result"]["last_log_returned_s"] - run["result"]["loop_start_s"]
    elif "error" not in run:
        run["error"] = f"the child did not log all its calls (exit status {proc.returncode})"
    before = sink.settle(quiet_s=0.3, cap_s=3.0)
    run["reached_before_kill"] = before["records"] - before["duplicates"]
    run["run_ends_before_kill"] = before["run_ends"]
    run["kept_on_disk"] = kept_on_disk(adapter, workdir)
    if adapter == "heliograph":
        run["spool_after_kill"] = spool_ledger(workdir)
    sink.mode("up")
    if adapter != "floor":
        run["restart"] = restart_app(adapter, profile, sink, env, workdir)
        run["reached_after_restart"] = run["restart"]["new_records"]
    run["sink"] = sink_view(sink.stats())
    return run


def run_rss(adapter: str, profile: PeerProfile, sink: SinkProcess, env: dict,
            workdir: Path) -> dict[str, Any]:  # fmt: skip
    calls, _ = profile.counts("rss", adapter)
    out = workdir / "result.json"
    run: dict[str, Any] = {"mode": "rss", "adapter": adapter, "calls": calls}
    sink.reset("down")
    command = child_command("rss", adapter, sink, workdir, out, calls, 0, profile.flush_timeout_s)
    started = time.perf_counter()
    proc = start_child(command, workdir, env, "child")
    try:
        proc.wait(600 + calls / 100)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        run["error"] = "the child timed out and was killed"
    run["process_wall_s"] = time.perf_counter() - started
    run["returncode"] = proc.returncode
    child_outputs(run, workdir, "child")
    run["reached_while_down"] = sink.stats()["records"]
    sink.mode("up")
    try:
        run["result"] = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        run.setdefault("error", f"no result from the child ({exc})")
        return run
    if adapter == "heliograph":
        run["spool_after_exit"] = spool_ledger(workdir)
    if adapter == "floor":
        run["kept_on_disk"] = kept_on_disk(adapter, workdir)
    return run


def time_imports(
    statements: dict[str, str], runs: int, env: dict, timeout_s: float = 120.0
) -> dict[str, dict[str, Any]]:
    """Each import statement in fresh interpreters, interleaved; median ms and what it loaded.

    Round 0 is discarded: it warms the page cache and writes the ``.pyc`` files. Shared by
    section 3 (``run.py``) and the peers.
    """
    snippet = (
        "import sys, time\n"
        "before = len(sys.modules)\n"
        "start = time.perf_counter()\n"
        "{statement}\n"
        "elapsed = time.perf_counter() - start\n"
        "print(elapsed * 1000, len(sys.modules) - before, "
        "*(name in sys.modules for name in ('httpx', 'requests', 'uvicorn')))\n"
    )
    samples: dict[str, list[list[str]]] = {key: [] for key in statements}
    for round_no in range(runs + 1):
        for key, statement in statements.items():
            proc = subprocess.run(
                [sys.executable, "-c", snippet.format(statement=statement)],
                capture_output=True,
                text=True,
                env=env,
                cwd=tempfile.gettempdir(),
                timeout=timeout_s,
                check=True,
            )
            if round_no:
                samples[key].append(proc.stdout.split())
    result = {}
    for key, rows in samples.items():
        ms = [float(row[0]) for row in rows]
        result[key] = {
            "statement": statements[key],
            "median_ms": statistics.median(ms),
            "min_ms": min(ms),
            "max_ms": max(ms),
            "samples_ms": ms,
            "modules_loaded": int(rows[0][1]),
            "loads_httpx": rows[0][2] == "True",
            "loads_requests": rows[0][3] == "True",
            "loads_uvicorn": rows[0][4] == "True",
        }
    return result


# -- summary -----------------------------------------------------------------------------


def done(runs: list[dict], mode: str, adapter: str) -> list[dict]:
    return [r for r in runs if r["mode"] == mode and r["adapter"] == adapter and "result" in r]


def median_int(values: list[int]) -> int:
    return int(statistics.median_low(values))


def summarise(adapter: str, runs: list[dict], imports: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    hot = done(runs, "hot", adapter)
    if hot:
        us = [r["result"]["us"] for r in hot]
        entry["hot"] = {
            "calls": hot[0]["calls"],
            "processes": len(hot),
            "p50_us": statistics.median(u["p50"] for u in us),
            "p99_us": statistics.median(u["p99"] for u in us),
            "p999_us": statistics.median(u["p99.9"] for u in us),
            "mean_us": statistics.median(u["mean"] for u in us),
            "p50_range_us": [min(u["p50"] for u in us), max(u["p50"] for u in us)],
            "delivered": None if adapter == "floor" else median_int([r["delivered"] for r in hot]),
        }
    else:
        entry["hot"] = None
    e2e = done(runs, "e2e", adapter)
    if adapter == "floor" or not e2e:
        entry["e2e"] = None
    else:
        rates = [r.get("records_per_s") for r in e2e]
        entry["e2e"] = {
            "calls": e2e[0]["calls"],
            "processes": len(e2e),
            "records_per_s": statistics.median(x for x in rates if x is not None)
            if any(x is not None for x in rates)
            else None,
            "delivered": median_int([r["delivered"] for r in e2e]),
            "seconds": statistics.median(r["seconds"] for r in e2e if "seconds" in r)
            if any("seconds" in r for r in e2e)
            else None,
        }
    exits = done(runs, "exit", adapter)
    if exits:
        r = exits[0]
        entry["exit"] = {
            "calls": r["calls"],
            "exit_s": r["exit_s"],
            "killed_at_cap": r["killed_at_cap"],
            "reached_while_down": None if adapter == "floor" else r["reached_while_down"],
            "reached_after_sink_up": r.get("reached_after_sink_up"),
            "reached_after_restart": r.get("reached_after_restart"),
            "kept_on_disk": r["kept_on_disk"],
        }
    else:
        entry["exit"] = None
    kills = done(runs, "kill", adapter)
    if kills:
        r = kills[0]
        entry["kill"] = {
            "calls": r["calls"],
            "reached_before_kill": None if adapter == "floor" else r["reached_before_kill"],
            "reached_after_restart": r.get("reached_after_restart"),
            "kept_on_disk": r["kept_on_disk"],
        }
    else:
        entry["kill"] = None
    rss = done(runs, "rss", adapter)
    if rss:
        r = rss[0]
        samples = r["result"]["samples"]
        before, after = samples[0]["rss_kib"] / KIB_PER_MIB, samples[-1]["rss_kib"] / KIB_PER_MIB
        entry["rss"] = {
            "calls": r["calls"],
            "before_mib": before,
            "after_mib": after,
            "growth_mib": after - before,
            "peak_mib": r["result"]["vmhwm_kib"] / KIB_PER_MIB,
            "wall_s": r["result"]["wall_s"],
            "note": rss_note(adapter, r),
        }
    else:
        entry["rss"] = None
    if adapter in imports:
        entry["import"] = {
            "statement": imports[adapter]["statement"],
            "median_ms": imports[adapter]["median_ms"],
        }
    else:
        entry["import"] = None
    return entry


def rss_note(adapter: str, run: dict[str, Any]) -> str | None:
    """What the client said or did about the records it could not send."""
    parts: list[str] = []
    if adapter == "heliograph":
        ledger, report = run.get("spool_after_exit", {}), run["result"].get("report", {})
        lost = ledger.get("lost", {})
        parts.append(
            f"spool bounded by max_spool_bytes (default): {sum(lost.values()):,} records evicted "
            f"and counted as lost {lost}, {ledger.get('pending', 0):,} kept on disk; "
            f"close(timeout=0) reported dropped={report.get('dropped')}"
        )
    if adapter == "floor":
        parts.append(f"{run.get('kept_on_disk', 0):,} lines on disk")
    samples = run["result"]["samples"]
    if len(samples) > 2:
        growth = (samples[-1]["rss_kib"] - samples[1]["rss_kib"]) / KIB_PER_MIB
        parts.append(f"growth after the first tenth of the calls {growth:+.1f} MiB")
    for stream in ("stdout", "stderr"):
        out = run.get(f"child_{stream}", {})
        if out.get("lines"):
            first = next(iter(out["distinct"]))
            parts.append(f"{out['lines']:,} lines on {stream}, e.g. {first[:160]!r}")
    return "; ".join(parts) or None


def find_problems(runs: list[dict], summary: dict[str, Any], sink_check: dict[str, float],
                  sink_stderr: list[str]) -> list[str]:  # fmt: skip
    problems: list[str] = []
    if sink_check["keepalive_ms"] > SLOW_SINK_MS:
        problems.append(
            f"sink: a keep-alive round trip takes {sink_check['keepalive_ms']:.1f} ms "
            "(expected ~1 ms): the figures measure the sink"
        )
    if sink_stderr:
        problems.append(f"sink wrote {len(sink_stderr)} stderr lines, e.g. {sink_stderr[-3:]}")
    for run in runs:
        label = f"peers {run['mode']} {run['adapter']}"
        adapter, mode = run["adapter"], run["mode"]
        if "error" in run:
            tail = list(run.get("child_stderr", {}).get("distinct", {}))[-2:]
            problems.append(f"{label}: {run['error']}; stderr: {tail}")
        if run.get("egress"):
            problems.append(
                f"{label}: connections to hosts other than loopback: {run['egress'][:3]}"
            )
        for stage in (run, run.get("restart") or {}):
            if stage.get("egress") and stage is not run:
                problems.append(f"{label} restart: non-loopback egress {stage['egress'][:3]}")
        sink = run.get("sink")
        if sink:
            other = {k: v for k, v in sink["other"].items() if k not in ("GET /info",)}
            if other:
                problems.append(f"{label}: the sink got requests on unexpected routes: {other}")
            if sink["errors"]:
                problems.append(
                    f"{label}: the sink could not decode {sink['errors']} request(s): "
                    f"{sink.get('error_samples')}"
                )
            expected = EXPECTED_ROUTE.get(adapter)
            stray = [
                key for key, route in sink["routes"].items()
                if route["records"] and expected and not (
                    route["kind"] == expected[0] and route["path"].endswith(expected[1])
                )
            ]  # fmt: skip
            if stray:
                problems.append(f"{label}: records on routes other than {expected}: {stray}")
        if "result" not in run:
            continue
        short = False  # a short delivery quotes the client's stderr itself
        if mode in ("hot", "e2e") and adapter != "floor":
            if run["delivered"] != run["calls"]:
                short = True
                problems.append(
                    f"{label} (repeat {run.get('repeat', 0) + 1}): the sink got "
                    f"{run['delivered']:,} of {run['calls']:,} records after the flush"
                    + stderr_hint(run)
                )
            if adapter == "langsmith" and run["run_ends"] != run["calls"]:
                problems.append(
                    f"{label}: {run['run_ends']:,} run ends (patch parts) of {run['calls']:,}"
                )
            if run.get("duplicates"):
                problems.append(f"{label}: {run['duplicates']} duplicate records at the sink")
            if run["returncode"] != 0:
                problems.append(f"{label}: the child exited with status {run['returncode']}")
        if mode == "exit":
            if run["killed_at_cap"]:
                problems.append(
                    f"{label}: did not exit within {run['cap_s']:.0f} s of starting; killed "
                    f"(threads at the end of main: {run['result'].get('threads')})"
                )
            elif run["returncode"] != 0:
                problems.append(f"{label}: exited with status {run['returncode']}")
            if adapter == "heliograph":
                if run["kept_on_disk"] != run["calls"]:
                    problems.append(
                        f"{label}: {run['kept_on_disk']} of {run['calls']} records on disk after "
                        f"exit (ledger {run.get('spool_after_exit')})"
                    )
                if run.get("reached_after_restart") != run["calls"]:
                    problems.append(
                        f"{label}: the restart delivered {run.get('reached_after_restart')} of "
                        f"{run['calls']} ({run.get('restart')})"
                    )
        if mode == "kill":
            if run["returncode"] != -9:
                problems.append(f"{label}: exit status {run['returncode']}, expected -9 (SIGKILL)")
            restart = run.get("restart") or {}
            if restart.get("duplicates"):
                problems.append(
                    f"{label}: the restarted app re-sent {restart['duplicates']} record(s) the "
                    "sink already had (delivered before the kill, not yet acknowledged on disk)"
                )
            if adapter == "heliograph":
                reached = run["reached_before_kill"] + (run.get("reached_after_restart") or 0)
                if reached != run["calls"]:
                    problems.append(
                        f"{label}: {run['reached_before_kill']} before the kill + "
                        f"{run.get('reached_after_restart')} after the restart of {run['calls']}"
                    )
        for tag in ("child", "restart"):
            holder = run if tag == "child" else run.get("restart") or {}
            for stream in ("stdout", "stderr"):
                if tag == "restart" and adapter == "heliograph" and stream == "stdout":
                    continue  # `heliograph flush` reports what it delivered: in the run
                if short and tag == "child" and stream == "stderr":
                    continue
                out = holder.get(f"{tag}_{stream}")
                if out and out["lines"]:
                    sample = "; ".join(
                        f"{k[:200]} (x{n})" for k, n in list(out["distinct"].items())[:3]
                    )
                    problems.append(f"{label} {tag} {stream}: {out['lines']:,} lines: {sample}")
    return problems


def stderr_hint(run: dict[str, Any]) -> str:
    out = run.get("child_stderr", {})
    if not out.get("lines"):
        return " (the client logged nothing about it)"
    first = next(iter(out["distinct"]))
    return f"; the client logged {out['lines']:,} stderr line(s), e.g. {first[:160]!r}"


# -- driver ------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in VERSION_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def run_peers(profile: PeerProfile, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    """Every peers measurement; the ``data["peers"]`` dict."""
    root = tmp / "peers"
    root.mkdir()
    sink = SinkProcess(root, env)
    runs: list[dict] = []
    index = 0

    def workdir(label: str) -> Path:
        nonlocal index
        index += 1
        path = root / f"{index:03d}-{label}"
        path.mkdir()
        return path

    def note(text: str) -> None:
        print(f"[peers {index}] {text}", file=sys.stderr, flush=True)

    try:
        sink_check = sink.rtt_check()
        for mode in ("hot", "e2e"):
            adapters = PEER_ADAPTERS if mode == "hot" else SENDERS
            for repeat in range(profile.repeats):
                shift = repeat % len(adapters)  # rotate the order: drift hits every adapter
                for adapter in adapters[shift:] + adapters[:shift]:
                    path = workdir(f"{mode}-{adapter}")
                    note(f"{mode} {adapter} (repeat {repeat + 1})")
                    started = time.perf_counter()
                    run = run_measured(mode, adapter, profile, sink, env, path)
                    elapsed = time.perf_counter() - started
                    runs.append(run | {"repeat": repeat, "elapsed_s": elapsed})
        for mode, measure in (("exit", run_exit), ("kill", run_kill), ("rss", run_rss)):
            for adapter in PEER_ADAPTERS:
                path = workdir(f"{mode}-{adapter}")
                note(f"{mode} {adapter}")
                started = time.perf_counter()
                run = measure(adapter, profile, sink, env, path)
                elapsed = time.perf_counter() - started
                runs.append(run | {"repeat": 0, "elapsed_s": elapsed})
        note("import times")
        imports = time_imports(IMPORT_STATEMENTS, profile.import_runs, env)
    finally:
        sink_stderr = sink.close()
    summary = {adapter: summarise(adapter, runs, imports) for adapter in PEER_ADAPTERS}
    zstd = "advertises zstd_compression_enabled in GET /info, as LangSmith's cloud does"
    description = (
        "bench/sink.py: one asyncio HTTP/1.1 process on 127.0.0.1 for every adapter "
        "(TCP_NODELAY, keep-alive, 200 as soon as the request is decoded and counted); "
        "counts OTLP/HTTP protobuf spans (gzip or not), LangSmith multipart post.<id> parts "
        f"(patch.<id> as run ends; it {zstd}), and Helicone /<route>/v1/log JSON bodies. "
        "Modes: up, slow (50 ms before each answer), down (nothing listening). "
        f"Keep-alive GET round trip {sink_check['keepalive_ms']:.2f} ms, new connection "
        f"{sink_check['new_connection_ms']:.2f} ms (median of 10)."
    )
    problems = find_problems(runs, summary, sink_check, sink_stderr)
    runs += [{"mode": "import", "adapter": adapter} | imports[adapter] for adapter in imports]
    return {
        "profile": dataclasses.asdict(profile),
        "versions": versions(),
        "adapters": list(PEER_ADAPTERS),
        "summary": summary,
        "sink": {"description": description},
        "runs": runs,
        "problems": problems,
    }


# -- the printed table -------------------------------------------------------------------


def fmt_us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def render_peers(data: dict[str, Any], table: Any) -> list[str]:
    """Section 9 of the printed output; ``table`` is ``run.table``."""
    p, summary, v = data["profile"], data["summary"], data["versions"]
    names = ", ".join(f"{k} {val}" for k, val in v.items())
    out = [
        "",
        f"9. Peers: the same calls through each SDK, one sink for all ({p['name']} profile; "
        f"{names})",
        f"   sink: {data['sink']['description']}",
    ]
    floor = (summary.get("floor") or {}).get("hot")
    rows = []
    for adapter in data["adapters"]:
        e = summary.get(adapter) or {}
        hot, e2e, imp = e.get("hot"), e.get("e2e"), e.get("import")
        if hot is None:
            rows.append([adapter, "failed", *[""] * 10])
            continue
        lo, hi = hot["p50_range_us"]
        ratio = f"{hot['p50_us'] / floor['p50_us']:.1f}x" if floor else "-"
        rows.append(
            [
                adapter,
                f"{hot['calls']:,} x{hot['processes']}",
                fmt_us(hot["p50_us"]),
                f"{fmt_us(lo)}-{fmt_us(hi)}",
                fmt_us(hot["p99_us"]),
                fmt_us(hot["p999_us"]),
                fmt_us(hot["mean_us"]),
                ratio,
                of(hot["delivered"], hot["calls"])
                if hot["delivered"] is not None
                else "n/a (file)",
                "-"
                if e2e is None or e2e["records_per_s"] is None
                else f"{e2e['records_per_s']:,.0f}",
                "-" if e2e is None else of(e2e["delivered"], e2e["calls"]),
                "-" if imp is None else f"{imp['median_ms']:.0f}",
            ]
        )
    header = ["adapter", "hot calls", "p50 µs", "p50 range", "p99", "p99.9", "mean"]
    header += ["p50/floor", "hot delivered", "e2e rec/s", "e2e delivered", "import ms"]
    out.append(table(header, rows))
    out.append(
        f"   hot: after {p['hot_warmup']:,} warm-up calls and a flush ({p['hh_hot_warmup']} and "
        f"{p['hh_hot_calls']:,} calls for helicone-helpers, which posts synchronously); medians "
        "over the processes; delivered = what the sink had of the timed calls after flush and "
        f"close. e2e: {p['e2e_calls']:,} prebuilt calls ({p['hh_e2e_calls']:,} for "
        "helicone-helpers), first log call to the sink's arrival of the last record; records/s "
        "counts only what arrived. import: the statement in fresh interpreters, median."
    )
    rows = []
    for adapter in data["adapters"]:
        e = summary.get(adapter) or {}
        ex, kill, rss = e.get("exit"), e.get("kill"), e.get("rss")
        row = [adapter]
        if ex is None:
            row += ["failed", "", ""]
        else:
            exit_text = (
                f">{ex['exit_s']:.1f} (killed)" if ex["killed_at_cap"] else f"{ex['exit_s']:.3f}"
            )
            reached = [
                ex["reached_while_down"],
                ex["reached_after_sink_up"],
                ex["reached_after_restart"],
            ]
            reached_text = (
                "-"
                if reached[0] is None
                else " / ".join("-" if r is None else f"{r:,}" for r in reached)
                + f" of {ex['calls']:,}"
            )
            row += [
                exit_text,
                reached_text,
                "-" if ex["kept_on_disk"] is None else f"{ex['kept_on_disk']:,}",
            ]
        if kill is None:
            row += ["failed", "", ""]
        else:
            row += [
                of(kill["reached_before_kill"], kill["calls"]),
                "-"
                if kill["reached_after_restart"] is None
                else f"{kill['reached_after_restart']:,}",
                "-" if kill["kept_on_disk"] is None else f"{kill['kept_on_disk']:,}",
            ]
        if rss is None:
            row += ["failed", "", "", "", ""]
        else:
            row += [
                f"{rss['calls']:,}",
                f"{rss['before_mib']:.1f}",
                f"{rss['growth_mib']:+.1f}",
                f"{rss['peak_mib']:.1f}",
                f"{rss['wall_s']:.1f}",
            ]
        rows.append(row)
    header = ["adapter", "exit s", "exit: reached down / up / restart", "on disk"]
    header += ["kill: before kill", "+ restart", "on disk", "rss calls", "RSS MiB", "growth"]
    header += ["peak", "wall s"]
    out.append(table(header, rows))
    out.append(
        f"   exit: sink down (refused), {p['exit_calls']:,} calls, main returns without close; "
        "from the last call's return to the exit seen through a pidfd (capped at "
        f"{p['exit_cap_s']:.0f} s, then killed); then the sink is up for {p['after_up_s']:.1f} s, "
        "then a restarted app on the same state folder flushes (heliograph: `heliograph flush "
        "--spool-dir`). kill: sink slow (50 ms per request), "
        f"{p['kill_calls']:,} calls, SIGKILL as the last returns. on disk: undelivered records "
        "in Heliograph's spool, lines in floor's file. rss: sink down, VmRSS before the first "
        "call and after the last (MiB), peak = VmHWM; wall s includes parsing each call."
    )
    for run in data["runs"]:
        if run["mode"] == "kill" and run["adapter"] == "langsmith" and "result" in run:
            out.append(
                f"   langsmith kill: {run['reached_before_kill']:,} runs posted before the kill, "
                f"{run['run_ends_before_kill']:,} of them ended (patch parts); the burst took "
                f"{run.get('log_phase_s', 0):.2f} s."
            )
    for adapter in data["adapters"]:
        rss = (summary.get(adapter) or {}).get("rss")
        if rss and rss["note"]:
            out.append(f"   rss {adapter}: {rss['note']}")
    out += ["", "Peers: problems seen"]
    out += [f"- {line}" for line in data["problems"]] or ["- none"]
    return out
