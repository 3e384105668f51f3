"""One-line instrumentation of the official ``openai`` and ``anthropic`` SDK clients.

    client = heliograph.instrument(openai.OpenAI())        # or AsyncOpenAI, Anthropic, ...
    client.chat.completions.create(model=..., messages=...)  # logged in the background

``instrument`` patches that client instance only (its resource objects' methods, never the
SDK's classes), and returns it. Logged per call: the request body (the keyword arguments,
less ``extra_headers``/``extra_query``/``timeout`` and the SDK's "not given" markers, with
``extra_body`` merged in), the provider (``OPENAI``; ``TOGETHER`` for an OpenAI client whose
``base_url`` host contains "together"; ``ANTHROPIC``), the response as
``model_dump(mode="json")``, or, on failure, the provider's HTTP status and error body
(``APIStatusError``), 500 with the traceback (connection and other errors) or -3
(cancelled). ``Helicone-*`` headers in a call's ``extra_headers`` (session, user, property,
``Helicone-Request-Id``) are copied to its log; ``Helicone-Auth`` is not.

Covered, sync and async, streamed and not: OpenAI ``chat.completions.create`` and
``responses.create`` (and the ``chat.completions.stream``/``responses.stream`` helpers,
which call them), Anthropic ``messages.create`` and ``messages.stream``. Not covered:
``.with_raw_response``/``.with_streaming_response`` calls (passed through unlogged),
``chat.completions.parse``/``responses.parse``, ``responses.stream(response_id=...)``,
other endpoints, and clients derived with ``with_options()``/``copy()`` (instrument those
too). The provider is read from ``base_url`` when the client is instrumented.

Streams are returned as the SDK's own ``Stream``/``AsyncStream`` object, yielding the same
chunks; only its internal iterator is swapped for heliograph's recording pass-through, so
each stream is logged once however it ends (see ``capture/stream.py``). ``close()`` (also
via ``with``/``async with``, and Anthropic's ``MessageStream.close``) logs it as ``closed``.
A stream dropped part-way (``break``; or the OpenAI helpers' ``close``, which closes the HTTP
response but not the stream) is logged ``stopped_early`` when it is garbage-collected: at
once for Anthropic, and for OpenAI, whose streams sit in a reference cycle, on the next
cyclic collection, which is also when the SDK would let go of it. A provider error mid-stream
is logged as 500 (``error``) where the SDK raises it (Chat Completions, Messages); the
Responses API sends it as an ``error`` event, which the SDK yields, so that stream is logged
as sent: 200, ``completed``, the event in its transcript.

Requests are never modified unless asked: with ``include_usage=True``, OpenAI Chat
Completions streams that set no ``stream_options`` are sent with
``stream_options={"include_usage": True}`` (and logged so), the final usage-only chunk is
recorded but not handed to the caller, and the other chunks lose the ``usage: None`` that
the option adds, so the caller sees what it would see without it. Together reports usage
unasked, so its requests are never changed.

One visible difference: a warning the SDK raises about a call (e.g. Anthropic's
deprecated-model ``DeprecationWarning``) points at heliograph's wrapper, one frame below the
caller's line: Python's default filter, which shows ``DeprecationWarning`` only for
``__main__``, then hides it from a script, and filters keyed on the caller's module miss it.

Telemetry never raises into the call: every capture step is guarded and logged to the
``heliograph`` logger. Only ``instrument`` itself raises, at setup, for an object that is
not one of the four SDK clients or a logger that is not one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from heliograph.errors import UsageError

if TYPE_CHECKING:
    from heliograph.capture.sdk._core import LogsBuilders

__all__ = ["instrument", "set_default_logger_factory", "uninstrument"]

C = TypeVar("C")

_STATE = "_heliograph_instrumentation"
_CLIENTS = {
    ("openai", "OpenAI"): ("openai", False),
    ("openai", "AsyncOpenAI"): ("openai", True),
    ("anthropic", "Anthropic"): ("anthropic", False),
    ("anthropic", "AsyncAnthropic"): ("anthropic", True),
}


class _Default:
    """The shared logger of clients instrumented without one, made on first use."""

    lock = threading.Lock()
    factory: Callable[[], LogsBuilders] | None = None
    logger: LogsBuilders | None = None

    @classmethod
    def get(cls) -> LogsBuilders:
        with cls.lock:
            if cls.logger is None:
                if cls.factory is None:
                    raise UsageError("no default logger; pass instrument(client, logger)")
                cls.logger = cls.factory()
            return cls.logger


def set_default_logger_factory(factory: Callable[[], LogsBuilders]) -> None:
    """What ``instrument`` calls, once, when given no logger (``heliograph`` registers
    ``ManualLogger``: capture may not import the logger facade, which sits above it)."""
    _Default.factory = factory


def _kind(client: object) -> tuple[str, bool] | None:
    """``(sdk, is_async)`` for the four SDK clients (and their subclasses, e.g. Azure)."""
    for cls in type(client).__mro__:
        found = _CLIENTS.get((cls.__module__.split(".")[0], cls.__name__))
        if found is not None:
            return found
    return None


def instrument(client: C, logger: LogsBuilders | None = None, *, include_usage: bool = False) -> C:
    """Log every call ``client`` makes; return ``client`` (the same object).

    ``client`` is an ``openai.OpenAI``/``AsyncOpenAI`` or ``anthropic.Anthropic``/
    ``AsyncAnthropic`` instance; only it is changed. ``logger`` defaults to one shared
    ``ManualLogger()``, made on first use. Instrumenting an instrumented client does
    nothing (``uninstrument`` it first to change the logger). See the module docstring
    for what is logged and ``include_usage``.
    """
    # Imported here, not with the package: ``import heliograph`` registers the default
    # logger through this module, and only a program that instruments needs the rest.
    from heliograph.capture.sdk._core import Instrumentation
    from heliograph.capture.sdk.anthropic import instrument_anthropic
    from heliograph.capture.sdk.openai import instrument_openai

    kind = _kind(client)
    if kind is None:
        raise UsageError(
            "heliograph.instrument() takes an openai.OpenAI, openai.AsyncOpenAI, "
            f"anthropic.Anthropic or anthropic.AsyncAnthropic client, got {type(client)!r}"
        )
    if logger is not None and not callable(getattr(logger, "log_builder", None)):
        raise UsageError(f"logger must be a heliograph.ManualLogger, got {type(logger)!r}")
    current = getattr(client, _STATE, None)
    if isinstance(current, Instrumentation) and current.active:
        return client
    state = Instrumentation(logger if logger is not None else _Default.get(), include_usage)
    sdk, is_async = kind
    try:
        if sdk == "openai":
            instrument_openai(client, state, is_async=is_async)
        else:
            instrument_anthropic(client, state, is_async=is_async)
        setattr(client, _STATE, state)
    except BaseException:
        state.restore()  # all or nothing
        raise
    return client


def uninstrument(client: C) -> C:
    """Undo ``instrument``: ``client`` logs no more calls (streams already returned still
    are). Does nothing to a client that is not instrumented. Returns ``client``."""
    if _kind(client) is None:
        raise UsageError(f"heliograph.uninstrument() takes an SDK client, got {type(client)!r}")
    from heliograph.capture.sdk._core import Instrumentation

    state: Any = getattr(client, _STATE, None)
    if isinstance(state, Instrumentation):
        state.restore()
        delattr(client, _STATE)
    return client
