"""What every instrumented SDK call shares: the request to log, the call's outcome, streams.

``Call.begin`` turns one call's keyword arguments into a ``LogBuilder``; ``Call.failed`` and
``Call.returned`` record how it ended. Nothing here raises into the caller: each step is
guarded, and a failure only costs the log (it is written to the ``heliograph`` logger).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from heliograph._ratelimit import RateLimitedLogger
from heliograph.capture.builder import LogBuilder
from heliograph.capture.sdk._streams import record_stream

__all__ = [
    "Call",
    "Endpoint",
    "Instrumentation",
    "LogsBuilders",
    "jsonable",
    "log",
    "report",
    "wrap_create",
]

log = logging.getLogger("heliograph")
_warn = RateLimitedLogger(log)  # a broken logger fails every call: say so once a minute

TRANSPORT_KWARGS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
"""Keyword arguments that shape the HTTP exchange, not the request body."""

RAW_RESPONSE_HEADER = "x-stainless-raw-response"
"""Set by ``.with_raw_response``/``.with_streaming_response``: the call returns an HTTP
response wrapper, not a model or a stream. Such calls are passed through unlogged."""

SECRET_HEADERS = frozenset({"helicone-auth"})
_MAX_DEPTH = 64


def report(what: str, error: BaseException) -> None:
    """Say that capture failed (the call itself is unaffected), at most once a minute each."""
    _warn.log(logging.ERROR, what, "heliograph could not %s; the call is unaffected: %r",
              what, error)  # fmt: skip


class LogsBuilders(Protocol):
    """What instrumentation needs from a logger: ``ManualLogger.log_builder``."""

    def log_builder(
        self,
        request: Mapping[str, Any],
        additional_headers: Mapping[str, str] | None = None,
        *,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> LogBuilder: ...


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One instrumented SDK method: where its logs go and what its kwargs mean."""

    provider: str
    dropped: frozenset[str] = frozenset()
    """Keyword arguments that are not part of the request body (sent as headers, or Python
    types such as ``output_format``)."""
    usage_opt_in: bool = False
    """OpenAI Chat Completions: ``include_usage=True`` asks streams for their usage chunk."""


@dataclasses.dataclass
class Instrumentation:
    """The state of one instrumented client (stored on it)."""

    logger: LogsBuilders
    include_usage: bool
    active: bool = True
    patches: list[tuple[Any, str, Callable[..., Any]]] = dataclasses.field(default_factory=list)

    def patch(self, target: Any, name: str, wrapper: Callable[..., Any]) -> None:
        setattr(target, name, wrapper)  # on the instance: its class and other clients keep theirs
        self.patches.append((target, name, wrapper))

    def restore(self) -> None:
        self.active = False  # wrappers still referenced elsewhere now pass calls straight on
        for target, name, wrapper in self.patches:
            if vars(target).get(name) is wrapper:
                delattr(target, name)
        self.patches.clear()


def is_sentinel(value: object) -> bool:
    """The SDKs' "argument not given" markers (``NOT_GIVEN``, ``omit``)."""
    kind = type(value)
    return kind.__name__ in {"NotGiven", "Omit"} and kind.__module__.split(".")[0] in {
        "openai",
        "anthropic",
    }


def jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of an SDK argument; never consumes iterators, never raises."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if depth > _MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {
            str(key): jsonable(item, depth + 1)
            for key, item in value.items()
            if not is_sentinel(item)
        }
    if isinstance(value, list | tuple):
        return [jsonable(item, depth + 1) for item in value]
    if not isinstance(value, type):
        dump = getattr(value, "model_dump", None)
        if callable(dump):
            try:
                return dump(mode="json")
            except Exception:
                pass
    return repr(value)  # a generator, a type, a file...: described, never read


