"""The peers section's sink: one HTTP receiver for every adapter, in its own process.

    python bench/sink.py [--port 0] [--control-port 0]

Prints one JSON line (``{"port": …, "control_port": …, "pid": …}``) on stdout once both
listeners are up, then serves until ``POST /_sink/quit`` or SIGTERM.

**Data port** (what the clients are pointed at), 127.0.0.1, ``TCP_NODELAY`` on every
accepted socket, HTTP/1.1 keep-alive. Each request is read in full, decompressed
(``Content-Encoding`` gzip, deflate or zstd), decoded and counted *before* it is answered;
then the answer is a quick 200 (after 50 ms in the ``slow`` mode). What it decodes:

- OTLP/HTTP traces (``…/v1/traces``; OpenTelemetry posts to ``/v1/traces``, Langfuse to
  ``/api/public/otel/v1/traces``): protobuf ``ExportTraceServiceRequest`` (or its JSON
  form); every span is a record, keyed by trace id + span id.
- LangSmith: ``GET /info`` advertises what LangSmith's cloud does (multipart ingestion and
  ``instance_flags.zstd_compression_enabled``, with the SDK's own batch defaults);
  ``POST /runs/multipart``: a part named ``post.<run id>`` is a record, ``patch.<run id>`` a
  run end (``post.<id>.inputs`` and the like are the same run's fields); ``POST
  /runs/batch`` (JSON ``post``/``patch`` lists), ``POST /runs`` and ``PATCH /runs/<id>``
  are counted the same way.
- Helicone's logging routes (``/custom/v1/log``, ``/oai/v1/log``, … — any
  ``/<route>/v1/log``): one JSON body is one record, keyed by ``Helicone-Request-Id`` when
  the client sends one (Heliograph does; helicone-helpers does not).

Anything else is answered 200 ``{}`` and listed under ``other``, so a client calling a
route nobody expected shows up in the stats.

**Control port** (for the driver; never given to a client):

- ``GET /_sink/stats``: counts per route, totals, distinct ids and duplicates, the
  ``time.time()`` of the first and last record's arrival, the sink's CPU seconds, its mode.
- ``POST /_sink/reset``: zero every count.
- ``POST /_sink/mode/up|slow|down``: ``down`` closes the data listener and every open
  data connection, so connecting is refused; ``up`` and ``slow`` listen again on the same
  port.
- ``POST /_sink/quit``.

Only the standard library is needed, plus ``opentelemetry-proto`` for protobuf spans and
``zstandard`` for LangSmith's compressed batches (both come with the bench extra); a body
that cannot be decoded is counted under ``errors``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import json
import os
import re
import signal
import socket
import sys
import time
import zlib
from typing import Any

SLOW_S = 0.05
MAX_HEADER_BYTES = 1024 * 1024
LANGSMITH_INFO = {
    "version": "0.0.0-bench-sink",
    "license_expiration_time": None,
    # The SDK's own defaults (langsmith/_internal/_constants.py), so nothing is tuned here.
    "batch_ingest_config": {
        "use_multipart_endpoint": True,
        "scale_up_qsize_trigger": 200,
        "scale_up_nthreads_limit": 32,
        "scale_down_nempty_trigger": 4,
        "size_limit": 100,
        "size_limit_bytes": 20_971_520,
    },
    "instance_flags": {"zstd_compression_enabled": True},
}
LOG_ROUTE = re.compile(r"^/[A-Za-z0-9_-]+/v1/log$")
PART_NAME = re.compile(rb'name="([^"]*)"')
REASONS = {200: "OK", 202: "Accepted", 404: "Not Found", 400: "Bad Request"}


class Stats:
    """Counts since the last reset; one event loop thread touches them."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.routes: dict[str, dict[str, Any]] = {}
        self.other: dict[str, int] = {}
        self.agents: dict[str, int] = {}
        self.errors: list[str] = []
        self.error_count = 0
        self.ids: set[bytes | str] = set()
        self.duplicates = 0
        self.requests = 0
        self.records = 0
        self.run_ends = 0
        self.first_record_s: float | None = None
        self.last_record_s: float | None = None
        self.reset_at_s = time.time()

    def route(self, kind: str, path: str) -> dict[str, Any]:
        key = f"{kind} {path}"
        entry = self.routes.get(key)
        if entry is None:
            entry = self.routes[key] = {
                "kind": kind,
                "path": path,
                "requests": 0,
                "records": 0,
                "run_ends": 0,
                "parts": 0,
                "bytes_in": 0,
                "bytes_decoded": 0,
                "encodings": {},
            }
        return entry

    def add(self, entry: dict[str, Any], ids: list[bytes | str | None], run_ends: int) -> None:
        now = time.time()
        for record_id in ids:
            if record_id is not None:
                if record_id in self.ids:
                    self.duplicates += 1
                else:
                    self.ids.add(record_id)
        entry["records"] += len(ids)
        entry["run_ends"] += run_ends
        self.records += len(ids)
        self.run_ends += run_ends
        if ids:
            if self.first_record_s is None:
                self.first_record_s = now
            self.last_record_s = now

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < 20:
            self.errors.append(text[:300])

    def snapshot(self, mode: str, port: int) -> dict[str, Any]:
        return {
            "mode": mode,
            "port": port,
            "pid": os.getpid(),
            "now_s": time.time(),
            "reset_at_s": self.reset_at_s,
            "requests": self.requests,
            "records": self.records,
            "run_ends": self.run_ends,
            "distinct_ids": len(self.ids),
            "duplicates": self.duplicates,
            "first_record_s": self.first_record_s,
            "last_record_s": self.last_record_s,
            "routes": self.routes,
            "other": self.other,
            "agents": self.agents,
            "errors": self.error_count,
            "error_samples": self.errors,
            "cpu_s": time.process_time(),
        }


