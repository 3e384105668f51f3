"""How each client logs one call: the adapters ``child.py`` drives (sections 1-5 and 9).

Every adapter takes the workload's ``(request, body, headers)`` and logs it the client's
idiomatic way (``/work/shared/research/peer-figures.md``, "Hot paths"):

- ``floor``: an orjson line ``os.write`` to an ``O_APPEND`` file, the limit of durable capture;
- ``heliograph`` / ``heliograph-nodeliver``: ``ManualLogger.log_single_request``;
- ``helicone-helpers``: ``HeliconeManualLogger.send_log``, one synchronous POST per call;
- ``opentelemetry``: a span with ``gen_ai.*`` attributes (messages ``json.dumps``-ed on the
  caller's thread) through ``BatchSpanProcessor`` + ``OTLPSpanExporter`` over HTTP;
- ``langfuse``: a ``generation`` observation inside ``propagate_attributes``;
- ``langsmith``: ``RunTree`` ``post`` / ``end`` / ``patch``.

The peers take the response as a dict, the form their APIs take, so the body string is
parsed once per distinct body and the dict reused (an application holds the response
object already); with ``fresh=True`` every call gets a new dict (the memory runs, where a
client that queues references must not get away with 256 shared objects).

Each SDK is imported inside its adapter's constructor, so a process imports one client.
Apart from the endpoint and made-up keys, every client runs with its defaults.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LATENCY_MS = 250  # the "LLM call" each log describes took this long
ADAPTERS = (
    "floor",
    "heliograph",
    "heliograph-nodeliver",
    "helicone-helpers",
    "opentelemetry",
    "langfuse",
    "langsmith",
)

LogFn = Callable[[dict[str, Any], str, dict[str, str]], None]


class Adapter:
    """How one client logs a call (``log``), drains (``finish``) and shuts down (``close``)."""

    log: LogFn

    def finish(self, timeout_s: float) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        return None


class Responses:
    """The response dict for a body string: parsed once per distinct body, or every time."""

    def __init__(self, fresh: bool) -> None:
        cache: dict[str, dict[str, Any]] = {}
        loads = json.loads

        def cached(body: str) -> dict[str, Any]:
            parsed = cache.get(body)
            if parsed is None:
                parsed = cache[body] = loads(body)
            return parsed

        self.get: Callable[[str], dict[str, Any]] = loads if fresh else cached


class FloorAdapter(Adapter):
    """The limit of any durable capture: one orjson line appended to an O_APPEND file."""

    def __init__(self, url: str, workdir: Path) -> None:
        import orjson

        self._path = workdir / "floor.jsonl"
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._fd = fd
        dumps, option, write, clock = orjson.dumps, orjson.OPT_APPEND_NEWLINE, os.write, time.time

        def log(request: dict[str, Any], body: str, headers: dict[str, str]) -> None:
            end = clock()
            record = {
                "request": request,
                "response": body,
                "headers": headers,
                "start_s": end - LATENCY_MS / 1000,
                "end_s": end,
            }
            write(fd, dumps(record, option=option))

        self.log = log

    def finish(self, timeout_s: float) -> dict[str, Any]:
        with self._path.open("rb") as f:
            return {"lines_on_disk": sum(1 for _ in f)}

    def close(self) -> None:
        os.close(self._fd)


class HeliographAdapter(Adapter):
    """``ManualLogger.log_single_request``; with ``deliver=False`` the spool only.

    The spool is ``workdir/spool``, so a later process (``heliograph flush --spool-dir``)
    can deliver what this one left. ``settings`` are ``Config`` fields; every section
    passes none, so Heliograph runs with its defaults.
    """

    def __init__(self, url: str, workdir: Path, deliver: bool, **settings: Any) -> None:
        import heliograph

        self._deliver = deliver
        self._logger = heliograph.ManualLogger(
            logging_endpoint=url, spool_dir=workdir / "spool", deliver=deliver, **settings
        )
        self.log = functools.partial(self._logger.log_single_request, latency_ms=LATENCY_MS)

    def finish(self, timeout_s: float) -> dict[str, Any]:
        # Without delivery, flush() only reports (it starts nothing), so logging may go on.
        report = self._logger.flush(timeout_s)
        return {
            "report": {
                "accepted": report.accepted,
                "delivered": report.delivered,
                "pending": report.pending,
                "dead_lettered": report.dead_lettered,
                "dropped": report.dropped,
            }
        }

    def close(self) -> None:
        self._logger.close(5.0 if self._deliver else 0.0)


class HeliconeHelpersAdapter(Adapter):
    """helicone-helpers' simplest synchronous path: ``send_log``, one POST per call.

    ``log_request`` wraps the same ``send_log`` around a callback, and the builder's
    ``send_log`` is a coroutine that calls it too; ``send_log`` is the common core.
    """

    def __init__(self, url: str, workdir: Path) -> None:
        from helicone_helpers import HeliconeManualLogger

        logger = HeliconeManualLogger(api_key="sk-bench", logging_endpoint=url)
        send, clock = logger.send_log, time.time

        def log(request: dict[str, Any], body: str, headers: dict[str, str]) -> None:
            end = clock()
            options = {
                "start_time": end - LATENCY_MS / 1000,
                "end_time": end,
                "additional_headers": headers,
            }
            send(None, request, body, options)

        self.log = log


class OpenTelemetryAdapter(Adapter):
    """One ``CLIENT`` span per call with GenAI semantic-convention attributes.

    Attributes must be primitives, so the messages are ``json.dumps``-ed on the caller's
    thread, as OTel GenAI instrumentations do. ``TracerProvider`` +
    ``BatchSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces"))``, all defaults
    (queue 2048, batches of 512 or every 5 s, no compression, 10 s export timeout); the
    provider shuts down (flushing) at exit by default.
    """

    def __init__(self, url: str, workdir: Path, fresh: bool = False) -> None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "heliograph-bench"}))
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"))
        )
        trace.set_tracer_provider(provider)
        self._provider = provider
        tracer = trace.get_tracer("heliograph-bench")
        start_span, client_kind = tracer.start_span, trace.SpanKind.CLIENT
        response_of, dumps, clock = Responses(fresh).get, json.dumps, time.time_ns
        latency_ns = LATENCY_MS * 1_000_000

        def log(request: dict[str, Any], body: str, headers: dict[str, str]) -> None:
            response = response_of(body)
            end_ns = clock()
            choices = response["choices"]
            usage = response["usage"]
            model = request["model"]
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model,
                "gen_ai.request.temperature": request["temperature"],
                "gen_ai.request.max_tokens": request["max_tokens"],
                "gen_ai.response.id": response["id"],
                "gen_ai.response.model": response["model"],
                "gen_ai.response.finish_reasons": [c["finish_reason"] for c in choices],
                "gen_ai.usage.input_tokens": usage["prompt_tokens"],
                "gen_ai.usage.output_tokens": usage["completion_tokens"],
                "gen_ai.input.messages": dumps(request["messages"]),
                "gen_ai.output.messages": dumps([c["message"] for c in choices]),
                "gen_ai.conversation.id": headers["Helicone-Session-Id"],
                "user.id": headers["Helicone-User-Id"],
                "app.env": headers["Helicone-Property-Env"],
            }
            span = start_span(
                f"chat {model}", kind=client_kind, attributes=attributes,
                start_time=end_ns - latency_ns,
            )  # fmt: skip
            span.end(end_time=end_ns)

        self.log = log

    def finish(self, timeout_s: float) -> dict[str, Any]:
        return {"force_flush": self._provider.force_flush(int(timeout_s * 1000))}

    def close(self) -> None:
        self._provider.shutdown()


class LangfuseAdapter(Adapter):
    """A ``generation`` observation per call, user and session from ``propagate_attributes``.

    ``Langfuse(public_key, secret_key, base_url=url)``, all defaults: its own
    ``TracerProvider`` with a ``BatchSpanProcessor`` (queue 2048, batches of 512 or every
    5 s, 5 s timeout) exporting gzip OTLP to ``url/api/public/otel/v1/traces``.
    """

    def __init__(self, url: str, workdir: Path, fresh: bool = False) -> None:
        from langfuse import Langfuse, propagate_attributes

        self._client = client = Langfuse(
            public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url=url
        )
        observe = client.start_as_current_observation
        response_of = Responses(fresh).get

        def log(request: dict[str, Any], body: str, headers: dict[str, str]) -> None:
            response = response_of(body)
            usage = response["usage"]
            with (
                propagate_attributes(
                    user_id=headers["Helicone-User-Id"],
                    session_id=headers["Helicone-Session-Id"],
                    metadata={"env": headers["Helicone-Property-Env"]},
                ),
                observe(
                    as_type="generation",
                    name="chat",
                    model=request["model"],
                    input=request["messages"],
                    model_parameters={
                        "temperature": request["temperature"],
                        "max_tokens": request["max_tokens"],
                    },
                ) as generation,
            ):
                generation.update(
                    output=response["choices"][0]["message"],
                    usage_details={
                        "input": usage["prompt_tokens"],
                        "output": usage["completion_tokens"],
                    },
                )

        self.log = log

    def finish(self, timeout_s: float) -> dict[str, Any]:
        self._client.flush()  # takes no timeout
        return {}

    def close(self) -> None:
        self._client.shutdown()


class LangSmithAdapter(Adapter):
    """``RunTree(run_type="llm")`` per call: ``post()``, ``end(outputs)``, ``patch()``.

    ``Client(api_url=url, api_key=…)``, all defaults: auto-batch tracing on background
    threads (non-daemon), zstd-compressed multipart when ``GET /info`` advertises it.
    """

    def __init__(self, url: str, workdir: Path, fresh: bool = False) -> None:
        import datetime

        from langsmith import Client
        from langsmith.run_trees import RunTree

        self._client = client = Client(api_url=url, api_key="lsv2_pt_bench")
        response_of = Responses(fresh).get
        now, utc = datetime.datetime.now, datetime.UTC
        latency = datetime.timedelta(milliseconds=LATENCY_MS)

        def log(request: dict[str, Any], body: str, headers: dict[str, str]) -> None:
            response = response_of(body)
            end = now(utc)
            run = RunTree(
                name="ChatOpenAI",
                run_type="llm",
                inputs=request,
                ls_client=client,
                project_name="heliograph-bench",
                start_time=end - latency,
                extra={
                    "metadata": {
                        "session_id": headers["Helicone-Session-Id"],
                        "user_id": headers["Helicone-User-Id"],
                        "env": headers["Helicone-Property-Env"],
                        "ls_provider": "openai",
                        "ls_model_name": request["model"],
                    }
                },
            )
            run.post()
            run.end(outputs=response, end_time=end)
            run.patch()

        self.log = log

    def finish(self, timeout_s: float) -> dict[str, Any]:
        self._client.flush(timeout=timeout_s)
        return {}

    def close(self) -> None:
        self._client.cleanup(timeout=5.0)


def make_adapter(
    name: str, url: str, workdir: Path, *, fresh: bool = False, **heliograph_settings: Any
) -> Adapter:
    """The adapter called ``name``; ``heliograph_settings`` go to ``ManualLogger`` only."""
    if name == "floor":
        return FloorAdapter(url, workdir)
    if name == "heliograph":
        return HeliographAdapter(url, workdir, deliver=True, **heliograph_settings)
    if name == "heliograph-nodeliver":
        return HeliographAdapter(url, workdir, deliver=False, **heliograph_settings)
    if name == "helicone-helpers":
        return HeliconeHelpersAdapter(url, workdir)
    if name == "opentelemetry":
        return OpenTelemetryAdapter(url, workdir, fresh)
    if name == "langfuse":
        return LangfuseAdapter(url, workdir, fresh)
    if name == "langsmith":
        return LangSmithAdapter(url, workdir, fresh)
    raise SystemExit(f"unknown adapter {name!r}")
