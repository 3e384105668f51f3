"""``heliograph demo``: the whole path on the embedded default, in a few seconds.

Starts the receiver, logs a sample session through ``ManualLogger`` into a fresh spool,
lets the background worker deliver it, then reads it back through the receiver's API.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from heliograph.cli.main import EXIT_INCOMPLETE, EXIT_OK
from heliograph.logger import ManualLogger
from heliograph.model.headers import Session

_TURNS = [
    ("What is Helicone?", "Helicone is an open-source observability platform for LLM apps."),
    ("How do sessions work?", "Requests sharing a Helicone-Session-Id form one session tree."),
    ("Summarise in five words.", "Trace, group and inspect calls."),
]


def _chat_completion(model: str, text: str, prompt_tokens: int) -> dict[str, Any]:
    completion_tokens = len(text.split())
    return {
        "id": "chatcmpl-demo",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def run_demo(args: argparse.Namespace) -> int:
    from heliograph.receiver.server import ReceiverThread

    with tempfile.TemporaryDirectory(prefix="heliograph-demo-") as scratch:
        db = args.db or Path(scratch) / "receiver.sqlite3"
        try:
            receiver = ReceiverThread(port=args.port, db_path=db)
            receiver.start()
        except OSError:
            receiver = ReceiverThread(port=0, db_path=db)  # the port is taken: any free one
            receiver.start()
        try:
            print(f"receiver listening on {receiver.url} (SQLite: {db})")
            session = Session.from_key(f"demo-{time.time_ns()}", name="Heliograph demo chat")
            logger = ManualLogger(logging_endpoint=receiver.url, spool_dir=Path(scratch) / "spool")
            messages: list[dict[str, str]] = [{"role": "system", "content": "Be brief."}]
            clock = time.time() - 10.0  # the sample chat happened over the last ten seconds
            for index, (question, answer) in enumerate(_TURNS, start=1):
                messages.append({"role": "user", "content": question})
                latency_s = 0.18 + 0.04 * index
                logger.send_log(
                    {"model": "gpt-4o-mini", "messages": list(messages)},
                    _chat_completion("gpt-4o-mini", answer, 12 * index),
                    start_time=clock,
                    end_time=clock + latency_s,
                    additional_headers=session.child(f"turn-{index}").headers(),
                    provider="openai",
                )
                messages.append({"role": "assistant", "content": answer})
                clock += latency_s + 2.0
            print(f"logged {len(_TURNS)} calls into the spool; delivering in the background")
            report = logger.close(timeout=10.0)
            print(f"delivered {report.delivered}, pending {report.pending}")
            _show_session(receiver.url, session.id)
            if args.keep_serving:
                print("receiver keeps running; press Ctrl+C to stop")
                _wait_forever()
        finally:
            receiver.stop()
        return EXIT_OK if report.complete else EXIT_INCOMPLETE


def _show_session(url: str, session_id: str) -> None:
    with urllib.request.urlopen(f"{url}/v1/session/{session_id}", timeout=5.0) as response:
        data = json.load(response)["data"]
    requests = data["requests"]
    print(f"\nsession {session_id}  {data.get('session_name')!r}: {len(requests)} requests")
    print(f"{'path':<10} {'model':<12} {'status':>6} {'latency':>8} {'tokens':>7}  request id")
    for row in requests:
        print(
            f"{row['session_path']:<10} {row['model']:<12} {row['response_status']:>6} "
            f"{row['delay_ms']:>6.0f}ms {row['total_tokens'] or 0:>7}  {row['request_id']}"
        )
    print(f"\nread it yourself: curl {url}/v1/session/{session_id}")


def _wait_forever() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
