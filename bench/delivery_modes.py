"""Section 10 of ``run.py``: who delivers, the app's sender threads or the delivery agent.

Four variants of the same workload, in one run, against one sink (``sink.py``, its own
process, as in section 9):

- ``floor``: an orjson line appended to an ``O_APPEND`` file;
- ``nodeliver``: ``ManualLogger(deliver=False)``, the spool append alone;
- ``thread``: ``HELIOGRAPH_DELIVERY=thread``, sender threads in the app;
- ``agent``: ``HELIOGRAPH_DELIVERY=agent``, with ``python -m heliograph agent`` started by
  hand before each measurement (same spool folder, same sink; ``HELIOGRAPH_ENDPOINT`` and
  ``HELIOGRAPH_SPOOL_DIR``) and stopped with SIGTERM after it. Its CPU is not the app's.

Each measurement runs in fresh processes (``child.py peer-*``, shared with section 9):

- **caller**: ``peer-hot``, µs per log call (p50, p99, p99.9), median over the repeats;
- **records/s**: ``peer-e2e``, from the first log call to the sink's arrival of the last;
- **exit**: ``peer-exit`` with the sink up: the last log call's return to the exit (pidfd);
- **sink back**: ``peer-exit`` with the sink down; then the sink comes up: what arrives
  within ``after_up_s`` without restarting the app, then after ``heliograph flush``;
- **duplicates**: 4 ``peer-exit`` processes of 1,000 records each on one spool, then
  ``heliograph flush``; duplicates = POSTs - distinct ``Helicone-Request-Id`` at the sink.

Nothing is asserted: figures, the targets' ✓/✗ and anything odd go to ``data["delivery"]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from downtime import wait_exit
from peers import FULL as PEERS_FULL
from peers import QUICK as PEERS_QUICK
from peers import (
    PeerProfile,
    SinkProcess,
    child_command,
    child_outputs,
    done,
    fmt_us,
    restart_app,
    run_measured,
    start_child,
    summarise,
)

from heliograph.spool.status import spool_status

VARIANTS = ("floor", "nodeliver", "thread", "agent")
SENDING = ("thread", "agent")
ADAPTER = {"floor": "floor", "nodeliver": "heliograph-nodeliver", "thread": "heliograph",
           "agent": "heliograph"}  # fmt: skip
DUP_PROCESSES, DUP_CALLS = 4, 1_000
AGENT_START_S = 15.0
# The peers' counts, with more records for a steadier rate and a window for the agent's
# backoff (up to max_backoff_s, 30 s) to end once the sink is back.
FULL = dataclasses.replace(PEERS_FULL, e2e_calls=20_000, after_up_s=30.0)
QUICK = dataclasses.replace(PEERS_QUICK, e2e_calls=2_000, e2e_warmup=100, after_up_s=10.0)


# -- the agent ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_or_kill(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for ``proc``; kill it after ``timeout_s``. True if it ended on its own."""
    try:
        proc.wait(timeout_s)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


@contextlib.contextmanager
def agent_for(variant: str, sink: SinkProcess, env: dict, workdir: Path, run: dict) -> Iterator:
    """For ``agent``: ``heliograph agent`` on ``workdir/spool`` while the block runs.

    Yields once the agent holds the destination (so the app finds it and starts none);
    its CPU seconds during the block, its exit status and output go to ``run``.
    """
    if variant != "agent":
        yield
        return
    spool = workdir / "spool"
    agent_env = env | {"HELIOGRAPH_ENDPOINT": sink.url, "HELIOGRAPH_SPOOL_DIR": str(spool)}
    proc = start_child([sys.executable, "-m", "heliograph", "agent"], workdir, agent_env, "agent")
    try:
        deadline = time.monotonic() + AGENT_START_S
        while not any(d.agent_pid == proc.pid for d in spool_status(spool).destinations):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the agent did not start (exit status {proc.poll()})")
            time.sleep(0.05)
        cpu_start = cpu_seconds(proc.pid)
        yield
        run["agent_cpu_s"] = cpu_seconds(proc.pid) - cpu_start
    finally:
        proc.send_signal(signal.SIGTERM)
        run["agent_stopped"] = wait_or_kill(proc, 15.0)
        run["agent_returncode"] = proc.returncode
        child_outputs(run, workdir, "agent")


