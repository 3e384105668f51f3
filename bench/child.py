"""One measurement in a fresh interpreter, started by ``run.py``; not meant to be run by hand.

    child.py hot ADAPTER --url URL --workdir DIR --out FILE --calls N --warmup W
    child.py e2e ADAPTER --url URL --workdir DIR --out FILE --calls N --warmup W
    child.py exit heliograph --url URL --workdir DIR --out FILE --calls N
    child.py rss heliograph --url URL --workdir DIR --out FILE --calls N

``hot``: W warm-up calls, then N calls back to back with ``perf_counter_ns`` around each
(GC on), then the adapter's ``finish`` (Heliograph: ``flush``), timed separately.
``e2e``: W warm-up calls and a finish, then N prebuilt calls timed from the first log call
to ``finish`` returning (Heliograph: everything delivered).
``exit``: N calls to an endpoint that is down or hangs, the ``time.time()`` at which the
last one returned written to ``--out``, then ``main`` returns without flush or close; the
parent times the exit. Atexit hooks around Heliograph's stamp ``DIR/exit-stamps.txt``.
``rss``: N calls to an endpoint that is down, VmRSS and the spool folder's size sampled
before, every N/100 calls and after, then ``close(timeout=0)``.

Section 9 (``peers.py``) runs any adapter of ``adapters.py`` against ``sink.py``:

    child.py peer-hot|peer-e2e ADAPTER --url URL --control CONTROL_URL --workdir DIR ...
    child.py peer-exit|peer-kill|peer-rss|peer-restart ADAPTER --url URL ...

``peer-hot`` and ``peer-e2e`` read the sink's counts (``--control``) after the warm-up;
``peer-exit`` returns from ``main`` with the client still held; ``peer-kill`` SIGKILLs
itself as the last call returns; ``peer-rss`` samples VmRSS; ``peer-restart`` only
flushes and closes a fresh client. See ``peers.py`` for what each measures.

The adapter's module is imported only after the arguments are parsed, so each process
holds exactly one client. Results go to ``--out`` as JSON; stdout and stderr are left to
the client (helicone-helpers prints its errors there), and ``run.py`` keeps both.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import logging
import os
import resource
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from adapters import LATENCY_MS, Adapter, make_adapter
from workload import Call, build_calls

POOL_SIZE = 256  # distinct calls, cycled


# -- measurements ------------------------------------------------------------------------


def receiver_rows(url: str) -> int:
    """Rows in the receiver's store (``GET /v1/receiver/stats``)."""
    with urllib.request.urlopen(f"{url}/v1/receiver/stats", timeout=10) as response:
        payload = json.load(response)
    return int(payload.get("data", payload)["requests"])


def percentiles_us(samples_ns: list[int]) -> dict[str, float]:
    """Nearest-rank percentiles and the mean, in µs."""
    ordered = sorted(samples_ns)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, round(q * n) - 1))] / 1000

    return {
        "p50": rank(0.50),
        "p90": rank(0.90),
        "p99": rank(0.99),
        "p99.9": rank(0.999),
        "max": ordered[-1] / 1000,
        "mean": sum(ordered) / n / 1000,
    }


def warm_up(adapter: Adapter, calls: list[Call], count: int) -> None:
    for i in range(count):
        request, body, headers = calls[i % len(calls)]
        adapter.log(request, body, headers)


def measure_hot(adapter: Adapter, url: str, n: int, warmup: int, timeout_s: float) -> dict:
    calls = build_calls(POOL_SIZE)
    warm_up(adapter, calls, warmup)
    rows_start = receiver_rows(url)
    log = adapter.log
    samples = [0] * n
    clock = time.perf_counter_ns
    pool = len(calls)
    gc.collect()
    loop_start = clock()
    for i in range(n):
        request, body, headers = calls[i % pool]
        t0 = clock()
        log(request, body, headers)
        samples[i] = clock() - t0
    loop_s = (clock() - loop_start) / 1e9
    rows_loop_end = receiver_rows(url)
    finish_start = time.perf_counter()
    finish = adapter.finish(timeout_s)
    finish_s = time.perf_counter() - finish_start
    adapter.close()
    return {
        "calls": n,
        "warmup": warmup,
        "us": percentiles_us(samples),
        "loop_s": loop_s,
        "finish_s": finish_s,
        "finish": finish,
        "delivered_during_loop": rows_loop_end - rows_start,
        "threads_at_end": threading.active_count(),
    }


