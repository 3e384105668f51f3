"""``heliograph sessions`` and ``heliograph show SESSION_ID``: the dashboard in a terminal.

Both read the running receiver's dashboard API (``/v1/dashboard/…``, at
http://127.0.0.1:8585 unless ``--url``), or, with ``--db``, its SQLite file directly,
which works while the receiver is stopped (or running: the database is in WAL mode).
``show`` prints a session's first 500 requests (the receiver's page) with the whole
session's totals, and a line counting those it left out; ``--limit N`` or ``--all`` read
more pages.
Exit codes: 0 shown; 1 nothing to show (no receiver answered, or no such session);
2 usage (a missing database file, a bad option).

Text from logs is printed with control characters escaped, so a session name holding
terminal escape sequences cannot rewrite the screen.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEFAULT_URL = "http://127.0.0.1:8585"
EXIT_OK, EXIT_NOTHING, EXIT_USAGE = 0, 1, 2


class SourceError(Exception):
    """The data could not be read; ``exit_code`` says whether that is usage or absence."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def register(sub: Any) -> None:
    """Add the ``sessions`` and ``show`` commands to ``heliograph``'s subparsers."""
    sessions = sub.add_parser(
        "sessions",
        help="list sessions stored by the local receiver, latest activity first",
        description="A table of sessions (Helicone-Session-Id) the receiver stored: name, "
        "id, requests, tokens, cost, duration and last activity.",
    )
    sessions.add_argument("--limit", type=int, default=20, help="how many to list (20)")
    sessions.add_argument("--search", help="only sessions whose id or name contains this")
    _source_options(sessions)
    sessions.set_defaults(run=run_sessions)

    show = sub.add_parser(
        "show",
        help="show one session as a tree of its Helicone-Session-Path, with timings",
        description="One session's requests grouped by Helicone-Session-Path, each with "
        "its start (from the session's start), model, status, tokens, cost and latency.",
    )
    show.add_argument("session_id", metavar="SESSION_ID")
    how_many = show.add_mutually_exclusive_group()
    how_many.add_argument(
        "--limit",
        type=int,
        help="show the first N requests, oldest first (default: the receiver's page, 500)",
    )
    how_many.add_argument("--all", action="store_true", help="show every request of the session")
    _source_options(show)
    show.set_defaults(run=run_show)


def _source_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help=f"the receiver's base URL (default {DEFAULT_URL})")
    where.add_argument("--db", type=Path, help="read this receiver database file instead")
    parser.add_argument("--key", help="bearer key, if the receiver was started with keys")


# -- reading ------------------------------------------------------------------------------


def _post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> Any:
    """POST to the dashboard API; None on 404, ``SourceError`` when nobody answers."""
    base = (args.url or DEFAULT_URL).rstrip("/")
    headers = {"Content-Type": "application/json"}
    if args.key:
        headers["Authorization"] = f"Bearer {args.key}"
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["data"]
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code == 401:
            raise SourceError(f"the receiver at {base} requires a key; pass --key KEY", 2) from None
        raise SourceError(f"the receiver at {base} answered HTTP {exc.code}", 1) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(
            f"no receiver answered at {base} ({reason}); start one with 'heliograph serve', "
            "or read its database file with --db PATH",
            EXIT_NOTHING,
        ) from None


def _from_db(path: Path, query: Callable[[Any], Any]) -> Any:
    from heliograph.receiver.store import Store

    if not path.is_file():
        raise SourceError(f"no receiver database at {path}; 'heliograph serve --db' names it", 2)
    with Store(path) as store:
        return store.read(query)


def _sessions(args: argparse.Namespace) -> dict[str, Any]:
    if args.db is not None:
        from heliograph.receiver.views import sessions_page

        return dict(_from_db(args.db, lambda db: sessions_page(db, args.search, limit=args.limit)))
    page: dict[str, Any] = _post(
        args, "/v1/dashboard/sessions", {"search": args.search, "limit": args.limit}
    )
    return page


_Fetch = Callable[[str | None, int], dict[str, Any] | None]


def _session(args: argparse.Namespace) -> dict[str, Any] | None:
    from heliograph.receiver.views import SESSION_PAGE, decode_cursor, session_detail

    want = None if args.all else (args.limit or SESSION_PAGE)
    if args.db is not None:

        def from_db(db: Any) -> dict[str, Any] | None:
            def fetch(cursor: str | None, limit: int) -> dict[str, Any] | None:
                after = None if cursor is None else decode_cursor(cursor)
                return session_detail(db, args.session_id, cursor=after, limit=limit)

            return _pages(fetch, want, SESSION_PAGE)

        found: dict[str, Any] | None = _from_db(args.db, from_db)
        return found

    def post(cursor: str | None, limit: int) -> dict[str, Any] | None:
        body = {"session_id": args.session_id, "cursor": cursor, "limit": limit}
        page: dict[str, Any] | None = _post(args, "/v1/dashboard/session", body)
        return page

    return _pages(post, want, SESSION_PAGE)


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node["children"] for n in _nodes(child))]


def _pages(fetch: _Fetch, want: int | None, page_size: int) -> dict[str, Any] | None:
    """The session with its first ``want`` requests (all when None), read page by page.

    The summary and tree are the last page's, the freshest; each node's ``request_ids``
    gathers the ids every page listed at its path.
    """
    requests: list[dict[str, Any]] = []
    ids: dict[str, list[str]] = {}
    cursor: str | None = None
    while True:
        limit = page_size if want is None else min(page_size, want - len(requests))
        page = fetch(cursor, limit)
        if page is None:
            return None
        requests += page["requests"]
        for node in _nodes(page["tree"]):
            ids.setdefault(node["path"], []).extend(node["request_ids"])
        cursor = page["next_cursor"]
        if cursor is None or (want is not None and len(requests) >= want):
            break
    for node in _nodes(page["tree"]):
        node["request_ids"] = ids.get(node["path"], [])
    return {**page, "requests": requests, "next_cursor": cursor}


