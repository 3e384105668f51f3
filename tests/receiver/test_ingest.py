"""Logging over HTTP: auth, routes, request ids, dedupe, rejections, concurrency."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.receiver import ReceiverThread

from .helpers import AUTH, KEY, make_body, make_record, post_record, stored


def test_valid_log_is_stored_and_answered_ok_with_helicone_id(shared_client: httpx.Client) -> None:
    record = make_record()
    response = post_record(shared_client, record)
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["helicone-id"] == record.request_id
    item = stored(shared_client, record.request_id)
    assert item["request_body"] == record.request
    assert item["response_status"] == 200
    assert item["request_created_at"] == "2023-11-14T22:13:20.000Z"
    assert item["response_created_at"] == "2023-11-14T22:13:20.250Z"
    assert item["delay_ms"] == 250
    assert item["target_url"] == "custom-model-nopath"


@pytest.mark.parametrize(
    ("route", "provider"),
    [
        ("/custom/v1/log", "CUSTOM"),
        ("/oai/v1/log", "OPENAI"),
        ("/anthropic/v1/log", "ANTHROPIC"),
        ("/googleapis/v1/log", "GOOGLE"),
    ],
)
def test_route_decides_the_provider(shared_client: httpx.Client, route: str, provider: str) -> None:
    record = make_record(provider="TOGETHER", provider_given=True)  # the body field is ignored
    assert post_record(shared_client, record, route=route).status_code == 200
    assert stored(shared_client, record.request_id)["provider"] == provider


def test_missing_authorization_is_401(client: httpx.Client) -> None:
    response = client.post("/custom/v1/log", json=make_body())
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}
    assert client.get("/v1/receiver/stats").json()["rejected"] == {"unauthorized": 1}


@pytest.mark.parametrize("value", ["", "Bearer", "bearer"])
def test_empty_key_is_401(shared_client: httpx.Client, value: str) -> None:
    response = shared_client.post(
        "/custom/v1/log", json=make_body(), headers={"Authorization": value}
    )
    assert response.status_code == 401


def test_helicone_auth_header_is_accepted_instead_of_authorization(
    shared_client: httpx.Client,
) -> None:
    response = shared_client.post(
        "/custom/v1/log", json=make_body(), headers={"Helicone-Auth": f"Bearer {KEY}"}
    )
    assert response.status_code == 200


def test_required_keys_reject_unknown_bearer(db_path: Path) -> None:
    with (
        ReceiverThread(db_path=db_path, require_keys={"good"}) as receiver,
        httpx.Client(base_url=receiver.url) as client,
    ):
        bad = client.post(
            "/custom/v1/log", json=make_body(), headers={"Authorization": "Bearer other"}
        )
        good = client.post(
            "/custom/v1/log", json=make_body(), headers={"Authorization": "Bearer good"}
        )
        assert (bad.status_code, bad.json()) == (401, {"error": "Unauthorized"})
        assert good.status_code == 200
        assert receiver.store.count() == 1


def test_auth_key_is_stored_only_as_a_fingerprint(
    client: httpx.Client, receiver: ReceiverThread, db_path: Path
) -> None:
    assert post_record(client, make_record()).status_code == 200
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT * FROM requests").fetchone()
        fingerprint = db.execute("SELECT auth_fingerprint FROM requests").fetchone()[0]
    db.close()
    assert not any(KEY in str(value) for value in row)
    assert fingerprint.startswith("sha256:")


def test_resent_request_id_is_stored_once(client: httpx.Client, receiver: ReceiverThread) -> None:
    record = make_record()
    first = post_record(client, record)
    second = post_record(client, record)
    assert first.status_code == second.status_code == 200
    assert first.headers["helicone-id"] == second.headers["helicone-id"] == record.request_id
    assert receiver.store.count() == 1
    assert client.get("/v1/receiver/stats").json()["duplicates"] == 1


@pytest.mark.parametrize(
    "given",
    [
        "not-a-uuid",
        "0190b2b4-5a1e-7c3d-8e4f-123456789abc",  # a UUIDv7: Helicone only keeps v1-5
        "123e4567-e89b-12d3-c456-426614174000",  # wrong variant
        "",
    ],
)
def test_invalid_request_id_is_replaced_by_random_uuid(
    client: httpx.Client, receiver: ReceiverThread, given: str
) -> None:
    headers = {**AUTH, "Helicone-Request-Id": given}
    first = client.post("/custom/v1/log", json=make_body(), headers=headers)
    second = client.post("/custom/v1/log", json=make_body(), headers=headers)
    ids = {first.headers["helicone-id"], second.headers["helicone-id"]}
    assert len(ids) == 2  # each replaced by a fresh id, so a re-send is not deduplicated
    assert all(uuid.UUID(rid).version == 4 for rid in ids)
    assert receiver.store.count() == 2


def test_missing_request_id_gets_a_random_uuid(shared_client: httpx.Client) -> None:
    response = shared_client.post("/custom/v1/log", json=make_body(), headers=AUTH)
    assert uuid.UUID(response.headers["helicone-id"]).version == 4


def test_upper_case_request_id_is_stored_in_lower_case(shared_client: httpx.Client) -> None:
    record = make_record(request_id=str(uuid.uuid4()).upper())
    response = post_record(shared_client, record)
    assert response.headers["helicone-id"] == record.request_id.lower()


def test_request_id_from_meta_is_used(shared_client: httpx.Client) -> None:
    rid = str(uuid.uuid4())
    body = make_body(request_meta={"Helicone-Request-Id": rid})
    response = shared_client.post("/custom/v1/log", json=body, headers=AUTH)
    assert response.headers["helicone-id"] == rid


def test_non_json_body_is_400(client: httpx.Client) -> None:
    response = client.post("/custom/v1/log", content=b"{not json", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid JSON body:")
    assert client.get("/v1/receiver/stats").json()["rejected"] == {"invalid_json": 1}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("providerRequest", None, "providerRequest must be an object, got null"),
        ("providerResponse.status", "200", "providerResponse.status must be a number, got string"),
        (
            "timing.startTime.seconds",
            "now",
            "timing.startTime.seconds must be a number, got string",
        ),
    ],
)
def test_invalid_log_is_400_naming_the_field(
    client: httpx.Client, receiver: ReceiverThread, field: str, value: object, message: str
) -> None:
    body = make_body()
    *parents, leaf = field.split(".")
    target = body
    for key in parents:
        target = target[key]
    target[leaf] = value
    response = client.post("/custom/v1/log", json=body, headers=AUTH)
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert receiver.store.count() == 0
    assert client.get("/v1/receiver/stats").json()["rejected"] == {"invalid_log": 1}


def test_concurrent_posts_from_threads_are_all_stored(
    client: httpx.Client, receiver: ReceiverThread
) -> None:
    records = [make_record() for _ in range(200)]
    statuses: list[int] = []
    lock = threading.Lock()

    def send(batch: list[Any]) -> None:
        for record in batch:
            status = post_record(client, record).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=send, args=(records[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * len(records)
    assert receiver.store.count() == len(records)
