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


def test_a_message_with_its_bodies_turns_back_into_the_same_record() -> None:
    from heliograph.model.message_data import raw_bodies, to_record

    record = Record(
        request_id="6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        request={"model": "gpt-4o", "messages": [{"role": "user", "content": "héllo"}]},
        start_ms=1_700_000_000_000.0,
        end_ms=1_700_000_000_350.0,
        status=201,
        provider="ANTHROPIC",
        response_json={"content": [{"text": "hi"}]},
        request_url="https://api.anthropic.com/v1/messages",
        ttft_ms=40.0,
        cost_usd=0.5,
        headers={"Helicone-User-Id": "u1", "Helicone-Property-Env": "prod",
                 "Helicone-Session-Id": "s1", "Helicone-Model-Override": "m"},
    )  # fmt: skip
    back = to_record(to_message_data(record, "Bearer k", raw_bodies(record)), raw_bodies(record))
    same = ("request_id", "request", "start_ms", "end_ms", "status", "provider",
            "response_json", "response_text", "request_url", "ttft_ms", "cost_usd")  # fmt: skip
    assert {f: getattr(back, f) for f in same} == {f: getattr(record, f) for f in same}
    assert back.headers == {
        "Helicone-Request-Id": record.request_id, "Helicone-User-Id": "u1",
        "Helicone-Model-Override": "m", "Helicone-Property-env": "prod",
        "Helicone-Session-Id": "s1",
    }  # fmt: skip

    text = Record(request_id=record.request_id, request={}, start_ms=0.0, end_ms=1.0,
                  response_text="data: [DONE]\n\n")  # fmt: skip
    back = to_record(to_message_data(text, "Bearer k"), raw_bodies(text))
    assert (back.response_json, back.response_text) == (None, "data: [DONE]\n\n")


def test_validate_message_names_the_first_bad_field() -> None:
    import pytest

    from heliograph.model.message_data import validate_message

    record = Record(request_id="6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", request={},
                    start_ms=0.0, end_ms=1.0)  # fmt: skip
    message: dict[str, object] = dict(to_message_data(record, "Bearer k"))
    assert validate_message(message) == message
    message["log"] = {"request": {}, "response": {}}
    with pytest.raises(ValueError, match=r"log\.request\.id"):
        validate_message(message)
    with pytest.raises(ValueError, match="not a JSON object"):
        validate_message([])
