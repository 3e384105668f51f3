"""The local blob store: what the queue message refers to when bodies travel out of band."""

from __future__ import annotations

from pathlib import Path

import pytest

from heliograph.model.message_data import RawBodies
from heliograph.transports.blobs import LocalBlobStore, read_blob


def test_a_stored_blob_reads_back_from_its_file_url(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    bodies: RawBodies = {"request": '{"model":"m"}', "response": "é" * 10}
    reference = store.put("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", bodies)
    assert reference.startswith("file://")
    assert read_blob(reference) == bodies
    # A re-sent record overwrites its own blob; no staging files are left behind.
    assert store.put("6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", bodies) == reference
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [
        "raw_request_response_body"
    ]


def test_bad_references_and_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only file://"):
        read_blob("s3://bucket/key")
    with pytest.raises(FileNotFoundError):
        read_blob((tmp_path / "missing").as_uri())
    with pytest.raises(OSError, match="cannot name a blob"):
        LocalBlobStore(tmp_path).put("../escape", {"request": "", "response": ""})
