"""A whole stream transcript, parsed at once: the response it stands for and its usage.

Used after the fact (delivery, the receiver), where the transcript is already complete;
live streams feed the parsers chunk by chunk instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from heliograph.model.parsing import StreamParser, parser_for
from heliograph.model.parsing.sse import SSEDecoder
from heliograph.model.usage import Usage

__all__ = ["Consolidated", "consolidate_stream"]


@dataclasses.dataclass(frozen=True)
class Consolidated:
    """A parsed stream: the response it stands for, its usage and how it was encoded."""

    parser: StreamParser
    response: dict[str, Any]
    usage: Usage | None
    sse: bool  # raw SSE frames ("data: …") rather than one JSON chunk per line
    events: list[dict[str, Any]]  # every decoded JSON event, in order (Jawn's streamed_data)


def consolidate_stream(provider: str, request: Mapping[str, Any], transcript: str) -> Consolidated:
    """Parse a stream transcript (SSE or NDJSON) into the response it stands for."""
    decoder = SSEDecoder()
    events = [*decoder.feed(transcript), *decoder.close()]
    first = next((e.data for e in events if e.data is not None), None)
    parser = parser_for(provider, request, first)
    for event in events:
        if event.data is not None:
            parser.feed(event.data)
    sse = any(line.startswith("data:") for line in transcript.splitlines()[:8])
    data = [event.data for event in events if event.data is not None]
    return Consolidated(parser, parser.result(), parser.usage(), sse, data)
