"""The Anthropic SDK: ``messages.create`` and the ``messages.stream`` helper, sync and async.

``messages.stream(...)`` does not go through ``create``: it hands a request to a
``MessageStreamManager``, which sends it on ``with``/``async with``. Instrumentation wraps
that request, so the log starts when the request is sent and records the raw event stream
underneath the helper's ``MessageStream``. The SDK is never imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heliograph.capture.sdk._core import (
    Call,
    Endpoint,
    Instrumentation,
    log,
    report,
    wrap_create,
)

__all__ = ["instrument_anthropic"]

ENDPOINT = Endpoint(
    "ANTHROPIC",
    # sent as anthropic-* headers, and a Python type (stream's structured-output class)
    dropped=frozenset({"user_profile_id", "workspace_id", "output_format"}),
)


def instrument_anthropic(client: Any, state: Instrumentation, *, is_async: bool) -> None:
    try:
        messages = client.messages
        create, stream = messages.create, messages.stream
    except AttributeError:
        log.debug("this anthropic SDK has no messages.create/stream; not instrumented")
        return
    state.patch(messages, "create", wrap_create(state, create, ENDPOINT, is_async=is_async))
    state.patch(messages, "stream", _wrap_stream(state, stream, is_async=is_async))


def _wrap_stream(
    state: Instrumentation, original: Callable[..., Any], *, is_async: bool
) -> Callable[..., Any]:
    def stream(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        if state.active:
            try:
                _hook(state, manager, {**kwargs, "stream": True}, is_async=is_async)
            except Exception as exc:
                report("log a messages.stream call", exc)
        return manager

    stream.__doc__ = original.__doc__
    stream.__wrapped__ = original  # type: ignore[attr-defined]
    return stream


def _hook(state: Instrumentation, manager: Any, kwargs: dict[str, Any], *, is_async: bool) -> None:
    """Wrap the request a ``(Async)MessageStreamManager`` sends when it is entered."""
    fields = getattr(manager, "__dict__", {})
    names = [f"_{cls.__name__}__api_request" for cls in type(manager).__mro__]
    attribute = next((name for name in names if name in fields), None)
    if attribute is None:
        log.debug("unknown anthropic stream manager %r; messages.stream not logged", manager)
        return
    request = fields[attribute]
    if is_async:

        async def send_async() -> Any:
            call = Call.begin(state, ENDPOINT, kwargs)
            if call is None:
                return await request
            try:
                raw_stream = await request
            except BaseException as exc:
                call.failed(exc)
                raise
            return call.returned(raw_stream)

        setattr(manager, attribute, send_async())
        return

    def send() -> Any:
        call = Call.begin(state, ENDPOINT, kwargs)
        if call is None:
            return request()
        try:
            raw_stream = request()
        except BaseException as exc:
            call.failed(exc)
            raise
        return call.returned(raw_stream)

    setattr(manager, attribute, send)
