"""Routing and access: health, stats, unknown paths and methods, keys for reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heliograph.receiver import ReceiverThread

from .helpers import AUTH, make_record, post_record


def test_stats_count_requests_duplicates_and_rejections(client: httpx.Client) -> None:
    record = make_record()
    post_record(client, record)
    post_record(client, record)
    client.post("/custom/v1/log", json={})
    client.post("/custom/v1/log", content=b"nope", headers=AUTH)
    client.post("/custom/v1/log", json={}, headers=AUTH)
    assert client.get("/v1/receiver/stats").json() == {
        "requests": 1,
        "duplicates": 1,
        "rejected": {"invalid_json": 1, "invalid_log": 1, "unauthorized": 1},
    }


def test_healthz_is_ok(shared_client: httpx.Client) -> None:
    response = shared_client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    "path", ["/ui/", "/ui/nope.js", "/v1/log", "/v1/request/", "/v1/request/a/b", "/oai/v1"]
)
def test_unknown_path_is_404_json(shared_client: httpx.Client, path: str) -> None:
    response = shared_client.get(path)
    assert response.status_code == 404
    assert response.json() == {"data": None, "error": f"Not found: GET {path}"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/custom/v1/log", "POST"),
        ("PUT", "/oai/v1/log", "POST"),
        ("POST", "/healthz", "GET"),
        ("GET", "/v1/request/query", "POST"),
        ("DELETE", "/v1/request/abc", "GET"),
    ],
)
def test_wrong_method_is_405_naming_the_allowed_one(
    shared_client: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = shared_client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"] == f"Method {method} not allowed on {path}; use {allowed}"


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        ReceiverThread(db_path=tmp_path / "keyed.sqlite3", require_keys=["k1"]) as receiver,
        httpx.Client(base_url=receiver.url) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/request/query"),
        ("GET", "/v1/request/0f8fad5b-d9cb-469f-a165-70867728950e"),
        ("POST", "/v1/session/query"),
        ("GET", "/v1/session/s-a"),
        ("GET", "/v1/receiver/stats"),
    ],
)
def test_reads_need_a_listed_key_when_keys_are_required(
    keyed: httpx.Client, method: str, path: str
) -> None:
    refused = keyed.request(method, path, headers={"Authorization": "Bearer other"})
    allowed = keyed.request(method, path, headers={"Authorization": "Bearer k1"})
    assert (refused.status_code, refused.json()) == (401, {"data": None, "error": "Unauthorized"})
    assert allowed.status_code in (200, 404)


def test_healthz_needs_no_key(keyed: httpx.Client) -> None:
    assert keyed.get("/healthz").status_code == 200
