"""A real receiver on a loopback port per test, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heliograph.receiver import ReceiverThread


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "receiver.sqlite3"


@pytest.fixture
def receiver(db_path: Path) -> Iterator[ReceiverThread]:
    with ReceiverThread(db_path=db_path) as running:
        yield running


@pytest.fixture
def client(receiver: ReceiverThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=receiver.url, timeout=10.0) as http:
        yield http


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One receiver for a whole module, for tests that only read back their own logs."""
    path = tmp_path_factory.mktemp("shared") / "receiver.sqlite3"
    with ReceiverThread(db_path=path) as running, httpx.Client(base_url=running.url) as http:
        yield http