# -- formatting ---------------------------------------------------------------------------


def clean(value: object) -> str:
    """Text from a log, safe for a terminal: control characters shown as escapes."""
    text = "-" if value is None else str(value)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def when(epoch_ms: float) -> str:
    moment = _dt.datetime.fromtimestamp(epoch_ms / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, rest = divmod(ms / 1000, 60)
    return f"{minutes:.0f} min {rest:.0f} s"


def cost(usd: float | None) -> str:
    if usd is None:
        return "-"
    return f"${usd:.4f}" if usd >= 0.01 or usd == 0 else f"${usd:.3g}"


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


# -- commands -----------------------------------------------------------------------------


def _error(message: object, exit_code: int) -> int:
    print(f"heliograph: error: {message}", file=sys.stderr)
    return exit_code


def run_sessions(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 200:
        return _error(f"--limit must be from 1 to 200, got {args.limit}", EXIT_USAGE)
    try:
        page = _sessions(args)
    except SourceError as exc:
        return _error(exc, exc.exit_code)
    if not page["items"]:
        print("No sessions yet." if not args.search else "No session matches.")
        return EXIT_OK
    rows = [
        [
            when(s["latest_request_created_at_ms"]),
            clean(s["session_name"]),
            clean(s["session_id"]),
            number(s["total_requests"]),
            number(s["total_tokens"]),
            cost(s["total_cost"]),
            duration(s["duration_ms"]),
        ]
        for s in page["items"]
    ]
    header = ["LAST ACTIVITY", "NAME", "SESSION ID", "REQUESTS", "TOKENS", "COST", "DURATION"]
    print(table(header, rows, right={3, 4, 5, 6}))
    print(f"{len(rows)} of {page['total']:,} sessions; 'heliograph show SESSION_ID' for one")
    return EXIT_OK


def _node_line(node: dict[str, Any]) -> str:
    span = (node["end_ms"] or 0) - (node["start_ms"] or 0)
    plural = "" if node["total_requests"] == 1 else "s"
    return (
        f"{clean(node['name'])}  {node['total_requests']} request{plural} · "
        f"{number(node['total_tokens'])} tokens · {cost(node['total_cost'])} · {duration(span)}"
    )


def _request_line(item: dict[str, Any], start_ms: int) -> str:
    ttft = item["time_to_first_token_ms"]
    parts = [
        f"+{duration(item['created_at_ms'] - start_ms)}",
        clean(item["model"]),
        str(item["status"]),
        f"{number(item['total_tokens'])} tok",
        cost(item["cost"]),
        duration(item["delay_ms"]),
    ]
    if ttft is not None:
        parts.append(f"ttft {duration(ttft)}")
    return "  ".join(parts) + f"  {item['request_id']}"


def render_tree(session: dict[str, Any]) -> list[str]:
    """The session's path tree with box-drawing branches; requests before sub-paths.

    Under a node whose requests were not all fetched, a line counts the ones left out.
    """
    by_id = {item["request_id"]: item for item in session["requests"]}
    start = session["created_at_ms"]
    lines = [_node_line(session["tree"])]

    def walk(node: dict[str, Any], prefix: str) -> None:
        entries: list[tuple[str, Any]] = [("request", by_id[rid]) for rid in node["request_ids"]]
        left_out = node["own_requests"] - len(node["request_ids"])
        if left_out > 0:
            entries.append(("more", left_out))
        entries += [("node", child) for child in node["children"]]
        for index, (kind, entry) in enumerate(entries):
            last = index == len(entries) - 1
            branch, indent = ("└── ", "    ") if last else ("├── ", "│   ")
            if kind == "request":
                lines.append(prefix + branch + _request_line(entry, start))
            elif kind == "more":
                lines.append(f"{prefix}{branch}… {number(entry)} more at this path, not shown")
            else:
                lines.append(prefix + branch + _node_line(entry))
                walk(entry, prefix + indent)

    walk(session["tree"], "")
    return lines


def run_show(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        return _error(f"--limit must be at least 1, got {args.limit}", EXIT_USAGE)
    try:
        session = _session(args)
    except SourceError as exc:
        return _error(exc, exc.exit_code)
    if session is None:
        print(
            f"heliograph: no session {clean(args.session_id)!s}; 'heliograph sessions' lists them",
            file=sys.stderr,
        )
        return EXIT_NOTHING
    print(f"{clean(session['session_name'])}  ({clean(session['session_id'])})")
    print(
        f"{session['total_requests']} requests · {number(session['total_tokens'])} tokens "
        f"({number(session['prompt_tokens'])} in, {number(session['completion_tokens'])} out) · "
        f"{cost(session['total_cost'])} · {duration(session['duration_ms'])} · "
        f"started {when(session['created_at_ms'])}"
    )
    print()
    print("\n".join(render_tree(session)))
    shown, total = len(session["requests"]), session["total_requests"]
    if shown < total:
        print(
            f"Showing the first {shown:,} of {total:,} requests by start time; "
            f"{total - shown:,} left out. --limit N or --all shows more."
        )
    return EXIT_OK
