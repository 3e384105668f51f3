"""The receiver's database files are private (0600) and its folder 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heliograph.receiver import ReceiverThread

from .helpers import make_record, post_record


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_the_database_and_its_wal_and_shm_files_are_0600(tmp_path: Path) -> None:
    db = tmp_path / "data" / "receiver.sqlite3"
    with ReceiverThread(db_path=db) as running, httpx.Client(base_url=running.url) as client:
        assert post_record(client, make_record()).status_code == 200
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(db.parent) == 0o700


@pytest.mark.usefixtures("umask_022")
def test_an_existing_database_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "receiver.sqlite3"
    db.touch(mode=0o644)
    with ReceiverThread(db_path=db):
        assert mode(db) == 0o600
