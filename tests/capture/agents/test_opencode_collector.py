"""The OpenCode collector on the events a real ``opencode serve`` (1.18.33) sent.

``data/opencode-1.18.33-events.jsonl`` is the ``GET /event`` stream of one session: a
greeting, a ``read`` tool call and its answer, a rename, a goodbye (v2 shapes, with
``message.part.delta`` streaming and 45 ``plugin.added`` and other unrelated events).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from heliograph.capture.agents.opencode import OpenCodeCollector, part_time_ms
from heliograph.capture.agents.opencode_inbox import Inbox
from heliograph.capture.agents.opencode_store import ExportedLedger, OpenCodeStore
from heliograph.capture.agents.opencode_watch import OpenCodeServer
from heliograph.cli.opencode import parse_since
from heliograph.model.helicone import async_log_body
from heliograph.model.ids import is_helicone_request_id, stable_id
from heliograph.model.record import Record
from heliograph.privacy import PrivacyFilter

DATA = Path(__file__).parent / "data" / "opencode-1.18.33-events.jsonl"
SESSION = "ses_dfdaa4fcfffeVbwcxNe8cxFG93"
BASE = f"/opencode/{SESSION}"


def recorded() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text().splitlines()]


def as_v1(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same stream as an older server sends it: no event ids, no ``sessionID`` or
    ``time`` beside the payload, text streamed as full-text part updates with a ``delta``."""
    out: list[dict[str, Any]] = []
    texts: dict[str, dict[str, Any]] = {}
    for event in copy.deepcopy(events):
        props = event["properties"]
        if event["type"] == "message.part.delta":
            part = texts[props["partID"]]
            part["text"] += props["delta"]
            out.append({"type": "message.part.updated",
                        "properties": {"part": dict(part), "delta": props["delta"]}})  # fmt: skip
            continue
        if event["type"] == "message.part.updated":
            texts[props["part"]["id"]] = props["part"]
            props = {"part": props["part"]}
        elif "info" in props:
            props = {"info": props["info"]}
        out.append({"type": event["type"], "properties": props})
    return out


class Collected:
    def __init__(self, privacy: PrivacyFilter | None = None, **kwargs: Any) -> None:
        self.records: list[Record] = []
        self.collector = OpenCodeCollector(
            self.records.append, privacy or PrivacyFilter(mode="full"), **kwargs
        )

    def feed(self, events: Iterable[object]) -> Collected:
        for event in events:
            ready = self.collector.handle(event)
            if ready:
                self.collector.export(ready)
        return self