def wait_for_records(sink: SinkProcess, records: int, cap_s: float) -> dict[str, Any]:
    """The sink's stats once it has ``records`` records, or after ``cap_s``."""
    deadline = time.monotonic() + cap_s
    stats = sink.stats()
    while stats["records"] < records and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = sink.stats()
    return stats


def variant_env(env: dict, variant: str) -> dict:
    return env | {"HELIOGRAPH_DELIVERY": variant} if variant in SENDING else env


# -- measurements ------------------------------------------------------------------------


def run_timed(mode: str, variant: str, profile: PeerProfile, sink: SinkProcess, env: dict,
              workdir: Path) -> dict[str, Any]:  # fmt: skip
    """``hot`` or ``e2e`` (``peers.run_measured``), with the agent running for ``agent``."""
    run: dict[str, Any] = {}
    with agent_for(variant, sink, env, workdir, run):
        run |= run_measured(mode, ADAPTER[variant], profile, sink, variant_env(env, variant),
                            workdir)  # fmt: skip
    return run | {"adapter": variant}


def run_exit(mode: str, variant: str, profile: PeerProfile, sink: SinkProcess, env: dict,
             workdir: Path) -> dict[str, Any]:  # fmt: skip
    """``exit`` (sink up) or ``comeback`` (sink down while the app runs, then back up)."""
    calls = profile.exit_calls
    run: dict[str, Any] = {"mode": mode, "adapter": variant, "calls": calls}
    out = workdir / "result.json"
    with agent_for(variant, sink, env, workdir, run):
        sink.reset("down" if mode == "comeback" else "up")
        command = child_command("exit", ADAPTER[variant], sink, workdir, out, calls, 0,
                                profile.flush_timeout_s)  # fmt: skip
        proc = start_child(command, workdir, variant_env(env, variant), "child")
        exited = wait_exit(proc, profile.exit_cap_s)
        run["returncode"] = proc.returncode
        child_outputs(run, workdir, "child")
        run["result"] = json.loads(out.read_text())
        run["exit_s"] = None if exited is None else exited - run["result"]["last_log_returned_s"]
        if mode == "exit":  # and how soon the sink has every record (the agent's poll)
            if variant in SENDING:
                stats = wait_for_records(sink, calls, profile.after_up_s)
                run["delivered"], last = stats["records"], stats["last_record_s"]
                run["all_at_sink_s"] = last - run["result"]["last_log_returned_s"] if last else None
            return run
        run["reached_while_down"] = sink.stats()["records"]
        run["kept_on_disk"] = spool_status(workdir / "spool").pending
        sink.mode("up")
        up_at = time.time()
        stats = wait_for_records(sink, calls, profile.after_up_s)
        run["reached_after_sink_up"] = stats["records"] - run["reached_while_down"]
        if stats["records"] >= calls:
            run["caught_up_s"] = stats["last_record_s"] - up_at
        run["restart"] = restart_app("heliograph", profile, sink, env, workdir)
        run["reached_after_restart"] = run["restart"]["new_records"]
    return run


def run_duplicates(mode: str, variant: str, profile: PeerProfile, sink: SinkProcess, env: dict,
                   workdir: Path) -> dict[str, Any]:  # fmt: skip
    """4 apps log 1,000 records each on one spool and exit; then ``heliograph flush``."""
    run: dict[str, Any] = {"mode": mode, "adapter": variant}
    run["calls"] = DUP_PROCESSES * DUP_CALLS
    with agent_for(variant, sink, env, workdir, run):
        sink.reset("up")
        apps = [
            start_child(
                child_command("exit", "heliograph", sink, workdir, workdir / f"app{i}.json",
                              DUP_CALLS, 0, profile.flush_timeout_s),
                workdir, variant_env(env, variant), f"app{i}",
            )
            for i in range(DUP_PROCESSES)
        ]  # fmt: skip
        run["returncodes"] = [p.returncode if wait_or_kill(p, 120.0) else "killed" for p in apps]
        for i in range(DUP_PROCESSES):
            child_outputs(run, workdir, f"app{i}")
        run["restart"] = restart_app("heliograph", profile, sink, env, workdir)
    stats = sink.settle()
    run["posts"], run["distinct_ids"] = stats["records"], stats["distinct_ids"]
    run["duplicates"] = run["posts"] - run["distinct_ids"]
    run["posts_without_id"] = run["duplicates"] - stats["duplicates"]
    run["pending_after"] = spool_status(workdir / "spool").pending
    run["result"] = {}
    return run


