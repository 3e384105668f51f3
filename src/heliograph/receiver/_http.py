"""The little of ASGI the receiver needs: typed callables, a request, a response.

No web framework: the receiver has a handful of routes, and a plain ASGI callable keeps
the dependency list at uvicorn and h11. Bodies are read with a hard byte limit so a huge
upload is refused after at most one chunk past the limit, never buffered whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

__all__ = [
    "ASGIApp",
    "BodyTooLargeError",
    "ClientDisconnectedError",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "header_text",
    "json_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def header_text(raw: bytes) -> str:
    """Header bytes as text: UTF-8 when valid (clients send it), else latin-1 (HTTP's own)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class BodyTooLargeError(Exception):
    """The request body is over the limit; raised before the rest of it is read."""

    def __init__(self, size: int, limit: int, *, declared: bool) -> None:
        self.size = size
        self.limit = limit
        amount = f"{size} bytes" if declared else f"at least {size} bytes"
        super().__init__(f"Payload too large: {amount} exceeds the {limit}-byte limit")


class ClientDisconnectedError(Exception):
    """The client went away before sending the whole body; there is no one to answer."""


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request: method, path and headers with lower-cased names, body on demand."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    receive: Receive

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        headers = tuple(
            (header_text(name).lower(), header_text(value)) for name, value in scope["headers"]
        )
        return cls(method=scope["method"], path=scope["path"], headers=headers, receive=receive)

    def header_map(self) -> dict[str, str]:
        """Headers by lower-cased name; the first of repeated headers wins."""
        found: dict[str, str] = {}
        for name, value in self.headers:
            found.setdefault(name, value)
        return found

    async def body(self, limit: int) -> bytes:
        """The whole body, or ``BodyTooLargeError`` once it is known to exceed ``limit``."""
        declared = self.header_map().get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise BodyTooLargeError(int(declared), limit, declared=True)
        body = bytearray()
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnectedError
            body += message.get("body", b"")
            if len(body) > limit:
                raise BodyTooLargeError(len(body), limit, declared=False)
            if not message.get("more_body", False):
                return bytes(body)


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, send: Send) -> None:
        raw_headers = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
            *((name.encode(), value.encode()) for name, value in self.headers),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def json_response(
    status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    return Response(status, orjson.dumps(payload), "application/json", headers)
