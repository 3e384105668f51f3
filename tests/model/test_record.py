"""Records survive the round trip through their spool form, field for field."""

from __future__ import annotations

import pytest

from heliograph.model.record import Provider, Record, normalise_provider


def test_record_round_trips_every_field() -> None:
    original = Record(
        request_id="6f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        request={"model": "m", "stream": True},
        start_ms=1.5,
        end_ms=2.5,
        status=-3,
        provider=Provider.ANTHROPIC,
        provider_given=True,
        response_json=None,
        response_text="partial",
        response_headers={"x": "y"},
        request_url="https://api.anthropic.com/v1/messages",
        request_meta={"k": "v"},
        ttft_ms=12.0,
        headers={"Helicone-Session-Id": "s"},
        cost_usd=0.25,
        notes=["truncated"],
        captured_at_ms=3.0,
    )
    assert Record.from_dict(original.to_dict()) == original


def test_spool_form_omits_empty_optional_fields() -> None:
    data = Record(request_id="r", request={}, start_ms=0, end_ms=0).to_dict()
    assert set(data) == {"v", "id", "provider", "req", "start", "end", "status", "at"}


def test_unknown_schema_version_is_refused() -> None:
    data = Record(request_id="r", request={}, start_ms=0, end_ms=0).to_dict()
    data["v"] = 99
    with pytest.raises(ValueError, match="schema version 99"):
        Record.from_dict(data)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("openai", "OPENAI"), ("OpenAI", "OPENAI"), ("gemini", "GOOGLE"), (None, "CUSTOM"),
     ("anthropic", "ANTHROPIC"), ("groq", "GROQ")],
)  # fmt: skip
def test_provider_names_are_normalised_to_helicone_names(given: str | None, expected: str) -> None:
    assert normalise_provider(given) == expected