# -- summary -----------------------------------------------------------------------------


def median_of(runs: list[dict], value: Callable[[dict], float | None]) -> float | None:
    values = [v for v in map(value, runs) if v is not None]
    return statistics.median(values) if values else None


def summarise_variant(variant: str, runs: list[dict]) -> dict[str, Any]:
    entry = summarise(variant, [r for r in runs if r["mode"] in ("hot", "e2e")], {})
    entry = {"hot": entry["hot"], "e2e": entry["e2e"]}
    if entry["hot"] is not None:
        entry["hot"]["preempted"] = median_of(done(runs, "hot", variant),
                                              lambda r: r["result"]["preempted"])  # fmt: skip
    e2e = done(runs, "e2e", variant)
    if entry["e2e"] is not None:
        rates = [r["records_per_s"] for r in e2e if r.get("records_per_s")]
        entry["e2e"]["records_per_s_range"] = [min(rates), max(rates)] if rates else None
        per_record = {  # CPU µs per record: the app's timed phase; the sink's and agent's all
            "app_cpu_us": lambda r: r["result"]["client_cpu_s"] / r["calls"] * 1e6,
            "sink_cpu_us": lambda r: r["sink_cpu_s"] / (r["calls"] + r["warmup"]) * 1e6,
            "agent_cpu_us": lambda r: (
                r["agent_cpu_s"] / (r["calls"] + r["warmup"]) * 1e6 if "agent_cpu_s" in r else None
            ),
        }
        entry["e2e"] |= {key: median_of(e2e, f) for key, f in per_record.items()}
    exits = done(runs, "exit", variant)
    seconds = [r["exit_s"] for r in exits if r["exit_s"] is not None]
    entry["exit"] = {
        "calls": exits[0]["calls"],
        "processes": len(exits),
        "exit_s": statistics.median(seconds) if seconds else None,
        "exit_s_range": [min(seconds), max(seconds)] if seconds else None,
        "killed_at_cap": len(exits) - len(seconds),
        "delivered": median_of(exits, lambda r: r.get("delivered")),
        "all_at_sink_s": median_of(exits, lambda r: r.get("all_at_sink_s")),
    } if exits else None  # fmt: skip
    keys = ("calls", "exit_s", "reached_while_down", "kept_on_disk", "reached_after_sink_up",
            "caught_up_s", "reached_after_restart")  # fmt: skip
    comeback = done(runs, "comeback", variant)
    entry["comeback"] = {k: comeback[0].get(k) for k in keys} if comeback else None
    keys = ("calls", "posts", "distinct_ids", "duplicates", "posts_without_id", "pending_after")
    dups = done(runs, "duplicates", variant)
    entry["duplicates"] = {k: dups[0][k] for k in keys} if dups else None
    return entry


