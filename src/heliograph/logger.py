"""``ManualLogger``: Helicone's manual logger, in Python, that never gets in the way.

Same methods as Helicone's clients (``log_request``, ``log_single_request``,
``log_builder``, ``send_log``), but every ``log_*`` call only appends the record to the
local spool and returns in microseconds; a background worker delivers it. Nothing here
raises into the caller: a bad argument or a full disk is logged and counted.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import orjson

from heliograph._ratelimit import RateLimitedLogger
from heliograph.capture.builder import LogBuilder, error_status, error_text
from heliograph.capture.inputs import (
    BaseHeaders,
    InvalidInputError,
    now_ms,
    to_headers,
    to_request,
    to_response,
)
from heliograph.capture.recorder import ResultRecorder
from heliograph.config import Config
from heliograph.delivery.report import DeliveryReport
from heliograph.errors import ConfigError, UsageError
from heliograph.model.helicone import split_logging_endpoint
from heliograph.model.record import Record, normalise_provider
from heliograph.pipeline import Pipeline

__all__ = ["ManualLogger"]

log = logging.getLogger("heliograph")
T = TypeVar("T")


class ManualLogger:
    """Log LLM calls to Helicone without a proxy, durably and in the background.

    With no ``api_key`` (and no ``HELICONE_API_KEY``) records go to the local receiver
    (``heliograph serve``); with a key, to Helicone cloud. ``logging_endpoint`` may be a base
    URL or a full ``…/custom/v1/log`` URL. ``headers`` are added to every log. Other
    ``Config`` fields (``fsync``, ``exit_timeout_s``, …) may be passed as keywords.

        logger = ManualLogger()
        logger.log_single_request({"model": "gpt-4o-mini", "messages": msgs}, response_text)
        logger.close()   # optional: at exit, a bounded flush runs anyway
    """

    def __init__(
        self,
        api_key: str | None = None,
        logging_endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        spool_dir: str | Path | None = None,
        config: Config | None = None,
        **settings: Any,
    ) -> None:
        if isinstance(logging_endpoint, Mapping) and not isinstance(headers, Mapping):
            # helicone-helpers' positional order: (api_key, headers, logging_endpoint)
            logging_endpoint, headers = headers, logging_endpoint
        if logging_endpoint is not None and not isinstance(logging_endpoint, str):
            raise ConfigError(
                f"logging_endpoint must be a URL string, got {type(logging_endpoint).__name__}"
            )
        if config is not None:
            given = {"api_key": api_key, "logging_endpoint": logging_endpoint,
                     "spool_dir": spool_dir, **settings}  # fmt: skip
            ignored = sorted(name for name, value in given.items() if value is not None)
            if ignored:
                raise ConfigError(
                    f"config= already holds every setting; {', '.join(ignored)} would be "
                    "ignored: pass them to Config(...) (or dataclasses.replace(config, ...)) "
                    "instead"
                )
        else:
            endpoint = split_logging_endpoint(logging_endpoint) if logging_endpoint else None
            config = Config.from_env(
                api_key=api_key, endpoint=endpoint, spool_dir=spool_dir, **settings
            )
        try:
            self._headers = BaseHeaders(headers, "headers")
        except InvalidInputError as exc:
            raise ConfigError(str(exc)) from None
        if any(k.lower() == "authorization" for k in self._headers.headers):
            raise ConfigError("pass the Helicone key as api_key, not as an Authorization header")
        self._pipeline = Pipeline(config)
        self._warn = RateLimitedLogger(log)

    @property
    def config(self) -> Config:
        return self._pipeline.config

    # -- logging -------------------------------------------------------------------------

    def log_single_request(
        self,
        request: Mapping[str, Any],
        body: str | bytes | Mapping[str, Any],
        additional_headers: Mapping[str, str] | None = None,
        latency_ms: float | None = None,
        *,
        status: int = 200,
        provider: str | None = None,
        idempotency_key: str | None = None,
        time_to_first_token_ms: float | None = None,
    ) -> None:
        """Log a call that already happened; it ended now and took ``latency_ms``."""
        end = now_ms()
        try:
            start = end - max(0.0, float(latency_ms or 0.0))
        except (TypeError, ValueError):
            self._reject(InvalidInputError(f"latency_ms must be a number, got {latency_ms!r}"))
            return
        self._capture(
            request=request,
            body=body,
            headers=additional_headers,
            start_ms=start,
            end_ms=end,
            status=status,
            provider=provider,
            idempotency_key=idempotency_key,
            ttft_ms=time_to_first_token_ms,
        )

    def log_request(
        self,
        request: Mapping[str, Any],
        operation: Callable[[ResultRecorder], T],
        additional_headers: Mapping[str, str] | None = None,
        provider: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> T:
        """Run ``operation(recorder)``, time it and log what it recorded; return its result.

        If the operation raises, the call is logged with status 500 (-3 if cancelled) and
        the exception propagates unchanged.
        """
        recorder = ResultRecorder()
        start = now_ms()
        try:
            result = operation(recorder)
        except BaseException as exc:
            self._log_operation(request, recorder, start, additional_headers, provider,
                                idempotency_key, exc)  # fmt: skip
            raise
        if inspect.isawaitable(result):
            _discard(result)
            raise UsageError("log_request got an async operation; use 'await alog_request(...)'")
        self._log_operation(request, recorder, start, additional_headers, provider,
                            idempotency_key)  # fmt: skip
        return result

    async def alog_request(
        self,
        request: Mapping[str, Any],
        operation: Callable[[ResultRecorder], Awaitable[T]],
        additional_headers: Mapping[str, str] | None = None,
        provider: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> T:
        """``log_request`` for an ``async`` operation."""
        recorder = ResultRecorder()
        start = now_ms()
        try:
            awaitable = operation(recorder)
            if not inspect.isawaitable(awaitable):
                raise UsageError("alog_request got a plain operation; use log_request(...)")
            result = await awaitable
        except BaseException as exc:
            self._log_operation(request, recorder, start, additional_headers, provider,
                                idempotency_key, exc)  # fmt: skip
            raise
        self._log_operation(request, recorder, start, additional_headers, provider,
                            idempotency_key)  # fmt: skip
        return result

    def log_builder(
        self,
        request: Mapping[str, Any],
        additional_headers: Mapping[str, str] | None = None,
        *,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> LogBuilder:
        """A builder for a call whose response you set (or whose error you record) later."""

        def capture(**fields: Any) -> None:
            self._capture(provider=provider, idempotency_key=idempotency_key, **fields)

        try:
            request_dict = to_request(request)
            headers = to_headers(additional_headers)
        except InvalidInputError as exc:
            self._reject(exc)
            request_dict, headers = {}, {}
            capture = _ignore
        return LogBuilder(capture, request_dict, headers)

    new_builder = log_builder  # helicone-helpers' alias

    # -- streams -------------------------------------------------------------------------

    def log_single_stream(
        self,
        request: Mapping[str, Any],
        stream: Iterable[Any],
        additional_headers: Mapping[str, str] | None = None,
        *,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Consume ``stream`` (a copy of the one you hand your caller) and log it.

        To log a stream while your code iterates it, use ``log_builder(...).to_stream(s)``.
        """
        builder = self.log_builder(request, additional_headers, provider=provider,
                                   idempotency_key=idempotency_key)  # fmt: skip
        builder.attach_stream(stream)

    async def alog_single_stream(
        self,
        request: Mapping[str, Any],
        stream: AsyncIterable[Any],
        additional_headers: Mapping[str, str] | None = None,
        *,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """``log_single_stream`` for an async iterator."""
        builder = self.log_builder(request, additional_headers, provider=provider,
                                   idempotency_key=idempotency_key)  # fmt: skip
        await builder.aattach_stream(stream)

    def log_stream(
        self,
        request: Mapping[str, Any],
        operation: Callable[[LogBuilder], T],
        additional_headers: Mapping[str, str] | None = None,
        *,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> T:
        """Run ``operation(builder)``, which attaches a stream with ``builder.to_stream``.

        The log is sent when that stream ends; if the operation raises first, it is logged
        as an error and the exception propagates.
        """
        builder = self.log_builder(request, additional_headers, provider=provider,
                                   idempotency_key=idempotency_key)  # fmt: skip
        try:
            result = operation(builder)
        except BaseException as exc:
            builder.set_error(exc)
            builder.send_log()
            raise
        builder.send_log()  # waits for the attached stream to end, if there is one
        return result

    def send_log(
        self,
        request: Mapping[str, Any],
        response: str | bytes | Mapping[str, Any],
        *,
        start_time: float,
        end_time: float,
        additional_headers: Mapping[str, str] | None = None,
        time_to_first_token_ms: float | None = None,
        status: int = 200,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """The low-level call: log with explicit epoch-second ``start_time``/``end_time``."""
        self._capture(
            request=request,
            body=response,
            headers=additional_headers,
            start_ms=start_time * 1000,
            end_ms=end_time * 1000,
            status=status,
            provider=provider,
            idempotency_key=idempotency_key,
            ttft_ms=time_to_first_token_ms,
        )

    # -- lifecycle -----------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> DeliveryReport:
        """Deliver what is spooled, waiting up to ``timeout`` s; never raises."""
        return self._pipeline.flush(timeout)

    async def aflush(self, timeout: float = 10.0) -> DeliveryReport:
        import asyncio  # here: a program without async code never loads it

        return await asyncio.to_thread(self._pipeline.flush, timeout)

    def close(self, timeout: float | None = None) -> DeliveryReport:
        """Flush for up to ``timeout`` s (default ``exit_timeout_s``), then stop.

        Whatever is not delivered by then stays in the spool for the next process,
        ``heliograph serve`` or ``heliograph flush``.
        """
        return self._pipeline.close(self.config.exit_timeout_s if timeout is None else timeout)

    async def aclose(self, timeout: float | None = None) -> DeliveryReport:
        import asyncio

        return await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> ManualLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> ManualLogger:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- internals -----------------------------------------------------------------------

    def _log_operation(
        self,
        request: Mapping[str, Any],
        recorder: ResultRecorder,
        start: float,
        headers: Mapping[str, str] | None,
        provider: str | None,
        idempotency_key: str | None,
        error: BaseException | None = None,
    ) -> None:
        """Log what a ``log_request`` operation recorded, or its error and partial results."""
        body: object = recorder.results
        status = 200
        if error is not None:
            partial = (
                orjson.dumps(recorder.results, default=str).decode() if recorder.results else ""
            )
            body, status = error_text(error, partial), error_status(error)
        self._capture(request=request, body=body, headers=headers, start_ms=start,
                      end_ms=now_ms(), status=status, provider=provider,
                      idempotency_key=idempotency_key)  # fmt: skip

    def _capture(
        self,
        *,
        request: object,
        body: object,
        headers: object,
        start_ms: float,
        end_ms: float,
        status: int = 200,
        provider: str | None = None,
        idempotency_key: str | None = None,
        ttft_ms: float | None = None,
    ) -> None:
        """Build the record and spool it. Never raises."""
        try:
            merged, notes = self._headers.resolve(headers, idempotency_key)
            response_json, response_text, body_notes = to_response(body)
            if not isinstance(status, int):
                raise InvalidInputError(f"status must be an int, got {type(status).__name__}")
            # Record(...) with keywords packs them into a dict on the way to __init__;
            # calling __init__ directly does not, which is worth it on the caller's thread.
            record = object.__new__(Record)
            Record.__init__(
                record,
                request_id=merged["Helicone-Request-Id"],
                request=to_request(request),
                start_ms=float(start_ms),
                end_ms=float(end_ms),
                status=status,
                provider=normalise_provider(provider),
                provider_given=provider is not None,
                response_json=response_json,
                response_text=response_text,
                ttft_ms=None if ttft_ms is None else float(ttft_ms),
                headers=merged,
                notes=notes + body_notes,
            )
        except (InvalidInputError, TypeError, ValueError) as exc:
            self._reject(exc)
            return
        except Exception:
            log.exception("heliograph could not capture a log; the call itself is unaffected")
            self._pipeline.count_lost("capture_error")
            return
        self._pipeline.submit(record)

    def _reject(self, exc: Exception) -> None:
        self._pipeline.count_lost("invalid_argument")
        self._warn.log(logging.ERROR, "invalid", "log not recorded, invalid argument: %s", exc)


def _ignore(**_fields: Any) -> None:
    return None


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()  # avoid "coroutine was never awaited"
