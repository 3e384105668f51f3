"""Ids Helicone keeps, stable across processes; header helpers that cannot break HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from heliograph.model import (
    Session,
    helicone_headers,
    is_helicone_request_id,
    new_request_id,
    stable_id,
)
from heliograph.model.headers import merge_headers
from heliograph.model.ids import HELIOGRAPH_NAMESPACE


def test_stable_id_is_a_uuid_helicone_accepts() -> None:
    value = stable_id("session:abc")
    assert is_helicone_request_id(value)
    assert uuid.UUID(value).version == 5


def test_stable_id_is_the_same_in_another_process() -> None:
    code = "from heliograph.model import stable_id; print(stable_id('k'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == stable_id("k")


def test_helicone_rejects_non_rfc4122_ids_and_so_do_we() -> None:
    assert not is_helicone_request_id("not-a-uuid")
    assert not is_helicone_request_id("00000000-0000-0000-0000-000000000000")  # version 0
    assert is_helicone_request_id(str(uuid.uuid4()))


def test_headers_helper_builds_session_user_and_property_headers() -> None:
    headers = helicone_headers(
        session_id="s1", session_name="Chat", session_path="/a/b", user_id="u1",
        properties={"Env": "prod", "Tier": 2, "skip": None},
    )  # fmt: skip
    assert headers == {
        "Helicone-Session-Id": "s1",
        "Helicone-Session-Name": "Chat",
        "Helicone-Session-Path": "/a/b",
        "Helicone-User-Id": "u1",
        "Helicone-Property-Env": "prod",
        "Helicone-Property-Tier": "2",
    }


def test_header_values_lose_control_characters_so_they_cannot_split_headers() -> None:
    headers = helicone_headers(session_name="evil\r\nX-Injected: 1", properties={"a b": "c"})
    assert headers["Helicone-Session-Name"] == "evilX-Injected: 1"
    assert "Helicone-Property-a-b" in headers


def test_session_children_extend_the_path_and_keep_the_id() -> None:
    root = Session.from_key("ses_123", name="Fix bug")
    child = root.child("msg-1").child("tool-read")
    assert child.id == root.id == Session.from_key("ses_123").id
    assert child.path == "/msg-1/tool-read"
    assert child.headers()["Helicone-Session-Path"] == "/msg-1/tool-read"
    assert child.headers()["Helicone-Session-Name"] == "Fix bug"


def test_merged_headers_let_later_layers_win_whatever_the_case() -> None:
    merged = merge_headers(
        {"Helicone-User-Id": "ctor", "Helicone-Property-A": "1"},
        {"helicone-user-id": "call"},
    )
    assert merged == {"helicone-user-id": "call", "Helicone-Property-A": "1"}


def test_new_request_ids_are_random_version_4_uuids_helicone_keeps() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for value in list(ids)[:50]:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
        assert is_helicone_request_id(value)


@pytest.mark.parametrize(
    "key", ["", "k", "request:abc", "session:ses_123", "héllo ☃ 𝄞", "x" * 5000]
)
def test_stable_id_is_exactly_the_standard_uuid5(key: str) -> None:
    assert stable_id(key) == str(uuid.uuid5(HELIOGRAPH_NAMESPACE, key))


def test_new_request_ids_stay_valid_and_unique_across_many_pools() -> None:
    ids = [new_request_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert str(uuid.UUID(value)) == value
        assert value[14] == "4" and value[19] in "89ab"


def test_threads_drawing_request_ids_at_once_never_share_one() -> None:
    barrier = threading.Barrier(8)

    def draw() -> list[str]:
        barrier.wait()
        return [new_request_id() for _ in range(5_000)]

    with ThreadPoolExecutor(8) as pool:
        ids = [value for batch in pool.map(lambda _: draw(), range(8)) for value in batch]
    assert len(set(ids)) == len(ids) == 40_000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_repeat_the_parents_request_ids() -> None:
    new_request_id()  # the parent now holds random digits a child would inherit
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        os.write(write_end, " ".join(new_request_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = set(pipe.read().decode().split())
    os.waitpid(pid, 0)
    parent = {new_request_id() for _ in range(50)}
    assert len(child) == 50
    assert not child & parent
