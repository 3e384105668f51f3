"""Section 8: the dashboard's queries on a large receiver database, through the HTTP API.

    .venv/bin/python bench/dashboard.py                       # 10,000 sessions, 200,000 requests
    .venv/bin/python bench/dashboard.py --requests 1000000    # the issue's full size

Seeds a fresh database through ``Store`` (so the summary triggers do their real work on
every row) with one ``executemany`` in one transaction, then starts a ``ReceiverThread``
on it and times each query the dashboard makes over one keep-alive connection: median,
min and max of ``--rounds`` calls. Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from heliograph.receiver.schema import COLUMNS, INSERT
from heliograph.receiver.server import ReceiverThread
from heliograph.receiver.store import Store

START_MS = 1_760_000_000_000
MODELS = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-4", "claude-haiku-4")
PATHS = ("/plan", "/plan/search", "/plan/search/fetch", "/plan/book", "/review")
WORDS = ("train", "lyon", "ticket", "budget", "hotel", "museum", "river", "coffee", "rain")
RARE_WORD = "zanzibarquux"  # in one request in 100,000: a search that scans almost everything


def _rows(sessions: int, requests: int, seed: int = 7) -> Iterator[list[object]]:
    """``requests`` rows spread over ``sessions``, one row per 30 s of simulated time."""
    rng = random.Random(seed)
    per_session = max(1, requests // sessions)
    for n in range(requests):
        session = min(n // per_session, sessions - 1)
        created = START_MS + n * 30_000
        delay = rng.randint(200, 4_000)
        prompt, completion = rng.randint(50, 4_000), rng.randint(10, 800)
        text = " ".join(rng.choice(WORDS) for _ in range(12))
        if n % 100_000 == 50_000:
            text += f" {RARE_WORD}"
        row = {
            "request_id": f"00000000-0000-4000-8000-{n:012d}",
            "provider": "OPENAI",
            "model": MODELS[n % len(MODELS)],
            "status": 500 if n % 50 == 0 else 200,
            "target_url": "https://api.openai.com/v1/chat/completions",
            "user_id": f"user-{session % 50}",
            "session_id": f"session-{session:05d}",
            "session_name": f"Trip {session % 500}",
            "session_path": PATHS[n % len(PATHS)],
            "properties": json.dumps(
                {"env": "dev" if session % 10 == 0 else "prod", "run": f"r{n % 1000}"}
            ),
            "request_body": json.dumps(
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
            ),
            "response_body": json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": text[::-1]}}]}
            ),
            "request_created_at": created,
            "response_created_at": created + delay,
            "delay_ms": delay,
            "time_to_first_token": delay // 4,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost": (prompt * 0.15 + completion * 0.6) / 1e6,
            "received_at": created + delay + 5,
            "auth_fingerprint": "sha256:bench",
            "response_raw": None,
            "prompt_cache_read_tokens": None,
            "prompt_cache_write_tokens": None,
        }
        yield [row[name] for name in COLUMNS]


def seed(path: Path, sessions: int, requests: int) -> float:
    """Fill a new database at ``path``; returns the seconds it took."""
    started = time.perf_counter()
    with Store(path) as store:

        def insert(db: Any) -> None:
            # A big page cache for this one transaction: with the default 2 MB, SQLite spills
            # index pages to the WAL and rewrites them over and over (tens of GB at 1M rows).
            db.execute("PRAGMA cache_size = -1048576")
            db.execute("BEGIN")
            db.executemany(INSERT, _rows(sessions, requests))
            db.execute("COMMIT")

        store.read(insert)
    return time.perf_counter() - started


def _timed(call: Callable[[], Any], rounds: int) -> dict[str, float]:
    call()  # warm the page cache and the statement cache
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}


def measure(url_host: str, port: int, sessions: int, requests: int, rounds: int) -> dict[str, Any]:
    conn = http.client.HTTPConnection(url_host, port, timeout=120)

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{method} {path} -> {response.status}: {data}")
        return data["data"]

    def post(path: str, body: dict[str, Any]) -> Callable[[], Any]:
        return lambda: call("POST", path, body)

    last_page = (sessions - 1) // 25 * 25
    mid_cursor = f"{START_MS + requests // 2 * 30_000}.{requests // 2 + 1}"  # row n: rowid n+1
    queries: dict[str, Callable[[], Any]] = {
        "version poll (GET /v1/dashboard/version)": lambda: call("GET", "/v1/dashboard/version"),
        "sessions list, page 1 of 25": post("/v1/dashboard/sessions", {"limit": 25}),
        "sessions list, last page": post(
            "/v1/dashboard/sessions", {"limit": 25, "offset": last_page}
        ),
        "sessions search by name": post("/v1/dashboard/sessions", {"search": "Trip 42"}),
        "/v1/session/query (Helicone shape), 100": post("/v1/session/query", {"limit": 100}),
        "session page (summary, requests, tree)": post(
            "/v1/dashboard/session", {"session_id": f"session-{sessions // 2:05d}"}
        ),
        "requests, newest 50": post("/v1/dashboard/requests", {"limit": 50}),
        "requests, 50 from the middle (cursor)": post(
            "/v1/dashboard/requests", {"limit": 50, "cursor": mid_cursor}
        ),
        "requests, model filter": post("/v1/dashboard/requests", {"filter": {"model": "gpt-4.1"}}),
        "requests, status 500 + user": post(
            "/v1/dashboard/requests", {"filter": {"status": 500, "user_id": "user-7"}}
        ),
        "requests, property env=dev": post(
            "/v1/dashboard/requests", {"filter": {"properties": {"env": "dev"}}}
        ),
        "requests, last hour (time range)": post(
            "/v1/dashboard/requests",
            {"filter": {"created_after_ms": START_MS + (requests - 120) * 30_000}},
        ),
        "requests, body search (common word)": post(
            "/v1/dashboard/requests", {"filter": {"search": "museum"}}
        ),
        f"requests, body search (rare: 1 in {min(requests, 100_000):,})": post(
            "/v1/dashboard/requests", {"filter": {"search": RARE_WORD}}
        ),
    }
    results = {}
    for label, query in queries.items():
        print(f"[dashboard] {label}", file=sys.stderr)
        results[label] = _timed(query, rounds)
    conn.close()
    return results


def run_dashboard(sessions: int, requests: int, rounds: int) -> dict[str, Any]:
    """Seed, serve, time every query; the figures and the sizes used."""
    with tempfile.TemporaryDirectory(prefix="heliograph-dash-") as tmp:
        path = Path(tmp) / "receiver.sqlite3"
        print(f"[dashboard] seeding {sessions:,} sessions / {requests:,} requests", file=sys.stderr)
        seed_s = seed(path, sessions, requests)
        size_mb = path.stat().st_size / 2**20
        with ReceiverThread(db_path=path) as receiver:
            results = measure(receiver.host, receiver.port, sessions, requests, rounds)
    return {
        "sessions": sessions,
        "requests": requests,
        "rounds": rounds,
        "seed_s": seed_s,
        "db_mb": size_mb,
        "queries": results,
    }


def render_dashboard(
    data: dict[str, Any], table: Callable[[list[str], list[list[str]]], str]
) -> list[str]:
    rows = [
        [label, f"{q['median_ms']:.1f}", f"{q['min_ms']:.1f}-{q['max_ms']:.1f}"]
        for label, q in data["queries"].items()
    ]
    return [
        "",
        f"8. Dashboard queries over HTTP on {data['sessions']:,} sessions / "
        f"{data['requests']:,} requests (seeded in {data['seed_s']:.0f} s, "
        f"{data['db_mb']:,.0f} MB; median of {data['rounds']} calls on a keep-alive connection)",
        table(["query", "median ms", "range"], rows),
        "   The rare-word body search is the worst case: a LIKE that scans every body, newest "
        "first, to fill a page it cannot fill. Every other query reads an index.",
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=20, help="timed calls per query (20)")
    args = parser.parse_args()
    data = run_dashboard(args.sessions, args.requests, args.rounds)
    print("\n".join(render_dashboard(data, _table)))


if __name__ == "__main__":
    main()
