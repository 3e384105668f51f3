"""``heliograph.instrument``: the real ``openai`` and ``anthropic`` SDKs against the fake
provider, logging through a real logger to the real receiver.

Each test names what it proves: one log per call with the right route, request, response and
status; the caller gets exactly what an uninstrumented client gets; every way a stream can
end is logged once; the request is untouched unless ``include_usage`` is asked for; telemetry
failures never reach the call.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

import heliograph
from heliograph import ManualLogger, UsageError
from heliograph._ratelimit import RateLimitedLogger
from heliograph.capture import sdk
from heliograph.capture.builder import LogBuilder
from heliograph.capture.sdk._core import helicone_headers
from heliograph.receiver import ReceiverThread
from tests.providers.fake_provider import FakeProvider, ReceivedRequest, Script

Logger = Callable[..., ManualLogger]
Row = dict[str, Any]

DELAY_S = 0.15
KINDS = ["chat", "responses", "messages"]
PROVIDER = {"chat": "OPENAI", "responses": "OPENAI", "messages": "ANTHROPIC"}
REQUESTS: dict[str, dict[str, Any]] = {
    "chat": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    "responses": {"model": "gpt-4o-mini", "input": "hi"},
    "messages": {
        "model": "claude-sonnet-4",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    },
}
STREAM_TYPES = {
    ("chat", False): openai.Stream,
    ("chat", True): openai.AsyncStream,
    ("responses", False): openai.Stream,
    ("responses", True): openai.AsyncStream,
    ("messages", False): anthropic.Stream,
    ("messages", True): anthropic.AsyncStream,
}
RANDOM_KEYS = frozenset({"id", "item_id", "call_id", "created", "created_at", "obfuscation"})
"""Fields the fake provider draws afresh for every response (ids, clocks, padding)."""


# --- helpers -------------------------------------------------------------------------------


class Fake:
    """The module's fake provider as one test sees it: a fresh script, and only the
    requests (and bodies sent back) since the test began."""

    def __init__(self, server: FakeProvider) -> None:
        self._server = server
        self._first = len(server.requests)
        self.url = server.url
        self.script = Script()

    @property
    def script(self) -> Script:
        return self._server.script

    @script.setter
    def script(self, script: Script) -> None:
        self._server.script = script

    @property
    def requests(self) -> list[ReceivedRequest]:
        return self._server.requests[self._first :]

    @property
    def sent(self) -> list[bytes]:
        return self._server.sent[self._first :]


@pytest.fixture
def fake_server() -> Iterator[FakeProvider]:
    # One per test: stopping it closes every connection it accepted, so a connection a
    # client abandoned (a stream dropped part-way) cannot outlive its test.
    with FakeProvider() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeProvider) -> Fake:
    return Fake(fake_server)


@pytest.fixture(autouse=True)
def _fresh_rate_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Capture failures are reported once a minute; let each test see its own."""
    monkeypatch.setattr(sdk._core, "_warn", RateLimitedLogger(logging.getLogger("heliograph")))


@pytest.fixture
def logger(make_logger: Logger, sink: ReceiverThread) -> ManualLogger:
    return make_logger(sink.url)


def client_for(
    kind: str, fake: Fake | FakeProvider, *, is_async: bool = False, **options: Any
) -> Any:
    options.setdefault("max_retries", 0)
    if kind == "messages":
        cls: Any = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
        return cls(base_url=fake.url, api_key="sk-ant-fake", **options)
    cls = openai.AsyncOpenAI if is_async else openai.OpenAI
    return cls(base_url=fake.url + "/v1", api_key="sk-fake", **options)


def create(client: Any, kind: str) -> Callable[..., Any]:
    if kind == "chat":
        return client.chat.completions.create
    if kind == "responses":
        return client.responses.create
    return client.messages.create


def call(client: Any, kind: str, *, is_async: bool, **kwargs: Any) -> tuple[Any, list[Any]]:
    """Make one call (and read a stream to its end); close the client. (result, chunks)"""
    if not is_async:
        with client:
            result = create(client, kind)(**kwargs)
            return result, list(result) if kwargs.get("stream") else []

    async def main() -> tuple[Any, list[Any]]:
        async with client:
            result = await create(client, kind)(**kwargs)
            return result, [chunk async for chunk in result] if kwargs.get("stream") else []

    return asyncio.run(main())