def measure_e2e(adapter: Adapter, url: str, n: int, warmup: int, timeout_s: float) -> dict:
    calls = build_calls(POOL_SIZE)
    warm_up(adapter, calls, warmup)
    adapter.finish(timeout_s)
    prebuilt = [calls[i % len(calls)] for i in range(n)]
    log = adapter.log
    rows_before = receiver_rows(url)
    cpu_start = time.process_time()  # every thread of this process: the client's whole cost
    start = time.perf_counter()
    for request, body, headers in prebuilt:
        log(request, body, headers)
    logged = time.perf_counter()
    finish = adapter.finish(timeout_s)
    done = time.perf_counter()
    cpu_s = time.process_time() - cpu_start
    rows_after = receiver_rows(url)
    adapter.close()
    return {
        "calls": n,
        "warmup": warmup,
        "log_phase_s": logged - start,
        "total_s": done - start,
        "records_per_s": n / (done - start),
        "client_cpu_s": cpu_s,
        "receiver_grew_by": rows_after - rows_before,
        "finish": finish,
    }


# -- the receiver down: exit and memory ----------------------------------------------------


def proc_status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def folder_bytes(root: Path) -> int:
    """Apparent size of every file under ``root`` (the spool: segments, acks, ledger)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def stamp_exit(path: Path, label: str) -> None:
    """Append ``label time.time()`` to ``path`` (run from an atexit hook)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, f"{label} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)


def measure_exit(url: str, workdir: Path, n: int) -> dict:
    """Log ``n`` calls; the caller then returns from ``main`` without flush or close.

    Atexit hooks run last-registered first: ``atexit_start`` runs before Heliograph's exit
    hook and ``heliograph_hook_done`` after it, so the exit time can be split in three.
    """
    import atexit

    stamps = workdir / "exit-stamps.txt"
    atexit.register(stamp_exit, stamps, "heliograph_hook_done")
    import heliograph  # registers heliograph's exit hook

    atexit.register(stamp_exit, stamps, "atexit_start")
    calls = build_calls(POOL_SIZE)
    logger = heliograph.ManualLogger(logging_endpoint=url, spool_dir=workdir / "spool")
    log = functools.partial(logger.log_single_request, latency_ms=LATENCY_MS)
    pool = len(calls)
    start = time.perf_counter()
    for i in range(n):
        request, body, headers = calls[i % pool]
        log(request, body, headers)
    last_log_returned = time.time()
    return {
        "calls": n,
        "log_phase_s": time.perf_counter() - start,
        "last_log_returned_s": last_log_returned,
        "threads": sorted(t.name for t in threading.enumerate()),
    }


def measure_rss(url: str, workdir: Path, n: int) -> dict:
    """Log ``n`` calls to an endpoint that is down; sample VmRSS every ``n // 100`` calls.

    The spool folder's size is sampled with it: eviction runs about once a second, so the
    folder's peak lies between passes and needs samples closer together than that.
    """
    import heliograph

    calls = build_calls(POOL_SIZE)
    spool = workdir / "spool"
    logger = heliograph.ManualLogger(logging_endpoint=url, spool_dir=spool)
    log = functools.partial(logger.log_single_request, latency_ms=LATENCY_MS)
    pool = len(calls)
    every = max(1, n // 100)
    gc.collect()

    def sample(done: int) -> dict[str, int]:
        return {
            "calls": done,
            "rss_kib": proc_status_kib("VmRSS"),
            "spool_bytes": folder_bytes(spool),
        }

    samples = [sample(0)]
    logging_s = 0.0
    done = 0
    while done < n:
        chunk = min(every, n - done)
        start = time.perf_counter()
        for i in range(done, done + chunk):
            request, body, headers = calls[i % pool]
            log(request, body, headers)
        logging_s += time.perf_counter() - start
        done += chunk
        samples.append(sample(done))
    hwm_kib = proc_status_kib("VmHWM")
    start = time.perf_counter()
    report = logger.close(timeout=0)
    close_s = time.perf_counter() - start
    return {
        "calls": n,
        "samples": samples,
        "logging_s": logging_s,
        "us_per_call": logging_s / n * 1e6,
        "vmhwm_kib": hwm_kib,
        "close_s": close_s,
        "rss_after_close_kib": proc_status_kib("VmRSS"),
        "report": {
            "accepted": report.accepted,
            "delivered": report.delivered,
            "pending": report.pending,
            "dead_lettered": report.dead_lettered,
            "dropped": dict(report.dropped),
        },
    }


# -- section 9: the peers, against bench/sink.py ------------------------------------------


def sink_records(control: str) -> dict[str, Any]:
    """The sink's counts (``GET /_sink/stats`` on its control port)."""
    with urllib.request.urlopen(f"{control}/_sink/stats", timeout=10) as response:
        stats = json.load(response)
    return {k: stats[k] for k in ("records", "run_ends", "duplicates", "last_record_s")}


def audit_egress(path: Path) -> None:
    """Append to ``path`` every connection or name lookup for a host other than loopback.

    An audit hook sees every ``socket.connect`` and ``socket.getaddrinfo`` in the process,
    the SDKs' background threads included: the proof that no peer reaches a real cloud.
    Not installed in the timed hot and memory loops.
    """
    allowed = {"127.0.0.1", "localhost", "::1", b"127.0.0.1", b"localhost", b"::1"}

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect":
            address = args[1]
            host = address[0] if isinstance(address, tuple) else None
        elif event == "socket.getaddrinfo":
            host = args[0]
        else:
            return
        if host is None or host in allowed:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, f"{event} {host!r} {time.time():.3f}\n".encode())
            finally:
                os.close(fd)
        except OSError:
            pass

    sys.addaudithook(hook)


