"""Records the endpoint refused for good, kept with the reason so nothing vanishes unseen.

One JSON line per record in ``dead-letters.jsonl``:
``{"at": ms, "status": int | null, "error": str, "response": str, "record": {...}}``.
The record keeps its request id, so replaying it can never create a duplicate.
The API key is never written here: records do not carry it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from heliograph.spool.folder import FILE_MODE

__all__ = ["append_dead_letter", "read_dead_letters"]

_MAX_RESPONSE_CHARS = 4096


def append_dead_letter(
    path: Path, payload: bytes, status: int | None, error: str, response: str = ""
) -> None:
    """Append one dead letter; ``payload`` is the record's JSON bytes from the spool."""
    head = orjson.dumps(
        {
            "at": int(time.time() * 1000),
            "status": status,
            "error": error,
            "response": response[:_MAX_RESPONSE_CHARS],
        }
    )
    # Leading newline: a line torn by a crash ends here instead of swallowing this one.
    line = b"\n" + head[:-1] + b',"record":' + payload + b"}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_dead_letters(path: Path) -> Iterator[dict[str, Any]]:
    """Every readable dead letter, oldest first; unreadable lines are skipped."""
    try:
        data = path.read_bytes()
    except OSError:
        return
    for line in data.splitlines():
        if not line:
            continue
        try:
            yield orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
