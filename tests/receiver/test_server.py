"""Running the receiver: the background thread, its hooks, and the foreground ``serve``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.config import LOCAL_ENDPOINT
from heliograph.errors import ConfigError, UsageError
from heliograph.receiver import ReceiverThread, Store, default_db_path
from heliograph.receiver.server import DEFAULT_HOST, DEFAULT_PORT

from .helpers import AUTH, make_body, make_record, post_record


def test_port_zero_picks_a_free_loopback_port(tmp_path: Path) -> None:
    with ReceiverThread(db_path=tmp_path / "r.sqlite3") as receiver:
        assert receiver.port > 0
        assert receiver.url == f"http://127.0.0.1:{receiver.port}"
        with httpx.Client() as client:
            assert client.get(f"{receiver.url}/healthz").json() == {"status": "ok"}


def test_stop_is_prompt_even_with_an_idle_keep_alive_connection(tmp_path: Path) -> None:
    receiver = ReceiverThread(db_path=tmp_path / "r.sqlite3", stop_timeout_s=3.0)
    receiver.start()
    with httpx.Client(base_url=receiver.url) as client:
        assert client.get("/healthz").status_code == 200
        started = time.monotonic()
        receiver.stop()
        assert time.monotonic() - started < 2.0
    with pytest.raises(httpx.ConnectError), httpx.Client() as client:
        client.get(f"{receiver.url}/healthz")


def test_store_is_closed_after_stop(tmp_path: Path) -> None:
    receiver = ReceiverThread(db_path=tmp_path / "r.sqlite3")
    with receiver:
        store = receiver.store
    with pytest.raises(UsageError):
        store.count()
    with pytest.raises(UsageError, match="not running"):
        _ = receiver.store


def test_a_receiver_cannot_be_started_twice(tmp_path: Path) -> None:
    with (
        ReceiverThread(db_path=tmp_path / "r.sqlite3") as receiver,
        pytest.raises(UsageError, match="already started"),
    ):
        receiver.start()


def test_busy_port_fails_at_start_with_a_clear_message(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            ReceiverThread(port=port, db_path=tmp_path / "r.sqlite3").start()


@pytest.mark.parametrize("keys", ["single-key", [], [""]])
def test_malformed_require_keys_is_a_config_error(tmp_path: Path, keys: Any) -> None:
    with pytest.raises(ConfigError):
        ReceiverThread(db_path=tmp_path / "r.sqlite3", require_keys=keys)


def test_hooks_run_while_serving_so_shutdown_can_still_deliver(tmp_path: Path) -> None:
    events: list[str] = []
    record = make_record()

    def on_startup(url: str) -> None:
        with httpx.Client() as client:
            events.append(f"startup {client.get(f'{url}/healthz').status_code}")

    def on_shutdown() -> None:  # e.g. a delivery worker flushing into this receiver
        with httpx.Client(base_url=url) as client:
            events.append(f"shutdown {post_record(client, record).status_code}")

    path = tmp_path / "r.sqlite3"
    with ReceiverThread(db_path=path, on_startup=on_startup, on_shutdown=on_shutdown) as receiver:
        url = receiver.url
        assert events == ["startup 200"]
    assert events == ["startup 200", "shutdown 200"]
    with Store(path) as store:
        assert store.get_request(record.request_id) is not None


def test_failing_startup_hook_stops_the_receiver(tmp_path: Path) -> None:
    def on_startup(url: str) -> None:
        raise RuntimeError("worker could not start")

    receiver = ReceiverThread(db_path=tmp_path / "r.sqlite3", on_startup=on_startup)
    with pytest.raises(RuntimeError, match="did not start") as caught:
        receiver.start()
    assert str(caught.value.__cause__) == "worker could not start"


def test_default_address_is_where_clients_log_by_default() -> None:
    assert f"http://{DEFAULT_HOST}:{DEFAULT_PORT}" == LOCAL_ENDPOINT


def test_default_db_path_is_in_the_user_data_folder() -> None:
    path = default_db_path()
    assert path.name == "receiver.sqlite3"
    assert "heliograph" in path.parts


_SERVE_SCRIPT = """
import sys
from pathlib import Path
from heliograph.receiver import serve

url_file, db_path, stopped_file = map(Path, sys.argv[1:4])

def on_startup(url):
    url_file.with_suffix(".tmp").write_text(url)
    url_file.with_suffix(".tmp").rename(url_file)

serve(port=0, db_path=db_path, log_level="warning", on_startup=on_startup,
      on_shutdown=lambda: stopped_file.write_text("stopped"))
"""


def test_serve_runs_in_the_foreground_until_interrupted(tmp_path: Path) -> None:
    url_file, db_path, stopped_file = tmp_path / "url", tmp_path / "r.sqlite3", tmp_path / "done"
    args = [sys.executable, "-c", _SERVE_SCRIPT, str(url_file), str(db_path), str(stopped_file)]
    with subprocess.Popen(args, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 30
            while not url_file.exists():
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve() did not start within 30 s"
                time.sleep(0.05)
            url = url_file.read_text()
            assert url.startswith("http://127.0.0.1:")
            with httpx.Client(base_url=url) as client:
                response = client.post("/oai/v1/log", json=make_body(), headers=AUTH)
                assert response.status_code == 200
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert stopped_file.read_text() == "stopped"
    with Store(db_path) as store:
        assert store.count() == 1
