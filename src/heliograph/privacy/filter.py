"""``PrivacyFilter``: what of a captured call may leave the process, applied before the spool.

Telemetry copies prompts, tool outputs and file contents to disk and then to a third party,
so secrets that pass through an agent (a ``.env`` file it read, a token in a shell command)
would otherwise be stored twice. The filter runs on the capturing thread, before anything is
written, in one of four modes:

* ``full``: everything, unchanged.
* ``redacted`` (the default): secrets masked as ``[REDACTED:<kind>]`` (see ``rules.py``);
  the rest of the text is kept, and ``counts`` says how much was masked.
* ``metadata_only``: no content at all. Structure, keys, numbers and short identifier-like
  values under metadata keys (``model``, ``type``, ``role``, ``id``, tool ``name``,
  ``stop_reason``…) survive, so Helicone still shows models, tokens, timings, tool names
  and status; every other string becomes ``""``.
* ``off``: export nothing (``exports`` is False); the other methods behave as
  ``metadata_only`` so a caller that forgets to check still leaks no content.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal, cast, get_args

import orjson

from heliograph.errors import ConfigError
from heliograph.model.record import Record
from heliograph.privacy.redactions import Redactions, Tally
from heliograph.privacy.rules import MASK_PREFIX, RULES, Rule, mask

__all__ = ["PRIVACY_ENV", "PRIVACY_PATTERNS_ENV", "PrivacyFilter", "PrivacyMode"]

PrivacyMode = Literal["full", "redacted", "metadata_only", "off"]
_MODES: tuple[str, ...] = get_args(PrivacyMode)

PRIVACY_ENV = "HELIOGRAPH_PRIVACY"
PRIVACY_PATTERNS_ENV = "HELIOGRAPH_PRIVACY_PATTERNS"
"""Extra patterns from the environment, one regular expression per line."""

# JSON deeper than this is masked whole: walking it could exhaust the stack.
_MAX_DEPTH = 200

# In metadata_only mode, strings under these keys survive if they look like identifiers.
_METADATA_KEYS = frozenset(
    {
        "type", "role", "model", "id", "name", "tool_use_id", "tool_call_id", "stop_reason",
        "finish_reason", "status", "object", "service_tier", "provider", "media_type",
        "mime_type", "tool_name", "event", "system_fingerprint", "stop_sequence", "_type",
        "toolName",
    }
)  # fmt: skip
_IDENTIFIER_LIKE = re.compile(r"[A-Za-z0-9_.:@+/-]{1,128}")

# A dict value under one of these keys is a secret as a whole ({"api_key": "abc"}).
_SENSITIVE_KEY = re.compile(
    r"(?i)[a-z0-9_-]{0,40}?(password|passwd|passphrase|secret|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|auth[_-]?token|access[_-]?token|refresh[_-]?token|token|authorization"
    r"|credentials?|cookie)"
)


class PrivacyFilter:
    """Masks secrets (or all content) in text, JSON values and records; thread-safe.

        f = PrivacyFilter("redacted", extra_patterns=("ACME-[0-9]{6}",))
        f.text("key sk-proj-…")            # 'key [REDACTED:openai_key]'
        f.counts                           # Redactions({'openai_key': 1})

    ``extra_patterns`` are regular expressions whose matches are masked as
    ``[REDACTED:custom]`` (in ``redacted`` mode). A bad mode or pattern raises
    ``ConfigError``. Keep extra patterns linear (bounded repetitions): they run on every
    captured string.
    """

    def __init__(self, mode: PrivacyMode = "redacted", extra_patterns: Iterable[str] = ()) -> None:
        if mode not in _MODES:
            raise ConfigError(f"privacy mode must be one of {', '.join(_MODES)}, not {mode!r}")
        self._mode: PrivacyMode = mode
        self._custom = tuple(_compile(p) for p in extra_patterns)
        self._tally = Tally()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        mode: str | None = None,
        extra_patterns: Iterable[str] = (),
    ) -> PrivacyFilter:
        """Mode from ``mode``, else ``HELIOGRAPH_PRIVACY``, else ``redacted``; patterns from
        ``extra_patterns`` plus ``HELIOGRAPH_PRIVACY_PATTERNS`` (one per line)."""
        env = os.environ if environ is None else environ
        chosen = (mode or env.get(PRIVACY_ENV) or "redacted").strip().lower()
        from_env = [line for line in env.get(PRIVACY_PATTERNS_ENV, "").splitlines() if line]
        return cls(cast("PrivacyMode", chosen), [*extra_patterns, *from_env])

    @property
    def mode(self) -> PrivacyMode:
        return self._mode

    @property
    def exports(self) -> bool:
        """False in ``off`` mode: the caller must export nothing at all."""
        return self._mode != "off"

    @property
    def counts(self) -> Redactions:
        """How many values were masked so far, by kind (``metadata_only`` counts nothing)."""
        return self._tally.snapshot()

    @property
    def _content_free(self) -> bool:
        return self._mode in ("metadata_only", "off")

    # -- text and JSON values -------------------------------------------------------------

    def text(self, s: str) -> str:
        """``s`` with secrets masked (``full``: unchanged; ``metadata_only``/``off``: ``""``)."""
        if self._mode == "full":
            return s
        if self._content_free:
            return ""
        counts: Counter[str] = Counter()
        masked = self._mask(s, counts)
        self._tally.add(counts)
        return masked

    def value(self, obj: Any) -> Any:
        """A deep copy of a JSON value (dicts, lists, strings, numbers) with strings filtered.

        Keys, numbers, booleans and ``None`` are kept. In ``metadata_only`` mode every string
        becomes ``""`` except identifier-like values under metadata keys (``model``, ``type``,
        tool ``name``…). Other objects are filtered as their ``str()``.
        """
        counts: Counter[str] = Counter()
        result = self._walk(obj, None, 0, counts)
        self._tally.add(counts)
        return result

    def record(self, record: Record) -> Record:
        """A copy of ``record`` with its bodies filtered per mode, and a ``privacy:<mode>`` note.

        Bodies (request, response JSON or text) are filtered as JSON values; a text body
        that holds JSON or a stream transcript (SSE ``data:`` lines, NDJSON) is filtered
        event by event, so usage and model in a stream survive ``metadata_only``.
        Header values are the caller's metadata (session ids, paths, properties): they
        are kept in every mode, with secrets masked unless the mode is ``full``.
        Timings, status, provider and ids are never changed.
        """
        if self._mode == "full":
            return record
        counts: Counter[str] = Counter()
        response_text = record.response_text
        filtered = dataclasses.replace(
            record,
            request=self._walk(record.request, None, 0, counts),
            response_json=(
                None
                if record.response_json is None
                else self._walk(record.response_json, None, 0, counts)
            ),
            response_text=None if response_text is None else self._body(response_text, counts),
            headers={k: self._mask(v, counts) for k, v in record.headers.items()},
            request_meta={k: self._mask(v, counts) for k, v in record.request_meta.items()},
            response_headers={k: self._mask(v, counts) for k, v in record.response_headers.items()},
            notes=[*record.notes, f"privacy:{self._mode}"],
        )
        self._tally.add(counts)
        return filtered

    # -- internals ------------------------------------------------------------------------

    def _mask(self, s: str, counts: Counter[str]) -> str:
        if not s:
            return s
        lowered = s.lower()
        for rule in RULES:
            if rule.applies_to(lowered):
                s = _apply(rule, s, counts)
        for custom in self._custom:
            s, n = custom.subn(mask("custom"), s)
            if n:
                counts["custom"] += n
        return s

    def _walk(self, obj: Any, key: str | None, depth: int, counts: Counter[str]) -> Any:
        if depth > _MAX_DEPTH:
            counts["too_deep"] += 1
            return mask("too_deep")
        if isinstance(obj, str):
            return self._string(obj, key, counts)
        if obj is None or isinstance(obj, bool | int | float):
            return obj
        if isinstance(obj, Mapping):
            return {str(k): self._walk(v, str(k), depth + 1, counts) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self._walk(v, key, depth + 1, counts) for v in obj]
        return self._string(str(obj), key, counts)

    def _string(self, s: str, key: str | None, counts: Counter[str]) -> str:
        if self._mode == "full":
            return s
        if self._content_free:
            keep = key in _METADATA_KEYS and _IDENTIFIER_LIKE.fullmatch(s) is not None
            return s if keep else ""
        if key is not None and s and MASK_PREFIX not in s:
            sensitive = _SENSITIVE_KEY.fullmatch(key)
            if sensitive is not None and _is_secret_value(s):
                kind = "password" if sensitive.group(1).lower().startswith("pass") else "secret"
                counts[kind] += 1
                return mask(kind)
        return self._mask(s, counts)

    def _body(self, text: str, counts: Counter[str]) -> str:
        """A text body: a JSON document, a stream transcript, or plain text."""
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
            else:
                return _dumps(self._walk(parsed, None, 0, counts))
        if stripped.startswith(("data:", "event:", "{")):
            return "".join(self._stream_line(line, counts) for line in text.splitlines(True))
        return "" if self._content_free else self._mask(text, counts)

    def _stream_line(self, line: str, counts: Counter[str]) -> str:
        body = line.rstrip("\r\n")
        end = line[len(body) :]
        prefix = ""
        payload = body
        if body.startswith("data:"):
            prefix, payload = "data: ", body[5:].lstrip(" ")
        if payload.startswith(("{", "[")):
            try:
                parsed = orjson.loads(payload)
            except orjson.JSONDecodeError:
                pass
            else:
                return prefix + _dumps(self._walk(parsed, None, 0, counts)) + end
        if not body or body.startswith(("event:", "id:", "retry:")) or payload == "[DONE]":
            return line
        if self._content_free:
            return prefix + end
        return self._mask(line, counts)


def _apply(rule: Rule, s: str, counts: Counter[str]) -> str:
    out: list[str] = []
    last = 0
    for match in rule.regex.finditer(s):
        span = rule.pick(rule, match)
        if span is None:
            continue
        kind, start, end = span
        out.append(s[last:start])
        out.append(mask(kind))
        last = end
        counts[kind] += 1
    if not out:
        return s
    out.append(s[last:])
    return "".join(out)


def _is_secret_value(value: str) -> bool:
    stripped = value.strip()
    return len(stripped) >= 3 and len(set(stripped)) > 1 and stripped[0] not in "<$%{"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _compile(pattern: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"privacy patterns must be non-empty strings, got {pattern!r}")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"invalid privacy pattern {pattern!r}: {exc}") from None
    if regex.fullmatch(""):
        raise ConfigError(f"privacy pattern {pattern!r} matches the empty string")
    return regex
