"""Where message bodies go when they are too large to travel in the queue (§1.8).

Helicone's worker writes every body to S3 before it publishes, at
``organizations/{orgId}/requests/{requestId}/raw_request_response_body``, and consumers
read it back by request id. Heliograph keeps small bodies inline and writes only large
ones here; the message then carries the blob's reference (``heliographBodyRef``).

``LocalBlobStore`` is a folder: enough for producers and relays on one machine or on a
shared filesystem. A reference is a ``file://`` URL, so a reader needs no configuration.
Blobs are written under a temporary name and renamed, so a reader never sees half a blob,
and a re-sent record overwrites its own blob with the same bytes.
"""

from __future__ import annotations

import os
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Protocol

import orjson

from heliograph.model.message_data import RawBodies

__all__ = ["BlobStore", "LocalBlobStore", "read_blob"]


class BlobStore(Protocol):
    def put(self, request_id: str, bodies: RawBodies) -> str:
        """Store ``bodies`` for ``request_id``; return the reference a reader passes to
        ``read_blob``. Raises ``OSError`` if they cannot be stored."""
        ...


class LocalBlobStore:
    """Blobs as files ``<root>/requests/<request id>/raw_request_response_body``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, request_id: str, bodies: RawBodies) -> str:
        if not request_id or "/" in request_id or request_id in (".", ".."):
            raise OSError(f"request id {request_id!r} cannot name a blob")
        folder = self.root / "requests" / request_id
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / "raw_request_response_body"
        fd, staging = tempfile.mkstemp(dir=folder, prefix=".staging-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(bodies))
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        return path.resolve().as_uri()


def read_blob(reference: str) -> RawBodies:
    """The bodies a reference points to. Raises ``OSError`` if missing or unreadable,
    ``ValueError`` if the reference or the blob is malformed."""
    parts = urllib.parse.urlsplit(reference)
    if parts.scheme != "file":
        raise ValueError(f"unsupported blob reference {reference!r}: only file:// URLs")
    data = orjson.loads(Path(urllib.request.url2pathname(parts.path)).read_bytes())
    if not (
        isinstance(data, dict)
        and isinstance(data.get("request"), str)
        and isinstance(data.get("response"), str)
    ):
        raise ValueError(f"blob {reference} is not a {{request, response}} object")
    return {"request": data["request"], "response": data["response"]}
