"""``heliograph sessions`` and ``heliograph show``: from the running receiver or its file."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heliograph.cli.main import main
from heliograph.receiver import ReceiverThread
from heliograph.receiver.schema import StoredRequest
from heliograph.receiver.views import SESSION_PAGE
from tests.receiver import dashboard_data
from tests.receiver.dashboard_data import LARGE, TRIP, TRIP_NAME, Seeded, seed_large_session
from tests.receiver.helpers import make_record, post_record

LARGE_REQUESTS = SESSION_PAGE + 234


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[ReceiverThread, Seeded]]:
    with (
        ReceiverThread(db_path=tmp_path / "r.sqlite3") as running,
        httpx.Client(base_url=running.url) as http,
    ):
        yield running, dashboard_data.seed(http)


@pytest.fixture(scope="module")
def large(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ReceiverThread, list[StoredRequest]]]:
    path = tmp_path_factory.mktemp("large") / "r.sqlite3"
    with ReceiverThread(db_path=path) as running:
        yield running, seed_large_session(running.store, LARGE_REQUESTS)


def _shown_ids(out: str, rows: list[StoredRequest]) -> list[str]:
    """The request ids ``show`` printed, in order (a request's line ends in its id)."""
    ids = {row.request_id for row in rows}
    return [line.rsplit(" ", 1)[-1] for line in out.splitlines() if line.rsplit(" ", 1)[-1] in ids]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sessions_prints_a_table_from_the_receiver(
    seeded: tuple[ReceiverThread, Seeded], capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, _ = seeded
    assert main(["sessions", "--url", receiver.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["LAST", "ACTIVITY", "NAME", "SESSION", "ID", "REQUESTS", "TOKENS",
                              "COST", "DURATION"]  # fmt: skip
    trip = next(line for line in out if TRIP_NAME in line)
    assert trip.split()[4:8] == [TRIP, "5", "90", trip.split()[7]]
    assert trip.endswith("4 min 1 s")
    assert out[-1] == "2 of 2 sessions; 'heliograph show SESSION_ID' for one"


def test_sessions_reads_the_database_file_the_same_way(
    seeded: tuple[ReceiverThread, Seeded], capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, _ = seeded
    assert main(["sessions", "--url", receiver.url, "--limit", "1"]) == 0
    over_http = capsys.readouterr().out
    assert main(["sessions", "--db", str(receiver.db_path), "--limit", "1"]) == 0
    assert capsys.readouterr().out == over_http
    assert "1 of 2 sessions" in over_http


def test_show_prints_the_session_path_tree_with_timings(
    seeded: tuple[ReceiverThread, Seeded], capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, data = seeded
    assert main(["show", TRIP, "--url", receiver.url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{TRIP_NAME}  ({TRIP})"
    assert lines[1].startswith("5 requests · 90 tokens (71 in, 19 out)")
    tree = lines[3:]
    assert tree[0].startswith("/  5 requests · 90 tokens")
    assert tree[1].startswith("└── plan  5 requests")
    assert tree[2].startswith("    ├── +0 ms  gpt-4o-mini  200  12 tok")
    assert tree[2].endswith(data.id("openai_chat"))
    assert tree[3].startswith("    ├── search  2 requests · 62 tokens")
    assert tree[4].startswith("    │   ├── +1 min 0 s  gpt-4o-mini")
    assert tree[5].startswith("    │   └── +2 min 0 s  claude-sonnet-4  200  37 tok  -  800 ms")
    assert tree[6].startswith("    └── book  2 requests")
    assert tree[8].startswith("        └── +4 min 0 s  gpt-4o-mini  500")
    assert len(tree) == 9


def test_show_escapes_control_characters_from_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        ReceiverThread(db_path=tmp_path / "r.sqlite3") as running,
        httpx.Client(base_url=running.url) as http,
    ):
        headers = {"Helicone-Session-Id": "s-esc", "Helicone-Session-Name": "a\x1b[2Jb"}
        post_record(http, make_record(headers=headers))
        assert main(["show", "s-esc", "--url", running.url]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "a\\x1b[2Jb  (s-esc)" in out


def test_unknown_session_exits_1(
    seeded: tuple[ReceiverThread, Seeded], capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, _ = seeded
    assert main(["show", "nope", "--url", receiver.url]) == 1
    assert "no session nope; 'heliograph sessions' lists them" in capsys.readouterr().err
    assert main(["show", "nope", "--db", str(receiver.db_path)]) == 1


def test_no_receiver_running_exits_1_and_says_what_to_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["sessions", "--url", url]) == 1
    err = capsys.readouterr().err
    assert f"no receiver answered at {url}" in err
    assert "start one with 'heliograph serve', or read its database file with --db PATH" in err


def test_a_missing_database_file_is_a_usage_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite3"
    assert main(["show", "x", "--db", str(missing)]) == 2
    assert f"no receiver database at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_a_receiver_with_keys_asks_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ReceiverThread(db_path=tmp_path / "r.sqlite3", require_keys=["k1"]) as running:
        assert main(["sessions", "--url", running.url]) == 2
        assert "requires a key; pass --key KEY" in capsys.readouterr().err
        assert main(["sessions", "--url", running.url, "--key", "k1"]) == 0
        assert capsys.readouterr().out == "No sessions yet.\n"


def test_url_and_db_are_exclusive_and_limit_is_checked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sessions", "--url", "http://x", "--db", "y"])
    assert exited.value.code == 2
    assert main(["sessions", "--limit", "0"]) == 2
    assert "--limit must be from 1 to 200, got 0" in capsys.readouterr().err


def test_show_prints_one_page_of_a_large_session_and_says_what_it_left_out(
    large: tuple[ReceiverThread, list[StoredRequest]], capsys: pytest.CaptureFixture[str]
) -> None:
    receiver, rows = large
    assert main(["show", LARGE, "--url", receiver.url]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].startswith(f"{LARGE_REQUESTS} requests · ")  # the whole session's totals
    assert lines[3].startswith(f"/  {LARGE_REQUESTS} requests · ")  # and the tree's
    assert sorted(_shown_ids(out, rows)) == sorted(r.request_id for r in rows[:SESSION_PAGE])
    assert lines[-1] == (
        f"Showing the first {SESSION_PAGE} of {LARGE_REQUESTS} requests by start time; "
        f"234 left out. --limit N or --all shows more."
    )
    left_out = [
        int(line.split("… ")[1].split()[0]) for line in lines if "more at this path" in line
    ]
    assert len(left_out) == 5 and sum(left_out) == 234  # one line per path, every request counted
    assert main(["show", LARGE, "--db", str(receiver.db_path)]) == 0
    assert capsys.readouterr().out == out  # the database file reads the same


@pytest.mark.parametrize("source", ["--url", "--db"])
def test_show_limit_and_all_choose_how_many_requests_to_print(
    large: tuple[ReceiverThread, list[StoredRequest]],
    capsys: pytest.CaptureFixture[str],
    source: str,
) -> None:
    receiver, rows = large
    where = [source, receiver.url if source == "--url" else str(receiver.db_path)]
    assert main(["show", LARGE, "--limit", "7", *where]) == 0
    out = capsys.readouterr().out
    assert sorted(_shown_ids(out, rows)) == sorted(r.request_id for r in rows[:7])
    assert out.splitlines()[-1].startswith(f"Showing the first 7 of {LARGE_REQUESTS} requests")
    assert main(["show", LARGE, "--limit", str(SESSION_PAGE + 10), *where]) == 0  # two pages
    out = capsys.readouterr().out
    assert len(_shown_ids(out, rows)) == SESSION_PAGE + 10
    assert main(["show", LARGE, "--all", *where]) == 0
    out = capsys.readouterr().out
    assert sorted(_shown_ids(out, rows)) == sorted(r.request_id for r in rows)
    assert "Showing" not in out and "more at this path" not in out


def test_show_limit_must_be_positive_and_excludes_all(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "s", "--limit", "0"]) == 2
    assert "--limit must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["show", "s", "--limit", "3", "--all"])
    assert exited.value.code == 2
