"""What is stored for each log: headers, properties, timing, bodies, tokens, model."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from heliograph.model import Session, helicone_headers

from .helpers import AUTH, make_body, make_record, post_record, stored


def test_meta_headers_are_overridden_by_http_headers(shared_client: httpx.Client) -> None:
    meta = {
        "Helicone-User-Id": "meta-user",
        "helicone-property-team": "from-meta",
        "HELICONE-SESSION-ID": "meta-session",
    }
    record = make_record(request_meta=meta, headers={"helicone-user-id": "http-user"})
    assert post_record(shared_client, record).status_code == 200
    item = stored(shared_client, record.request_id)
    assert item["request_user_id"] == "http-user"
    assert item["session_id"] == "meta-session"
    assert item["request_properties"] == {
        "team": "from-meta",
        "Helicone-Session-Id": "meta-session",
    }


def test_properties_use_lower_cased_names_and_exact_session_keys(
    shared_client: httpx.Client,
) -> None:
    session = Session(id="support-1234", name="Support chat", path="/triage/answer")
    headers = {
        **session.headers(),
        **helicone_headers(user_id="u-7", properties={"Environment": "prod", "App-Version": 3}),
        "Helicone-Prompt-Id": "greeting",
        "Helicone-Property-": "ignored: no name after the prefix",
    }
    record = make_record(headers=headers)
    assert post_record(shared_client, record).status_code == 200
    item = stored(shared_client, record.request_id)
    assert item["request_properties"] == {
        "environment": "prod",
        "app-version": "3",
        "Helicone-Prompt-Id": "greeting",
        "Helicone-Session-Id": "support-1234",
        "Helicone-Session-Name": "Support chat",
        "Helicone-Session-Path": "/triage/answer",
    }
    assert (item["session_id"], item["session_name"], item["session_path"]) == (
        "support-1234",
        "Support chat",
        "/triage/answer",
    )
    assert item["request_user_id"] == "u-7"


@pytest.mark.parametrize(
    ("raw", "text"),
    [("Zoë → 東京".encode(), "Zoë → 東京"), (b"Zo\xeb", "Zoë")],
    ids=["utf-8", "latin-1"],
)
def test_header_values_are_decoded_as_utf8_else_latin1(
    shared_client: httpx.Client, raw: bytes, text: str
) -> None:
    record = make_record()
    response = post_record(shared_client, record, headers={"Helicone-Property-Name": raw})
    assert response.status_code == 200
    assert stored(shared_client, record.request_id)["request_properties"] == {"name": text}


def test_ttft_absent_is_stored_as_null(shared_client: httpx.Client) -> None:
    record = make_record(ttft_ms=None)
    post_record(shared_client, record)
    assert stored(shared_client, record.request_id)["time_to_first_token"] is None


def test_ttft_null_is_stored_as_zero_as_helicone_does(shared_client: httpx.Client) -> None:
    body = make_body()
    body["timing"]["timeToFirstToken"] = None  # what helicone-helpers sends
    response = shared_client.post("/custom/v1/log", json=body, headers=AUTH)
    assert stored(shared_client, response.headers["helicone-id"])["time_to_first_token"] == 0


def test_ttft_is_stored_in_milliseconds(shared_client: httpx.Client) -> None:
    record = make_record(ttft_ms=87)
    post_record(shared_client, record)
    assert stored(shared_client, record.request_id)["time_to_first_token"] == 87


def test_text_body_is_stored_instead_of_json(shared_client: httpx.Client) -> None:
    record = make_record(response_json=None, response_text="plain words")
    post_record(shared_client, record)
    assert stored(shared_client, record.request_id)["response_body"] == "plain words"


def test_json_response_is_stored_as_json_text(shared_client: httpx.Client) -> None:
    record = make_record()
    post_record(shared_client, record)
    body = stored(shared_client, record.request_id)["response_body"]
    assert orjson.loads(body) == record.response_json


def test_cost_is_stored_when_given_and_null_otherwise(shared_client: httpx.Client) -> None:
    priced, unpriced = make_record(cost_usd=0.0125), make_record()
    post_record(shared_client, priced)
    post_record(shared_client, unpriced)
    assert stored(shared_client, priced.request_id)["cost"] == 0.0125
    assert stored(shared_client, unpriced.request_id)["cost"] is None


_OPENAI_STREAM = "\n\n".join(
    [
        'data: {"choices":[{"delta":{"content":"hel"}}]}',
        'data: {"choices":[{"delta":{"content":"lo"}}],"usage":null}',
        'data: {"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13}}',
        "data: [DONE]",
    ]
)


_ANTHROPIC_STREAM = "\n".join(
    [
        "event: message_start",
        'data: {"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}',
        "event: content_block_delta",
        'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}',
        "event: message_delta",
        'data: {"type":"message_delta","usage":{"output_tokens":15}}',
    ]
)


_GOOGLE_USAGE = {
    "promptTokenCount": 4,
    "candidatesTokenCount": 6,
    "thoughtsTokenCount": 2,  # Helicone counts thinking as completion
    "totalTokenCount": 12,
}


_USAGE_CASES = {
    "openai": ({"json": {"usage": {"prompt_tokens": 9, "completion_tokens": 3}}}, (9, 3, 12)),
    "anthropic": ({"json": {"usage": {"input_tokens": 5, "output_tokens": 7}}}, (5, 7, 12)),
    "given-total": (
        {"json": {"usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 4}}},
        (1, 1, 4),
    ),
    "google": ({"json": {"usageMetadata": _GOOGLE_USAGE}}, (4, 8, 12)),
    "none": ({"json": {"choices": []}}, (None, None, None)),
    "openai-sse": ({"text": _OPENAI_STREAM}, (11, 2, 13)),
    "anthropic-sse": ({"text": _ANTHROPIC_STREAM}, (25, 15, 40)),
    "json-text": ({"text": '{"usage": {"prompt_tokens": 2, "completion_tokens": 2}}'}, (2, 2, 4)),
    "plain-text": ({"text": "not json at all"}, (None, None, None)),
}


@pytest.mark.parametrize(
    ("response", "tokens"), list(_USAGE_CASES.values()), ids=list(_USAGE_CASES)
)
def test_token_counts_come_from_the_response_usage(
    shared_client: httpx.Client, response: dict[str, Any], tokens: tuple[int | None, ...]
) -> None:
    record = make_record(response_json=response.get("json"), response_text=response.get("text"))
    post_record(shared_client, record)
    item = stored(shared_client, record.request_id)
    assert (item["prompt_tokens"], item["completion_tokens"], item["total_tokens"]) == tokens


@pytest.mark.parametrize(
    ("request_json", "response_json", "headers", "model"),
    [
        ({"model": "gpt-4o"}, {"model": "gpt-4o-2024-08-06"}, {}, "gpt-4o"),
        ({"messages": []}, {"model": "gpt-4o-2024-08-06"}, {}, "gpt-4o-2024-08-06"),
        ({"messages": []}, {}, {}, None),
        ({"model": "gpt-4o"}, {}, {"Helicone-Model-Override": "my-model"}, "my-model"),
        ({"_type": "tool", "toolName": "search", "input": {}}, {}, {}, "tool:search"),
        ({"_type": "vector_db", "operation": "search"}, {}, {}, "vector_db"),
        ({"_type": "data", "name": "report"}, {}, {}, "data:report"),
    ],
)
def test_model_is_resolved_as_helicone_does(
    shared_client: httpx.Client,
    request_json: dict[str, Any],
    response_json: dict[str, Any],
    headers: dict[str, str],
    model: str | None,
) -> None:
    record = make_record(request=request_json, response_json=response_json, headers=headers)
    post_record(shared_client, record)
    assert stored(shared_client, record.request_id)["model"] == model
