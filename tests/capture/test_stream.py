"""Streams pass through untouched and are logged exactly once, however they end."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson
import pytest

from heliograph import ManualLogger, UsageError
from heliograph.receiver import ReceiverThread

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
Logger = Callable[..., ManualLogger]


def chunk(text: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if text is None else {"content": text}
    return {"object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip


CHUNKS = [chunk(None), chunk("Hel"), chunk("lo"), chunk(None, "stop")]


def source(delay_s: float = 0.0, fail_after: int | None = None) -> Iterator[dict[str, Any]]:
    for index, item in enumerate(CHUNKS):
        if fail_after is not None and index == fail_after:
            raise ConnectionError("provider hung up")
        if index == 1:
            time.sleep(delay_s)  # before the first content chunk
        yield item


def logged(logger: ManualLogger, sink: ReceiverThread, request_id: str) -> dict[str, Any]:
    assert logger.flush(timeout=20).pending == 0
    row = sink.store.get_request(request_id)
    assert row is not None, "stream was not logged"
    return row


def builder_for(logger: ManualLogger) -> tuple[Any, str]:
    request_id = str(uuid.uuid4())
    return logger.log_builder(REQUEST, {"Helicone-Request-Id": request_id}), request_id


def test_completed_stream_passes_every_chunk_through_and_logs_ttft_and_transcript(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    builder, request_id = builder_for(logger)
    received = list(builder.to_stream(source(delay_s=0.12)))
    assert all(got is sent for got, sent in zip(received, CHUNKS, strict=True))
    row = logged(logger, sink, request_id)
    assert row["response_status"] == 200
    assert row["request_properties"]["stream-end"] == "completed"
    assert 115 <= row["time_to_first_token"] <= 400
    sent = [orjson.loads(line) for line in row["response_raw"].splitlines()]
    assert sent[: len(CHUNKS)] == CHUNKS  # the transcript, chunk for chunk
    assert row["response_body"] is not None
    message = orjson.loads(row["response_body"])["choices"][0]["message"]
    assert message["content"] == "Hello"  # the receiver consolidates it, as Helicone does
    assert row["request_body"]["stream"] is True
    assert "stream" not in REQUEST  # the caller's request is never modified


def test_error_mid_stream_propagates_and_is_logged_as_500_with_partial_output(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    builder, request_id = builder_for(logger)
    seen = []
    with pytest.raises(ConnectionError, match="provider hung up"):
        for item in builder.to_stream(source(fail_after=3)):
            seen.append(item)
    assert seen == CHUNKS[:3]
    row = logged(logger, sink, request_id)
    assert row["response_status"] == 500
    assert row["request_properties"]["stream-end"] == "error"
    assert "ConnectionError: provider hung up" in row["response_body"]
    assert '"content":"lo"' in row["response_body"]


def test_consumer_breaking_early_is_logged_as_stopped_early(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    builder, request_id = builder_for(logger)
    stream = builder.to_stream(source())
    for item in stream:
        if item is CHUNKS[1]:
            break
    del stream, item
    gc.collect()
    row = logged(logger, sink, request_id)
    assert row["response_status"] == -3
    assert row["request_properties"]["stream-end"] == "stopped_early"


def test_close_closes_the_source_and_logs_closed(make_logger: Logger, sink: ReceiverThread) -> None:
    logger = make_logger(sink.url)
    builder, request_id = builder_for(logger)
    closed = []

    def tracked() -> Iterator[dict[str, Any]]:
        try:
            yield from CHUNKS
        finally:
            closed.append(True)

    with builder.to_stream(tracked()) as stream:
        next(stream)
    assert closed == [True]
    assert logged(logger, sink, request_id)["request_properties"]["stream-end"] == "closed"


def test_stream_dropped_unconsumed_is_logged_as_garbage_collected(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    builder, request_id = builder_for(logger)
    builder.to_stream(source())
    gc.collect()
    row = logged(logger, sink, request_id)
    assert row["request_properties"]["stream-end"] == "garbage_collected"
    assert row["response_status"] == -3


async def async_source(delay_s: float = 0.0) -> AsyncIterator[dict[str, Any]]:
    for index, item in enumerate(CHUNKS):
        if index == 1:
            await asyncio.sleep(delay_s)
        yield item


def test_async_stream_completes_and_cancellation_is_logged_as_minus_3(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    done, done_id = builder_for(logger)
    cancelled, cancelled_id = builder_for(logger)

    async def main() -> list[dict[str, Any]]:
        received = [item async for item in done.to_stream(async_source(0.05))]

        async def consume() -> None:
            async for _ in cancelled.to_stream(async_source(delay_s=30)):
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return received

    assert asyncio.run(main()) == CHUNKS
    assert logged(logger, sink, done_id)["request_properties"]["stream-end"] == "completed"
    row = logged(logger, sink, cancelled_id)
    assert row["response_status"] == -3
    assert row["request_properties"]["stream-end"] == "cancelled"


def test_raw_sse_bytes_are_passed_through_and_kept_verbatim(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    builder, request_id = builder_for(logger)
    raw = [b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n', b"data: [DONE]\n\n"]
    assert list(builder.to_stream(iter(raw))) == raw
    assert logged(logger, sink, request_id)["response_raw"].startswith(b"".join(raw).decode())


def test_a_builder_takes_one_stream(make_logger: Logger, sink: ReceiverThread) -> None:
    builder, _ = builder_for(make_logger(sink.url))
    builder.to_stream(iter([]))
    with pytest.raises(UsageError, match="already attached"):
        builder.to_stream(iter([]))


def test_log_single_stream_consumes_and_logs(make_logger: Logger, sink: ReceiverThread) -> None:
    logger = make_logger(sink.url)
    request_id = str(uuid.uuid4())
    logger.log_single_stream(REQUEST, source(), {"Helicone-Request-Id": request_id})
    assert logged(logger, sink, request_id)["request_properties"]["stream-end"] == "completed"


def test_log_stream_sends_when_the_attached_stream_ends(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = str(uuid.uuid4())
    stream = logger.log_stream(
        REQUEST, lambda builder: builder.to_stream(source()), {"Helicone-Request-Id": request_id}
    )
    assert logger.flush(timeout=5).accepted == 0  # nothing logged before the stream ends
    assert list(stream) == CHUNKS
    assert logged(logger, sink, request_id)["response_status"] == 200
