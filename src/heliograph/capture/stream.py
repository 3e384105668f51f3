"""Pass-through stream wrappers that log every stream, however it ends.

``RecordedStream`` (sync) and ``AsyncRecordedStream`` hand each chunk on unchanged, with no
buffering, and remember what they saw. Exactly one log is written per stream, on whichever
end comes first:

    completed           the source was exhausted                         status 200
    error               the source raised (the exception propagates)     status 500
    cancelled           asyncio cancelled the consumer                   status -3
    closed              the consumer called close()/aclose()             status -3
    stopped_early       the wrapper was dropped part-way (``break``)     status -3
    garbage_collected   the wrapper was dropped before any chunk         status -3

-3 is Helicone's "cancelled" code. The log body is a transcript Helicone's stream parsers
accept: SDK chunk objects as one JSON object per line (what Helicone's TypeScript builder
sends), raw SSE bytes as they came. Time to first token is measured from the first chunk
that carries content, on a monotonic clock.
"""

from __future__ import annotations

import enum
import logging
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import orjson

log = logging.getLogger("heliograph")

__all__ = [
    "AsyncRecordedStream",
    "RecordedStream",
    "StreamEnd",
    "StreamRecorder",
    "end_for",
    "response_chunks",
]

T = TypeVar("T")

STATUS_OK = 200
STATUS_ERROR = 500
STATUS_CANCELLED = -3


class StreamEnd(enum.Enum):
    COMPLETED = "completed"
    ERROR = "error"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    STOPPED_EARLY = "stopped_early"
    GARBAGE_COLLECTED = "garbage_collected"

    @property
    def status(self) -> int:
        if self is StreamEnd.COMPLETED:
            return STATUS_OK
        return STATUS_ERROR if self is StreamEnd.ERROR else STATUS_CANCELLED


Finish = Callable[["StreamRecorder", StreamEnd, "BaseException | None"], None]
ContentTest = Callable[[Any], bool]


_CONTENT_KEYS = frozenset({"content", "text", "delta", "partial_json", "thinking", "arguments"})


def _has_content(event: Any) -> bool:
    """Whether a chunk carries model output (text, tool arguments, thinking), not metadata.

    Works on SDK chunks as dicts (OpenAI, Anthropic, Responses events) and on raw SSE text.
    """
    if isinstance(event, dict):
        for key, value in event.items():
            if key in _CONTENT_KEYS and isinstance(value, str) and value:
                return True
            if isinstance(value, dict | list) and _has_content(value):
                return True
        return False
    if isinstance(event, list):
        return any(_has_content(item) for item in event)
    if isinstance(event, str):
        for line in event.splitlines():
            if line.startswith("data:"):
                try:
                    if _has_content(orjson.loads(line[5:])):
                        return True
                except orjson.JSONDecodeError:
                    continue
    return False


class StreamRecorder:
    """I/O-free bookkeeping for one stream, shared by the sync and async wrappers.

    Never raises: a chunk it cannot understand is still passed on and kept as text.
    """

    def __init__(
        self,
        finish: Finish,
        content_test: ContentTest = _has_content,
        started: float | None = None,
    ) -> None:
        self._finish = finish
        self._content_test = content_test
        self.started = time.monotonic() if started is None else started
        self.started_epoch_ms = time.time() * 1000
        self.first_content: float | None = None
        self.ended: float | None = None
        self.end: StreamEnd | None = None
        self.chunks = 0
        self.events: list[Any] = []
        self._parts: list[str] = []

    @property
    def ttft_ms(self) -> float | None:
        if self.first_content is None:
            return None
        return (self.first_content - self.started) * 1000

    @property
    def transcript(self) -> str:
        return "".join(self._parts)

    def on_chunk(self, chunk: Any) -> None:
        self.chunks += 1
        try:
            if isinstance(chunk, bytes):  # raw SSE: the hot case, kept cheap
                text, event = chunk.decode("utf-8", "replace"), None
            else:
                text, event = _to_text_and_event(chunk)
            self._parts.append(text)
            if event is not None:
                self.events.append(event)
            if self.first_content is None and self._content_test(
                event if event is not None else text
            ):
                self.first_content = time.monotonic()
        except Exception:  # never let a strange chunk break the caller's stream
            self._parts.append(f"{chunk!r}\n")
            if self.first_content is None:
                self.first_content = time.monotonic()

    def finish(self, end: StreamEnd, error: BaseException | None = None) -> None:
        """Record the end and write the log; later calls do nothing."""
        if self.end is not None:
            return
        self.end = end
        self.ended = time.monotonic()
        try:
            self._finish(self, end, error)
        except Exception:  # logging a stream must never break the caller
            log.exception("could not log a stream that ended (%s); the stream is unaffected", end)


