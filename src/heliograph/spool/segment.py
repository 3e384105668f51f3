"""One spool line: a JSON object carrying a checksum and the record's JSON, byte for byte.

    {"crc":"1a2b3c4d","record":{...}}\\n

The ``crc`` is CRC-32 (hex, 8 digits) of the exact bytes of the ``record`` value, which
sits at a fixed offset, so a reader verifies it without re-encoding. Every line is still
valid JSON, so ``jq`` and ``grep`` work on the spool. Segment files are named so that
sorting by name sorts by creation time.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import zlib
from pathlib import Path

__all__ = [
    "ACK_LINE",
    "ACK_SUFFIX",
    "SEGMENT_SUFFIX",
    "STAGING_SUFFIX",
    "CorruptLineError",
    "decode_line",
    "encode_line",
    "new_segment_name",
    "read_acks",
    "segment_created_ns",
]

_PREFIX = b'{"crc":"'
_MIDDLE = b'","record":'
_HEAD = len(_PREFIX) + 8 + len(_MIDDLE)
SEGMENT_SUFFIX = ".jsonl"
STAGING_SUFFIX = ".new"  # a segment being created: not yet locked, never read
ACK_SUFFIX = ".acked"
ACK_LINE = 17  # an acknowledgement: 16 hex digits of the record's offset, then "\n"
_NAME = re.compile(r"^seg-(\d{20})-(\d+)-[0-9a-f]{8}\.jsonl$")


class CorruptLineError(ValueError):
    """A spool line is torn or altered: its checksum or framing does not match."""


def encode_line(payload: bytes) -> bytes:
    """Frame a record's JSON bytes as one spool line, newline included."""
    crc = zlib.crc32(payload)
    return b"%s%08x%s%s}\n" % (_PREFIX, crc, _MIDDLE, payload)


def decode_line(line: bytes) -> bytes:
    """The record JSON bytes of one line (with or without its newline), checksum verified."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if len(line) <= _HEAD + 1 or not line.startswith(_PREFIX) or not line.endswith(b"}"):
        raise CorruptLineError("line is not framed as a spool record")
    if line[_HEAD - len(_MIDDLE) : _HEAD] != _MIDDLE:
        raise CorruptLineError("line is not framed as a spool record")
    try:
        expected = int(line[len(_PREFIX) : len(_PREFIX) + 8], 16)
    except ValueError:
        raise CorruptLineError("line has no valid checksum") from None
    payload = line[_HEAD:-1]
    if zlib.crc32(payload) != expected:
        raise CorruptLineError("checksum mismatch: the record was torn or altered")
    return payload


def new_segment_name() -> str:
    """``seg-<creation ns>-<pid>-<random>.jsonl``: unique across processes and forks."""
    return f"seg-{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SEGMENT_SUFFIX}"


def segment_created_ns(name: str) -> int | None:
    """Creation time encoded in a segment's name, or ``None`` if it is not a segment."""
    match = _NAME.match(name)
    return int(match.group(1)) if match else None


def read_acks(path: Path) -> set[int]:
    """The offsets an ``.acked`` file acknowledges; torn or damaged lines are skipped."""
    try:
        data = path.read_bytes()
    except OSError:
        return set()
    found: set[int] = set()
    for line in data.split(b"\n"):
        if len(line) == ACK_LINE - 1:
            try:
                found.add(int(line, 16))
            except ValueError:
                continue
    return found
