"""Real OpenCode (npm opencode-ai 1.18.33, offline) exported through Heliograph, end to end.

``opencode serve`` runs with an isolated HOME and a custom OpenAI-compatible provider pointed
at the fake provider (streamed answers, a ``read`` tool call). Heliograph captures it with
``heliograph opencode watch`` (restarted mid-session, once with the receiver down), with the
installed plugin (``ingest --follow`` started by the plugin itself), and re-imports the
data folder; the receiver must hold one Helicone session per OpenCode session, the right
tree of paths, OpenCode's per-call tokens, cost and timings, and no duplicate.
Install OpenCode with ``scripts/npm/install-pinned.sh`` (``scripts/test.sh`` does).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.model.ids import stable_id
from heliograph.receiver import ReceiverThread
from tests.providers.fake_provider import FakeProvider, Script
from tests.support import FaultProxy, free_port

ROOT = Path(__file__).resolve().parents[3]
OPENCODE = ROOT / ".cache" / "npm-opencode" / "node_modules" / ".bin" / "opencode"
MODEL = {"providerID": "fakellm", "modelID": "fake-model"}
# USD per million tokens, as OpenCode's config takes them; OpenCode prices each step.
PRICE = {"input": 3.0, "output": 15.0, "cache_read": 0.3}

pytestmark = pytest.mark.skipif(
    not OPENCODE.exists(), reason="OpenCode not installed: run scripts/test.sh to install it"
)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class OpenCode:
    """``opencode serve`` on a free port, in ``project``, with ``home`` as its HOME."""

    def __init__(self, home: Path, project: Path, provider_url: str, env: dict[str, str]) -> None:
        self.home, self.project = home, project
        config = home / "opencode.json"
        config.write_text(
            json.dumps(
                {
                    "$schema": "https://opencode.ai/config.json",
                    "provider": {
                        "fakellm": {
                            "npm": "@ai-sdk/openai-compatible",
                            "name": "Fake LLM",
                            "options": {"baseURL": provider_url + "/v1", "apiKey": "sk-fake"},
                            "models": {
                                "fake-model": {"name": "Fake", "tool_call": True, "cost": PRICE}
                            },
                        }
                    },
                    "model": "fakellm/fake-model",
                    "small_model": "fakellm/fake-model",
                    "autoupdate": False,
                    "share": "disabled",
                }
            )
        )
        self.env = {
            **env,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "OPENCODE_CONFIG": str(config),
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
            "OPENCODE_DISABLE_SHARE": "1",
        }
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = home / ".local" / "share" / "opencode"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def __enter__(self) -> OpenCode:
        args = [str(OPENCODE), "serve", "--port", str(self.port), "--hostname", "127.0.0.1"]
        log = (self.home / f"opencode-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            args, cwd=self.project, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "opencode exited"
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/global/health", timeout=2).status_code == 200
            return False

        wait_for(healthy, "opencode serve", timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def session(self, title: str) -> str:
        return str(self.client.post("/session", json={"title": title}).json()["id"])

    def prompt(self, session_id: str, text: str) -> dict[str, Any]:
        body = {"parts": [{"type": "text", "text": text}], "model": MODEL}
        response = self.client.post(f"/session/{session_id}/message", json=body)
        response.raise_for_status()
        return dict(response.json())


@pytest.fixture(scope="module")
def opencode_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One HOME for the module: OpenCode installs its plugin SDK there once, from npm."""
    return tmp_path_factory.mktemp("opencode-home")


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(Script(text="Hello from the fake model.", usage=(20, 7, 4, 0))) as running:
        yield running


