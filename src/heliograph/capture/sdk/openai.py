"""The OpenAI SDK: ``chat.completions.create`` and ``responses.create``, sync and async.

The SDK's ``chat.completions.stream`` and ``responses.stream`` helpers call ``create`` on
the same resource object, so they are logged too (``responses.stream(response_id=...)``,
which resumes a stream with ``retrieve``, is not). The SDK is never imported here.
"""

from __future__ import annotations

from typing import Any

from heliograph.capture.sdk._core import Endpoint, Instrumentation, log, wrap_create

__all__ = ["instrument_openai", "provider_for"]


def provider_for(client: Any) -> str:
    """``TOGETHER`` for a client pointed at Together's OpenAI-compatible API, else ``OPENAI``."""
    try:
        host = str(getattr(client.base_url, "host", "") or "").lower()
    except Exception:
        host = ""
    return "TOGETHER" if "together" in host else "OPENAI"


def instrument_openai(client: Any, state: Instrumentation, *, is_async: bool) -> None:
    provider = provider_for(client)  # from base_url, once: clients keep theirs
    targets = (
        # Together reports stream usage unasked, so include_usage is for OpenAI only
        (("chat", "completions"), Endpoint(provider, usage_opt_in=provider == "OPENAI")),
        (("responses",), Endpoint(provider)),
    )
    for path, endpoint in targets:
        resource: Any = client
        try:
            for name in path:
                resource = getattr(resource, name)
            original = resource.create
        except AttributeError:
            log.debug("this openai SDK has no %s.create; not instrumented", ".".join(path))
            continue
        state.patch(resource, "create", wrap_create(state, original, endpoint, is_async=is_async))
