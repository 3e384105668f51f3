"""``LogBuilder``: log one call step by step, when the response arrives in pieces.

    builder = logger.log_builder({"model": "gpt-4o-mini", "messages": msgs})
    try:
        body = call_the_model()
        builder.set_response(body)
    except Exception as exc:
        builder.set_error(exc)
        raise
    finally:
        builder.send_log()

Or as a context manager, which records an exception and sends on exit. Stream
pass-through (``to_stream``/``attach_stream``) hangs off this class in the streams stage.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

import orjson

from heliograph.capture.inputs import now_ms, to_headers, to_response
from heliograph.model.headers import merge_headers

__all__ = ["LogBuilder", "SentLog", "error_status", "error_text"]

STATUS_ERROR = 500
STATUS_CANCELLED = -3  # Helicone's code for a cancelled request


def error_status(exc: BaseException) -> int:
    """-3 for a cancellation (asyncio or Ctrl-C), 500 for any other error."""
    return (
        STATUS_CANCELLED
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
        else STATUS_ERROR
    )


def error_text(exc: BaseException, response: str = "") -> str:
    """The traceback, then a blank line and the partial response if there is one.

    Helicone's TypeScript builder sends the same, but adds the blank line even when there
    is no partial response.
    """
    text = "".join(traceback.format_exception(exc)).rstrip()
    return f"{text}\n\n{response}" if response else text


class SentLog:
    """What ``send_log`` returns: nothing to wait for, but awaitable, so code written for
    helicone-helpers (``await builder.send_log()``) keeps working."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


class LogBuilder:
    """Collects one call's response, error and headers, then spools it on ``send_log``."""

    def __init__(
        self,
        capture: Callable[..., None],
        request: dict[str, Any],
        headers: dict[str, str],
    ) -> None:
        self._capture = capture
        self._request = request
        self._headers = headers
        self._start_ms = now_ms()
        self._end_ms: float | None = None
        self._status = 200
        self._body: object = None
        self._error: BaseException | None = None
        self._sent = False

    def set_response(self, body: str | bytes | dict[str, Any]) -> None:
        """The response body: text (kept as ``textBody``) or a JSON object."""
        self._body = body
        self._end_ms = now_ms()

    add_response = set_response  # helicone-helpers' name

    def set_error(self, error: BaseException) -> None:
        """Mark the call failed: status 500, or -3 if it was cancelled."""
        self._error = error
        self._status = error_status(error)
        self._end_ms = now_ms()

    def set_status(self, status: int) -> None:
        self._status = status

    def add_model(self, model: str) -> None:
        """Set ``request["model"]`` (helicone-helpers' ``add_model``)."""
        self._request["model"] = model

    def add_additional_headers(self, headers: dict[str, str]) -> None:
        self._headers = merge_headers(self._headers, to_headers(headers))

    def send_log(self) -> SentLog:
        """Spool the log. Returns at once; delivery happens in the background."""
        if not self._sent:
            self._sent = True
            self._capture(
                request=self._request,
                body=self._response_body(),
                headers=self._headers,
                start_ms=self._start_ms,
                end_ms=self._end_ms if self._end_ms is not None else now_ms(),
                status=self._status,
            )
        return SentLog()

    async def asend_log(self) -> None:
        """``send_log`` for async code; spooling takes microseconds, so it never waits."""
        self.send_log()

    def _response_body(self) -> object:
        if self._error is None or self._status == STATUS_CANCELLED:
            return self._body
        response_json, response_text, _ = to_response(self._body)
        partial = response_text if response_text is not None else ""
        if response_json:
            partial = orjson.dumps(response_json, default=str).decode()
        return error_text(self._error, partial)

    def __enter__(self) -> LogBuilder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.set_error(exc)
        self.send_log()

    async def __aenter__(self) -> LogBuilder:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
