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
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workload import Call, build_calls

POOL_SIZE = 256  # distinct calls, cycled
LATENCY_MS = 250  # the "LLM call" each log describes took this long
# The hot loop writes ~58 MB in under a second, past the 50 MiB default spool bound; the
# hot runs raise it so they measure capture and delivery, not eviction (section 5 does).
HOT_MAX_SPOOL_BYTES = 512 * 1024 * 1024

LogFn = Callable[[dict[str, Any], str, dict[str, str]], None]


# -- adapters ----------------------------------------------------------------------------


class Adapter:
    """How one client logs a call (``log``), drains (``finish``) and shuts down (``close``)."""

    log: LogFn

    def finish(self, timeout_s: float) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        return None


class FloorAdapter(Adapter):
    """The limit of any durable capture: one orjson line appended to an O_APPEND file."""

    def __init__(self, url: str, workdir: Path) -> None:
        import orjson

        self._path = workdir / "floor.jsonl"
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._fd = fd
        dumps, option, write, clock = orjson.dumps, orjson.OPT_APPEND_NEWLINE, os.write, time.time

        def log(request: dict[str, Any], body: str, headers: dict[str, str]) -> None:
            end = clock()
            record = {
                "request": request,
                "response": body,
                "headers": headers,
                "start_s": end - LATENCY_MS / 1000,
                "end_s": end,
            }
            write(fd, dumps(record, option=option))

        self.log = log

    def finish(self, timeout_s: float) -> dict[str, Any]:
        with self._path.open("rb") as f:
            return {"lines_on_disk": sum(1 for _ in f)}

    def close(self) -> None:
        os.close(self._fd)


class HeliographAdapter(Adapter):
    """``ManualLogger.log_single_request``; with ``deliver=False`` the spool only."""

    def __init__(self, url: str, workdir: Path, deliver: bool) -> None:
        import heliograph

        self._deliver = deliver
        self._logger = heliograph.ManualLogger(
            logging_endpoint=url, spool_dir=workdir / "spool", deliver=deliver,
            max_spool_bytes=HOT_MAX_SPOOL_BYTES,
        )  # fmt: skip
        self.log = functools.partial(self._logger.log_single_request, latency_ms=LATENCY_MS)

    def finish(self, timeout_s: float) -> dict[str, Any]:
        # Without delivery, flush() would start a worker anyway; close(0) only reports.
        deliver, logger = self._deliver, self._logger
        report = logger.flush(timeout_s) if deliver else logger.close(0)
        return {
            "report": {
                "accepted": report.accepted,
                "delivered": report.delivered,
                "pending": report.pending,
                "dead_lettered": report.dead_lettered,
                "dropped": report.dropped,
            }
        }

    def close(self) -> None:
        if self._deliver:
            self._logger.close(5.0)


class HeliconeHelpersAdapter(Adapter):
    """helicone-helpers' simplest synchronous path: ``send_log``, one POST per call.

    ``log_request`` wraps the same ``send_log`` around a callback, and the builder's
    ``send_log`` is a coroutine that calls it too; ``send_log`` is the common core.
    """

    def __init__(self, url: str, workdir: Path) -> None:
        from helicone_helpers import HeliconeManualLogger

        logger = HeliconeManualLogger(api_key="sk-bench", logging_endpoint=url)
        send, clock = logger.send_log, time.time

        def log(request: dict[str, Any], body: str, headers: dict[str, str]) -> None:
            end = clock()
            options = {
                "start_time": end - LATENCY_MS / 1000,
                "end_time": end,
                "additional_headers": headers,
            }
            send(None, request, body, options)

        self.log = log


def make_adapter(name: str, url: str, workdir: Path) -> Adapter:
    if name == "floor":
        return FloorAdapter(url, workdir)
    if name == "heliograph":
        return HeliographAdapter(url, workdir, deliver=True)
    if name == "heliograph-nodeliver":
        return HeliographAdapter(url, workdir, deliver=False)
    if name == "helicone-helpers":
        return HeliconeHelpersAdapter(url, workdir)
    raise SystemExit(f"unknown adapter {name!r}")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("hot", "e2e", "exit", "rss"))
    parser.add_argument("adapter")
    parser.add_argument("--url", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="flush timeout, s")
    args = parser.parse_args()
    # Client warnings (heliograph's logger included) go to stderr, which run.py keeps.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
    )
    args.workdir.mkdir(parents=True, exist_ok=True)
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
