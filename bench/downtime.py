"""Sections 4 and 5 of ``run.py``: exit time and memory while the receiver is down.

4. **Exit**: a fresh process logs N calls to an endpoint where nothing listens (``down``)
   or where a listener accepts TCP and never answers (``hang``), then returns from
   ``main`` without flush or close. Timed from the ``time.time()`` at which the last log
   call returned (written by the child) to the process's exit as seen here through a pidfd.
   Then a receiver is started and ``heliograph flush --spool-dir DIR`` runs in a new
   process: how many of the N reach it.
5. **Memory**: a fresh process logs N calls (1,000,000 in a full run) to an endpoint that
   is down, default settings; VmRSS and the spool folder's size are sampled before, every
   N/100 calls and after, then ``close(timeout=0)`` reports the losses it counted.

Everything runs in fresh interpreters (``child.py exit|rss``); nothing is asserted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from child import folder_bytes

from heliograph.config import Config
from heliograph.receiver.server import ReceiverThread
from heliograph.spool.status import spool_status

CHILD = Path(__file__).resolve().parent / "child.py"
EXIT_CASES = ("down", "hang")
CASE_LABELS = {"down": "down (refused)", "hang": "hang (no reply)"}
DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}
EXIT_TARGET_S = 0.1  # with the receiver down (connection refused)
RSS_TARGET_MIB = 30.0
MIB = 1024 * 1024


# -- helpers -----------------------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def receiver_counts(url: str) -> tuple[int, int]:
    """(rows, duplicates) in the receiver's store."""
    with urllib.request.urlopen(f"{url}/v1/receiver/stats", timeout=10) as response:
        payload = json.load(response)
    data = payload.get("data", payload)
    return int(data["requests"]), int(data.get("duplicates", 0))