# -- decoding ----------------------------------------------------------------------------


def decompress(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if encoding == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(
            io.BytesIO(body), read_across_frames=True
        )
        return reader.read()
    raise ValueError(f"unknown Content-Encoding {encoding!r}")


_PROTOBUF: dict[str, Any] = {}


def otlp_span_ids(body: bytes, content_type: str) -> list[bytes | str | None]:
    """One id (trace id + span id) per span in an OTLP/HTTP traces request."""
    ids: list[bytes | str | None] = []
    if "json" in content_type:
        payload = json.loads(body)
        for resource in payload.get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    ids.append(f"{span.get('traceId')}/{span.get('spanId')}")
        return ids
    if not _PROTOBUF:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        _PROTOBUF["request"] = trace_service_pb2.ExportTraceServiceRequest
    request = _PROTOBUF["request"].FromString(body)
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            ids += [span.trace_id + span.span_id for span in scope.spans]
    return ids


def multipart_parts(body: bytes, content_type: str) -> list[str]:
    """The ``name`` of every part of a ``multipart/form-data`` body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError(f"multipart without a boundary: {content_type!r}")
    delimiter = b"--" + match.group(1).encode("latin-1")
    names = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, _ = chunk.partition(b"\r\n\r\n")
        found = PART_NAME.search(head)
        names.append(found.group(1).decode("utf-8", "replace") if found else "")
    return names


def langsmith_multipart(body: bytes, content_type: str) -> tuple[list[str], int, int]:
    """(run ids posted, run ends, parts): ``post.<id>`` and ``patch.<id>`` parts."""
    posts: list[str] = []
    patches = 0
    names = multipart_parts(body, content_type)
    for name in names:
        op, _, rest = name.partition(".")
        if "." in rest:  # post.<id>.inputs, patch.<id>.outputs, attachment.<id>.<name>
            continue
        if op == "post":
            posts.append(rest)
        elif op == "patch":
            patches += 1
    return posts, patches, len(names)


# -- HTTP --------------------------------------------------------------------------------


class Sink:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.mode = "up"
        self.stats = Stats()
        self.data_server: asyncio.AbstractServer | None = None
        self.control_server: asyncio.AbstractServer | None = None
        self.data_writers: set[asyncio.StreamWriter] = set()
        self.control_writers: set[asyncio.StreamWriter] = set()
        self.done = asyncio.Event()

    async def listen(self, control_port: int) -> int:
        await self.open_data()
        self.control_server = await asyncio.start_server(
            self.serve_control, self.host, control_port, limit=MAX_HEADER_BYTES
        )
        return int(self.control_server.sockets[0].getsockname()[1])

    async def open_data(self) -> None:
        if self.data_server is not None:
            return
        self.data_server = await asyncio.start_server(
            self.serve_data,
            self.host,
            self.port,
            limit=MAX_HEADER_BYTES,
            reuse_address=True,
            backlog=1024,
        )
        self.port = int(self.data_server.sockets[0].getsockname()[1])

    async def close_data(self) -> None:
        server, self.data_server = self.data_server, None
        if server is None:
            return
        server.close()
        for writer in list(self.data_writers):
            writer.transport.abort()  # an open keep-alive connection must fail too
        self.data_writers.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2.0)

    async def set_mode(self, mode: str) -> None:
        if mode == "down":
            await self.close_data()
        elif mode in ("up", "slow"):
            await self.open_data()
        else:
            raise ValueError(mode)
        self.mode = mode

    # -- connections ---------------------------------------------------------------------

    async def serve_data(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.data_writers.add(writer)
        try:
            await self.serve(reader, writer, self.handle_data)
        finally:
            self.data_writers.discard(writer)

    async def serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.control_writers.add(writer)
        try:
            await self.serve(reader, writer, self.handle_control)
        finally:
            self.control_writers.discard(writer)

    async def serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Any
    ) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = [*lines[0].split(" ", 2), "", ""][:3]
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await read_body(reader, headers)
                status, content_type, payload = await handler(method, target, headers, body)
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                out = (
                    f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\n"
                    f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
                    + ("" if keep else "Connection: close\r\n")
                    + "\r\n"
                ).encode("latin-1")
                writer.write(out + payload)
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def handle_data(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        self.stats.requests += 1
        agent = headers.get("user-agent", "").split(" ")[0]
        self.stats.agents[agent] = self.stats.agents.get(agent, 0) + 1
        path = target.split("?", 1)[0]
        answer = self.count(method, path, headers, body)
        if self.mode == "slow":
            await asyncio.sleep(SLOW_S)
        return answer

    def count(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        """Decode and count one request; the answer to send."""
        stats = self.stats
        content_type = headers.get("content-type", "")
        if method == "GET" and path.rstrip("/").endswith("/info"):
            stats.other[f"{method} {path}"] = stats.other.get(f"{method} {path}", 0) + 1
            return 200, "application/json", json.dumps(LANGSMITH_INFO).encode()
        if method == "POST" and path.endswith("/v1/traces"):
            kind = "otlp"
        elif method == "POST" and path.endswith("/runs/multipart"):
            kind = "langsmith-multipart"
        elif method == "POST" and path.endswith("/runs/batch"):
            kind = "langsmith-batch"
        elif method == "POST" and path.endswith("/runs"):
            kind = "langsmith-create"
        elif method == "PATCH" and "/runs/" in path:
            kind = "langsmith-update"
        elif method == "POST" and LOG_ROUTE.match(path):
            kind = "helicone"
        else:
            key = f"{method} {path}"
            stats.other[key] = stats.other.get(key, 0) + 1
            return 200, "application/json", b"{}"
        entry = stats.route(kind, path)
        entry["requests"] += 1
        entry["bytes_in"] += len(body)
        encoding = headers.get("content-encoding", "")
        entry["encodings"][encoding or "none"] = entry["encodings"].get(encoding or "none", 0) + 1
        try:
            data = decompress(body, encoding)
            entry["bytes_decoded"] += len(data)
            if kind == "otlp":
                stats.add(entry, otlp_span_ids(data, content_type), 0)
                if "json" in content_type:
                    return 200, "application/json", b"{}"
                return 200, "application/x-protobuf", b""
            if kind == "langsmith-multipart":
                posts, patches, parts = langsmith_multipart(data, content_type)
                entry["parts"] += parts
                stats.add(entry, list(posts), patches)
                return 202, "application/json", b"{}"
            if kind == "langsmith-batch":
                payload = json.loads(data)
                posts = [run.get("id") for run in payload.get("post") or []]
                stats.add(entry, posts, len(payload.get("patch") or []))
                return 202, "application/json", b"{}"
            if kind == "langsmith-create":
                stats.add(entry, [json.loads(data).get("id")], 0)
                return 202, "application/json", b"{}"
            if kind == "langsmith-update":
                json.loads(data)
                stats.add(entry, [], 1)
                return 202, "application/json", b"{}"
            json.loads(data)  # helicone: one body, one record
            stats.add(entry, [headers.get("helicone-request-id") or None], 0)
            return 200, "application/json", b'{"status":"ok"}'
        except Exception as exc:  # a body we cannot decode: counted, answered 400
            stats.error(f"{method} {path} ({encoding or 'no encoding'}, {content_type}): {exc!r}")
            return 400, "application/json", b'{"error":"undecodable"}'

    async def handle_control(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/_sink/stats":
            return self.stats_answer()
        if method == "POST" and path == "/_sink/reset":
            self.stats.reset()
            return self.stats_answer()
        if method == "POST" and path.startswith("/_sink/mode/"):
            try:
                await self.set_mode(path.rsplit("/", 1)[1])
            except (ValueError, OSError) as exc:
                return 400, "application/json", json.dumps({"error": repr(exc)}).encode()
            return self.stats_answer()
        if method == "POST" and path == "/_sink/quit":
            self.done.set()
            return 200, "application/json", b"{}"
        return 404, "application/json", b'{"error":"unknown control route"}'

    def stats_answer(self) -> tuple[int, str, bytes]:
        payload = self.stats.snapshot(self.mode, self.port)
        return 200, "application/json", json.dumps(payload).encode()


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


async def main_async(args: argparse.Namespace) -> None:
    sink = Sink(args.host, args.port)
    control_port = await sink.listen(args.control_port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, sink.done.set)
    ready = {"port": sink.port, "control_port": control_port, "pid": os.getpid()}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await sink.done.wait()
    await sink.close_data()
    if sink.control_server is not None:
        sink.control_server.close()
    for writer in list(sink.control_writers):  # let idle handlers end, not be cancelled
        writer.transport.abort()
    await asyncio.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
