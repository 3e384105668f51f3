"""Writes ``docs/benchmarks.md`` and its PNG charts from a benchmark run's JSON.

    .venv/bin/python bench/report.py                       # from bench/results/latest.json
    .venv/bin/python bench/report.py --results R.json --docs /tmp/docs

``run.py`` calls ``write_report`` at the end of a full run, so the page always shows the
last full run. Every figure on the page is read from the JSON; the page's prose holds no
numbers of its own, so nothing in it can drift from what was measured.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "latest.json"
DOCS = BENCH_DIR.parent / "docs"
CHART_DIR = "benchmarks"  # below the docs folder, beside benchmarks.md

OURS = "heliograph"
FLOOR = "floor"
PEER_NAMES = {
    "floor": "floor (orjson line, O_APPEND)",
    "heliograph": "heliograph",
    "helicone-helpers": "helicone-helpers",
    "opentelemetry": "OpenTelemetry SDK",
    "langfuse": "Langfuse",
    "langsmith": "LangSmith",
}
COLOURS = {"heliograph": "#d9480f", "floor": "#adb5bd"}
PEER_COLOUR = "#4263eb"


# -- formatting --------------------------------------------------------------------------


def num(value: float | None, digits: int = 0) -> str:
    """A figure for a table: thousands separated; "-" where it does not apply."""
    if value is None:
        return "-"
    if digits == 0 and abs(value) < 10 and value != int(value):
        digits = 1
    return f"{value:,.{digits}f}"


def us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def of(value: int | None, total: int) -> str:
    return "-" if value is None else f"{value:,}/{total:,}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def name(adapter: str) -> str:
    return PEER_NAMES.get(adapter, adapter)


# -- charts ------------------------------------------------------------------------------


def _bars(
    path: Path,
    title: str,
    xlabel: str,
    series: Sequence[tuple[str, dict[str, float]]],
    log: bool = False,
    notes: dict[str, str] | None = None,
) -> None:
    """Horizontal bars, one group per adapter (top to bottom in the given order)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adapters = list(series[0][1])
    height = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(adapters) + 1.2))
    for i, (label, values) in enumerate(series):
        ys = [
            len(adapters) - 1 - n + (len(series) - 1 - 2 * i) * height / 2
            for n in range(len(adapters))
        ]
        xs = [values[a] for a in adapters]
        single = len(series) == 1
        colours = [COLOURS.get(a, PEER_COLOUR) for a in adapters] if single else None
        bars = ax.barh(
            ys,
            xs,
            height=height,
            label=label if len(series) > 1 else None,
            color=colours,
            alpha=1.0 if i == 0 else 0.55,
        )
        for bar, adapter in zip(bars, adapters, strict=True):
            text = (notes or {}).get(adapter) if i == 0 else None
            shown = text or (
                f"{bar.get_width():,.1f}" if bar.get_width() < 100 else f"{bar.get_width():,.0f}"
            )
            ax.annotate(
                shown,
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    _label_adapters(ax, adapters)
    if log:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    ax.margins(x=0.18)
    if len(series) > 1:
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    # No software/date metadata: the same figures give the same file.
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _label_adapters(ax: Any, adapters: Sequence[str]) -> None:
    """Adapter names top to bottom, Heliograph's in bold."""
    ax.set_yticks(range(len(adapters)), [name(a) for a in reversed(adapters)])
    for label in ax.get_yticklabels():
        if label.get_text() == name(OURS):
            label.set_fontweight("bold")


def _kept_chart(path: Path, summary: dict[str, Any], adapters: Sequence[str]) -> None:
    """Per adapter, of the records logged before exit / kill: delivered, recoverable, lost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.55 * len(adapters) + 1.4), sharey=True)
    cases = (("exit", "exit with the sink down"), ("kill", "SIGKILL with a slow sink"))
    for ax, (case, title) in zip(axes, cases, strict=True):
        for n, adapter in enumerate(adapters):
            entry = summary[adapter][case]
            y = len(adapters) - 1 - n
            calls = entry["calls"]
            saved = recovered(case, entry)
            ax.barh(y, saved / calls * 100, color=COLOURS.get(adapter, PEER_COLOUR))
            ax.barh(y, 100 - saved / calls * 100, left=saved / calls * 100, color="#ffe3e3")
            ax.annotate(
                f"{saved:,}/{calls:,}", (101, y), va="center", fontsize=8, annotation_clip=False
            )
        ax.set_xlim(0, 122)
        ax.set_xticks(range(0, 101, 20))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("% of logged records that reach the sink (pale: lost)")
    _label_adapters(axes[0], adapters)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def recovered(case: str, entry: dict[str, Any]) -> int:
    """Records that reached the sink by the end: before the fault, later, or after a restart."""
    if case == "exit":
        parts = (
            entry["reached_while_down"],
            entry["reached_after_sink_up"],
            entry["reached_after_restart"],
        )
    else:
        parts = (entry["reached_before_kill"], entry["reached_after_restart"])
    return sum(p or 0 for p in parts)


def write_charts(peers: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    summary = peers["summary"]
    adapters = [a for a in peers["adapters"] if a in summary]
    senders = [a for a in adapters if summary[a].get("e2e")]
    charts: list[tuple[str, Callable[[Path], None]]] = [
        (
            "caller.png",
            lambda p: _bars(
                p,
                "Caller-thread cost of one log call (lower is better)",
                "µs per call (log scale)",
                [
                    ("p50", {a: summary[a]["hot"]["p50_us"] for a in adapters}),
                    ("p99", {a: summary[a]["hot"]["p99_us"] for a in adapters}),
                ],
                log=True,
            ),
        ),
        (
            "throughput.png",
            lambda p: _bars(
                p,
                "Records delivered per second to a local sink (higher is better)",
                "records/s",
                [("records/s", {a: summary[a]["e2e"]["records_per_s"] or 0.0 for a in senders})],
            ),
        ),
        (
            "exit.png",
            lambda p: _bars(
                p,
                "Exit time with the sink down, no close() called (lower is better)",
                "seconds from the last log call to process exit (log scale)",
                [("exit s", {a: summary[a]["exit"]["exit_s"] for a in adapters})],
                log=True,
                notes={
                    a: f"{summary[a]['exit']['exit_s']:.2f} s"
                    + (" (killed)" if summary[a]["exit"]["killed_at_cap"] else "")
                    for a in adapters
                },
            ),
        ),
        ("kept.png", lambda p: _kept_chart(p, summary, senders)),
        (
            "memory.png",
            lambda p: _bars(
                p,
                "RSS growth while the sink is down (lower is better)",
                "MiB",
                [("growth", {a: max(summary[a]["rss"]["growth_mib"], 0.0) for a in adapters})],
            ),
        ),
        (
            "import.png",
            lambda p: _bars(
                p,
                "Import time (lower is better)",
                "ms, median of fresh interpreters",
                [("import", {a: summary[a]["import"]["median_ms"] for a in adapters})],
            ),
        ),
    ]
    written = []
    for filename, draw in charts:
        draw(folder / filename)
        written.append(folder / filename)
    return written


# -- the page ----------------------------------------------------------------------------


def findings(peers: dict[str, Any]) -> list[str]:
    """Sentences that compare Heliograph with the peers, every number read from the run."""
    s = peers["summary"]
    others = [a for a in peers["adapters"] if a in s and a not in (OURS, FLOOR)]
    if OURS not in s or not others:
        return []
    ours = s[OURS]
    out = []
    best = min(others, key=lambda a: s[a]["hot"]["p50_us"])
    line = (
        f"**Caller cost.** Heliograph's log call takes {us(ours['hot']['p50_us'])} µs at the "
        f"median and {us(ours['hot']['p99_us'])} µs at p99; the cheapest peer, {name(best)}, "
        f"{us(s[best]['hot']['p50_us'])} µs and {us(s[best]['hot']['p99_us'])} µs "
        f"({s[best]['hot']['p50_us'] / ours['hot']['p50_us']:.1f}x Heliograph's median). "
        f"Of those {ours['hot']['calls']:,} calls, Heliograph delivered "
        f"{num(ours['hot']['delivered'])} and {name(best)} {num(s[best]['hot']['delivered'])}."
    )
    if FLOOR in s:
        line += (
            f" The durable floor (one orjson line appended to a file) is "
            f"{us(s[FLOOR]['hot']['p50_us'])} µs."
        )
    out.append(line)
    lost = [a for a in others if recovered("exit", s[a]["exit"]) < s[a]["exit"]["calls"]]
    exit_line = (
        f"**Exit with the sink down.** Heliograph exited in {ours['exit']['exit_s']:.2f} s and "
        f"{recovered('exit', ours['exit']):,} of its {ours['exit']['calls']:,} records reached "
        f"the sink after it came back and the app restarted."
    )
    if lost:
        exit_line += (
            " Records lost by: "
            + ", ".join(
                f"{name(a)} {s[a]['exit']['calls'] - recovered('exit', s[a]['exit']):,} "
                f"(exit {s[a]['exit']['exit_s']:.2f} s"
                + (", killed at the cap" if s[a]["exit"]["killed_at_cap"] else "")
                + ")"
                for a in lost
            )
            + "."
        )
    out.append(exit_line)
    kill_lost = {a: s[a]["kill"]["calls"] - recovered("kill", s[a]["kill"]) for a in others}
    out.append(
        f"**SIGKILL.** Of {ours['kill']['calls']:,} records logged just before a SIGKILL, "
        f"{recovered('kill', ours['kill']):,} reached the sink from Heliograph (before the "
        "kill, or from its spool after a restart); peers lost "
        + ", ".join(f"{name(a)} {n:,}" for a, n in kill_lost.items())
        + "."
    )
    out.append(
        f"**Memory during an outage.** Over {ours['rss']['calls']:,} calls with the sink down, "
        f"Heliograph's RSS grew {ours['rss']['growth_mib']:.1f} MiB; "
        + ", ".join(f"{name(a)} {s[a]['rss']['growth_mib']:.1f} MiB" for a in others)
        + "."
        + (f" Heliograph's {ours['rss']['note'].split(';')[0]}." if ours["rss"]["note"] else "")
    )
    if ours.get("e2e") and ours["e2e"]["records_per_s"]:
        out.append(
            f"**Throughput.** Heliograph delivered {num(ours['e2e']['records_per_s'])} records/s "
            "(one Helicone log per HTTP request, each acknowledged before it leaves the spool); "
            + ", ".join(
                f"{name(a)} {num(s[a]['e2e']['records_per_s'])}"
                for a in others
                if s[a].get("e2e") and s[a]["e2e"]["records_per_s"]
            )
            + "."
        )
    out.append(
        f"**Import.** `{ours['import']['statement']}` takes {ours['import']['median_ms']:.0f} ms; "
        + ", ".join(f"{name(a)} {s[a]['import']['median_ms']:.0f} ms" for a in others)
        + "."
    )
    return out


def peer_tables(peers: dict[str, Any]) -> dict[str, str]:
    s = peers["summary"]
    adapters = [a for a in peers["adapters"] if a in s]
    floor_p50 = s[FLOOR]["hot"]["p50_us"] if FLOOR in s else None
    hot_rows = []
    for a in adapters:
        h = s[a]["hot"]
        ratio = "-" if floor_p50 is None else f"{h['p50_us'] / floor_p50:.1f}x"
        hot_rows.append(
            [
                name(a),
                num(h["calls"]),
                us(h["p50_us"]),
                f"{us(h['p50_range_us'][0])}-{us(h['p50_range_us'][1])}",
                us(h["p99_us"]),
                us(h["p999_us"]),
                us(h["mean_us"]),
                ratio,
                of(h["delivered"], h["calls"]),
            ]
        )
    e2e_rows = []
    for a in adapters:
        e = s[a].get("e2e")
        if e:
            e2e_rows.append(
                [
                    name(a),
                    num(e["calls"]),
                    num(e["records_per_s"]),
                    of(e["delivered"], e["calls"]),
                    num(e["seconds"], 2),
                ]
            )
    outage_rows = []
    for a in adapters:
        x, k, r = s[a]["exit"], s[a]["kill"], s[a]["rss"]
        exit_s = f"{x['exit_s']:.2f}" + (" (killed at cap)" if x["killed_at_cap"] else "")
        outage_rows.append(
            [
                name(a),
                exit_s,
                " / ".join(
                    num(v)
                    for v in (
                        x["reached_while_down"],
                        x["reached_after_sink_up"],
                        x["reached_after_restart"],
                    )
                ),
                num(x["kept_on_disk"]),
                " / ".join(num(v) for v in (k["reached_before_kill"], k["reached_after_restart"])),
                num(k["kept_on_disk"]),
                num(r["growth_mib"], 1),
                num(r["peak_mib"], 1),
            ]
        )
    import_rows = [
        [name(a), f"`{s[a]['import']['statement']}`", num(s[a]["import"]["median_ms"], 1)]
        for a in adapters
    ]
    a0 = s[adapters[0]]
    return {
        "hot": table(
            [
                "adapter",
                "calls",
                "p50 µs",
                "p50 range",
                "p99 µs",
                "p99.9 µs",
                "mean µs",
                "p50 / floor",
                "reached sink",
            ],
            hot_rows,
        ),
        "e2e": table(["adapter", "calls", "records/s", "delivered", "seconds"], e2e_rows),
        "outage": table(
            [
                "adapter",
                "exit s (sink down)",
                f"reached sink: while down / after up / after restart (of {a0['exit']['calls']:,})",
                "kept on disk",
                f"SIGKILL: reached before / after restart (of {a0['kill']['calls']:,})",
                "kept on disk",
                f"RSS growth MiB ({a0['rss']['calls']:,} calls)",
                "peak RSS MiB",
            ],
            outage_rows,
        ),
        "import": table(["adapter", "statement", "median ms"], import_rows, right_from=2),
    }


DELIVERY_NAMES = {
    "floor": "floor (orjson line, O_APPEND)",
    "nodeliver": "`deliver=False` (spool append alone)",
    "thread": "thread (sender threads in the app)",
    "agent": "agent (`heliograph agent`)",
}
MET = {True: "✓", False: "✗", None: "?"}


def delivery_section(delivery: dict[str, Any]) -> list[str]:
    """Section 10 (``data["delivery"]``): the table and the targets, read from the run.

    The targets are ``delivery_modes.targets`` of the run's summary, so their ratios and
    ✓/✗ are the ones ``run.py`` printed. Imported here, not at the top: ``delivery_modes``
    imports ``peers``, which imports this module.
    """
    from delivery_modes import SENDING, VARIANTS, targets

    p, s = delivery["profile"], delivery["summary"]
    variants = [v for v in VARIANTS if v in s]

    def missing(variant: str) -> list[str]:  # nothing to show: not measured, or failed
        return ["n/a" if variant not in SENDING else "failed"]

    agent_cpu = any((s[v].get("e2e") or {}).get("agent_cpu_us") is not None for v in variants)
    rows = []
    for v in variants:
        hot, e2e, ex = s[v].get("hot"), s[v].get("e2e"), s[v].get("exit")
        back, dup = s[v].get("comeback"), s[v].get("duplicates")
        row = [DELIVERY_NAMES.get(v, v)]
        row += (
            ["failed", "", ""]
            if hot is None
            else [us(hot[k]) for k in ("p50_us", "p99_us", "p999_us")]
        )
        row += missing(v) if e2e is None else [num(e2e["records_per_s"])]
        if ex is None or ex["exit_s"] is None:
            row.append("failed")
        else:
            row.append(f"{ex['exit_s']:.3f}" + (" (killed at cap)" if ex["killed_at_cap"] else ""))
        if back is None:
            row += missing(v) * 2
        else:
            row += [
                of(back["reached_after_sink_up"], back["calls"]),
                num(back["reached_after_restart"]),
            ]
        row += missing(v) if dup is None else [f"{dup['duplicates']:,} of {dup['posts']:,}"]
        if agent_cpu:
            row.append(us((e2e or {}).get("agent_cpu_us")))
        rows.append(row)
    header = [
        "variant",
        "caller p50 µs",
        "p99 µs",
        "p99.9 µs",
        "records/s",
        "exit s (sink up)",
        "sink back: delivered, no restart",
        "then after a restart",
        f"duplicate POSTs ({p['dup_processes']} apps exit normally)",
    ]
    if agent_cpu:
        header.append("agent process CPU µs/record")
    target_rows = [[t["target"], t["shown"], MET[t["met"]]] for t in targets(s)]
    out = [
        "",
        "## Delivery modes: in the app's threads or in the delivery agent",
        "",
        "The same workload four ways against one sink: the durable floor, the spool append "
        "alone (`deliver=False`), `HELIOGRAPH_DELIVERY=thread` (sender threads in the app) and "
        "`HELIOGRAPH_DELIVERY=agent` (`python -m heliograph agent` started by hand before each "
        "measurement, its CPU apart from the app's), every measurement in fresh processes. "
        f"Caller: {p['hot_calls']:,} calls after {p['hot_warmup']:,} warm-up calls, median of "
        f"{p['repeats']} process{'' if p['repeats'] == 1 else 'es'}. records/s: "
        f"{p['e2e_calls']:,} calls, from the first log call to the sink's arrival of the last "
        "record. Exit: "
        f"{p['exit_calls']:,} calls with the sink up, `main` returns without `close()`; from "
        "the last call's return to the exit. Sink back: "
        f"{p['exit_calls']:,} calls with the sink down, the app exits, the sink comes up: what "
        f"arrives within {p['after_up_s']:.0f} s without restarting anything, then what "
        f"`heliograph flush` delivers. Duplicates: {p['dup_processes']} apps log "
        f"{p['dup_calls']:,} records each on one spool and exit normally, then `heliograph "
        "flush` runs; POSTs at the sink minus distinct `Helicone-Request-Id`s.",
        "",
        table(header, rows),
        "",
        "Targets, computed from this run:",
        "",
        table(["target", "measured", "met"], target_rows),
    ]
    if delivery.get("problems"):
        out += ["", "### Problems seen in the delivery run", ""]
        out += [f"- {line}" for line in delivery["problems"]]
    return out


def render_page(data: dict[str, Any]) -> str:
    """The page, from a run's results alone (``printed`` is the text ``run.py`` printed)."""
    m, printed = data["machine"], data.get("printed")
    peers = data.get("peers")
    out = [
        "# Benchmarks",
        "",
        f"Generated by `bench/run.py` ({data['profile']['name']} run) on {data['started_utc']} "
        f"at git `{m['git']}`; the run took {data['elapsed_s'] / 60:.1f} minutes. Do not edit this "
        "page: run `.venv/bin/python bench/run.py` again, or `bench/report.py` to redraw it "
        "from `bench/results/latest.json`. `bench/README.md` says how each figure is measured.",
        "",
        "## Machine",
        "",
        f"{m['nproc']} cores ({m['cpu_model']}), Linux {m['kernel']}, {m['implementation']} "
        f"{m['python']}; load average {m['load_avg_start'][0]:.2f} at the start and "
        f"{data['load_avg_end'][0]:.2f} at the end. The sink, the client's threads and the "
        "measured caller share these cores.",
    ]
    if peers:
        versions = ", ".join(f"{k} {v}" for k, v in peers["versions"].items())
        tables = peer_tables(peers)
        out += [
            "",
            "## Heliograph against its peers",
            "",
            f"Versions: {versions}. {peers['sink']['description']}",
            "",
            *[f"- {line}" for line in findings(peers)],
            "",
            "### Caller-thread cost of one log call",
            "",
            "Each figure is the median over fresh processes of that process's percentile, calls "
            'back to back with the garbage collector on. "Reached sink" counts what the sink had '
            "decoded after the adapter's own flush.",
            "",
            tables["hot"],
            "",
            f"![Caller-thread cost]({CHART_DIR}/caller.png)",
            "",
            "### Delivery to a local sink",
            "",
            tables["e2e"],
            "",
            f"![Throughput]({CHART_DIR}/throughput.png)",
            "",
            "### Outage: exit, SIGKILL and memory",
            "",
            "Exit: the program logs while the sink is down and returns from `main` without "
            "calling `close()`; then the sink comes back, and then the program is started again. "
            "SIGKILL: the sink answers slowly and the program kills itself right after its last "
            "log call; then it is started again. RSS: calls logged with the sink down.",
            "",
            tables["outage"],
            "",
            f"![Exit time]({CHART_DIR}/exit.png)",
            "",
            f"![Records kept]({CHART_DIR}/kept.png)",
            "",
            f"![Memory]({CHART_DIR}/memory.png)",
            "",
            "### Import",
            "",
            tables["import"],
            "",
            f"![Import time]({CHART_DIR}/import.png)",
        ]
        if peers["problems"]:
            out += ["", "### Problems seen in the peers run", ""]
            out += [f"- {line}" for line in peers["problems"]]
    if data.get("delivery"):
        out += delivery_section(data["delivery"])
    out += [
        "",
        "## Caveats",
        "",
        "- Two shared cores: the sink, the client's background threads and the caller compete "
        "for them, so a synchronous client pays the sink's cost on its caller thread.",
        "- Calls are logged back to back, a stress pattern; a real program logs once per LLM "
        "call, seconds apart, so background threads find the GIL free and tails are calmer.",
        "- p99 and above move by about a third between runs; read them as orders of magnitude. "
        "Medians and the delivered/lost counts are the figures to quote.",
        "- The exit and SIGKILL counts of the peers depend on how much sat in memory at that "
        'moment; read them as "what a crash takes with it", not as a loss rate.',
        "- Each SDK runs with its defaults apart from its endpoint and keys.",
        "- helicone-helpers imports the `openai` package when it is installed (it is here, for "
        "the test suite); that is most of its import time.",
    ]
    if printed:
        out += [
            "",
            "## Every section, as `bench/run.py` printed it",
            "",
            "```text",
            printed.rstrip(),
            "```",
        ]
    problems = data.get("problems") or []
    out += ["", "## Problems seen in sections 1-8", ""]
    out += [f"- {line}" for line in problems] or ["- none"]
    return "\n".join(out) + "\n"


def write_report(data: dict[str, Any], docs: Path) -> list[Path]:
    """Write ``benchmarks.md``, its charts and the results it was made from into ``docs``.

    The results go beside the charts, so anyone can check that the page is their
    rendering (``tests/bench/test_report.py`` does) and redraw it with ``--results``.
    """
    folder = docs / CHART_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = write_charts(data["peers"], folder) if data.get("peers") else []
    results = folder / "results.json"
    results.write_text(json.dumps(data, indent=1, default=str) + "\n")
    page = docs / "benchmarks.md"
    page.write_text(render_page(data))
    return [page, results, *written]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="a run's JSON")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the folder to write into")
    args = parser.parse_args()
    data = json.loads(args.results.read_text())
    for path in write_report(data, args.docs):
        print(path)


if __name__ == "__main__":
    main()