def heliograph(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "heliograph", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def base_env(spool: Path, endpoint: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HELIOGRAPH_ENDPOINT": endpoint,
        "HELIOGRAPH_SPOOL_DIR": str(spool),
    }


def start_watch(opencode: OpenCode, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    errors = log.open("w")
    watch = subprocess.Popen(
        [sys.executable, "-m", "heliograph", "opencode", "watch", "--url", opencode.url,
         "--interval", "1", "--flush-timeout", "3"],
        env=env, stdout=subprocess.DEVNULL, stderr=errors, text=True,
    )  # fmt: skip
    errors.close()
    wait_for(lambda: "following OpenCode events" in log.read_text(), "watch to connect")
    return watch


def epoch_ms(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def expected_cost(prompt: int, completion: int, cached: int) -> float:
    fresh = prompt - cached
    return (
        fresh * PRICE["input"] + completion * PRICE["output"] + cached * PRICE["cache_read"]
    ) / 1e6


def tool_then_answer(project: Path) -> tuple[Script, Script]:
    read = {"name": "read", "arguments": {"filePath": str(project / "notes.txt")}}
    return (
        Script(text="", tool_call=read, usage=(30, 9, 0, 0)),
        Script(text="The secret number is 42.", usage=(45, 8, 10, 0)),
    )


def test_watch_exports_a_real_session_once_across_restarts_outages_and_reimport(
    opencode_home: Path, provider: FakeProvider, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("The secret number is 42.\n")
    spool = tmp_path / "spool"
    started_ms = time.time() * 1000
    outage = [False]  # the receiver answers 503 while set: down, at the same address
    with (
        ReceiverThread(db_path=tmp_path / "sink.sqlite3") as sink,
        FaultProxy(sink.url, lambda n: (503, {}, b"down") if outage[0] else None) as proxy,
        OpenCode(opencode_home, project, provider.url, {"PATH": os.environ["PATH"]}) as oc,
    ):
        env = base_env(spool, proxy.url)
        watch = start_watch(oc, env, tmp_path / "watch-1.log")
        session = oc.session("Heliograph e2e")
        assert oc.prompt(session, "Say hello")["info"]["finish"] == "stop"
        provider.enqueue(*tool_then_answer(project))
        answer = oc.prompt(session, "Read notes.txt")
        assert answer["parts"][1]["text"] == "The secret number is 42."
        # Exported on session.idle, long before the 30 s interval (here 1 s, no matter).
        wait_for(lambda: sink.store.count() == 4, "the first two turns")

        watch.kill()  # a crash: nothing flushed, nothing said goodbye
        watch.wait()
        provider.script = Script(text="Missed while down.", usage=(50, 4, 0, 0))
        oc.prompt(session, "Anyone there?")
        oc.client.patch(f"/session/{session}", json={"title": "Heliograph e2e renamed"})

        # Restarted with the receiver down: the agent does not notice.
        outage[0] = True
        watch = start_watch(oc, env, tmp_path / "watch-2.log")
        provider.script = Script(text="Bye.", usage=(60, 2, 0, 0))
        began = time.monotonic()
        assert oc.prompt(session, "Bye")["parts"][1]["text"] == "Bye."
        assert time.monotonic() - began < 10
        ledger = spool.parent / "opencode" / "exported-ids"
        wait_for(lambda: len(ledger.read_text().split()) == 6, "the last two turns spooled")
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(15) == 0
        assert sink.store.count() == 4  # the other two wait in the spool
        outage[0] = False

        flushed = subprocess.run(
            [sys.executable, "-m", "heliograph", "flush", "--timeout", "20"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert flushed.returncode == 0, flushed.stderr
        assert sink.store.count() == 6

        # Re-import the data folder: with the ledger nothing is re-sent; without it
        # (a fresh spool and state folder) everything is re-sent and deduplicated.
        def reimport(spool_dir: Path) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "heliograph", "opencode", "import",
                 "--data-dir", str(oc.data_dir)],
                env=base_env(spool_dir, sink.url), capture_output=True, text=True, timeout=60,
                check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            return done.stderr

        assert "0 new logs" in reimport(spool)
        assert "6 new logs" in reimport(tmp_path / "fresh" / "spool")
        assert sink.store.count() == 6
        assert sink.store.stats()["duplicates"] == 6

        sessions = sink.store.query_sessions()
        assert len(sessions) == 1
        stored = sink.store.get_session(stable_id(f"opencode:session:{session}"))
        assert stored is not None and stored["total_requests"] == 6
        rows = stored["requests"]
        base = f"/opencode/{session}"
        paths = [r["session_path"] for r in rows]
        assert paths == [
            f"{base}/msg-1", f"{base}/msg-2", f"{base}/msg-2/tool-read", f"{base}/msg-2",
            f"{base}/msg-3", f"{base}/msg-4",
        ]  # fmt: skip
        names = [r["session_name"] for r in rows]
        assert names[:4] == ["Heliograph e2e"] * 4
        assert names[5] == "Heliograph e2e renamed"
        calls = [r for r in rows if r["model"] == "fake-model"]
        usage = [(20, 7, 4), (30, 9, 0), (45, 8, 10), (50, 4, 0), (60, 2, 0)]
        assert [(r["prompt_tokens"], r["completion_tokens"]) for r in calls] == [
            (p, c) for p, c, _ in usage
        ]
        for row, (p, c, cached) in zip(calls, usage, strict=True):
            assert row["cost"] == pytest.approx(expected_cost(p, c, cached))
            assert started_ms <= epoch_ms(row["request_created_at"]) <= time.time() * 1000
            assert row["delay_ms"] >= 0 and row["time_to_first_token"] is not None
            assert row["provider"] == "CUSTOM"
        tool = rows[2]
        assert tool["model"] == "tool:read"
        assert "The secret number is 42." in tool["response_body"]
        final_request = calls[2]["request_body"]
        assert [m["role"] for m in final_request["messages"]] == ["user", "assistant", "user",
                                                                   "assistant", "tool"]  # fmt: skip
        assert epoch_ms(calls[1]["request_created_at"]) <= epoch_ms(tool["request_created_at"])
        assert epoch_ms(tool["response_created_at"]) <= epoch_ms(calls[2]["request_created_at"])


def test_plugin_hands_events_to_an_ingester_it_starts_itself(
    opencode_home: Path, provider: FakeProvider, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("The secret number is 42.\n")
    spool = tmp_path / "spool"
    with ReceiverThread(db_path=tmp_path / "sink.sqlite3") as sink:
        env = base_env(spool, sink.url)
        installed = subprocess.run(
            [sys.executable, "-m", "heliograph", "opencode", "install", "--project", str(project)],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        plugin = project / ".opencode" / "plugin" / "heliograph.ts"
        assert str(plugin) in installed.stdout
        with OpenCode(opencode_home, project, provider.url, env) as oc:
            session = oc.session("Plugin e2e")
            provider.enqueue(*tool_then_answer(project))
            assert oc.prompt(session, "Read notes.txt")["info"]["finish"] == "stop"
            inbox = spool.parent / "opencode" / "inbox"
            assert list(inbox.glob("opencode-*.jsonl")), "the plugin wrote no events"
        # OpenCode has exited: the ingester it started exports, delivers and exits.
        wait_for(lambda: sink.store.count() == 3, "the plugin's logs at the receiver", 30)
        wait_for(lambda: not list(inbox.glob("opencode-*")), "the ingester to clean up")
        rows = sink.store.query_requests(descending=False)
    base = f"/opencode/{session}"
    assert [r["session_path"] for r in rows] == [
        f"{base}/msg-1", f"{base}/msg-1/tool-read", f"{base}/msg-1",
    ]  # fmt: skip
    assert {r["session_id"] for r in rows} == {stable_id(f"opencode:session:{session}")}
    assert [r["prompt_tokens"] for r in rows if r["model"] == "fake-model"] == [30, 45]
