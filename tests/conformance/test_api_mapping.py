"""Code written for Helicone's clients, called on ``heliograph.ManualLogger``.

The wire comparison (``test_helicone_clients.py``) uses one call form per client; these tests
pin the rest of the API mapping that ``docs/compatibility.md`` states: helicone-helpers'
aliases and keyword names, npm's camelCase recorder method, and the call forms Heliograph
does not take.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from heliograph import ConfigError, ManualLogger, ResultRecorder

from .capture_server import CaptureServer
from .scenarios import API_KEY, CHAT_COMPLETION, CHAT_REQUEST


def _raise_and_catch(message: str) -> RuntimeError:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        return exc


def test_helicone_helpers_keyword_calls_and_aliases_work_unchanged(tmp_path: Path) -> None:
    with CaptureServer() as server:
        # helicone-helpers' constructor keywords, aliases (new_builder, add_response,
        # add_model) and `await builder.send_log()`.
        logger = ManualLogger(
            api_key=API_KEY,
            headers={"Helicone-Property-App": "conformance"},
            logging_endpoint=server.url,
            spool_dir=tmp_path,
        )
        try:

            def operation(recorder: Any) -> str:
                recorder.append_results(CHAT_COMPLETION)
                return "done"

            result = logger.log_request(
                dict(CHAT_REQUEST), operation, additional_headers={}, provider="openai"
            )
            builder = logger.new_builder(dict(CHAT_REQUEST), additional_headers=None)
            builder.add_model("gpt-4o")
            builder.add_response("text response")
            failed = logger.log_builder(dict(CHAT_REQUEST), {"Helicone-User-Id": "u1"})
            failed.set_error(_raise_and_catch("boom"))

            async def send_both() -> None:
                await builder.send_log()
                await failed.send_log()

            asyncio.run(send_both())
            report = logger.flush(timeout=10)
        finally:
            logger.close()
        captures = server.wait_for(3)

    assert result == "done"
    assert (report.delivered, report.pending) == (3, 0)
    by_path: dict[str, list[Any]] = {}
    for capture in captures:
        by_path.setdefault(capture.path, []).append(capture)
    assert len(by_path["/oai/v1/log"]) == 1
    assert len(by_path["/custom/v1/log"]) == 2
    for capture in captures:
        assert capture.headers["helicone-property-app"] == "conformance"
    texts = {
        c.body["providerResponse"]["textBody"].splitlines()[0] for c in by_path["/custom/v1/log"]
    }
    assert texts == {"text response", "Traceback (most recent call last):"}
    models = {c.body["providerRequest"]["json"]["model"] for c in by_path["/custom/v1/log"]}
    assert models == {"gpt-4o", CHAT_REQUEST["model"]}


@pytest.mark.parametrize("suffix", ["", "/", "/custom/v1/log", "/oai/v1/log"])
def test_logging_endpoint_may_be_a_base_url_or_a_full_log_url_as_in_npm(
    tmp_path: Path, suffix: str
) -> None:
    with CaptureServer() as server:
        logger = ManualLogger(
            api_key=API_KEY, logging_endpoint=server.url + suffix, spool_dir=tmp_path
        )
        try:
            logger.log_request(CHAT_REQUEST, lambda r: None, provider="anthropic")
            logger.log_single_request(CHAT_REQUEST, "hi")
            logger.flush(timeout=10)
        finally:
            logger.close()
        captures = server.wait_for(2)
    assert sorted(c.path for c in captures) == ["/anthropic/v1/log", "/custom/v1/log"]


def test_recorder_takes_npm_camel_case_append_results() -> None:
    recorder = ResultRecorder()
    recorder.appendResults({"a": 1})
    recorder.append_results({"b": 2})
    assert recorder.results == {"a": 1, "b": 2}


def test_send_log_takes_keywords_not_either_clients_options_argument(tmp_path: Path) -> None:
    with CaptureServer() as server:
        logger = ManualLogger(api_key=API_KEY, logging_endpoint=server.url, spool_dir=tmp_path)
        try:
            options = {"start_time": 1_700_000_000.0, "end_time": 1_700_000_000.5}
            with pytest.raises(
                TypeError
            ):  # helicone-helpers: (provider, request, response, options)
                logger.send_log(None, CHAT_REQUEST, "hi", options)  # type: ignore[call-arg,misc]
            with pytest.raises(TypeError):  # npm: sendLog(request, response, options)
                logger.send_log(CHAT_REQUEST, "hi", options)  # type: ignore[misc]
            logger.send_log(
                CHAT_REQUEST, "hi", start_time=1_700_000_000.0, end_time=1_700_000_000.5
            )
            report = logger.flush(timeout=10)
        finally:
            logger.close()
        [capture] = server.wait_for(1)
    assert report.delivered == 1
    assert capture.body["timing"] == {
        "startTime": {"seconds": 1_700_000_000, "milliseconds": 0},
        "endTime": {"seconds": 1_700_000_000, "milliseconds": 500},
    }


def test_helicone_helpers_positional_constructor_is_honoured_or_rejected_clearly(
    tmp_path: Path,
) -> None:
    with CaptureServer() as server:
        try:
            logger = ManualLogger(  # type: ignore[arg-type]
                API_KEY, {"Helicone-User-Id": "u1"}, server.url, spool_dir=tmp_path
            )
        except ConfigError:
            return  # rejected with a message naming the problem: acceptable
        try:
            logger.log_single_request(CHAT_REQUEST, "hi")
            logger.flush(timeout=10)
        finally:
            logger.close()
        [capture] = server.wait_for(1)
    assert capture.headers["helicone-user-id"] == "u1"
