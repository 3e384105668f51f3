"""uvicorn, set up for the receiver: our own listening socket and two lifecycle hooks.

The socket is bound before uvicorn starts, so a busy port fails at once in the caller
and ``port=0`` yields the real port up front. Hooks run in a worker thread while the
event loop keeps serving: ``on_shutdown`` runs before the listener closes, so a delivery
worker that flushes to this very receiver can still deliver on the way out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

__all__ = ["ReceiverServer", "ShutdownHook", "StartupHook", "bind", "make_server", "url_for"]

logger = logging.getLogger("heliograph.receiver")

StartupHook = Callable[[str], object]
ShutdownHook = Callable[[], object]


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every response waits ~40 ms for a delayed ACK between header and body.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name != "nt":  # on Windows this flag would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno,
            f"the receiver cannot listen on {host}:{port}: {exc.strerror}; "
            "is another receiver running there? Pick another port or stop it",
        ) from exc
    return sock


def url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ReceiverServer(uvicorn.Server):
    """uvicorn's server plus the startup/shutdown hooks and a 'listening' event."""

    def __init__(
        self,
        config: uvicorn.Config,
        url: str,
        on_startup: StartupHook | None,
        on_shutdown: ShutdownHook | None,
    ) -> None:
        super().__init__(config)
        self.url = url
        self.listening = threading.Event()
        self.startup_error: BaseException | None = None
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self._hooks_started = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_startup is not None:
            try:
                await asyncio.to_thread(self._on_startup, self.url)
            except Exception as exc:
                logger.exception("receiver on_startup hook failed; shutting down")
                self.startup_error = exc
                self.should_exit = True
                return
        self._hooks_started = True
        self.listening.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._hooks_started and self._on_shutdown is not None:
            try:
                await asyncio.to_thread(self._on_shutdown)
            except Exception:
                logger.exception("receiver on_shutdown hook failed")
        await super().shutdown(sockets)
        # A connection accepted while shutdown began, or one whose response never finished,
        # is still open here: close it on this loop rather than leave its socket to a
        # garbage collection after the loop is gone.
        for connection in list(self.server_state.connections):
            connection.transport.close()
        await asyncio.sleep(0)  # let the transports finish closing


def make_server(
    app: Any,
    url: str,
    *,
    log_config: dict[str, Any] | None,
    log_level: str | None,
    graceful_s: int,
    on_startup: StartupHook | None,
    on_shutdown: ShutdownHook | None,
) -> ReceiverServer:
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http="h11",
        ws="none",
        interface="asgi3",
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_config=log_config,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_s,
    )
    return ReceiverServer(config, url, on_startup, on_shutdown)