def request_body(kwargs: Mapping[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """The request as the provider receives it: kwargs, minus transport, plus ``extra_body``."""
    body = {
        key: jsonable(value)
        for key, value in kwargs.items()
        if key not in TRANSPORT_KWARGS and key not in endpoint.dropped and not is_sentinel(value)
    }
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping):
        body.update(jsonable(extra))
    return body


def helicone_headers(extra_headers: object) -> dict[str, str]:
    """The caller's ``Helicone-*`` headers (sessions, properties, user, request id)."""
    if not isinstance(extra_headers, Mapping):
        return {}
    return {
        str(name): str(value)
        for name, value in extra_headers.items()
        if isinstance(name, str)
        and name.lower().startswith("helicone-")
        and name.lower() not in SECRET_HEADERS
        and value is not None
        and not is_sentinel(value)
    }


def _is_raw_response(extra_headers: object) -> bool:
    return isinstance(extra_headers, Mapping) and any(
        isinstance(name, str) and name.lower() == RAW_RESPONSE_HEADER for name in extra_headers
    )


def _wants_usage(kwargs: Mapping[str, Any]) -> bool:
    """Whether ``stream_options`` may be added: a stream whose caller did not set them."""
    if kwargs.get("stream") is not True:
        return False
    if "stream_options" in kwargs and not is_sentinel(kwargs["stream_options"]):
        return False  # the caller's, even None
    extra = kwargs.get("extra_body")
    return not (isinstance(extra, Mapping) and "stream_options" in extra)


def http_status(error: BaseException) -> int | None:
    """The provider's HTTP status for an ``APIStatusError`` (either SDK), else None."""
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
        return status
    return None


def error_body(error: BaseException) -> dict[str, Any] | str:
    """The provider's error body as it came over the wire, or the SDK's view of it."""
    response = getattr(error, "response", None)
    try:
        body = response.json() if response is not None else None
        if isinstance(body, dict):
            return body
    except Exception:
        pass
    body = getattr(error, "body", None)
    if isinstance(body, Mapping):
        return {"error": jsonable(body)}
    return str(error)


def response_json(result: Any) -> dict[str, Any] | str:
    dump = getattr(result, "model_dump", None)
    if callable(dump):
        try:
            dumped = dump(mode="json", warnings=False)
        except TypeError:
            dumped = dump(mode="json")
        if isinstance(dumped, dict):
            return dumped
    return repr(result)


class Call:
    """One instrumented SDK call: its builder and the kwargs the SDK actually gets."""

    def __init__(self, builder: LogBuilder, kwargs: dict[str, Any], hide_usage: bool) -> None:
        self.builder = builder
        self.kwargs = kwargs
        self.hide_usage = hide_usage
        self.stream = kwargs.get("stream") is True

    @classmethod
    def begin(
        cls, state: Instrumentation, endpoint: Endpoint, kwargs: dict[str, Any]
    ) -> Call | None:
        """Start logging a call, or None to pass it straight through. Never raises."""
        if not state.active:
            return None
        try:
            extra_headers = kwargs.get("extra_headers")
            if _is_raw_response(extra_headers):
                return None
            hide_usage = endpoint.usage_opt_in and state.include_usage and _wants_usage(kwargs)
            if hide_usage:
                kwargs = {**kwargs, "stream_options": {"include_usage": True}}
            builder = state.logger.log_builder(
                request_body(kwargs, endpoint),
                helicone_headers(extra_headers),
                provider=endpoint.provider,
            )
            return cls(builder, kwargs, hide_usage)
        except Exception as exc:
            report("log an SDK call", exc)
            return None

    def failed(self, error: BaseException) -> None:
        """Log the call as failed: the provider's status and body, else 500 or -3."""
        try:
            status = http_status(error)
            if status is not None:
                self.builder.set_response(error_body(error))
                self.builder.set_status(status)
            else:
                self.builder.set_error(error)
            self.builder.send_log()
        except Exception as exc:
            report("log a failed SDK call", exc)

    def returned(self, result: Any) -> Any:
        """Log ``result`` (or start recording it, for a stream) and return it unchanged."""
        try:
            if self.stream and hasattr(result, "response") and hasattr(result, "close"):
                record_stream(result, self.builder, hide_usage=self.hide_usage)
            else:
                self.builder.set_response(response_json(result))
                self.builder.send_log()
        except Exception as exc:
            report("log an SDK response", exc)
        return result


def wrap_create(
    state: Instrumentation,
    original: Callable[..., Any],
    endpoint: Endpoint,
    *,
    is_async: bool,
) -> Callable[..., Any]:
    """A replacement for a bound ``create`` that logs each call and returns what it returns.

    The SDK's exceptions propagate unchanged (the same object).
    """
    if is_async:

        async def acreate(*args: Any, **kwargs: Any) -> Any:
            call = Call.begin(state, endpoint, kwargs)
            if call is None:
                return await original(*args, **kwargs)
            try:
                result = await original(*args, **call.kwargs)
            except BaseException as exc:
                call.failed(exc)
                raise
            return call.returned(result)

        return _named(acreate, original)

    def create(*args: Any, **kwargs: Any) -> Any:
        call = Call.begin(state, endpoint, kwargs)
        if call is None:
            return original(*args, **kwargs)
        try:
            result = original(*args, **call.kwargs)
        except BaseException as exc:
            call.failed(exc)
            raise
        return call.returned(result)

    return _named(create, original)


def _named(wrapper: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    """Keep the SDK method's name and docstring (for ``help()`` and IDEs)."""
    for name in ("__name__", "__qualname__", "__doc__"):
        with contextlib.suppress(AttributeError, TypeError):
            setattr(wrapper, name, getattr(original, name))
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper
