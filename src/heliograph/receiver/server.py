"""Run the receiver: on a background thread (tests, embedding) or in the foreground (CLI).

Both bind the socket before uvicorn starts (a busy port fails in the caller; ``port=0``
yields the real port up front) and accept ``on_startup(url)`` / ``on_shutdown()`` hooks;
``on_shutdown`` runs before the listener closes, so a delivery worker that flushes into
this very receiver can still deliver on the way out. See ``_uvicorn`` for the details.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import uvicorn

from heliograph.config import LOCAL_ENDPOINT
from heliograph.errors import ConfigError, UsageError
from heliograph.receiver._uvicorn import (
    ReceiverServer,
    ShutdownHook,
    StartupHook,
    bind,
    make_server,
    url_for,
)
from heliograph.receiver.app import DEFAULT_MAX_BODY_BYTES, build_app
from heliograph.receiver.store import Store

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ReceiverThread", "default_db_path", "serve"]

logger = logging.getLogger("heliograph.receiver")

DEFAULT_HOST = "127.0.0.1"  # loopback: logs hold prompts; exposing them is an explicit choice
DEFAULT_PORT = int(LOCAL_ENDPOINT.rsplit(":", 1)[1])  # where clients log by default


def default_db_path() -> Path:
    """The platform's user data folder, e.g. ``~/.local/share/heliograph/receiver.sqlite3``."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("heliograph", appauthor=False)) / "receiver.sqlite3"


def _keys(require_keys: Iterable[str] | None) -> frozenset[str] | None:
    if require_keys is None:
        return None
    if isinstance(require_keys, str):
        raise ConfigError("require_keys must be a collection of keys, not a single string")
    keys = frozenset(require_keys)
    if not keys or "" in keys:
        raise ConfigError("require_keys must hold at least one key, and no empty key")
    return keys


class ReceiverThread:
    """The receiver on a background thread, for tests and for embedding in a program.

    ::

        with ReceiverThread(db_path=tmp_path / "r.sqlite3") as receiver:
            httpx.post(f"{receiver.url}/custom/v1/log", json=body, headers=auth)
            assert receiver.store.count() == 1

    ``start`` returns once the socket accepts connections; ``stop`` waits at most about
    ``stop_timeout_s`` for in-flight requests, then closes the store the thread opened.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        db_path: str | os.PathLike[str] | None = None,
        require_keys: Iterable[str] | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        on_startup: StartupHook | None = None,
        on_shutdown: ShutdownHook | None = None,
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.host = host
        self.db_path = Path(db_path) if db_path is not None else default_db_path()
        self._requested_port = port
        self._keys = _keys(require_keys)
        self._max_body_bytes = max_body_bytes
        self._hooks = (on_startup, on_shutdown)
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._store: Store | None = None
        self._server: ReceiverServer | None = None
        self._thread: threading.Thread | None = None
        self._port = port
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:12345``; logs go to ``{url}/custom/v1/log``."""
        return url_for(self.host, self._port)

    @property
    def store(self) -> Store:
        if self._store is None:
            raise UsageError("the receiver is not running; call start() or use it in a with block")
        return self._store

    def __enter__(self) -> ReceiverThread:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Open the store, bind the socket, and return once the server is listening."""
        if self._thread is not None:
            raise UsageError("this ReceiverThread was already started; make a new one")
        store = Store(self.db_path)
        try:
            sock = bind(self.host, self._requested_port)
        except BaseException:
            store.close()
            raise
        self._store = store
        self._port = sock.getsockname()[1]
        app = build_app(store, self._keys, self._max_body_bytes)
        graceful_s = max(1, int(self._stop_timeout_s) - 1)
        self._server = server = make_server(
            app,
            self.url,
            log_config=None,
            log_level=None,
            graceful_s=graceful_s,
            on_startup=self._hooks[0],
            on_shutdown=self._hooks[1],
        )
        self._thread = threading.Thread(
            target=self._run, args=(server, sock), name="heliograph-receiver", daemon=True
        )
        self._thread.start()
        if not self._wait_listening(server, self._thread):
            self.stop()
            error = server.startup_error or self._error
            message = f"the receiver on {self.url} did not start within {self._start_timeout_s} s"
            raise RuntimeError(message) from error

    def _wait_listening(self, server: ReceiverServer, thread: threading.Thread) -> bool:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if server.listening.wait(0.02):
                return True
            if not thread.is_alive():
                return False
        return server.listening.is_set()

    def _run(self, server: ReceiverServer, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # a thread has nowhere to raise to; keep it for start()
            self._error = exc
            logger.exception("receiver thread failed")
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving (bounded by ``stop_timeout_s``) and close the store. Idempotent."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(self._stop_timeout_s)
            if thread.is_alive():
                server.force_exit = True
                thread.join(1.0)
            if thread.is_alive():
                logger.warning(
                    "receiver thread did not stop within %.1f s; leaving it to exit with the "
                    "process",
                    self._stop_timeout_s,
                )
        self._server = None
        if self._store is not None:
            self._store.close()
            self._store = None


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    db_path: str | os.PathLike[str] | None = None,
    require_keys: Iterable[str] | None = None,
    log_level: str = "info",
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_startup: StartupHook | None = None,
    on_shutdown: ShutdownHook | None = None,
) -> None:
    """Run the receiver in the foreground until Ctrl+C or SIGTERM (for ``heliograph serve``).

    ``on_startup(url)`` runs once the socket is listening and ``on_shutdown()`` before
    it closes; a failing ``on_startup`` stops the server and is re-raised here. As with
    uvicorn, SIGTERM ends the process with that signal after the graceful shutdown.
    uvicorn's loggers get uvicorn's default config; ``heliograph.receiver`` is left to
    the caller.
    """
    keys = _keys(require_keys)
    path = Path(db_path) if db_path is not None else default_db_path()
    with Store(path) as store:
        sock = bind(host, port)
        url = url_for(host, sock.getsockname()[1])
        server = make_server(
            build_app(store, keys, max_body_bytes),
            url,
            log_config=uvicorn.config.LOGGING_CONFIG,
            log_level=log_level,
            graceful_s=5,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
        )
        logger.info("heliograph receiver listening on %s, storing logs in %s", url, path)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass  # uvicorn re-raises the Ctrl+C it handled, after shutting down cleanly
        finally:
            sock.close()
    if server.startup_error is not None:
        raise server.startup_error
