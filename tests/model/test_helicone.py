"""The async-log body and routes follow Helicone's contract, and fix its clients' faults."""

from __future__ import annotations

import pytest

from heliograph.model.helicone import async_log_body, log_path, log_url, split_logging_endpoint
from heliograph.model.record import Provider, Record


def record(**overrides: object) -> Record:
    fields: dict[str, object] = {
        "request_id": "6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "start_ms": 1_700_000_000_123.0,
        "end_ms": 1_700_000_000_456.9,
    }
    fields.update(overrides)
    return Record(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        (Provider.OPENAI, "/oai/v1/log"),
        (Provider.ANTHROPIC, "/anthropic/v1/log"),
        (Provider.GOOGLE, "/googleapis/v1/log"),
        (Provider.CUSTOM, "/custom/v1/log"),
        (Provider.TOGETHER, "/custom/v1/log"),
    ],
)
def test_provider_selects_helicone_log_route(provider: str, path: str) -> None:
    assert log_path(provider) == path


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://api.worker.helicone.ai",
        "https://api.worker.helicone.ai/",
        "https://api.worker.helicone.ai/custom/v1/log",
        "https://api.worker.helicone.ai/oai/v1/log",
    ],
)
def test_endpoint_given_as_base_or_full_log_url_resolves_to_base(endpoint: str) -> None:
    assert split_logging_endpoint(endpoint) == "https://api.worker.helicone.ai"
    assert log_url(endpoint, Provider.ANTHROPIC) == (
        "https://api.worker.helicone.ai/anthropic/v1/log"
    )


def test_text_response_sends_empty_json_beside_text_body() -> None:
    body = async_log_body(record(response_text="data: {}\n\n"))
    assert body["providerResponse"]["json"] == {}
    assert body["providerResponse"]["textBody"] == "data: {}\n\n"


def test_json_response_has_no_text_body_key() -> None:
    body = async_log_body(record(response_json={"choices": []}))
    assert body["providerResponse"]["json"] == {"choices": []}
    assert "textBody" not in body["providerResponse"]


def test_unknown_time_to_first_token_is_omitted_not_null() -> None:
    timing = async_log_body(record())["timing"]
    assert "timeToFirstToken" not in timing


def test_known_time_to_first_token_is_rounded_milliseconds() -> None:
    timing = async_log_body(record(ttft_ms=41.6))["timing"]
    assert timing["timeToFirstToken"] == 42


def test_timing_splits_epoch_milliseconds_into_seconds_and_milliseconds() -> None:
    timing = async_log_body(record())["timing"]
    assert timing["startTime"] == {"seconds": 1_700_000_000, "milliseconds": 123}
    assert timing["endTime"] == {"seconds": 1_700_000_000, "milliseconds": 456}


def test_end_before_start_is_clamped_because_helicone_rejects_it() -> None:
    timing = async_log_body(record(end_ms=1_600_000_000_000.0))["timing"]
    assert timing["endTime"] == timing["startTime"]


def test_real_status_is_sent() -> None:
    assert async_log_body(record(status=500))["providerResponse"]["status"] == 500
    assert async_log_body(record(status=-3))["providerResponse"]["status"] == -3


def test_provider_field_only_when_caller_named_one() -> None:
    assert "provider" not in async_log_body(record())
    named = async_log_body(record(provider=Provider.OPENAI, provider_given=True))
    assert named["provider"] == "OPENAI"


def test_custom_event_type_is_copied_into_response_json_as_helicone_clients_do() -> None:
    request = {"_type": "tool", "toolName": "search", "input": {"q": "x"}}
    body = async_log_body(record(request=request, response_json={"hits": 3}))
    assert body["providerResponse"]["json"] == {"hits": 3, "_type": "tool", "toolName": "search"}


def test_request_json_url_and_meta_are_passed_through() -> None:
    body = async_log_body(record(request_meta={"Helicone-User-Id": "u1"}))
    assert body["providerRequest"] == {
        "url": "custom-model-nopath",
        "json": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "meta": {"Helicone-User-Id": "u1"},
    }
