"""Ids Helicone keeps, stable across processes; header helpers that cannot break HTTP."""

from __future__ import annotations

import subprocess
import sys
import uuid

from heliograph.model import (
    Session,
    helicone_headers,
    is_helicone_request_id,
    new_request_id,
    stable_id,
)
from heliograph.model.headers import merge_headers


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
