"""Records the endpoint refused for good, kept with the reason so nothing vanishes unseen.

One JSON line per record in ``dead-letters.jsonl``:
``{"at": ms, "status": int | null, "error": str, "response": str, "record": {...}}``.
The record keeps its request id, so replaying it can never create a duplicate.
The API key is never written here: records do not carry it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from heliograph.spool.folder import FILE_MODE, SpoolFolder

__all__ = ["append_dead_letter", "read_dead_letters", "rewrite_dead_letters"]

DeadLetter = dict[str, Any]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Appends and rewrites of the dead-letter file exclude each other across processes."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 FILE_MODE)  # fmt: skip
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


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
    with _locked(path):
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


def rewrite_dead_letters(
    folder: SpoolFolder,
    keep: Callable[[DeadLetter], bool],
    dry_run: bool = False,
    before_commit: Callable[[list[DeadLetter]], None] | None = None,
) -> tuple[int, int, list[DeadLetter]]:
    """Keep the letters ``keep`` accepts; move unreadable lines to ``corrupt/``.

    Returns ``(kept, unreadable, removed letters)``. With ``dry_run`` nothing changes.
    ``before_commit(removed)`` runs under the lock before the file is replaced; if it
    raises, the file is left as it was.
    """
    path = folder.dead_letters_path
    if not path.exists():
        return 0, 0, []
    with _locked(path):
        kept: list[bytes] = []
        removed: list[DeadLetter] = []
        unreadable: list[bytes] = []
        for line in path.read_bytes().splitlines():
            if not line:
                continue
            try:
                letter = orjson.loads(line)
            except orjson.JSONDecodeError:
                unreadable.append(line)
                continue
            if keep(letter):
                kept.append(line)
            else:
                removed.append(letter)
        if not dry_run and before_commit is not None and removed:
            before_commit(removed)
        if not dry_run and (removed or unreadable):
            if unreadable:
                folder.corrupt_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                with open(folder.corrupt_dir / "dead-letters.bad", "ab") as bad:
                    bad.write(b"".join(line + b"\n" for line in unreadable))
            temporary = path.with_name(path.name + ".tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with os.fdopen(fd, "wb") as out:
                out.write(b"".join(b"\n" + line + b"\n" for line in kept))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)  # atomic: readers see the old file or the new one
    return len(kept), len(unreadable), removed
