"""The public surface is `heliograph.__all__`: sorted, complete, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import heliograph


def test_all_is_sorted_and_every_name_exists() -> None:
    assert list(heliograph.__all__) == sorted(heliograph.__all__)
    for name in heliograph.__all__:
        assert hasattr(heliograph, name), name


def test_public_classes_present_themselves_as_heliograph() -> None:
    for name in ("ManualLogger", "LogBuilder", "Config", "DeliveryReport", "ConfigError"):
        assert getattr(heliograph, name).__module__ == "heliograph"


def test_import_starts_no_thread_and_does_not_import_the_http_client() -> None:
    code = (
        "import sys, threading, heliograph\n"
        "heliograph.ManualLogger(spool_dir=sys.argv[1])\n"
        "print(threading.active_count(), 'httpx' in sys.modules, 'uvicorn' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "/tmp/heliograph-api-test-spool"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == ["1", "False", "False"]


def test_instrument_is_public_and_importing_heliograph_loads_no_llm_sdk() -> None:
    assert callable(heliograph.instrument) and callable(heliograph.uninstrument)
    code = "import sys, heliograph\nprint('openai' in sys.modules, 'anthropic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]  # they are the caller's, not ours
