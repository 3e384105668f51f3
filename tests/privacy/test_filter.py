"""``PrivacyFilter`` modes on text, JSON values and records."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from heliograph.errors import ConfigError
from heliograph.model.record import Provider, Record
from heliograph.privacy import PrivacyFilter
from tests.privacy.corpus import rand

PROMPT = "Summarise the incident report for ACME Corp"
ANSWER = "The outage began at 09:14 when the primary database failed over."


def anthropic_record(secret: str) -> Record:
    return Record(
        request_id="5b0f1d2e-8c47-4e6a-9a35-6f2b9c1d7e40",
        provider=Provider.ANTHROPIC,
        request={
            "model": "claude-sonnet-4-5",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": f"{PROMPT}; key {secret}"}],
            "tools": [{"name": "Read", "description": "Reads a file", "input_schema": {}}],
        },
        response_json={
            "id": "msg_01ABC",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [
                {"type": "text", "text": ANSWER},
                {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {"path": "/x"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 12, "output_tokens": 5, "cache_read_input_tokens": 3},
        },
        start_ms=1000.0,
        end_ms=2500.0,
        headers={"Helicone-Session-Name": f"Fix {secret}", "Helicone-Session-Path": "/a/b"},
    )


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def test_full_changes_nothing() -> None:
    f = PrivacyFilter("full")
    key = f"sk-{rand(48)}"
    record = anthropic_record(key)
    assert f.text(key) == key
    assert f.value({"a": [key]}) == {"a": [key]}
    assert f.record(record) is record
    assert f.exports and f.counts.total == 0


def test_redacted_record_masks_bodies_and_headers_and_keeps_the_rest() -> None:
    f = PrivacyFilter("redacted")
    key = f"ghp_{rand(36)}"
    record = anthropic_record(key)
    out = f.record(record)
    assert key not in orjson.dumps(out.to_dict()).decode()
    assert out.request["messages"][0]["content"] == f"{PROMPT}; key [REDACTED:github_token]"
    assert out.headers["Helicone-Session-Name"] == "Fix [REDACTED:github_token]"
    assert out.response_json == record.response_json
    assert (out.start_ms, out.end_ms, out.status, out.request_id) == (
        1000.0,
        2500.0,
        200,
        record.request_id,
    )
    assert out.notes == ["privacy:redacted"]
    assert dict(f.counts) == {"github_token": 2}
    assert key in record.request["messages"][0]["content"]  # the original is untouched


def test_metadata_only_record_keeps_model_usage_tool_names_and_no_content() -> None:
    f = PrivacyFilter("metadata_only")
    out = f.record(anthropic_record(f"sk-{rand(48)}"))
    assert out.request["model"] == "claude-sonnet-4-5"
    assert out.request["max_tokens"] == 1024
    assert out.request["tools"][0]["name"] == "Read"
    assert out.request["messages"] == [{"role": "user", "content": ""}]
    response = out.response_json
    assert response is not None
    assert response["usage"] == {
        "input_tokens": 12,
        "output_tokens": 5,
        "cache_read_input_tokens": 3,
    }
    assert response["model"] == "claude-sonnet-4-5-20250929"
    assert response["stop_reason"] == "tool_use"
    assert response["content"][1] == {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "Read",
        "input": {"path": ""},
    }
    everything = " ".join(strings_in(out.request) + strings_in(response))
    assert PROMPT not in everything and ANSWER not in everything
    assert "Reads a file" not in everything
    assert out.notes == ["privacy:metadata_only"]


def test_metadata_only_keeps_usage_in_a_stream_transcript() -> None:
    stream = (
        'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-x",'
        '"usage":{"input_tokens":9,"output_tokens":1}}}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        f'"delta":{{"type":"text_delta","text":"{ANSWER}"}}}}\n\n'
        "data: not json at all\n\n"
        "data: [DONE]\n\n"
    )
    record = Record("5b0f1d2e-8c47-4e6a-9a35-6f2b9c1d7e40", {}, 0.0, 1.0, response_text=stream)
    out = PrivacyFilter("metadata_only").record(record).response_text
    assert out is not None
    assert ANSWER not in out and "not json" not in out
    assert '"usage":{"input_tokens":9,"output_tokens":1}' in out
    assert '"model":"claude-x"' in out
    assert "event: content_block_delta\n" in out and "data: [DONE]\n" in out


def test_redacted_stream_and_json_text_bodies_are_masked_per_event() -> None:
    key = f"sk-{rand(48)}"
    f = PrivacyFilter("redacted")
    stream = f'data: {{"choices":[{{"delta":{{"content":"use {key}"}}}}]}}\n\ndata: [DONE]\n\n'
    record = Record("5b0f1d2e-8c47-4e6a-9a35-6f2b9c1d7e40", {}, 0.0, 1.0, response_text=stream)
    out = f.record(record).response_text
    masked = '{"choices":[{"delta":{"content":"use [REDACTED:openai_key]"}}]}'
    assert out == f"data: {masked}\n\ndata: [DONE]\n\n"
    as_json = f.record(
        Record(
            "5b0f1d2e-8c47-4e6a-9a35-6f2b9c1d7e40", {}, 0.0, 1.0, response_text=f'{{"k": "{key}"}}'
        )
    )
    assert as_json.response_text == '{"k":"[REDACTED:openai_key]"}'


def test_value_masks_strings_under_sensitive_keys() -> None:
    f = PrivacyFilter("redacted")
    value = {
        "password": "plain words",
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k3y-v4lue"},
        "max_tokens": 5,
        "token": "",
        "tokens": ["fine"],
        "note": "nothing secret",
    }
    assert f.value(value) == {
        "password": "[REDACTED:password]",
        "headers": {"Authorization": "[REDACTED:secret]", "X-Api-Key": "[REDACTED:secret]"},
        "max_tokens": 5,
        "token": "",
        "tokens": ["fine"],
        "note": "nothing secret",
    }


def test_metadata_only_value_and_text() -> None:
    f = PrivacyFilter("metadata_only")
    assert f.text("anything") == ""
    assert f.value({"type": "text", "text": "hello", "n": [1, 2.5, True, None], "name": "a b"}) == {
        "type": "text",
        "text": "",
        "n": [1, 2.5, True, None],
        "name": "",
    }


def test_off_exports_nothing_and_leaks_nothing() -> None:
    f = PrivacyFilter("off")
    assert not f.exports
    assert f.text("secret prose") == ""
    assert f.value(["secret prose"]) == [""]


def test_too_deep_json_is_masked_not_a_crash() -> None:
    deep: Any = "leaf"
    for _ in range(300):
        deep = [deep]
    f = PrivacyFilter("redacted")
    out = f.value(deep)
    assert "[REDACTED:too_deep]" in orjson.dumps(out).decode()
    assert dict(f.counts) == {"too_deep": 1}


@pytest.mark.parametrize(
    ("mode", "patterns"),
    [("everything", ()), ("REDACTED", ()), ("redacted", ("(unclosed",)), ("redacted", ("a*",))],
)
def test_bad_mode_or_pattern_is_a_config_error(mode: Any, patterns: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError):
        PrivacyFilter(mode, extra_patterns=patterns)


def test_from_env_reads_mode_and_patterns() -> None:
    env = {"HELIOGRAPH_PRIVACY": "metadata_only", "HELIOGRAPH_PRIVACY_PATTERNS": "ACME-[0-9]+\n"}
    assert PrivacyFilter.from_env(env).mode == "metadata_only"
    assert PrivacyFilter.from_env({}).mode == "redacted"
    assert PrivacyFilter.from_env(env, mode="full").mode == "full"
    f = PrivacyFilter.from_env({"HELIOGRAPH_PRIVACY_PATTERNS": "ACME-[0-9]+"})
    assert f.text("ACME-42") == "[REDACTED:custom]"


def test_counts_add_up_across_threads() -> None:
    f = PrivacyFilter("redacted")
    text = f"a {'AKIA' + 'ABCDEFGH23456723'} b"

    def work() -> None:
        for _ in range(200):
            f.text(text)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert dict(f.counts) == {"aws_access_key": 1600}
