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

Or as a context manager, which records an exception and sends on exit. For streams,
``to_stream`` hands back a pass-through wrapper and the log is sent when the stream ends,
however it ends (see ``stream.py``); ``attach_stream`` consumes a stream (e.g. a copy).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import AsyncIterable, Callable, Generator, Iterable
from types import TracebackType
from typing import Any

import orjson

from heliograph.capture.inputs import now_ms, to_headers, to_response
from heliograph.capture.stream import (
    STATUS_CANCELLED,
    AsyncRecordedStream,
    RecordedStream,
    StreamEnd,
    StreamRecorder,
    end_for,
    response_chunks,
)
from heliograph.errors import UsageError
from heliograph.model.headers import merge_headers

__all__ = ["LogBuilder", "SentLog", "error_status", "error_text"]


def error_status(exc: BaseException) -> int:
    """-3 for a cancellation (asyncio or Ctrl-C), 500 for any other error."""
    return end_for(exc).status


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
        self._start_monotonic = time.monotonic()
        self._end_ms: float | None = None
        self._ttft_ms: float | None = None
        self._stream: StreamRecorder | None = None
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

    def to_stream(self, stream: Any) -> Any:
        """Wrap a sync or async stream: chunks pass through unchanged, and the log is sent
        when it ends (completed, error, cancelled, closed or dropped part-way).

        An httpx streaming response is read as its raw body chunks (``iter_bytes`` or
        ``aiter_bytes``): iterate what this returns instead of the response.
        """
        if self._stream is not None:
            raise UsageError("a stream is already attached to this log builder")
        stream = response_chunks(stream) or stream
        recorder = StreamRecorder(self._stream_ended, started=self._start_monotonic)
        self._stream = recorder
        self._request["stream"] = True  # on the logged copy: Helicone parses it as a stream
        if hasattr(stream, "__aiter__"):
            return AsyncRecordedStream(stream, recorder)
        return RecordedStream(stream, recorder)

    def attach_stream(self, stream: Iterable[Any]) -> None:
        """Consume ``stream`` (e.g. a copy of the caller's) and log it."""
        for _ in self.to_stream(stream):
            pass

    async def aattach_stream(self, stream: AsyncIterable[Any]) -> None:
        async for _ in self.to_stream(stream):
            pass

    def send_log(self) -> SentLog:
        """Spool the log. Returns at once; delivery happens in the background.

        With a stream attached and still running, the log is sent when the stream ends.
        """
        stream = self._stream
        if stream is not None and stream.end is None:
            return SentLog()
        if not self._sent:
            self._sent = True
            self._capture(
                request=self._request,
                body=self._response_body(),
                headers=self._headers,
                start_ms=self._start_ms,
                end_ms=self._end_ms if self._end_ms is not None else now_ms(),
                status=self._status,
                ttft_ms=self._ttft_ms,
            )
        return SentLog()

    def _stream_ended(
        self, recorder: StreamRecorder, end: StreamEnd, error: BaseException | None
    ) -> None:
        self._body = recorder.transcript
        self._ttft_ms = recorder.ttft_ms
        self._end_ms = (
            self._start_ms + ((recorder.ended or recorder.started) - self._start_monotonic) * 1000
        )
        self._headers["Helicone-Property-Stream-End"] = end.value
        if error is not None and end is StreamEnd.ERROR:
            self._error = error
        if self._status == 200:
            self._status = end.status
        self.send_log()

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