def rows(logger: ManualLogger, sink: ReceiverThread, count: int = 1) -> list[Row]:
    """Every log the receiver got (oldest first), after checking there are ``count``."""
    assert logger.flush(timeout=20).pending == 0
    found = sink.store.query_requests(descending=False)
    assert len(found) == count, found
    return found


def transcript(row: Row) -> list[Any]:
    """The stream transcript as sent, one chunk a line: the receiver keeps it as
    ``response_raw`` beside the consolidated ``response_body``. Delivery may append a line of
    estimated usage, so callers compare prefixes."""
    raw = row.get("response_raw") or row["response_body"]
    return [orjson.loads(line) for line in raw.splitlines() if line.strip()]


def dumps(chunks: list[Any]) -> list[Any]:
    """Chunks as the caller sees them (fields the SDK set only), minus per-response noise."""
    return [scrub(chunk.model_dump(mode="json", exclude_unset=True)) for chunk in chunks]


def scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in RANDOM_KEYS else scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


# --- one log per call -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_each_call_is_logged_once_with_route_request_response_and_status(
    kind: str,
    is_async: bool,
    stream: bool,
    fake: Fake,
    logger: ManualLogger,
    sink: ReceiverThread,
) -> None:
    client = heliograph.instrument(client_for(kind, fake, is_async=is_async), logger)
    request = {**REQUESTS[kind], **({"stream": True} if stream else {})}
    result, chunks = call(client, kind, is_async=is_async, **request)
    (row,) = rows(logger, sink)
    assert row["provider"] == PROVIDER[kind]
    assert row["response_status"] == 200
    assert row["request_body"] == request == fake.requests[0].body
    if stream:
        assert isinstance(result, STREAM_TYPES[kind, is_async])
        assert chunks
        sent = [chunk.model_dump(mode="json", exclude_unset=True) for chunk in chunks]
        assert transcript(row)[: len(sent)] == sent
        assert row["request_properties"]["stream-end"] == "completed"
        assert row["time_to_first_token"] is not None
    else:
        assert orjson.loads(row["response_body"]) == result.model_dump(mode="json")
        assert "stream-end" not in row["request_properties"]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_caller_gets_the_same_type_and_chunks_as_an_uninstrumented_client(
    kind: str, is_async: bool, fake: Fake, logger: ManualLogger
) -> None:
    fake.script = Script(text="one two three", tool_call={"name": "f", "arguments": {"a": 1}})
    request = {**REQUESTS[kind], "stream": True}
    plain, plain_chunks = call(
        client_for(kind, fake, is_async=is_async), kind, is_async=is_async, **request
    )
    client = heliograph.instrument(client_for(kind, fake, is_async=is_async), logger)
    logged, logged_chunks = call(client, kind, is_async=is_async, **request)
    assert type(logged) is type(plain)
    assert [type(chunk) for chunk in logged_chunks] == [type(chunk) for chunk in plain_chunks]
    assert dumps(logged_chunks) == dumps(plain_chunks)
    plain_body, logged_body = (request.body for request in fake.requests)
    assert logged_body == plain_body == request


@pytest.mark.parametrize("kind", KINDS)
def test_without_opt_in_the_provider_receives_exactly_the_callers_request(
    kind: str, fake: Fake, logger: ManualLogger
) -> None:
    option = {"stop_sequences": ["END"]} if kind == "messages" else {"temperature": 0.5}
    request = {**REQUESTS[kind], **option, "stream": True}
    call(client_for(kind, fake), kind, is_async=False, **request)
    call(heliograph.instrument(client_for(kind, fake), logger), kind, is_async=False, **request)
    plain, logged = fake.requests
    assert logged.body == plain.body
    assert logged.raw == plain.raw
    assert logged.path == plain.path


