"""Recording an SDK stream in place, and hiding the usage chunk the caller did not ask for."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from heliograph.capture.builder import LogBuilder
from heliograph.capture.stream import StreamEnd, StreamRecorder

__all__ = ["AsyncWithoutUsageChunk", "WithoutUsageChunk", "record_stream"]


def record_stream(stream: Any, builder: LogBuilder, *, hide_usage: bool) -> None:
    """Record an SDK ``Stream``/``AsyncStream`` in place.

    The stream object stays the caller's: only its internal iterator (``_iterator``, which
    both SDKs' streams iterate) is replaced by the recording pass-through, and its ``close``
    marks the log as closed before closing the response as before.
    """
    source = stream._iterator  # the SDK's own generator (Anthropic makes it on first use)
    recorded = builder.to_stream(source)
    recorder: StreamRecorder | None = getattr(recorded, "_recorder", None)
    is_async = hasattr(source, "__aiter__")
    iterator: Any = recorded
    if hide_usage:
        iterator = AsyncWithoutUsageChunk(recorded) if is_async else WithoutUsageChunk(recorded)
    stream._iterator = iterator
    if recorder is not None:
        stream.close = _closing(stream, recorder, is_async)


def _closing(stream: Any, recorder: StreamRecorder, is_async: bool) -> Callable[[], Any]:
    """A ``close`` for this stream instance that logs it as closed, then closes it.

    It refers to the stream weakly, so the stream keeps no reference cycle through it (the
    Anthropic SDK avoids one, so a dropped stream is closed and logged at once).
    """
    close = type(stream).close
    ref = weakref.ref(stream)

    if is_async:

        async def aclose() -> None:
            recorder.finish(StreamEnd.CLOSED)  # never raises; a no-op once the stream ended
            target = ref()
            if target is not None:
                await close(target)

        return aclose

    def sclose() -> None:
        recorder.finish(StreamEnd.CLOSED)
        target = ref()
        if target is not None:
            close(target)

    return sclose


def _shown(chunk: Any) -> bool:
    """False for the usage-only chunk ``include_usage`` added; the others lose the
    ``usage: null`` that asking for usage adds, so they look exactly as without it."""
    try:
        if getattr(chunk, "choices", None) == [] and getattr(chunk, "usage", None) is not None:
            return False
        fields_set = getattr(chunk, "__pydantic_fields_set__", None)
        if isinstance(fields_set, set) and getattr(chunk, "usage", 0) is None:
            fields_set.discard("usage")
    except Exception:
        pass
    return True


class WithoutUsageChunk:
    """Iterates a recorded chat stream, hiding the usage chunk the caller did not ask for."""

    def __init__(self, source: Iterator[Any]) -> None:
        self._source = source

    def __iter__(self) -> WithoutUsageChunk:
        return self

    def __next__(self) -> Any:
        while True:
            chunk = next(self._source)
            if _shown(chunk):
                return chunk


class AsyncWithoutUsageChunk:
    """``WithoutUsageChunk`` for async streams."""

    def __init__(self, source: AsyncIterator[Any]) -> None:
        self._source = source

    def __aiter__(self) -> AsyncWithoutUsageChunk:
        return self

    async def __anext__(self) -> Any:
        while True:
            chunk = await anext(self._source)
            if _shown(chunk):
                return chunk