def peer_hot(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up and finish, then N timed calls, then finish and close."""
    calls = build_calls(POOL_SIZE)
    warm_up(adapter, calls, args.warmup)
    adapter.finish(args.timeout)
    base = sink_records(args.control)
    log, samples, clock, pool = adapter.log, [0] * args.calls, time.perf_counter_ns, len(calls)
    gc.collect()
    switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
    loop_start = clock()
    for i in range(args.calls):
        request, body, headers = calls[i % pool]
        t0 = clock()
        log(request, body, headers)
        samples[i] = clock() - t0
    loop_s = (clock() - loop_start) / 1e9
    switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - switches
    loop_end = sink_records(args.control)
    finish_start = time.perf_counter()
    finish = adapter.finish(args.timeout)
    finish_s = time.perf_counter() - finish_start
    adapter.close()
    return {
        "calls": args.calls,
        "warmup": args.warmup,
        "us": percentiles_us(samples),
        "loop_s": loop_s,
        # Times the OS took the CPU from the calling thread during the loop (other threads
        # of this process, or other processes, ran instead).
        "preempted": switches,
        "finish_s": finish_s,
        "finish": finish,
        "sink_base": base,
        "delivered_during_loop": loop_end["records"] - base["records"],
    }


def peer_e2e(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up and finish, then N prebuilt calls from the first log call to finish."""
    calls = build_calls(POOL_SIZE)
    warm_up(adapter, calls, args.warmup)
    adapter.finish(args.timeout)
    prebuilt = [calls[i % len(calls)] for i in range(args.calls)]
    log = adapter.log
    base = sink_records(args.control)
    cpu_start = time.process_time()
    first_log_s = time.time()
    start = time.perf_counter()
    for request, body, headers in prebuilt:
        log(request, body, headers)
    logged = time.perf_counter()
    finish = adapter.finish(args.timeout)
    done = time.perf_counter()
    cpu_s = time.process_time() - cpu_start
    adapter.close()
    return {
        "calls": args.calls,
        "warmup": args.warmup,
        "first_log_s": first_log_s,
        "log_phase_s": logged - start,
        "finish_s": done - logged,
        "client_cpu_s": cpu_s,
        "finish": finish,
        "sink_base": base,
    }


def peer_exit(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    """N calls with the sink down; the caller then returns from main, no flush, no close."""
    calls = build_calls(POOL_SIZE)
    log, pool = adapter.log, len(calls)
    start = time.perf_counter()
    for i in range(args.calls):
        request, body, headers = calls[i % pool]
        log(request, body, headers)
    last_log_returned = time.time()
    return {
        "calls": args.calls,
        "log_phase_s": time.perf_counter() - start,
        "last_log_returned_s": last_log_returned,
        "threads": sorted(
            f"{t.name}{'' if t.daemon else ' (non-daemon)'}" for t in threading.enumerate()
        ),
    }


def peer_kill(adapter: Adapter, args: argparse.Namespace) -> None:
    """N calls with the sink slow, then SIGKILL to this process as the last call returns.

    ``--out`` gets one line before the loop and one ``time.time()`` line after it (a single
    ``os.write``); nothing else runs between the last call and the kill.
    """
    import signal

    calls = build_calls(POOL_SIZE)
    log, pool = adapter.log, len(calls)
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (json.dumps({"calls": args.calls, "loop_start_s": time.time()}) + "\n").encode())
    for i in range(args.calls):
        request, body, headers = calls[i % pool]
        log(request, body, headers)
    os.write(fd, f"{time.time():.6f}\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)


def peer_rss(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    """N calls with the sink down, each with a freshly parsed request (and response) object.

    VmRSS before the first call, at every tenth of the calls and after; VmHWM at the end.
    The wall time includes parsing each call's request (a few µs).
    """
    calls = build_calls(POOL_SIZE)
    requests = [json.dumps(request) for request, _body, _headers in calls]
    loads, log, pool = json.loads, adapter.log, len(calls)
    every = max(1, args.calls // 10)
    gc.collect()
    samples = [{"calls": 0, "rss_kib": proc_status_kib("VmRSS")}]
    start = time.perf_counter()
    done = 0
    while done < args.calls:
        chunk = min(every, args.calls - done)
        for i in range(done, done + chunk):
            _request, body, headers = calls[i % pool]
            log(loads(requests[i % pool]), body, headers)
        done += chunk
        samples.append({"calls": done, "rss_kib": proc_status_kib("VmRSS")})
    wall_s = time.perf_counter() - start
    result: dict[str, Any] = {
        "calls": args.calls,
        "samples": samples,
        "wall_s": wall_s,
        "vmhwm_kib": proc_status_kib("VmHWM"),
        "threads": threading.active_count(),
    }
    if args.adapter == "heliograph":  # its own account of what it kept and evicted
        report = adapter._logger.close(timeout=0)  # type: ignore[attr-defined]
        result["report"] = {
            "accepted": report.accepted,
            "delivered": report.delivered,
            "pending": report.pending,
            "dead_lettered": report.dead_lettered,
            "dropped": dict(report.dropped),
        }
    return result


def peer_restart(adapter: Adapter, args: argparse.Namespace) -> dict[str, Any]:
    """The "restarted app": a fresh client on the same state folder that flushes and closes."""
    start = time.perf_counter()
    finish = adapter.finish(args.timeout)
    adapter.close()
    return {"finish": finish, "seconds": time.perf_counter() - start}


_CLIENTS: dict[str, Adapter] = {}

PEER_MODES = {
    "peer-hot": peer_hot,
    "peer-e2e": peer_e2e,
    "peer-exit": peer_exit,
    "peer-kill": peer_kill,
    "peer-rss": peer_rss,
    "peer-restart": peer_restart,
}


def run_peer(args: argparse.Namespace) -> None:
    """One peers-section measurement; every mode but ``peer-exit`` ends in ``os._exit``.

    ``peer-exit`` returns from ``main`` and lets the interpreter exit on its own: that exit
    is what the parent times. The others must not wait for a client's non-daemon threads.
    """
    if args.mode not in ("peer-hot", "peer-rss"):
        audit_egress(args.workdir / "egress.txt")
    # Held like an application's module-level client, until the interpreter exits.
    adapter = _CLIENTS["client"] = make_adapter(
        args.adapter, args.url, args.workdir, fresh=args.mode == "peer-rss"
    )
    result = PEER_MODES[args.mode](adapter, args)
    if args.mode == "peer-kill":
        return  # not reached
    result = (result or {}) | {"mode": args.mode, "adapter": args.adapter, "pid": os.getpid()}
    args.out.write_text(json.dumps(result))
    if args.mode == "peer-exit":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("hot", "e2e", "exit", "rss", *PEER_MODES))
    parser.add_argument("adapter")
    parser.add_argument("--url", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="flush timeout, s")
    parser.add_argument("--control", help="the sink's control URL (peer modes)")
    args = parser.parse_args()
    # Client warnings (heliograph's logger included) go to stderr, which run.py keeps.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.mode in PEER_MODES:
        run_peer(args)
        return  # peer-exit: no flush, no close; the clients' exit hooks run now
    if args.mode in ("exit", "rss"):
        measure_down = measure_exit if args.mode == "exit" else measure_rss
        result = measure_down(args.url, args.workdir, args.calls)
        result.update(mode=args.mode, adapter=args.adapter, pid=os.getpid())
        args.out.write_text(json.dumps(result))
        return  # exit: no flush, no close; Heliograph's exit hook runs now
    adapter = make_adapter(args.adapter, args.url, args.workdir)
    measure = measure_hot if args.mode == "hot" else measure_e2e
    result = measure(adapter, args.url, args.calls, args.warmup, args.timeout)
    result.update(mode=args.mode, adapter=args.adapter, pid=os.getpid())
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
