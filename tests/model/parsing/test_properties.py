"""Property tests: no event, however malformed, makes a parser raise or return a non-dict."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.model.parsing import (
    AnthropicParser,
    OpenAIChatParser,
    OpenAIResponsesParser,
)
from heliograph.model.parsing._base import BaseParser
from heliograph.model.usage import Usage
from tests.model.parsing.streams import (
    ALL_STREAMS,
    decode,
)

PARSERS = (OpenAIChatParser, OpenAIResponsesParser, AnthropicParser)

# Keys and type names the parsers look at, so random events reach deep code paths.
KEYS = [
    "type", "choices", "delta", "index", "content", "text", "tool_calls", "function",
    "arguments", "name", "id", "usage", "error", "logprobs", "finish_reason", "role",
    "refusal", "reasoning_content", "function_call", "object", "model", "response",
    "output", "item", "item_id", "output_index", "content_index", "summary_index", "part",
    "annotation", "message", "content_block", "partial_json", "thinking", "signature",
    "stop_reason", "prompt_tokens", "input_tokens", "output_tokens", "citation",
]  # fmt: skip
TYPES = [
    "message_start", "content_block_start", "content_block_delta", "content_block_stop",
    "message_delta", "message_stop", "ping", "error", "text_delta", "input_json_delta",
    "thinking_delta", "signature_delta", "citations_delta", "response.created",
    "response.completed", "response.failed", "response.incomplete",
    "response.output_item.added", "response.output_item.done", "response.content_part.added",
    "response.content_part.done", "response.output_text.delta", "response.output_text.done",
    "response.function_call_arguments.delta", "response.function_call_arguments.done",
    "response.reasoning_summary_text.delta", "response.reasoning_summary_part.added",
    "response.refusal.delta", "response.output_text.annotation.added", "text_completion",
]  # fmt: skip


# Composite wrappers keep strategy reprs short: Hypothesis renders them in failure notes,
# and a repr over 32 kB raises a HypothesisWarning, which this suite turns into an error.
@st.composite
def scalars(draw: st.DrawFn) -> Any:
    return draw(
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-3, 3),
            st.integers(),
            st.floats(allow_nan=True),
            st.text(max_size=8),
            st.sampled_from(TYPES),
        )
    )


@st.composite
def keys(draw: st.DrawFn) -> str:
    return draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)))


json_like = st.recursive(
    scalars(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys(), children, max_size=5),
    max_leaves=20,
)
events = st.dictionaries(keys(), json_like, max_size=6)


def check(parser: BaseParser, stream: list[Any]) -> None:
    """Feed ``stream``; the parser's own code must cope, not just the catch-all in ``feed``."""
    for event in stream:
        if isinstance(event, dict):
            assert isinstance(parser._feed(event), bool)  # raises if the parser itself would
        else:
            assert parser.feed(event) is False
    result = parser._result()
    assert isinstance(result, dict)
    assert parser.result() == result
    usage = parser.usage()
    assert usage is None or isinstance(usage, Usage)
    assert parser.error is None or isinstance(parser.error, dict)
    assert isinstance(parser.unknown_events, list)


@settings(max_examples=200, deadline=None)
@given(st.lists(events, max_size=12))
def test_json_like_events_never_raise(stream: list[dict[str, Any]]) -> None:
    for parser_type in PARSERS:
        check(parser_type(), stream)


@settings(max_examples=100, deadline=None)
@given(st.lists(json_like, max_size=6))
def test_non_mapping_events_never_raise(stream: list[Any]) -> None:
    for parser_type in PARSERS:
        check(parser_type(), stream)


def _real_events() -> list[dict[str, Any]]:
    return [e.data for body in ALL_STREAMS.values() for e in decode(body) if e.data is not None]


REAL = _real_events()


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Replace some values somewhere inside a real event with random JSON-like values."""
    if depth > 4 or data.draw(st.integers(0, 5)) == 0:
        return data.draw(json_like)
    if isinstance(value, dict):
        return {
            k: _mutate(v, data, depth + 1) if data.draw(st.booleans()) else v
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mutate(v, data, depth + 1) for v in value]
    return value


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_events_never_raise(data: st.DataObject) -> None:
    picks = data.draw(st.lists(st.sampled_from(REAL), min_size=1, max_size=15))
    stream = [_mutate(event, data) for event in picks]
    for parser_type in PARSERS:
        parser = parser_type()
        check(parser, stream)
        check(parser, stream)  # feeding again after result() is fine too
