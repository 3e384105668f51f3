"""The local receiver: a Helicone-compatible log endpoint that stores into SQLite.

It accepts what Helicone's worker accepts, on the same routes (``/custom/v1/log``,
``/oai/v1/log``, ``/anthropic/v1/log``, ``/googleapis/v1/log``), with the same checks and
answers: 401 without a key, 400 with ``{"error": …}`` for a bad or oversized body, 200
``ok`` with a ``helicone-id`` header on success. So a client can be pointed at it
instead of Helicone, offline or in tests, and its logs read back through a small JSON
API shaped like Helicone's (``/v1/request/query``, ``/v1/session/query``, …).

Invariants:

- One row per request id. The id is ``Helicone-Request-Id`` when Helicone would keep it
  (a UUID v1-5), else a random UUID, exactly as Helicone does; a re-sent id is stored
  once and counted in ``stats()["duplicates"]``, so delivery retries are harmless.
- Bodies over ``max_body_bytes`` (10 MiB, Helicone's limit) are refused from
  ``Content-Length`` or after at most one chunk past the limit, never buffered whole.
- Keys are never stored: a row keeps a short SHA-256 fingerprint of its bearer key.
  With ``require_keys`` only listed keys may log or read; otherwise any key may log.
- It binds 127.0.0.1 by default, because the rows hold prompts and responses.

Modules, in the order a log flows through them: ``app`` (the ASGI app and its routes,
on ``_http``), ``validate`` (the body checks), ``ingest`` (body + headers → row),
``store`` and ``schema`` (SQLite, with ``summary``: per-session totals and a property
index kept by triggers), ``api`` (the read routes), ``views`` and ``dashboard`` (the
dashboard at ``/``, its files in ``static/``), ``server`` (run it, on ``_uvicorn``).
"""

from heliograph.receiver.app import build_app
from heliograph.receiver.server import ReceiverThread, default_db_path, serve
from heliograph.receiver.store import Store

__all__ = ["ReceiverThread", "Store", "build_app", "default_db_path", "serve"]
