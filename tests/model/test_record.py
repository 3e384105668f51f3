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


def _spool_form_as_first_written(record: Record) -> dict[str, object]:
    """``to_dict`` as it was first written: the reference for its key order and omissions."""
    out: dict[str, object] = {
        "v": 1, "id": record.request_id, "provider": record.provider, "req": record.request,
        "start": record.start_ms, "end": record.end_ms, "status": record.status,
        "at": record.captured_at_ms,
    }  # fmt: skip
    optional = {
        "provider_given": record.provider_given or None,
        "resp_json": record.response_json,
        "resp_text": record.response_text,
        "resp_headers": record.response_headers or None,
        "url": None if record.request_url == "custom-model-nopath" else record.request_url,
        "meta": record.request_meta or None,
        "ttft": record.ttft_ms,
        "headers": record.headers or None,
        "cost": record.cost_usd,
        "notes": record.notes or None,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"provider_given": True, "response_json": {}, "ttft_ms": 0.0, "cost_usd": 0.0},
        {"response_json": {"a": 1}, "response_text": "", "headers": {"H": "v"}},
        {"response_headers": {"x": "y"}, "request_url": "https://x/v1", "request_meta": {"k": "v"}},
        {"request_url": "", "notes": ["truncated"], "status": -3, "response_text": "t"},
        {"provider_given": True, "response_json": {"a": 1}, "response_text": "t",
         "response_headers": {"x": "y"}, "request_url": "u", "request_meta": {"k": "v"},
         "ttft_ms": 5.5, "headers": {"H": "v"}, "cost_usd": 1.25, "notes": ["n"]},
    ],
)  # fmt: skip
def test_spool_form_keeps_its_keys_and_their_order(fields: dict[str, object]) -> None:
    record = Record(request_id="r", request={"model": "m"}, start_ms=1.0, end_ms=2.0, **fields)  # type: ignore[arg-type]
    assert list(record.to_dict().items()) == list(_spool_form_as_first_written(record).items())
