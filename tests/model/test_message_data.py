"""A record maps onto Helicone's queue message, MessageData, as the worker would build it."""

from __future__ import annotations

from heliograph.model.message_data import to_message_data
from heliograph.model.record import Record


def test_message_data_carries_log_request_response_and_properties() -> None:
    record = Record(
        request_id="6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        request={"model": "gpt-4o", "stream": True},
        start_ms=1_700_000_000_000.0,
        end_ms=1_700_000_000_350.0,
        status=200,
        provider="OPENAI",
        response_text="data: {}",
        ttft_ms=40.0,
        headers={
            "Helicone-User-Id": "u1",
            "Helicone-Property-Env": "prod",
            "helicone-session-id": "s1",
        },
    )
    message = to_message_data(record, "Bearer sk-helicone-x")
    assert message["id"] == record.request_id
    assert message["authorization"] == "Bearer sk-helicone-x"
    assert message["heliconeMeta"] == {
        "omitRequestLog": False, "omitResponseLog": False, "webhookEnabled": False,
    }  # fmt: skip
    request, response = message["log"]["request"], message["log"]["response"]
    assert request["userId"] == "u1"
    assert request["properties"] == {"env": "prod", "Helicone-Session-Id": "s1"}
    assert request["isStream"] is True
    assert request["provider"] == "OPENAI"
    assert request["requestCreatedAt"] == "2023-11-14T22:13:20.000Z"
    assert response["responseCreatedAt"] == "2023-11-14T22:13:20.350Z"
    assert response["delayMs"] == 350.0
    assert response["timeToFirstToken"] == 40.0
    assert response["bodySize"] == len("data: {}")
