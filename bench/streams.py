"""Section 6: what the stream pass-through wrapper costs per chunk, beside a bare generator.

Each repeat runs in a fresh interpreter: the same generator of chunks is consumed bare and
through ``LogBuilder.to_stream`` (spool only: ``deliver=False``), for SDK-like chunk objects
(pydantic-style ``model_dump``) and for raw SSE byte chunks. The figure is the extra time
per chunk on the consuming thread, median of the repeats.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHUNKS = 20_000


class Chunk:
    """Stands in for an SDK chunk object: the wrapper calls ``model_dump(mode="json")``."""

    def __init__(self, index: int) -> None:
        self.data = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": f"tok{index} "}, "finish_reason": None}],
        }

    def model_dump(self, mode: str = "python", exclude_unset: bool = False) -> dict[str, Any]:
        return self.data


def _objects(n: int) -> Iterator[Any]:
    return (Chunk(i) for i in range(n))


def _sse(n: int) -> Iterator[bytes]:
    line = b'data: {"choices":[{"index":0,"delta":{"content":"tok "}}]}\n\n'
    return (line for _ in range(n))


def _time(make: Callable[[int], Iterator[Any]], wrap: Callable[[Iterator[Any]], Any]) -> float:
    items = list(make(CHUNKS))  # built before timing: only iteration is measured
    start = time.perf_counter_ns()
    for _ in wrap(iter(items)):
        pass
    return (time.perf_counter_ns() - start) / CHUNKS


def child() -> None:
    import heliograph

    with tempfile.TemporaryDirectory() as spool:
        logger = heliograph.ManualLogger(spool_dir=Path(spool), deliver=False)
        result = {}
        for name, make in (("objects", _objects), ("sse_bytes", _sse)):
            bare = _time(make, lambda it: it)
            wrapped = _time(make, lambda it: logger.log_builder({"model": "m"}).to_stream(it))
            result[name] = {"bare_ns": bare, "wrapped_ns": wrapped}
        logger.close(timeout=0)
    result["enrich"] = _enrich_costs()
    print(json.dumps(result))


ENRICH_CHUNKS = 200


def _enrich_costs() -> dict[str, float]:
    """Sender-thread µs to price one 200-chunk stream log, with and without provider usage."""
    from heliograph.delivery.enrich import enrich
    from heliograph.model.record import Record

    lines = [json.dumps(_objects(ENRICH_CHUNKS).__next__().data)] * ENRICH_CHUNKS
    usage = {"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 200}}
    request = {"model": "gpt-4o-mini", "stream": True,
               "messages": [{"role": "user", "content": "word " * 500}]}  # fmt: skip
    out = {}
    for name, transcript in (
        ("reported_us", "\n".join([*lines, json.dumps(usage)]) + "\n"),
        ("estimated_us", "\n".join(lines) + "\n"),
    ):
        record = Record("bench", request, 0.0, 1.0, provider="OPENAI", response_text=transcript)
        enrich(record)  # warm: tiktoken loads its encoding once per process
        times = []
        for _ in range(50):
            start = time.perf_counter_ns()
            enrich(record)
            times.append(time.perf_counter_ns() - start)
        out[name] = statistics.median(times) / 1000
    return out


def run_streams(repeats: int) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, __file__, "--child"], capture_output=True,
                             text=True, check=True)  # fmt: skip
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {}
    for name in ("objects", "sse_bytes"):
        bare = statistics.median(r[name]["bare_ns"] for r in runs)
        wrapped = statistics.median(r[name]["wrapped_ns"] for r in runs)
        summary[name] = {"bare_ns": bare, "wrapped_ns": wrapped, "overhead_ns": wrapped - bare}
    enrich = {k: statistics.median(r["enrich"][k] for r in runs) for k in runs[0]["enrich"]}
    return {"chunks": CHUNKS, "repeats": repeats, "summary": summary, "enrich": enrich,
            "runs": runs}  # fmt: skip


def render_streams(data: dict[str, Any], table: Callable[[list[str], list[list[str]]], str]) -> str:
    rows = [
        [name, f"{s['bare_ns'] / 1000:.2f}", f"{s['wrapped_ns'] / 1000:.2f}",
         f"{s['overhead_ns'] / 1000:.2f}"]
        for name, s in data["summary"].items()
    ]  # fmt: skip
    return (
        f"\n6. Stream pass-through: µs per chunk consumed, {data['chunks']:,} chunks "
        f"(median of {data['repeats']} fresh processes)\n"
        + table(["chunks", "bare generator", "to_stream()", "overhead"], rows)
        + "\n   to_stream(): heliograph's wrapper with deliver=False; the log is spooled once "
        "at the end (included). objects: SDK-like chunks serialised to the transcript; "
        "sse_bytes: raw SSE lines kept verbatim.\n"
        f"   Delivery-side pricing of one {ENRICH_CHUNKS}-chunk stream log (sender thread, "
        f"not the caller's): {data['enrich']['reported_us']:.0f} µs with provider usage, "
        f"{data['enrich']['estimated_us']:.0f} µs when tokens are estimated with tiktoken.\n"
    )


if __name__ == "__main__" and "--child" in sys.argv:
    child()
