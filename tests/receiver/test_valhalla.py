"""``POST /v1/log/request``: Jawn's contract, stored through the async-log path."""

from __future__ import annotations

import httpx
import pytest

from heliograph.model.helicone import async_log_body
from heliograph.model.message_data import raw_bodies, to_message_data
from heliograph.receiver import ReceiverThread
from heliograph.transports.valhalla_http import log_request_body
from tests.receiver.helpers import AUTH, make_record, post_record


def _body(**overrides: object) -> dict[str, object]:
    record = make_record(**overrides)
    return log_request_body(to_message_data(record, "Bearer sk-owner", raw_bodies(record)))


def test_message_is_stored_like_the_same_record_posted_as_an_async_log(
    client: httpx.Client, receiver: ReceiverThread
) -> None:
    headers = {"Helicone-User-Id": "u1", "Helicone-Property-Env": "prod",
               "Helicone-Session-Id": "s1"}  # fmt: skip
    record = make_record(headers=headers, ttft_ms=40.0, cost_usd=0.25, provider="OPENAI")
    message = to_message_data(record, "Bearer sk-owner", raw_bodies(record))
    answer = client.post("/v1/log/request", json=log_request_body(message), headers=AUTH)
    assert answer.status_code == 200
    assert answer.headers["helicone-id"] == record.request_id

    twin = make_record(headers=headers, ttft_ms=40.0, cost_usd=0.25, provider="OPENAI")
    post_record(client, twin, route="/oai/v1/log")
    via_message = receiver.store.get_request(record.request_id)
    via_async_log = receiver.store.get_request(twin.request_id)
    assert via_message is not None
    assert via_async_log is not None
    del via_message["request_id"], via_async_log["request_id"]
    assert via_message == via_async_log
    assert "hello" in str(via_message["response_body"])

    # The same request id logged again, through the other route, is not a third row.
    post_record(client, make_record(request_id=record.request_id, headers=headers))
    assert receiver.store.count() == 2


def test_a_streamed_text_body_comes_back_as_text(
    client: httpx.Client, receiver: ReceiverThread
) -> None:
    transcript = 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n'
    body = _body(response_json=None, response_text=transcript)
    assert client.post("/v1/log/request", json=body, headers=AUTH).status_code == 200
    assert receiver.store.count() == 1


def test_missing_bodies_are_stored_empty_as_jawn_does_without_its_s3_object(
    client: httpx.Client, receiver: ReceiverThread
) -> None:
    record = make_record()
    body = log_request_body(to_message_data(record, "Bearer sk-owner"))
    assert client.post("/v1/log/request", json=body, headers=AUTH).status_code == 200
    stored = receiver.store.get_request(record.request_id)
    assert stored is not None
    assert stored["request_body"] in ({}, "{}")


def test_no_key_is_401_and_a_malformed_message_is_400(client: httpx.Client) -> None:
    assert client.post("/v1/log/request", json=_body()).status_code == 401
    bad = _body()
    del bad["log"]
    answer = client.post("/v1/log/request", json=bad, headers=AUTH)
    assert answer.status_code == 400
    assert "message.log" in answer.json()["error"]
    async_log = async_log_body(make_record())  # an async log is not a message
    assert client.post("/v1/log/request", json=async_log, headers=AUTH).status_code == 400


def test_a_manual_access_key_must_match_the_receivers(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = make_record(headers={"Helicone-Manual-Access-Key": "manual-1"})
    body = log_request_body(to_message_data(record, "Bearer sk-owner", raw_bodies(record)))
    monkeypatch.setenv("HELICONE_MANUAL_ACCESS_KEY", "manual-2")
    with ReceiverThread(db_path=tmp_path / "a.sqlite3") as receiver:  # type: ignore[operator]
        answer = httpx.post(f"{receiver.url}/v1/log/request", json=body, headers=AUTH)
        assert (answer.status_code, answer.content) == (401, b"")
    monkeypatch.setenv("HELICONE_MANUAL_ACCESS_KEY", "manual-1")
    with ReceiverThread(db_path=tmp_path / "b.sqlite3") as receiver:  # type: ignore[operator]
        answer = httpx.post(f"{receiver.url}/v1/log/request", json=body, headers=AUTH)
        assert answer.status_code == 200
        assert receiver.store.count() == 1