def wait_exit(proc: subprocess.Popen[bytes], cap_s: float) -> float | None:
    """``time.time()`` when ``proc`` exited (seen through a pidfd); None if killed at the cap."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd: Popen.wait polls, up to ~50 ms late
        try:
            proc.wait(cap_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
        return time.time()
    try:
        ready, _, _ = select.select([fd], [], [], cap_s)
    finally:
        os.close(fd)
    if not ready:
        proc.kill()
        proc.wait()
        return None
    exited = time.time()
    proc.wait()
    return exited


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def spool_summary(spool: Path) -> dict[str, Any]:
    status = spool_status(spool)
    return {
        "pending": status.pending,
        "pending_bytes": status.pending_bytes,
        "segments": status.segments,
        "delivered": status.delivered,
        "dead_lettered": status.dead_lettered,
        "lost": dict(status.lost),
        "folder_bytes": folder_bytes(spool),
    }


def restart(spool: Path, workdir: Path, env: dict[str, str], timeout_s: float) -> dict:
    """``heliograph flush`` in a new process against a fresh receiver; what reached it."""
    with ReceiverThread(port=0, db_path=workdir / "restart.sqlite3") as receiver:
        rows_before, dups_before = receiver_counts(receiver.url)
        command = [sys.executable, "-m", "heliograph", "flush", "--spool-dir", str(spool)]
        command += ["--timeout", str(timeout_s)]
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env | {"HELIOGRAPH_ENDPOINT": receiver.url},
                timeout=timeout_s + 60,
                check=False,
                cwd=workdir,
            )
        except subprocess.TimeoutExpired as exc:
            return {"error": f"heliograph flush timed out after {exc.timeout:.0f} s"}
        flush_s = time.perf_counter() - started
        rows_after, dups_after = receiver_counts(receiver.url)
    return {
        "flush_s": flush_s,
        "returncode": proc.returncode,
        "stdout": proc.stdout.splitlines()[-3:],
        "stderr_lines": len(proc.stderr.splitlines()),
        "stderr_tail": proc.stderr.splitlines()[-3:],
        "receiver_grew_by": rows_after - rows_before,
        "receiver_duplicates": dups_after - dups_before,
        "pending_after": spool_status(spool).pending,
    }


# -- 4. exit -----------------------------------------------------------------------------


def run_exit(case: str, calls: int, cap_s: float, tmp: Path, index: int, env: dict) -> dict:
    """One exit measurement (``down`` or ``hang``) and its restart; never raises."""
    workdir = tmp / f"{index:02d}-exit-{case}"
    workdir.mkdir()
    out, spool = workdir / "result.json", workdir / "spool"
    run: dict[str, Any] = {"mode": "exit", "case": case, "calls": calls, "cap_s": cap_s}
    with contextlib.ExitStack() as stack:
        if case == "hang":  # accepts TCP (the kernel's backlog) and never reads or answers
            listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
            port = int(listener.getsockname()[1])
        else:
            port = free_port()
        run["url"] = url = f"http://127.0.0.1:{port}"
        command = [sys.executable, str(CHILD), "exit", "heliograph", "--url", url]
        command += ["--workdir", str(workdir), "--out", str(out), "--calls", str(calls)]
        stdout = stack.enter_context((workdir / "stdout.txt").open("wb"))
        stderr = stack.enter_context((workdir / "stderr.txt").open("wb"))
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=workdir)
        exited = wait_exit(proc, cap_s)
    run["returncode"] = proc.returncode
    run["stderr"] = read_lines(workdir / "stderr.txt")
    run["stdout"] = read_lines(workdir / "stdout.txt")
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        run["error"] = f"no result from the child ({exc}); stderr tail: {run['stderr'][-3:]}"
        return run
    run["result"] = result
    last = result["last_log_returned_s"]
    if exited is None:
        run["error"] = f"did not exit within {cap_s:.0f} s of starting; killed"
    else:
        run["exit_s"] = exited - last
    stamps: dict[str, float] = {}
    for line in read_lines(workdir / "exit-stamps.txt"):
        label, _, value = line.partition(" ")
        stamps[label] = float(value)
    if {"atexit_start", "heliograph_hook_done"} <= stamps.keys():
        run["phases_s"] = {
            "to_atexit": stamps["atexit_start"] - last,
            "heliograph_hook": stamps["heliograph_hook_done"] - stamps["atexit_start"],
        }
        if exited is not None:
            run["phases_s"]["teardown"] = exited - stamps["heliograph_hook_done"]
    run["spool_after_exit"] = spool_summary(spool)
    run["restart"] = restart(spool, workdir, env, timeout_s=60.0)
    return run


def summarise_exit(runs: list[dict]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for case in EXIT_CASES:
        done = [r for r in runs if r["case"] == case and "exit_s" in r]
        if not done:
            continue
        exits = [r["exit_s"] for r in done]
        phased = [r["phases_s"] for r in done if "phases_s" in r]
        restarts = [r["restart"] for r in done]
        summary[case] = {
            "processes": len(done),
            "calls": done[0]["calls"],
            "exit_s": statistics.median(exits),
            "exit_s_min": min(exits),
            "exit_s_max": max(exits),
            "exit_samples_s": exits,
            "phases_s": {
                key: statistics.median(p[key] for p in phased if key in p)
                for key in ("to_atexit", "heliograph_hook", "teardown")
                if any(key in p for p in phased)
            },
            "kept_on_disk": [r["spool_after_exit"]["pending"] for r in done],
            "after_restart": [rs.get("receiver_grew_by", 0) for rs in restarts],
            "restart_flush_s": statistics.median(rs.get("flush_s", 0.0) for rs in restarts),
            "log_phase_s": statistics.median(r["result"]["log_phase_s"] for r in done),
        }
    return summary


def exit_problems(runs: list[dict]) -> list[str]:
    problems: list[str] = []
    bound = DEFAULTS["exit_timeout_s"]
    for run in runs:
        label = f"exit {run['case']}"
        if "error" in run:
            problems.append(f"{label}: {run['error']}")
        if "result" not in run:
            continue
        exit_s = run.get("exit_s")
        if exit_s is not None and run["case"] == "down" and exit_s > EXIT_TARGET_S:
            problems.append(
                f"{label}: exit took {exit_s:.3f} s with nothing listening "
                f"(target ≤ {EXIT_TARGET_S} s); phases {fmt_phases(run.get('phases_s'))}"
            )
        if exit_s is not None and run["case"] == "hang" and exit_s > bound + 1.0:
            problems.append(
                f"{label}: exit took {exit_s:.3f} s with a receiver that never answers "
                f"(exit_timeout_s={bound}); phases {fmt_phases(run.get('phases_s'))}"
            )
        if run["returncode"] != 0:
            problems.append(f"{label}: the child exited with status {run['returncode']}")
        kept = run["spool_after_exit"]["pending"]
        if kept != run["calls"]:
            problems.append(
                f"{label}: {kept} of {run['calls']} records on disk after exit "
                f"(spool ledger: delivered {run['spool_after_exit']['delivered']}, "
                f"lost {run['spool_after_exit']['lost']})"
            )
        rs = run["restart"]
        if "error" in rs:
            problems.append(f"{label} restart: {rs['error']}")
            continue
        if rs["receiver_grew_by"] != run["calls"] or rs["pending_after"]:
            problems.append(
                f"{label}: after restart the receiver got {rs['receiver_grew_by']} of "
                f"{run['calls']} records; {rs['pending_after']} still pending; heliograph "
                f"flush exit status {rs['returncode']}, said {rs['stdout']}, "
                f"stderr tail {rs['stderr_tail']}"
            )
        if rs["receiver_duplicates"]:
            problems.append(f"{label} restart: {rs['receiver_duplicates']} duplicates")
    return problems


def fmt_phases(phases: dict[str, float] | None) -> str:
    if not phases:
        return "unknown"
    return ", ".join(f"{k} {v:.3f} s" for k, v in phases.items())


# -- 5. memory ---------------------------------------------------------------------------


def run_rss(calls: int, tmp: Path, index: int, env: dict) -> dict:
    """One memory measurement with the receiver down; never raises."""
    workdir = tmp / f"{index:02d}-rss"
    workdir.mkdir()
    out, spool = workdir / "result.json", workdir / "spool"
    url = f"http://127.0.0.1:{free_port()}"
    run: dict[str, Any] = {"mode": "rss", "calls": calls, "url": url}
    command = [sys.executable, str(CHILD), "rss", "heliograph", "--url", url]
    command += ["--workdir", str(workdir), "--out", str(out), "--calls", str(calls)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=600 + calls / 1000,
            check=False,
            cwd=workdir,
        )
    except subprocess.TimeoutExpired as exc:
        run["error"] = f"child timed out after {exc.timeout:.0f} s"
        return run
    run["process_wall_s"] = time.perf_counter() - started
    run["returncode"] = proc.returncode
    stderr = proc.stderr.splitlines()
    run["stderr_lines"] = len(stderr)
    run["stderr_head"] = stderr[:3]
    run["stderr_tail"] = stderr[-3:]
    run["stdout_lines"] = len(proc.stdout.splitlines())
    try:
        result = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        run["error"] = f"no result from the child ({exc}); stderr tail: {stderr[-3:]}"
        return run
    run["result"] = result
    run["spool_after_exit"] = spool_summary(spool)
    return run


def rss_figures(run: dict) -> dict[str, Any]:
    """The figures of one memory run, in MiB and records."""
    result, spool = run["result"], run["spool_after_exit"]
    samples = result["samples"]
    rss_all = [s["rss_kib"] / 1024 for s in samples]
    # Before, at every tenth of the calls, and after (the samples are every hundredth).
    step = max(1, (len(samples) - 1) // 10)
    picked = list(range(0, len(samples), step))
    if picked[-1] != len(samples) - 1:
        picked.append(len(samples) - 1)
    rss = [rss_all[i] for i in picked]
    report = result["report"]
    lost_ledger = sum(spool["lost"].values())
    return {
        "rss_before_mib": rss[0],
        "rss_after_mib": rss[-1],
        "growth_mib": rss[-1] - rss[0],
        # From the first checkpoint on: without the one-off cost of the first calls
        # (the delivery threads start, the HTTP modules are imported).
        "growth_after_first_checkpoint_mib": rss[-1] - rss[1],
        "peak_mib": result["vmhwm_kib"] / 1024,
        "rss_max_sampled_mib": max(rss_all),
        "rss_samples_mib": rss,
        "spool_final_mib": spool["folder_bytes"] / MIB,
        "spool_peak_mib": max([s["spool_bytes"] for s in samples] + [spool["folder_bytes"]]) / MIB,
        "kept_on_disk": spool["pending"],
        "report_dropped": report["dropped"],
        "report_pending": report["pending"],
        "ledger_lost": spool["lost"],
        "accepted": report["accepted"],
        # Every accepted record is on disk, delivered, dead-lettered or counted as lost.
        "unaccounted": report["accepted"]
        - spool["pending"]
        - spool["delivered"]
        - spool["dead_lettered"]
        - lost_ledger,
        "logging_s": result["logging_s"],
        "us_per_call": result["us_per_call"],
        "process_wall_s": run["process_wall_s"],
        "close_s": result["close_s"],
    }


def summarise_rss(runs: list[dict]) -> dict[str, Any]:
    done = [r for r in runs if "result" in r]
    if not done:
        return {}
    figures = [rss_figures(r) for r in done]
    numeric = [k for k, v in figures[0].items() if isinstance(v, int | float)]
    summary: dict[str, Any] = {k: statistics.median(f[k] for f in figures) for k in numeric}
    summary["processes"] = len(done)
    summary["calls"] = done[0]["calls"]
    summary["per_process"] = figures
    count = len(figures[0]["rss_samples_mib"])
    summary["rss_samples_mib"] = [
        statistics.median(f["rss_samples_mib"][i] for f in figures) for i in range(count)
    ]
    summary["growth_mib_max"] = max(f["growth_mib"] for f in figures)
    reasons = sorted({reason for f in figures for reason in f["ledger_lost"]})
    summary["ledger_lost"] = {
        reason: statistics.median(f["ledger_lost"].get(reason, 0) for f in figures)
        for reason in reasons
    }
    summary["report_dropped_matches_ledger"] = sum(
        f["report_dropped"] == f["ledger_lost"] for f in figures
    )
    summary["stderr_lines"] = statistics.median(r["stderr_lines"] for r in done)
    summary["stderr_head"] = done[0]["stderr_head"][:1]
    return summary


def rss_problems(runs: list[dict]) -> list[str]:
    problems: list[str] = []
    bound_mib = DEFAULTS["max_spool_bytes"] / MIB
    for run in runs:
        label = "memory"
        if "error" in run:
            problems.append(f"{label}: {run['error']}")
            continue
        f = rss_figures(run)
        if run["returncode"] != 0:
            problems.append(f"{label}: the child exited with status {run['returncode']}")
        if f["growth_mib"] > RSS_TARGET_MIB:
            problems.append(
                f"{label}: RSS grew by {f['growth_mib']:.1f} MiB over {run['calls']:,} calls "
                f"(target ≤ {RSS_TARGET_MIB:.0f}); samples (MiB): "
                + " ".join(f"{v:.1f}" for v in f["rss_samples_mib"])
            )
        if f["unaccounted"]:
            problems.append(
                f"{label}: {f['unaccounted']} of {f['accepted']:,} accepted records are neither "
                f"on disk ({f['kept_on_disk']:,}) nor counted as lost ({f['ledger_lost']})"
            )
        if f["report_pending"] != f["kept_on_disk"]:
            problems.append(
                f"{label}: close(timeout=0) reported pending={f['report_pending']:,}, but "
                f"{f['kept_on_disk']:,} undelivered records were in the spool after exit"
            )
        if f["report_dropped"] != f["ledger_lost"]:
            problems.append(
                f"{label}: close(timeout=0) reported dropped={f['report_dropped']}, the spool "
                f"ledger after exit says lost={f['ledger_lost']} (an eviction pass ran after "
                "close's report was taken)"
            )
        if f["spool_peak_mib"] > bound_mib * 1.1:
            problems.append(
                f"{label}: the spool folder reached {f['spool_peak_mib']:.1f} MiB "
                f"(final {f['spool_final_mib']:.1f} MiB) against max_spool_bytes "
                f"{bound_mib:.0f} MiB: eviction runs about once a second on the delivery "
                "thread, so what is written between passes overshoots the bound"
            )
    return problems


# -- driver and table --------------------------------------------------------------------


def run_downtime(
    repeats: int, exit_calls: int, rss_calls: int, tmp: Path, first_index: int, env: dict
) -> dict[str, Any]:
    """Both measurements, ``repeats`` fresh processes each; summaries, runs, problems."""
    index = first_index
    exit_runs: list[dict] = []
    for repeat in range(repeats):
        cases = EXIT_CASES if repeat % 2 == 0 else EXIT_CASES[::-1]
        for case in cases:
            index += 1
            print(f"[{index}] exit {case} (repeat {repeat + 1})", file=sys.stderr)
            exit_runs.append(run_exit(case, exit_calls, 60.0, tmp, index, env))
    rss_runs: list[dict] = []
    for repeat in range(repeats):
        index += 1
        print(f"[{index}] memory, {rss_calls:,} calls (repeat {repeat + 1})", file=sys.stderr)
        rss_runs.append(run_rss(rss_calls, tmp, index, env))
    return {
        "defaults": {k: DEFAULTS[k] for k in ("exit_timeout_s", "max_spool_bytes")},
        "exit": {"summary": summarise_exit(exit_runs), "runs": exit_runs},
        "rss": {"summary": summarise_rss(rss_runs), "runs": rss_runs},
        "problems": exit_problems(exit_runs) + rss_problems(rss_runs),
    }


def render_downtime(data: dict[str, Any], repeats: int, table: Any) -> list[str]:
    """Sections 4 and 5 of the printed table; ``table`` is ``run.table``."""
    exit_summary, rss = data["exit"]["summary"], data["rss"]["summary"]
    bound_s = data["defaults"]["exit_timeout_s"]
    bound_mib = data["defaults"]["max_spool_bytes"] / MIB
    calls = next((e["calls"] for e in exit_summary.values()), 0)
    out = [
        "",
        f"4. Exit with the receiver down: {calls:,} calls logged, then main returns without "
        f"flush or close (median of {repeats} fresh processes)",
    ]
    rows = []
    for case in EXIT_CASES:
        if case not in exit_summary:
            rows.append([CASE_LABELS[case], "failed", *[""] * 5])
            continue
        e = exit_summary[case]
        phases = e["phases_s"]
        kept, after = e["kept_on_disk"], e["after_restart"]
        rows.append(
            [
                CASE_LABELS[case],
                f"{e['exit_s']:.3f}",
                f"{e['exit_s_min']:.3f}-{e['exit_s_max']:.3f}",
                f"{phases['heliograph_hook']:.3f}" if "heliograph_hook" in phases else "?",
                f"{min(kept)}/{e['calls']}" + ("" if min(kept) == max(kept) else f"..{max(kept)}"),
                f"{min(after)}/{e['calls']}"
                + ("" if min(after) == max(after) else f"..{max(after)}"),
                f"{e['restart_flush_s']:.1f}",
            ]
        )
    header = ["receiver", "exit s", "range", "in exit hook s", "kept on disk"]
    header += ["reached receiver after restart", "restart s"]
    out.append(table(header, rows))
    out.append(
        "   exit s: from the last log call's return (child's time.time()) to the process's "
        "exit seen by the parent (pidfd), interpreter teardown included; in exit hook: "
        f"Heliograph's atexit flush (one attempt, exit_timeout_s={bound_s}). Restart: "
        "`heliograph flush --spool-dir` in a new process against a fresh receiver. Targets: "
        f"down ≤ {EXIT_TARGET_S} s, hang ≈ exit_timeout_s, {calls:,}/{calls:,} after restart."
    )

    out += [
        "",
        f"5. Memory with the receiver down: {rss.get('calls', 0):,} calls, default settings "
        f"(max_spool_bytes {bound_mib:.0f} MiB) (median of {repeats} fresh processes)",
    ]
    if not rss:
        out.append("   failed (see Problems)")
        return out
    lost_text = ", ".join(f"{k} {v:,.0f}" for k, v in rss["ledger_lost"].items()) or "none"
    header = ["RSS before", "after", "growth", "peak", "spool MiB end", "spool peak"]
    header += ["kept on disk", "lost (counted)", "unaccounted", "wall s", "µs/call"]
    row = [
        f"{rss['rss_before_mib']:.1f}",
        f"{rss['rss_after_mib']:.1f}",
        f"{rss['growth_mib']:+.1f}",
        f"{rss['peak_mib']:.1f}",
        f"{rss['spool_final_mib']:.1f}",
        f"{rss['spool_peak_mib']:.1f}",
        f"{rss['kept_on_disk']:,.0f}",
        lost_text,
        f"{rss['unaccounted']:.0f}",
        f"{rss['logging_s']:.1f}",
        f"{rss['us_per_call']:.1f}",
    ]
    out.append(table(header, [row]))
    samples = " ".join(f"{v:.1f}" for v in rss["rss_samples_mib"])
    matches = rss["report_dropped_matches_ledger"]
    out.append(
        f"   MiB; RSS (VmRSS) at every tenth of the calls: {samples}; growth after the first "
        f"tenth {rss['growth_after_first_checkpoint_mib']:+.1f} MiB; peak is VmHWM. Target: "
        f"growth ≤ {RSS_TARGET_MIB:.0f} MiB. Spool: the folder's bytes, sampled every "
        "hundredth of the calls (peak) and after exit (end); lost (counted): the spool "
        f"ledger after exit (close(timeout=0).dropped agreed with it in {matches} of "
        f"{rss['processes']} processes); unaccounted = "
        "accepted - on disk - lost (must be 0). "
        "wall s and µs/call: the logging loop only (calls prebuilt; the whole process took "
        f"{rss['process_wall_s']:.1f} s). Heliograph wrote "
        f"{rss['stderr_lines']:.0f} line(s) to stderr, e.g. {rss['stderr_head']}."
    )
    return out
