"""Importing Heliograph stays cheap: what each entry point loads, checked in a fresh interpreter.

Public names are imported on first use (PEP 562), and what only the delivery threads or
rare paths need (asyncio, HTTP and TLS, tiktoken, the pricing table and stream parsers)
is imported where it is used. These tests look at ``sys.modules``, never at timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import heliograph

DEFERRED = [
    "asyncio",
    "ssl",
    "http.client",
    "urllib.request",
    "email.utils",
    "httpx",
    "uvicorn",
    "tiktoken",
    "heliograph.delivery.enrich",
    "heliograph.model.pricing",
    "heliograph.model.parsing",
    "heliograph.capture.tokens",
    "heliograph.transports",
    "heliograph.receiver",
]
"""Loaded by none of the entry points below (on the worker's threads or on use instead)."""


def loaded_after(code: str, *args: str, stdin: bytes = b"") -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    report = "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.__stdout__)"
    done = subprocess.run(
        [sys.executable, "-c", code + report, *args],
        input=stdin, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return set(json.loads(done.stdout))


def test_import_heliograph_loads_no_capture_delivery_or_network_module() -> None:
    loaded = loaded_after("import heliograph")
    assert loaded.isdisjoint(DEFERRED), sorted(loaded & set(DEFERRED))
    heavy = {"orjson", "heliograph.logger", "heliograph.pipeline", "heliograph.capture.builder"}
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)


def test_manual_logger_and_its_first_log_load_nothing_deferred(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from heliograph import ManualLogger\n"
        "logger = ManualLogger(spool_dir=sys.argv[1], deliver=False)\n"
        "logger.log_single_request({'model': 'm'}, 'hi', latency_ms=1)\n"
        "with logger.log_builder({'model': 'm'}) as builder:\n"
        "    builder.set_error(ValueError('boom'))\n"
        "logger.close(0)\n"
    )
    loaded = loaded_after(code, str(tmp_path / "spool"))
    assert loaded.isdisjoint(DEFERRED), sorted(loaded & set(DEFERRED))


def test_claude_code_hook_loads_neither_the_pipeline_nor_other_commands(tmp_path: Path) -> None:
    event = {"session_id": "s", "transcript_path": "/t.jsonl", "hook_event_name": "PostToolUse"}
    code = (
        "import sys\n"
        "from heliograph.cli.main import main\n"
        "main(['claude-code', 'hook', '--state-dir', sys.argv[1]])\n"
    )
    loaded = loaded_after(code, str(tmp_path), stdin=json.dumps(event).encode())
    assert (tmp_path / "events.jsonl").exists()  # the hook did its work
    skipped = [
        *DEFERRED,
        "subprocess",
        "heliograph.pipeline",
        "heliograph.delivery",
        "heliograph.spool",
        "heliograph.cli.sessions",
        "heliograph.cli.opencode",
        "heliograph.cli.relay",
    ]
    assert loaded.isdisjoint(skipped), sorted(loaded & set(skipped))


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    code = (
        "import heliograph\n"
        "missing = [n for n in heliograph.__all__ if getattr(heliograph, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert set(heliograph.__all__) <= set(dir(heliograph))\n"
        "from heliograph import *\n"
    )
    loaded_after(code)


def test_public_names_are_the_objects_of_their_modules() -> None:
    from heliograph.capture.builder import LogBuilder
    from heliograph.logger import ManualLogger
    from heliograph.model.record import Record

    assert heliograph.ManualLogger is ManualLogger
    assert heliograph.LogBuilder is LogBuilder
    assert heliograph.Record is Record
    assert "ManualLogger" in vars(heliograph)  # resolved once, then an ordinary attribute


def test_an_unknown_name_is_an_attribute_error() -> None:
    for module in (heliograph, heliograph.capture):
        assert not hasattr(module, "NoSuchName")
