"""The benchmark's unit of work: one "LLM call", as every adapter logs it.

A call is ``(request, body, headers)``:

- ``request``: a ~1.1 KB chat request dict (model, 3 messages, two parameters);
- ``body``: a ~1.3 KB ``chat.completion`` response as a JSON string (~1 KB of text);
- ``headers``: ``Helicone-Session-Id``, ``Helicone-User-Id``, ``Helicone-Property-Env``.

The text is pseudo-words from a fixed seed (gzip shrinks a call about 2x; neither client
measured here compresses), so every run and every adapter sees byte-identical calls. A
small pool of distinct calls is built once and cycled, so building a call is never inside
a timed region.
"""

from __future__ import annotations

import json
import random
from typing import Any

__all__ = ["Call", "build_calls", "sizes"]

Call = tuple[dict[str, Any], str, dict[str, str]]

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["ter", "gen", "tion"]


def _vocabulary(rng: random.Random, size: int = 400) -> list[str]:
    return ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(size)]


def _text(rng: random.Random, vocabulary: list[str], chars: int) -> str:
    """Pseudo-words, exactly ``chars`` characters long; short words come up more often."""
    words: list[str] = []
    length = 0
    while length < chars:
        word = vocabulary[int(len(vocabulary) * rng.random() ** 2.5)]
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:chars]


def _call(rng: random.Random, vocabulary: list[str], i: int) -> Call:
    request = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": _text(rng, vocabulary, 180)},
            {"role": "user", "content": _text(rng, vocabulary, 620)},
            {"role": "assistant", "content": _text(rng, vocabulary, 160)},
        ],
        "temperature": 0.2,
        "max_tokens": 512,
    }
    response = {
        "id": f"chatcmpl-bench{i:08d}",
        "object": "chat.completion",
        "created": 1_763_780_000 + i,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": _text(rng, vocabulary, 1000),
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 241, "completion_tokens": 226, "total_tokens": 467},
        "system_fingerprint": "fp_bench0001",
    }
    headers = {
        "Helicone-Session-Id": f"bench-session-{i // 16:04d}",
        "Helicone-User-Id": f"bench-user-{i % 7}",
        "Helicone-Property-Env": "bench",
    }
    return request, json.dumps(response, separators=(",", ":")), headers


def build_calls(count: int, seed: int = 20261122) -> list[Call]:
    """``count`` distinct calls, the same for every process given the same seed."""
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    return [_call(rng, vocabulary, i) for i in range(count)]


def sizes() -> dict[str, int]:
    """Bytes of the first call's request (as compact JSON), response and headers."""
    request, body, headers = build_calls(1)[0]
    return {
        "request_bytes": len(json.dumps(request, separators=(",", ":")).encode()),
        "response_bytes": len(body.encode()),
        "header_bytes": sum(len(k) + len(v) for k, v in headers.items()),
    }