def _to_text_and_event(chunk: Any) -> tuple[str, Any]:
    if isinstance(chunk, bytes | bytearray | memoryview):
        return bytes(chunk).decode("utf-8", "replace"), None
    if isinstance(chunk, str):
        return chunk, None
    event: Any = chunk
    if not isinstance(chunk, dict):
        dump = getattr(chunk, "model_dump", None)
        event = dump(mode="json", exclude_unset=True) if callable(dump) else str(chunk)
    return orjson.dumps(event, default=str).decode() + "\n", event


def response_chunks(response: Any) -> Iterator[bytes] | AsyncIterator[bytes] | None:
    """The raw body chunks of an httpx-style streaming response, or None if it is not one.

    A response object is not itself iterable; its bytes are (``iter_bytes`` or, for an
    async client's response, ``aiter_bytes``). The response is closed when they end.
    """
    if hasattr(response, "__iter__") or hasattr(response, "__aiter__"):
        return None
    body = getattr(response, "stream", None)
    if callable(getattr(response, "aiter_bytes", None)) and hasattr(body, "__aiter__"):
        return _abytes(response)
    if callable(getattr(response, "iter_bytes", None)):
        return _bytes(response)
    return None


def _bytes(response: Any) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes()
    finally:
        response.close()


async def _abytes(response: Any) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    finally:
        await response.aclose()


def end_for(error: BaseException) -> StreamEnd:
    """How an exception ends a call: cancellation (asyncio, Ctrl-C) or an error."""
    if isinstance(error, KeyboardInterrupt) or _is_asyncio_cancellation(error):
        return StreamEnd.CANCELLED
    return StreamEnd.ERROR


def _is_asyncio_cancellation(error: BaseException) -> bool:
    # Without importing asyncio (~30 ms) into programs that never use it: if it is not
    # loaded, nothing can have raised its CancelledError.
    exceptions = sys.modules.get("asyncio.exceptions")
    return exceptions is not None and isinstance(error, exceptions.CancelledError)


class _Recording(Generic[T]):
    """What the sync and async wrappers share: pass-through attributes and the GC end."""

    _recorder: StreamRecorder
    _source: Any
    _exhausted: type[Exception]  # how the source ends: StopIteration or StopAsyncIteration

    def _ended(self, error: BaseException) -> None:
        """The source raised ``error``: it is exhausted (completed), or failed, or was
        cancelled (``end_for``)."""
        if isinstance(error, self._exhausted):
            self._recorder.finish(StreamEnd.COMPLETED)
        else:
            self._recorder.finish(end_for(error), error)

    def __getattr__(self, name: str) -> Any:
        # Everything else (e.g. an SDK stream's .response) behaves as on the source.
        return getattr(self._source, name)

    def __del__(self) -> None:
        recorder = self.__dict__.get("_recorder")
        if recorder is not None and recorder.end is None:
            recorder.finish(
                StreamEnd.STOPPED_EARLY if recorder.chunks else StreamEnd.GARBAGE_COLLECTED
            )


class RecordedStream(_Recording[T]):
    """Iterate ``source`` exactly as before; the stream is logged when it ends."""

    _exhausted = StopIteration

    def __init__(self, source: Iterable[T], recorder: StreamRecorder) -> None:
        self._source = source
        self._iterator: Iterator[T] = iter(source)
        self._recorder = recorder

    def __iter__(self) -> RecordedStream[T]:
        return self

    def __next__(self) -> T:
        try:
            item = next(self._iterator)
        except BaseException as exc:
            self._ended(exc)
            raise
        self._recorder.on_chunk(item)
        return item

    def close(self) -> None:
        """Close the source too; the stream is logged as closed unless it already ended."""
        self._recorder.finish(StreamEnd.CLOSED)
        close = getattr(self._source, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> RecordedStream[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncRecordedStream(_Recording[T]):
    """``RecordedStream`` for async iterators; asyncio cancellation is logged as cancelled."""

    _exhausted = StopAsyncIteration

    def __init__(self, source: AsyncIterable[T], recorder: StreamRecorder) -> None:
        self._source = source
        self._iterator: AsyncIterator[T] = aiter(source)
        self._recorder = recorder

    def __aiter__(self) -> AsyncRecordedStream[T]:
        return self

    async def __anext__(self) -> T:
        try:
            item = await anext(self._iterator)
        except BaseException as exc:
            self._ended(exc)
            raise
        self._recorder.on_chunk(item)
        return item

    async def aclose(self) -> None:
        import asyncio  # here, not at module level: a program without async code never loads it

        self._recorder.finish(StreamEnd.CLOSED)
        for name in ("aclose", "close"):
            close = getattr(self._source, name, None)
            if callable(close):
                result = close()
                if asyncio.iscoroutine(result):
                    await result
                return

    async def __aenter__(self) -> AsyncRecordedStream[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