def test_each_llm_call_and_tool_run_becomes_one_log_in_one_session() -> None:
    records = Collected().feed(recorded()).records
    paths = [r.headers["Helicone-Session-Path"] for r in records]
    assert paths == [f"{BASE}/msg-1", f"{BASE}/msg-2", f"{BASE}/msg-2/tool-read",
                     f"{BASE}/msg-2", f"{BASE}/msg-3"]  # fmt: skip
    assert {r.headers["Helicone-Session-Id"] for r in records} == {
        stable_id(f"opencode:session:{SESSION}")
    }
    names = [r.headers["Helicone-Session-Name"] for r in records]
    assert names == ["Explore run"] * 4 + ["Renamed run"]  # the rename reaches later logs
    ids = [r.request_id for r in records]
    assert len(set(ids)) == 5 and all(is_helicone_request_id(i) for i in ids)
    assert all(r.headers["Helicone-Request-Id"] == r.request_id for r in records)

    hello, tool_call, tool, answer, bye = records
    assert hello.response_json is not None
    assert hello.response_json["choices"][0]["message"]["content"] == "Hello from the fake model."
    # OpenCode's input excludes cache reads; OpenAI's prompt_tokens includes them.
    assert hello.response_json["usage"]["prompt_tokens"] == 20
    assert hello.response_json["usage"]["prompt_tokens_details"]["cached_tokens"] == 4
    assert hello.cost_usd == pytest.approx(0.0001542)
    assert tool_call.response_json is not None
    choice = tool_call.response_json["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "read"
    assert tool.request["_type"] == "tool" and tool.request["toolName"] == "read"
    assert tool.request["input"] == {"filePath": "/home/dev/project/notes.txt"}
    assert "The secret number is 42." in str(tool.response_json)
    assert [m["role"] for m in answer.request["messages"]] == [
        "user", "assistant", "user", "assistant", "tool"]  # fmt: skip
    assert answer.request["messages"][-1]["content"].count("The secret number is 42.") == 1
    assert bye.request["messages"][-1] == {"role": "user", "content": "Bye"}
    # Timings come from the parts' creation times, encoded in their ids.
    assert hello.start_ms == 1795335501165 and hello.end_ms == 1795335501178
    assert tool.start_ms == 1795335501335 and tool.end_ms >= tool.start_ms
    assert hello.ttft_ms == 4
    assert async_log_body(tool)["providerResponse"]["json"]["_type"] == "tool"


def test_the_v1_event_shapes_give_the_same_logs() -> None:
    v2 = Collected().feed(recorded()).records
    v1 = Collected().feed(as_v1(recorded())).records
    assert [r.request_id for r in v1] == [r.request_id for r in v2]
    assert [r.response_json for r in v1] == [r.response_json for r in v2]
    assert [r.headers for r in v1] == [r.headers for r in v2]


def test_global_event_wrapper_and_unknown_or_broken_events_are_accepted() -> None:
    events: list[object] = [{"directory": "/x", "payload": e} for e in recorded()]
    events[3:3] = [None, "text", {"type": "session.next.step.started", "properties": {}},
                   {"type": "message.part.updated", "properties": {"part": {"id": 1}}}]  # fmt: skip
    assert len(Collected().feed(events).records) == 5


def test_replayed_events_and_a_restart_with_the_ledger_export_nothing_twice(
    tmp_path: Path,
) -> None:
    ledger = ExportedLedger(tmp_path / "exported-ids")
    first = Collected(exported=ledger).feed(recorded()).feed(recorded())
    assert len(first.records) == 5
    restarted = Collected(exported=ExportedLedger(tmp_path / "exported-ids")).feed(recorded())
    assert restarted.records == []
    without_ledger = Collected().feed(recorded())
    assert [r.request_id for r in without_ledger.records] == [r.request_id for r in first.records]


def test_unfinished_calls_wait_and_idle_or_interval_exports_the_finished_ones() -> None:
    events = recorded()
    cut = next(i for i, e in enumerate(events)
               if e["properties"].get("part", {}).get("type") == "step-finish")  # fmt: skip
    collected = Collected().feed(events[:cut])
    assert collected.collector.export() == 0  # streaming, no step-finish yet
    collected.feed(events[cut : cut + 1])
    assert collected.records == []  # finished, but the session is not idle yet
    assert collected.collector.export() == 1  # the interval (or shutdown) export
    collected.feed(events[cut + 1 :])
    assert len(collected.records) == 5


def test_a_subagent_session_nests_under_its_parent() -> None:
    child = "ses_child0001"
    events = recorded()
    extra = []
    for event in events:
        text = json.dumps(event).replace(SESSION, child).replace("prt_2025", "prt_3025")
        text = text.replace("msg_2025", "msg_3025").replace("Explore run", "Subtask")
        extra.append(json.loads(text))
    for event in extra:
        if event["type"] in ("session.created", "session.updated"):
            event["properties"]["info"]["parentID"] = SESSION
    records = Collected().feed(events + extra).records
    nested = [r for r in records if f"/{child}/" in r.headers["Helicone-Session-Path"]]
    assert len(nested) == 5
    assert nested[0].headers["Helicone-Session-Path"] == f"{BASE}/{child}/msg-1"
    assert {r.headers["Helicone-Session-Id"] for r in records} == {
        stable_id(f"opencode:session:{SESSION}")
    }
    assert {r.headers["Helicone-Session-Name"] for r in nested} == {"Renamed run"}


def test_a_huge_tool_output_is_cut_below_10_mb_and_says_so() -> None:
    events = recorded()
    huge = "x" * (12 * 1024 * 1024)
    for event in events:
        part = event["properties"].get("part", {})
        if part.get("type") == "tool" and part["state"]["status"] == "completed":
            part["state"]["output"] = huge
    records = Collected().feed(events).records
    assert len(records) == 5
    for record in records:
        size = len(orjson.dumps(async_log_body(record)))
        assert size < 10 * 1024 * 1024
    tool, answer = records[2], records[3]
    assert any(n.startswith("truncated: strings longer than") for n in tool.notes)
    assert "characters truncated]" in str(tool.response_json)
    assert any(n.startswith("truncated:") for n in answer.notes)


def test_privacy_is_applied_before_the_sink() -> None:
    secret = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 3
    events = recorded()
    for event in events:
        part = event["properties"].get("part", {})
        if part.get("text") == "Say hello":
            part["text"] = f"Say hello, my key is {secret}"
    redacted = Collected(PrivacyFilter(mode="redacted")).feed(events).records
    assert secret not in json.dumps([r.to_dict() for r in redacted])
    assert "Say hello, my key is" in json.dumps(redacted[0].request)
    bare = Collected(PrivacyFilter(mode="metadata_only")).feed(events).records
    dumped = json.dumps([r.to_dict() for r in bare])
    for text in ("Say hello", "Hello from the fake model", "secret number", "Explore run"):
        assert text not in dumped
    assert bare[0].response_json is not None
    assert bare[0].response_json["usage"]["prompt_tokens"] == 20
    assert Collected(PrivacyFilter(mode="off")).feed(events).records == []


def test_part_ids_encode_their_creation_time() -> None:
    assert part_time_ms("prt_20255b56d001SfXpPGBaj0VLhk", 1795335500589) == 1795335501165
    assert part_time_ms("prt_x", 0) is None
    assert part_time_ms("nonsense", 0) is None


def test_import_reads_the_legacy_storage_files(tmp_path: Path) -> None:
    info = next(e["properties"]["info"] for e in recorded() if e["type"] == "session.updated")
    storage = tmp_path / "storage"
    (storage / "session" / "global").mkdir(parents=True)
    (storage / "session" / "global" / f"{SESSION}.json").write_text(json.dumps(info))
    for event in recorded():
        props = event["properties"]
        if event["type"] == "message.updated":
            folder = storage / "message" / SESSION
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{props['info']['id']}.json").write_text(json.dumps(props["info"]))
        elif event["type"] == "message.part.updated":
            folder = storage / "part" / props["part"]["messageID"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{props['part']['id']}.json").write_text(json.dumps(props["part"]))
    store = OpenCodeStore(tmp_path)
    assert [s.id for s in store.sessions()] == [SESSION]
    history = store.history(SESSION)
    assert history is not None
    collected = Collected()
    collected.collector.load(history, SESSION)
    collected.collector.export()
    streamed = Collected().feed(recorded()).records
    assert [r.request_id for r in collected.records] == [r.request_id for r in streamed]
    assert [r.start_ms for r in collected.records] == [r.start_ms for r in streamed]


def test_inbox_reads_complete_lines_once_and_sweeps_files_of_exited_writers(
    tmp_path: Path,
) -> None:
    dead = tmp_path / "opencode-999999999.jsonl"
    dead.write_bytes(b'{"type": "a"}\nnot json\n{"type": "b"')
    inbox = Inbox(tmp_path)
    assert inbox.read() == [{"type": "a"}] and inbox.skipped == 1
    assert not inbox.writers_alive()
    inbox.commit()
    inbox.sweep()
    assert dead.exists()  # its last line is incomplete: not everything is read
    with dead.open("ab") as file:
        file.write(b"}\n")
    again = Inbox(tmp_path)  # a restart resumes from the stored offset
    assert again.read() == [{"type": "b"}]
    again.commit()
    again.sweep()
    assert list(tmp_path.iterdir()) == []


def test_watch_reconnects_after_the_stream_drops_and_sends_basic_auth() -> None:
    seen: list[object] = []
    auth: list[str | None] = []
    stop = threading.Event()

    class Events(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            auth.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            number = len(auth)
            self.wfile.write(b'event: message\ndata: {"type": "n", "n": %d}\n\n' % number)

        def log_message(self, *args: object) -> None:
            return

    with ThreadingHTTPServer(("127.0.0.1", 0), Events) as http:
        threading.Thread(target=http.serve_forever, daemon=True).start()
        server = OpenCodeServer(f"http://127.0.0.1:{http.server_address[1]}",
                                password="pw", initial_backoff_s=0.01)  # fmt: skip

        def on_event(event: object) -> None:
            seen.append(event)
            if len(seen) == 2:
                stop.set()

        server.follow_events(on_event, stop)
        http.shutdown()
    assert seen == [{"type": "n", "n": 1}, {"type": "n", "n": 2}]
    assert auth[0] == "Basic b3BlbmNvZGU6cHc="  # opencode:pw
    assert server.connections >= 2


def test_since_takes_an_age_or_an_iso_time() -> None:
    assert parse_since("2d", 1_000_000.0) == (1_000_000.0 - 2 * 86400) * 1000
    assert parse_since("2024-05-01T00:00:00+00:00", 0) == 1714521600000