def test_logged_request_is_the_body_sent_without_transport_arguments(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    client = heliograph.instrument(client_for("chat", fake), logger)
    with client:
        client.chat.completions.create(
            **REQUESTS["chat"],
            temperature=openai.omit,
            top_p=openai.NOT_GIVEN,
            extra_body={"seed": 7},
            extra_query={"q": "1"},
            timeout=30,
            extra_headers={"X-Trace": "t"},
        )
    (row,) = rows(logger, sink)
    assert row["request_body"] == {**REQUESTS["chat"], "seed": 7} == fake.requests[0].body


def test_together_base_url_is_logged_as_together_and_never_asked_for_usage(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(together=True)
    client = client_for("chat", fake)
    client.base_url = "https://api.together.xyz/v1"
    assert sdk.openai.provider_for(client) == "TOGETHER"
    # the provider follows base_url when instrumenting
    heliograph.instrument(client, logger, include_usage=True)
    client.base_url = fake.url + "/v1"  # the fake itself listens on 127.0.0.1
    _, chunks = call(client, "chat", is_async=False, **REQUESTS["chat"], stream=True)
    assert fake.requests[0].body == {**REQUESTS["chat"], "stream": True}
    assert chunks[-1].usage is not None  # Together reports usage unasked
    (row,) = rows(logger, sink)
    assert row["provider"] == "CUSTOM"  # Together logs go to the custom route, as in Helicone


# --- how streams end ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_breaking_out_of_a_stream_is_logged_stopped_early(
    kind: str, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(text="one two three four")
    with heliograph.instrument(client_for(kind, fake), logger) as client:
        stream = create(client, kind)(**REQUESTS[kind], stream=True)
        for _chunk in stream:
            break
        del stream, _chunk
        gc.collect()  # an OpenAI stream is in a reference cycle; Anthropic's goes at once
    (row,) = rows(logger, sink)
    assert row["response_status"] == -3
    assert row["request_properties"]["stream-end"] == "stopped_early"


def test_a_dropped_anthropic_stream_is_logged_without_waiting_for_the_garbage_collector(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(text="one two three four")
    gc.disable()  # instrumentation adds no reference cycle: dropping the stream is enough
    try:
        with heliograph.instrument(client_for("messages", fake), logger) as client:
            stream = client.messages.create(**REQUESTS["messages"], stream=True)
            next(stream)
            del stream
            (row,) = rows(logger, sink)
    finally:
        gc.enable()
    assert row["request_properties"]["stream-end"] == "stopped_early"


@pytest.mark.parametrize("kind", KINDS)
def test_closing_a_stream_is_logged_closed(
    kind: str, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(text="one two three four")
    with heliograph.instrument(client_for(kind, fake), logger) as client:
        stream = create(client, kind)(**REQUESTS[kind], stream=True)
        first = next(stream)
        stream.close()
        assert first is not None
        assert stream.response.is_closed
    (row,) = rows(logger, sink)
    assert row["response_status"] == -3
    assert row["request_properties"]["stream-end"] == "closed"


@pytest.mark.parametrize("kind", KINDS)
def test_leaving_an_async_with_block_early_is_logged_closed(
    kind: str, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(text="one two three four")

    async def main() -> None:
        client = heliograph.instrument(client_for(kind, fake, is_async=True), logger)
        async with client, await create(client, kind)(**REQUESTS[kind], stream=True) as stream:
            async for _chunk in stream:
                break

    asyncio.run(main())
    (row,) = rows(logger, sink)
    assert row["response_status"] == -3
    assert row["request_properties"]["stream-end"] == "closed"


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_read_to_the_end_then_closed_stays_completed(
    kind: str, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    client = heliograph.instrument(client_for(kind, fake), logger)
    with client, create(client, kind)(**REQUESTS[kind], stream=True) as stream:
        assert list(stream)
    (row,) = rows(logger, sink)
    assert row["response_status"] == 200
    assert row["request_properties"]["stream-end"] == "completed"


@pytest.mark.parametrize("kind", KINDS)
def test_cancelling_an_async_stream_is_logged_cancelled(
    kind: str, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(first_chunk_delay_s=30)

    async def main() -> None:
        client = heliograph.instrument(client_for(kind, fake, is_async=True), logger)
        waiting = asyncio.Event()

        async def consume() -> None:
            stream = await create(client, kind)(**REQUESTS[kind], stream=True)
            waiting.set()
            async for _chunk in stream:
                pass

        task = asyncio.create_task(consume())
        await waiting.wait()
        await asyncio.sleep(0.05)  # now awaiting the first content chunk
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.close()

    asyncio.run(main())
    (row,) = rows(logger, sink)
    assert row["response_status"] == -3
    assert row["request_properties"]["stream-end"] == "cancelled"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", ["chat", "messages"])
def test_provider_error_mid_stream_propagates_and_is_logged_as_500(
    kind: str, is_async: bool, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(text="one two three four", error_after_chunks=2)
    client = heliograph.instrument(client_for(kind, fake, is_async=is_async), logger)
    errors = (openai.APIError, anthropic.APIError)
    with pytest.raises(errors) as raised:
        call(client, kind, is_async=is_async, **REQUESTS[kind], stream=True)
    assert raised.value.__cause__ is None  # the SDK's own exception, not wrapped
    (row,) = rows(logger, sink)
    assert row["response_status"] == 500
    assert row["request_properties"]["stream-end"] == "error"


def test_responses_error_event_mid_stream_is_passed_on_and_logged_as_sent(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    # The Responses API reports a mid-stream failure as an ``error`` event, which the SDK
    # yields rather than raises; the HTTP exchange itself succeeded.
    fake.script = Script(text="one two three four", error_after_chunks=2)
    client = heliograph.instrument(client_for("responses", fake), logger)
    _, events = call(client, "responses", is_async=False, **REQUESTS["responses"], stream=True)
    assert events[-1].type == "error"
    (row,) = rows(logger, sink)
    assert row["response_status"] == 200
    assert row["request_properties"]["stream-end"] == "completed"
    assert transcript(row)[len(events) - 1]["type"] == "error"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("kind", "status"), [("chat", 429), ("responses", 400), ("messages", 429)])
def test_http_error_is_logged_with_the_providers_status_and_body(
    kind: str,
    status: int,
    is_async: bool,
    stream: bool,
    fake: Fake,
    logger: ManualLogger,
    sink: ReceiverThread,
) -> None:
    fake.script = Script(status=status)
    client = heliograph.instrument(client_for(kind, fake, is_async=is_async), logger)
    request = {**REQUESTS[kind], **({"stream": True} if stream else {})}
    with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as raised:
        call(client, kind, is_async=is_async, **request)
    assert raised.value.status_code == status
    (row,) = rows(logger, sink)
    assert row["response_status"] == status
    assert orjson.loads(row["response_body"]) == orjson.loads(fake.sent[0])
    assert row["request_body"] == request


@pytest.mark.parametrize("kind", KINDS)
def test_connection_error_is_logged_as_500(
    kind: str, logger: ManualLogger, sink: ReceiverThread
) -> None:
    with FakeProvider() as gone:
        client = heliograph.instrument(client_for(kind, gone), logger)
    with pytest.raises((openai.APIConnectionError, anthropic.APIConnectionError)):
        call(client, kind, is_async=False, **REQUESTS[kind])
    (row,) = rows(logger, sink)
    assert row["response_status"] == 500
    assert "ConnectionError" in row["response_body"]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_ttft_follows_the_providers_first_chunk_delay(
    kind: str, is_async: bool, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(first_chunk_delay_s=DELAY_S)
    client = heliograph.instrument(client_for(kind, fake, is_async=is_async), logger)
    call(client, kind, is_async=is_async, **REQUESTS[kind], stream=True)
    (row,) = rows(logger, sink)
    # measured from the request's start, so never below the provider's delay (1 ms: clocks)
    assert DELAY_S * 1000 - 1 <= row["time_to_first_token"] < DELAY_S * 1000 + 500


@pytest.mark.parametrize("kind", KINDS)
def test_streams_reach_the_receiver_with_tokens_and_cost_estimated_only_without_usage(
    kind: str, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    if kind == "messages":  # a dated model name, which the price table knows
        fake.script = Script(model="claude-sonnet-4-5-20250929")
    client = heliograph.instrument(client_for(kind, fake), logger)
    call(client, kind, is_async=False, **REQUESTS[kind], stream=True)
    (row,) = rows(logger, sink)
    assert row["cost"] is not None and row["cost"] > 0
    if kind == "chat":  # no stream_options: OpenAI sends no usage, Heliograph counts it
        assert row["request_properties"]["heliograph-tokens"] == "estimated"
        assert row["completion_tokens"] == 2  # "Hello world" in o200k_base
    else:  # the provider reported usage: the script's 12 in, 5 out
        assert "heliograph-tokens" not in row["request_properties"]
        assert (row["prompt_tokens"], row["completion_tokens"]) == (12, 5)


# --- include_usage ---------------------------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_include_usage_asks_for_usage_logs_it_and_hides_it_from_the_caller(
    is_async: bool, fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    request = {**REQUESTS["chat"], "stream": True}
    _, plain = call(
        client_for("chat", fake, is_async=is_async), "chat", is_async=is_async, **request
    )
    client = heliograph.instrument(
        client_for("chat", fake, is_async=is_async), logger, include_usage=True
    )
    _, chunks = call(client, "chat", is_async=is_async, **request)
    assert fake.requests[0].body == request
    assert fake.requests[1].body == {**request, "stream_options": {"include_usage": True}}
    assert dumps(chunks) == dumps(plain)  # no usage chunk, no "usage": null on the others
    assert all(chunk.to_dict() == chunk.model_dump(exclude_unset=True) for chunk in chunks)
    (row,) = rows(logger, sink)
    assert row["request_body"]["stream_options"] == {"include_usage": True}
    lines = transcript(row)
    assert lines[len(chunks)]["choices"] == []
    assert lines[len(chunks)]["usage"]["prompt_tokens"] == 12
    assert row["request_properties"]["stream-end"] == "completed"
    assert row["prompt_tokens"] == 12 and "heliograph-tokens" not in row["request_properties"]


@pytest.mark.parametrize(
    "stream_options", [{"include_usage": False}, {"include_obfuscation": False}]
)
def test_include_usage_never_overrides_the_callers_stream_options(
    stream_options: dict[str, Any], fake: Fake, logger: ManualLogger
) -> None:
    client = heliograph.instrument(client_for("chat", fake), logger, include_usage=True)
    request = {**REQUESTS["chat"], "stream": True, "stream_options": stream_options}
    call(client, "chat", is_async=False, **request)
    assert fake.requests[0].body == request


def test_include_usage_with_a_caller_asking_for_usage_passes_the_usage_chunk_on(
    fake: Fake, logger: ManualLogger
) -> None:
    client = heliograph.instrument(client_for("chat", fake), logger, include_usage=True)
    _, chunks = call(
        client,
        "chat",
        is_async=False,
        **REQUESTS["chat"],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


@pytest.mark.parametrize("kind", ["responses", "messages"])
def test_include_usage_changes_only_chat_completions(
    kind: str, fake: Fake, logger: ManualLogger
) -> None:
    client = heliograph.instrument(client_for(kind, fake), logger, include_usage=True)
    call(client, kind, is_async=False, **REQUESTS[kind], stream=True)
    assert fake.requests[0].body == {**REQUESTS[kind], "stream": True}


# --- SDK stream helpers ----------------------------------------------------------------------


def test_openai_stream_helpers_are_logged(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    with heliograph.instrument(client_for("chat", fake), logger) as client:
        with client.chat.completions.stream(**REQUESTS["chat"]) as chat:
            assert chat.get_final_completion().choices[0].message.content == "Hello world"
        with client.responses.stream(**REQUESTS["responses"]) as responses:
            assert responses.get_final_response().output_text == "Hello world"
    chat_row, responses_row = rows(logger, sink, 2)
    assert chat_row["request_body"] == {**REQUESTS["chat"], "stream": True}
    assert responses_row["request_body"] == {**REQUESTS["responses"], "stream": True}
    for row in (chat_row, responses_row):
        assert row["provider"] == "OPENAI"
        assert row["request_properties"]["stream-end"] == "completed"


def test_anthropic_messages_stream_helper_is_logged_sync_and_async(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(first_chunk_delay_s=DELAY_S)
    client = heliograph.instrument(client_for("messages", fake), logger)
    with client, client.messages.stream(**REQUESTS["messages"]) as stream:
        assert stream.get_final_text() == "Hello world"

    async def main() -> None:
        client = heliograph.instrument(client_for("messages", fake, is_async=True), logger)
        async with client, client.messages.stream(**REQUESTS["messages"]) as stream:
            assert await stream.get_final_text() == "Hello world"

    asyncio.run(main())
    for row in rows(logger, sink, 2):
        assert row["provider"] == "ANTHROPIC"
        assert row["request_body"] == {**REQUESTS["messages"], "stream": True}
        assert row["request_properties"]["stream-end"] == "completed"
        assert DELAY_S * 1000 - 1 <= row["time_to_first_token"] < DELAY_S * 1000 + 500


def test_anthropic_messages_stream_helper_http_error_is_logged(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    fake.script = Script(status=429)
    with heliograph.instrument(client_for("messages", fake), logger) as client:
        manager = client.messages.stream(**REQUESTS["messages"])
        with pytest.raises(anthropic.RateLimitError), manager:
            pass
    (row,) = rows(logger, sink)
    assert row["response_status"] == 429


# --- headers ---------------------------------------------------------------------------------


def test_helicone_headers_in_extra_headers_reach_the_log(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    request_id = str(uuid.uuid4())
    headers = {
        "Helicone-Request-Id": request_id,
        "Helicone-Session-Id": "session-1",
        "Helicone-Session-Name": "checkout",
        "Helicone-Session-Path": "/plan/step",
        "Helicone-User-Id": "user-7",
        "Helicone-Property-Team": "core",
    }
    with heliograph.instrument(client_for("messages", fake), logger) as client:
        client.messages.create(**REQUESTS["messages"], extra_headers=headers)
        client.messages.create(**REQUESTS["messages"])
    first, second = rows(logger, sink, 2)
    assert first["request_id"] == request_id
    assert first["session_id"] == "session-1"
    assert first["session_name"] == "checkout"
    assert first["session_path"] == "/plan/step"
    assert first["request_user_id"] == "user-7"
    assert first["request_properties"]["team"] == "core"
    assert second["request_id"] != request_id
    assert uuid.UUID(second["request_id"])  # a fresh id per call otherwise
    assert second["session_id"] is None


def test_only_helicone_headers_are_copied_and_never_the_helicone_key() -> None:
    given = {
        "Helicone-Session-Id": "s",
        "helicone-auth": "Bearer sk-helicone-secret",
        "Authorization": "Bearer sk-openai",
        "x-other": "y",
    }
    assert helicone_headers(given) == {"Helicone-Session-Id": "s"}
    assert helicone_headers(None) == {}


# --- instrument / uninstrument -----------------------------------------------------------------


def test_instrumenting_twice_is_a_no_op(
    fake: Fake,
    logger: ManualLogger,
    make_logger: Logger,
    sink: ReceiverThread,
    tmp_path: Path,
) -> None:
    client = client_for("chat", fake)
    assert heliograph.instrument(client, logger) is client
    patched = client.chat.completions.create
    other = make_logger(sink.url, spool_dir=tmp_path / "other-spool")
    assert heliograph.instrument(client, other, include_usage=True) is client
    assert client.chat.completions.create is patched
    call(client, "chat", is_async=False, **REQUESTS["chat"], stream=True)
    assert "stream_options" not in fake.requests[0].body  # the first settings stand
    assert other.flush(timeout=20).pending == 0
    rows(logger, sink, 1)


def test_uninstrument_restores_the_client(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    client = client_for("messages", fake)
    raw = client.messages.with_raw_response  # made before: it holds the SDK's create
    heliograph.instrument(client, logger)
    raw_later = client.messages.with_raw_response  # made after: it holds the wrapper
    assert "create" in vars(client.messages)
    assert heliograph.uninstrument(client) is client
    assert "create" not in vars(client.messages)
    assert "stream" not in vars(client.messages)
    assert heliograph.uninstrument(client) is client  # again: nothing to do
    client.messages.create(**REQUESTS["messages"])
    raw.create(**REQUESTS["messages"])
    raw_later.create(**REQUESTS["messages"])
    rows(logger, sink, 0)
    heliograph.instrument(client, logger)  # and it can be instrumented again
    call(client, "messages", is_async=False, **REQUESTS["messages"])
    rows(logger, sink, 1)


def test_other_clients_and_the_sdk_classes_are_unaffected(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    chat_create = openai.resources.chat.Completions.create
    messages_create = anthropic.resources.Messages.create
    instrumented = heliograph.instrument(client_for("chat", fake), logger)
    heliograph.instrument(client_for("messages", fake), logger)
    other = client_for("chat", fake)
    assert openai.resources.chat.Completions.create is chat_create
    assert anthropic.resources.Messages.create is messages_create
    assert "create" not in vars(other.chat.completions)
    call(other, "chat", is_async=False, **REQUESTS["chat"])
    call(instrumented, "chat", is_async=False, **REQUESTS["chat"])
    rows(logger, sink, 1)


def test_raw_response_calls_pass_through_unlogged(
    fake: Fake, logger: ManualLogger, sink: ReceiverThread
) -> None:
    with heliograph.instrument(client_for("chat", fake), logger) as client:
        raw = client.chat.completions.with_raw_response.create(**REQUESTS["chat"])
        assert raw.parse().choices[0].message.content == "Hello world"
    rows(logger, sink, 0)


@pytest.mark.parametrize("not_a_client", [object(), openai, "OpenAI", None])
def test_instrumenting_something_else_raises_usage_error(not_a_client: object) -> None:
    with pytest.raises(UsageError, match=r"openai\.OpenAI"):
        heliograph.instrument(not_a_client)


def test_instrumenting_with_something_that_is_not_a_logger_raises_usage_error(
    fake: Fake,
) -> None:
    with pytest.raises(UsageError, match="ManualLogger"):
        heliograph.instrument(client_for("chat", fake), logger="not a logger")
    with pytest.raises(UsageError):
        heliograph.uninstrument(object())


def test_default_logger_is_one_shared_manual_logger_made_on_first_use(
    fake: Fake, sink: ReceiverThread, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELIOGRAPH_ENDPOINT", sink.url)
    monkeypatch.setenv("HELIOGRAPH_SPOOL_DIR", str(spool_dir))
    monkeypatch.setattr(sdk._Default, "logger", None)
    first = heliograph.instrument(client_for("chat", fake))
    second = heliograph.instrument(client_for("messages", fake))
    default = sdk._Default.logger
    assert isinstance(default, ManualLogger)
    try:
        call(first, "chat", is_async=False, **REQUESTS["chat"])
        call(second, "messages", is_async=False, **REQUESTS["messages"])
        rows(default, sink, 2)
    finally:
        default.close(timeout=0)


# --- telemetry failures never reach the call ---------------------------------------------------


class BrokenLogger(ManualLogger):
    def log_builder(self, *args: Any, **kwargs: Any) -> LogBuilder:
        raise RuntimeError("capture is broken")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("kind", KINDS)
def test_unusable_spool_never_breaks_the_call(
    kind: str,
    stream: bool,
    fake: Fake,
    make_logger: Logger,
    sink: ReceiverThread,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "a-file").write_text("")
    logger = make_logger(sink.url, spool_dir=tmp_path / "a-file" / "spool")
    request = {**REQUESTS[kind], **({"stream": True} if stream else {})}
    _, plain = call(client_for(kind, fake), kind, is_async=False, **request)
    client = heliograph.instrument(client_for(kind, fake), logger)
    result, chunks = call(client, kind, is_async=False, **request)
    assert dumps(chunks) == dumps(plain)
    assert result is not None
    assert any(
        r.name.startswith("heliograph") and r.levelno >= logging.ERROR for r in caplog.records
    )


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_logger_that_raises_never_breaks_the_call(
    kind: str,
    is_async: bool,
    fake: Fake,
    sink: ReceiverThread,
    spool_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = BrokenLogger(logging_endpoint=sink.url, spool_dir=spool_dir)
    try:
        client = heliograph.instrument(client_for(kind, fake, is_async=is_async), broken)
        result, chunks = call(client, kind, is_async=is_async, **REQUESTS[kind], stream=True)
        assert isinstance(result, STREAM_TYPES[kind, is_async])
        assert chunks
        assert "capture is broken" in caplog.text
    finally:
        broken.close(timeout=0)
