"""ManualLogger: Helicone's manual-logger API, delivered for real, never raising into callers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from heliograph import ConfigError, ManualLogger, Session, UsageError, stable_id
from heliograph.capture import inputs
from heliograph.capture.inputs import BaseHeaders, resolve_request_id, to_headers
from heliograph.config import Config
from heliograph.model.headers import merge_headers
from heliograph.receiver import ReceiverThread
from heliograph.spool.segment import decode_line

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
Logger = Callable[..., ManualLogger]


def delivered(logger: ManualLogger, sink: ReceiverThread, request_id: str) -> dict[str, Any]:
    report = logger.flush(timeout=20)
    assert report.pending == 0, report
    row = sink.store.get_request(request_id)
    assert row is not None, f"{request_id} not stored; report={report}"
    return row


def rid() -> str:
    return str(uuid.uuid4())


def test_single_request_arrives_with_session_user_and_properties(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()
    headers = {**Session("sess-1", "Chat", "/a/b").headers(), "Helicone-User-Id": "u1",
               "Helicone-Property-Env": "test", "Helicone-Request-Id": request_id}  # fmt: skip
    logger.log_single_request(REQUEST, '{"choices": []}', headers, latency_ms=250)
    row = delivered(logger, sink, request_id)
    assert row["response_status"] == 200
    assert row["request_body"] == REQUEST
    assert row["response_body"] == '{"choices": []}'
    assert row["session_id"] == "sess-1"
    assert row["session_path"] == "/a/b"
    assert row["request_user_id"] == "u1"
    assert row["request_properties"]["env"] == "test"
    assert 249 <= row["delay_ms"] <= 251
    assert row["time_to_first_token"] is None


def test_log_request_returns_the_operation_result_and_logs_what_it_recorded(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()

    def operation(recorder: Any) -> str:
        recorder.append_results({"choices": [{"message": {"content": "ok"}}]})
        recorder.append_results({"usage": {"prompt_tokens": 3, "completion_tokens": 1}})
        return "result"

    result = logger.log_request(REQUEST, operation, {"Helicone-Request-Id": request_id},
                                provider="openai")  # fmt: skip
    assert result == "result"
    row = delivered(logger, sink, request_id)
    assert row["provider"] == "OPENAI"
    assert row["prompt_tokens"] == 3
    assert row["completion_tokens"] == 1


def test_failing_operation_is_logged_as_500_and_the_same_exception_propagates(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()
    error = ValueError("provider exploded")

    def operation(recorder: Any) -> None:
        recorder.append_results({"partial": True})
        raise error

    with pytest.raises(ValueError) as raised:
        logger.log_request(REQUEST, operation, {"Helicone-Request-Id": request_id})
    assert raised.value is error
    row = delivered(logger, sink, request_id)
    assert row["response_status"] == 500
    assert "ValueError: provider exploded" in row["response_body"]
    assert '{"partial":true}' in row["response_body"]


def test_async_operation_is_logged_and_cancellation_is_status_minus_3(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    done_id, cancelled_id = rid(), rid()

    async def answer(recorder: Any) -> int:
        recorder.append_results({"ok": 1})
        return 7

    async def slow(recorder: Any) -> None:
        await asyncio.sleep(30)

    async def main() -> int:
        value = await logger.alog_request(REQUEST, answer, {"Helicone-Request-Id": done_id})
        task = asyncio.create_task(
            logger.alog_request(REQUEST, slow, {"Helicone-Request-Id": cancelled_id})
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return value

    assert asyncio.run(main()) == 7
    assert delivered(logger, sink, done_id)["response_status"] == 200
    assert delivered(logger, sink, cancelled_id)["response_status"] == -3


def test_sync_log_request_refuses_an_async_operation_with_a_clear_error(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)

    async def operation(recorder: Any) -> None:
        return None

    with pytest.raises(UsageError, match="alog_request"):
        logger.log_request(REQUEST, operation)


def test_builder_records_error_as_500_and_sends_once(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()
    builder = logger.log_builder(REQUEST, {"Helicone-Request-Id": request_id})
    builder.set_response("partial text")
    builder.set_error(RuntimeError("stream broke"))
    builder.send_log()
    builder.send_log()
    row = delivered(logger, sink, request_id)
    assert row["response_status"] == 500
    assert row["response_body"].startswith("RuntimeError: stream broke")
    assert row["response_body"].endswith("\n\npartial text")
    assert sink.store.stats()["duplicates"] == 0
    assert logger.flush(5).accepted == 1


def test_builder_send_log_can_be_awaited_like_helicone_helpers(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()

    async def main() -> None:
        builder = logger.log_builder(REQUEST)
        builder.add_additional_headers({"Helicone-Request-Id": request_id})
        builder.add_model("gpt-4o")
        builder.set_response({"choices": []})
        await builder.send_log()

    asyncio.run(main())
    row = delivered(logger, sink, request_id)
    assert row["model"] == "gpt-4o"


def test_builder_as_context_manager_logs_the_exception_and_lets_it_propagate(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()
    with pytest.raises(KeyError), logger.log_builder(REQUEST, {"Helicone-Request-Id": request_id}):
        raise KeyError("missing")
    assert delivered(logger, sink, request_id)["response_status"] == 500


def test_idempotency_key_makes_a_replayed_call_one_row(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    for _ in range(3):
        logger.log_single_request(REQUEST, "same", idempotency_key="turn-42")
    request_id = stable_id("request:turn-42")
    delivered(logger, sink, request_id)
    assert sink.store.count() == 1
    assert sink.store.stats()["duplicates"] == 2


def test_non_uuid_request_id_is_replaced_by_a_stable_uuid_helicone_keeps(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    logger.log_single_request(REQUEST, "x", {"Helicone-Request-Id": "my-own-id"})
    assert delivered(logger, sink, stable_id("request:my-own-id"))


@pytest.mark.parametrize(
    ("request_arg", "body", "headers"),
    [
        (["not", "a", "dict"], "x", None),
        (REQUEST, 12345, None),
        (REQUEST, "x", "Helicone-User-Id: u1"),
    ],
)
def test_wrong_type_argument_is_logged_and_counted_never_raised(
    make_logger: Logger, sink: ReceiverThread, caplog: pytest.LogCaptureFixture,
    request_arg: Any, body: Any, headers: Any,
) -> None:  # fmt: skip
    logger = make_logger(sink.url)
    logger.log_single_request(request_arg, body, headers)
    report = logger.flush(5)
    assert report.dropped == {"invalid_argument": 1}
    assert "invalid argument" in caplog.text


def test_a_latency_that_is_not_a_number_is_counted_never_raised(
    make_logger: Logger, sink: ReceiverThread, caplog: pytest.LogCaptureFixture
) -> None:
    logger = make_logger(sink.url)
    logger.log_single_request(REQUEST, "x", latency_ms="slow")  # type: ignore[arg-type]
    assert logger.flush(5).dropped == {"invalid_argument": 1}
    assert "latency_ms must be a number" in caplog.text


def test_unserialisable_and_invalid_utf8_values_are_delivered_with_notes(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()
    request = {"model": "m", "client": object(), "raw": b"\xc3\x28"}
    logger.log_single_request(request, b"\xff ok", {"Helicone-Request-Id": request_id})
    row = delivered(logger, sink, request_id)
    assert row["request_body"]["client"].startswith("<object object at")
    assert row["request_body"]["raw"] == "\ufffd("
    assert row["response_body"] == "\ufffd ok"


def test_twenty_megabyte_response_is_delivered_truncated_and_marked(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()
    logger.log_single_request(
        REQUEST, "y" * (20 * 1024 * 1024), {"Helicone-Request-Id": request_id}
    )
    row = delivered(logger, sink, request_id)
    assert len(row["response_body"]) < 10 * 1024 * 1024
    assert row["response_body"].endswith("characters removed]")


def test_authorization_in_headers_is_refused_at_construction(spool_dir: Path) -> None:
    with pytest.raises(ConfigError, match="api_key"):
        ManualLogger(headers={"Authorization": "Bearer x"}, spool_dir=spool_dir)


def test_settings_beside_config_are_refused_rather_than_dropped(spool_dir: Path) -> None:
    config = Config(spool_dir=spool_dir)
    with pytest.raises(ConfigError, match="api_key would be ignored"):
        ManualLogger(api_key="sk-helicone-x", config=config)
    with pytest.raises(ConfigError, match="concurrency, spool_dir would be ignored"):
        ManualLogger(config=config, spool_dir=spool_dir, concurrency=8)
    assert ManualLogger(config=config, headers={"Helicone-User-Id": "u"}).config is config


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"concurrency": 0}, "concurrency must be greater than 0"),
        ({"endpoint": "localhost:8585"}, "must be an http:// or https:// URL"),
        ({"delivery": "sometimes"}, "delivery must be one of auto, thread, agent"),
    ],
)
def test_a_config_built_directly_is_validated_too(
    tmp_path: Path, setting: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(spool_dir=tmp_path, **setting)


def test_api_key_is_never_written_to_the_spool(spool_dir: Path) -> None:
    logger = ManualLogger(api_key="sk-helicone-SECRET", spool_dir=spool_dir, deliver=False)
    logger.log_single_request(REQUEST, "x", {"Helicone-User-Id": "u"})
    logger.close(timeout=0)
    files = [p for p in spool_dir.rglob("*") if p.is_file()]
    assert files
    assert all(b"SECRET" not in p.read_bytes() for p in files)


def test_logging_after_close_is_counted_not_raised(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    logger.close(timeout=1)
    logger.log_single_request(REQUEST, "late")
    assert logger.flush(1).dropped == {"closed": 1}


def test_header_value_with_newlines_is_cleaned_and_delivered(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    request_id = rid()
    headers = {"Helicone-Request-Id": request_id, "Helicone-User-Id": "a\r\nInjected: 1"}
    logger.log_single_request(REQUEST, "x", headers)
    assert delivered(logger, sink, request_id)["request_user_id"] == "aInjected: 1"


def test_invalid_header_name_is_refused_at_capture_not_retried_forever(
    make_logger: Logger, sink: ReceiverThread
) -> None:
    logger = make_logger(sink.url)
    logger.log_single_request(REQUEST, "x", {"Bad Header:": "v"})
    assert logger.flush(5).dropped == {"invalid_argument": 1}


class _Headers(Mapping[str, object]):
    """Headers in a Mapping that is not a dict: always takes the full checks."""

    def __init__(self, items: dict[str, object]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> object:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


UUID_GIVEN = "0B1C6A1E-8C47-4E6A-9A35-6F2B9C1D7E40"
BASE_HEADERS: list[dict[str, str] | None] = [
    None,
    {"Helicone-Property-Env": "base", "X-A": "base"},
    {"helicone-user-id": "first", "Helicone-User-Id": "second"},
    {"Helicone-Request-Id": "base-id", "X-B": "b"},
]
CALL_HEADERS: list[object] = [
    None,
    {},
    {"Helicone-Property-Env": "prod", "Helicone-User-Id": "u1"},
    {"X-A": "call", "x-b": "call"},
    {"helicone-user-id": "a", "Helicone-User-Id": "b", "HELICONE-USER-ID": "c"},
    {"Helicone-Request-Id": UUID_GIVEN},
    {"helicone-request-id": "custom-id", "X-C": "1"},
    {"HELICONE-REQUEST-ID": "", "X-C": "2"},
    {"Helicone-Request-Id": None, "X-None": None, "X-C": "3"},
    {"X-Num": 5, "X-Float": 1.5},
    {"X-Outer": " v ", "X-A": "1"},
    {"X-Ctl": "a\r\nb"},
    {"X-Nbsp": "a\u00a0"},
    {"X-Tab": "\t"},
    {" X-Spaced ": "v"},
    {"X-Uni": "héllo wörld", "X-Long": "v" * 300},
    {"X-A": "1", "bad name": "v"},
    {"": "v"},
    {"X-Ü": "v"},
    {5: "int name"},
    "X-A: 1",
    ["X-A"],
]


def _merged_as_before(
    base: object, extra: object, idempotency_key: str | None
) -> tuple[list[tuple[str, str]], list[str]] | tuple[str, str]:
    """What capture did before headers were validated once: the reference."""
    try:
        merged = merge_headers(to_headers(base, "headers"), to_headers(extra))
        notes = resolve_request_id(merged, idempotency_key)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return list(merged.items()), notes


def _merged_now(
    base: BaseHeaders, extra: object, idempotency_key: str | None
) -> tuple[list[tuple[str, str]], list[str]] | tuple[str, str]:
    try:
        merged, notes = base.resolve(extra, idempotency_key)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return list(merged.items()), notes


@pytest.mark.parametrize("base", BASE_HEADERS)
@pytest.mark.parametrize("idempotency_key", [None, "idem"])
def test_headers_validated_once_merge_exactly_as_before(
    monkeypatch: pytest.MonkeyPatch, base: dict[str, str] | None, idempotency_key: str | None
) -> None:
    monkeypatch.setattr(inputs, "new_request_id", lambda: "5b0f1d2e-8c47-4e6a-9a35-6f2b9c1d7e40")
    layered = BaseHeaders(base, "headers")
    for extra in CALL_HEADERS:
        # The first call may meet names for the first time; the second takes the fast path.
        first = _merged_now(layered, extra, idempotency_key)
        second = _merged_now(layered, extra, idempotency_key)
        expected = _merged_as_before(base, extra, idempotency_key)
        assert first == second == expected, extra
        if isinstance(extra, dict):
            assert _merged_now(layered, _Headers(extra), idempotency_key) == expected, extra


def _spooled_records(spool_dir: Path) -> list[dict[str, Any]]:
    lines = [
        line
        for path in sorted(spool_dir.rglob("seg-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]
    records = [orjson.loads(decode_line(line)) for line in lines]
    for record in records:
        del record["at"]  # when it was captured
    return records


def test_a_plain_dict_and_any_other_mapping_spool_the_same_record(spool_dir: Path) -> None:
    logger = ManualLogger(headers={"Helicone-Property-App": "a"}, spool_dir=spool_dir,
                          deliver=False)  # fmt: skip
    for index, extra in enumerate(CALL_HEADERS[:16]):
        assert isinstance(extra, dict | None)
        for headers in (extra, None if extra is None else _Headers(extra)):
            logger.send_log(REQUEST, {"choices": []}, start_time=1.0, end_time=2.5,
                            additional_headers=headers, idempotency_key=f"k{index}")  # fmt: skip
    logger.close(timeout=0)
    records = _spooled_records(spool_dir)
    assert len(records) == 32
    assert records[0::2] == records[1::2]