def pick(summary: dict[str, Any], variant: str, part: str, key: str) -> Any:
    return (summary.get(variant, {}).get(part) or {}).get(key)


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals, computed from this run: value, bound, met (None when not measured)."""

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else a / b

    agent_rps = pick(summary, "agent", "e2e", "records_per_s")
    thread_rps = pick(summary, "thread", "e2e", "records_per_s")
    came_back = pick(summary, "agent", "comeback", "reached_after_sink_up")
    calls = pick(summary, "agent", "comeback", "calls")
    agent_p50, floor_p50 = (pick(summary, v, "hot", "p50_us") for v in ("agent", "floor"))
    dups = {v: pick(summary, v, "duplicates", "duplicates") for v in SENDING}
    rows = [  # (what, value, shown as, bound, at most?)
        ("agent caller p50 / floor p50 ≤ 2.5", ratio(agent_p50, floor_p50), "{:.2f}x", 2.5, True),
        ("agent caller p99 ≤ 50 µs", pick(summary, "agent", "hot", "p99_us"), "{:.1f} µs", 50,
         True),
        ("agent records/s / thread records/s ≥ 2", ratio(agent_rps, thread_rps), "{:.2f}x", 2,
         False),
        ("agent records/s ≥ 8,000", agent_rps, "{:,.0f}", 8_000, False),
        ("agent: all delivered after the sink is back, no restart",
         ratio(came_back, calls), "{:.0%}", 1.0, False),
        ("thread: 0 duplicate POSTs", dups["thread"], "{}", 0, True),
        ("agent: 0 duplicate POSTs", dups["agent"], "{}", 0, True),
    ]  # fmt: skip
    return [
        {
            "target": what,
            "value": value,
            "shown": "-" if value is None else shown.format(value),
            "met": None if value is None else (value <= bound if at_most else value >= bound),
        }
        for what, value, shown, bound, at_most in rows
    ]


def find_problems(runs: list[dict], sink_stderr: list[str]) -> list[str]:
    problems = (
        [f"sink wrote {len(sink_stderr)} stderr lines: {sink_stderr[-3:]}"] if sink_stderr else []
    )
    for run in runs:
        label = f"delivery {run['mode']} {run['adapter']}"
        if "error" in run:
            problems.append(f"{label}: {run['error']}")
        sending = run["adapter"] in SENDING
        if run["mode"] in ("hot", "e2e") and sending and run.get("delivered") != run["calls"]:
            problems.append(f"{label}: the sink got {run.get('delivered')} of {run['calls']}")
        if run.get("duplicates"):
            problems.append(f"{label}: {run['duplicates']} duplicate POSTs at the sink")
        if run.get("posts_without_id"):
            problems.append(f"{label}: {run['posts_without_id']} POSTs without a request id")
        if run["mode"] == "comeback" and "result" in run:
            total = run["reached_after_sink_up"] + run["reached_after_restart"]
            if run["reached_while_down"] + total != run["calls"]:
                problems.append(f"{label}: {total} of {run['calls']} delivered in the end")
        if run.get("agent_stopped") is False:
            problems.append(f"{label}: the agent did not stop within 15 s of SIGTERM; killed")
        if run["mode"] == "comeback":
            continue  # retry warnings while the sink is down are expected
        for key, out in run.items():
            if key.endswith(("_stdout", "_stderr")) and out["lines"]:
                agent = key.startswith("agent_")  # it logs its progress at INFO
                if not agent or any("WARNING" in k or "ERROR" in k for k in out["distinct"]):
                    problems.append(f"{label} {key}: {out['lines']} lines, e.g. {out['distinct']}")
    return problems


# -- driver ------------------------------------------------------------------------------


def run_delivery(profile: PeerProfile, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    """Every measurement of section 10; the ``data["delivery"]`` dict."""
    root = tmp / "delivery"
    root.mkdir()
    sink = SinkProcess(root, env)
    runs: list[dict] = []
    plan: list[tuple[str, str, Callable[..., dict]]] = []
    for mode, variants in (("hot", VARIANTS), ("e2e", SENDING), ("exit", VARIANTS)):
        measure = run_exit if mode == "exit" else run_timed
        for repeat in range(profile.repeats):
            shift = repeat % len(variants)  # rotate the order: drift hits every variant
            plan += [(mode, v, measure) for v in variants[shift:] + variants[:shift]]
    plan += [("comeback", v, run_exit) for v in SENDING]
    plan += [("duplicates", v, run_duplicates) for v in SENDING]
    try:
        sink_check = sink.rtt_check()
        for index, (mode, variant, measure) in enumerate(plan, 1):
            print(f"[delivery {index}/{len(plan)}] {mode} {variant}", file=sys.stderr, flush=True)
            workdir = root / f"{index:03d}-{mode}-{variant}"
            workdir.mkdir()
            started = time.perf_counter()
            try:
                run = measure(mode, variant, profile, sink, env, workdir)
            except Exception as exc:  # one failed measurement must not end the section
                run = {"mode": mode, "adapter": variant, "calls": 0, "error": repr(exc)}
            runs.append(run | {"elapsed_s": time.perf_counter() - started})
    finally:
        sink_stderr = sink.close()
    summary = {variant: summarise_variant(variant, runs) for variant in VARIANTS}
    return {
        "profile": dataclasses.asdict(profile) | {"dup_processes": DUP_PROCESSES,
                                                 "dup_calls": DUP_CALLS},
        "sink_check": sink_check,
        "summary": summary,
        "targets": targets(summary),
        "runs": runs,
        "problems": find_problems(runs, sink_stderr),
    }  # fmt: skip


# -- the printed table -------------------------------------------------------------------


def render_delivery(data: dict[str, Any], table: Any) -> list[str]:
    """Section 10 of the printed output; ``table`` is ``run.table``."""
    p, summary = data["profile"], data["summary"]
    floor_p50 = pick(summary, "floor", "hot", "p50_us")
    out = [
        "",
        f"10. Delivery: the app's sender threads or the delivery agent ({p['name']} profile; "
        f"sink.py, keep-alive GET {data['sink_check']['keepalive_ms']:.2f} ms)",
    ]
    rows = []
    for variant in VARIANTS:
        e = summary[variant]
        hot, e2e, ex, back, dup = e["hot"], e["e2e"], e["exit"], e["comeback"], e["duplicates"]
        row = [variant]
        if hot is None:
            row += ["failed", "", "", "", ""]
        else:
            lo, hi = hot["p50_range_us"]
            row += [fmt_us(hot["p50_us"]), f"{fmt_us(lo)}-{fmt_us(hi)}", fmt_us(hot["p99_us"]),
                    fmt_us(hot["p999_us"]),
                    f"{hot['p50_us'] / floor_p50:.1f}x" if floor_p50 else "-"]  # fmt: skip
        if e2e is None or not e2e.get("records_per_s_range"):
            row += ["n/a" if variant not in SENDING else "failed", ""]
        else:
            lo, hi = e2e["records_per_s_range"]
            row += [f"{e2e['records_per_s']:,.0f}", f"{lo:,.0f}-{hi:,.0f}"]
        if ex is None or ex["exit_s"] is None:
            row.append("failed")
        else:
            at_sink = ex["all_at_sink_s"]
            row.append(f"{ex['exit_s']:.3f}" + ("" if at_sink is None else f" / {at_sink:.2f}"))
        if back is None:
            row.append("n/a" if variant not in SENDING else "failed")
        else:
            caught = back.get("caught_up_s")
            row.append(
                f"{back['reached_after_sink_up']:,}/{back['calls']:,}"
                + ("" if caught is None else f" in {caught:.1f} s")
                + f" + {back['reached_after_restart']:,}"
            )
        row.append(
            "n/a" if dup is None and variant not in SENDING else "failed" if dup is None
            else f"{dup['duplicates']} ({dup['posts']:,} POSTs, {dup['distinct_ids']:,} ids)"
        )  # fmt: skip
        rows.append(row)
    header = ["variant", "p50 µs", "p50 range", "p99", "p99.9", "p50/floor", "records/s"]
    header += ["range", "exit s / all at sink", "sink back: no restart + restart"]
    header.append("duplicate POSTs")
    out.append(table(header, rows))
    cpu = [
        f"{v} app {fmt_us(e2e['app_cpu_us'])}, sink {fmt_us(e2e['sink_cpu_us'])}"
        + (f", agent {fmt_us(e2e['agent_cpu_us'])}" if e2e.get("agent_cpu_us") else "")
        for v in SENDING
        if (e2e := summary[v]["e2e"]) and e2e.get("app_cpu_us") is not None
    ]
    n, up = f"{p['exit_calls']:,}", f"{p['after_up_s']:.0f}"
    preempted = ", ".join(
        f"{v} {summary[v]['hot']['preempted']:,.0f}" for v in VARIANTS if summary[v]["hot"]
    )
    out.append(
        f"   caller: {p['hot_calls']:,} calls after {p['hot_warmup']:,} warm-up calls and a "
        f"flush, median of {p['repeats']} processes; times the caller was preempted during "
        f"its loop (involuntary context switches, median): {preempted}. records/s: "
        f"{p['e2e_calls']:,} prebuilt calls, the first log call to the sink's arrival of the "
        "last record. exit s (sink up): "
        f"{n} calls, main returns without close; from the last call's return to the exit seen "
        "through a pidfd / to the sink's arrival of the last record (medians). sink back: "
        f"{n} calls with the sink down, the app exits, the sink comes up: what arrives within "
        f"{up} s without restarting the app (and how soon all did) + what `heliograph flush` "
        f"then delivers. duplicates: {p['dup_processes']} apps x {p['dup_calls']:,} records on "
        "one spool, normal exit, then `heliograph flush`; POSTs - distinct Helicone-Request-Id. "
        "agent: `python -m heliograph agent` started by hand before each measurement. "
        "CPU µs per record (e2e; app: its timed phase; sink, agent: warm-up included): "
        + "; ".join(cpu)
        + "."
    )
    rows = [[t["target"], t["shown"], {True: "✓", False: "✗", None: "?"}[t["met"]]]
            for t in data["targets"]]  # fmt: skip
    out.append(table(["target (from this run)", "measured", ""], rows))
    out += ["", "Delivery: problems seen"]
    out += [f"- {line}" for line in data["problems"]] or ["- none"]
    return out
