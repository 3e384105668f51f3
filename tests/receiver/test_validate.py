"""The body checks, field by field, with Helicone's rules and our messages."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from heliograph.receiver.validate import InvalidLogError, validate_async_log

from .helpers import make_body

Body = dict[str, Any]


def _set(path: str, value: object) -> Callable[[Body], None]:
    *parents, leaf = path.split(".")

    def mutate(body: Body) -> None:
        target = body
        for key in parents:
            target = target[key]
        target[leaf] = value

    return mutate


def _delete(path: str) -> Callable[[Body], None]:
    *parents, leaf = path.split(".")

    def mutate(body: Body) -> None:
        target = body
        for key in parents:
            target = target[key]
        del target[leaf]

    return mutate


def test_body_from_the_client_contract_is_valid() -> None:
    body = make_body(ttft_ms=120, cost_usd=0.002, response_text="data: {}")
    assert validate_async_log(body) is body


def test_nulls_sent_by_helicones_python_sdk_are_valid() -> None:
    body = make_body()
    body["providerResponse"]["textBody"] = None
    body["timing"]["timeToFirstToken"] = None
    body["providerResponse"]["cost"] = None
    validate_async_log(body)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_delete("providerRequest"), "providerRequest is required"),
        (_delete("providerResponse"), "providerResponse is required"),
        (_delete("timing"), "timing is required"),
        (_set("providerRequest", []), "providerRequest must be an object, got array"),
        (_delete("providerRequest.url"), "providerRequest.url is required"),
        (_set("providerRequest.url", 5), "providerRequest.url must be a string, got number"),
        (_set("providerRequest.meta", None), "providerRequest.meta must be an object, got null"),
        (_delete("providerRequest.json"), "providerRequest.json is required"),
        (_set("providerRequest.json", "x"), "providerRequest.json must be an object, got string"),
        (_delete("providerResponse.json"), "providerResponse.json is required"),
        (_set("providerResponse.json", [1]), "providerResponse.json must be an object, got array"),
        (_delete("providerResponse.status"), "providerResponse.status is required"),
        (
            _set("providerResponse.status", "200"),
            "providerResponse.status must be a number, got string",
        ),
        (
            _set("providerResponse.status", True),
            "providerResponse.status must be a number, got boolean",
        ),
        (
            _set("providerResponse.headers", "x"),
            "providerResponse.headers must be an object, got string",
        ),
        (
            _set("providerResponse.textBody", {}),
            "providerResponse.textBody must be a string, got object",
        ),
        (_set("providerResponse.cost", "1"), "providerResponse.cost must be a number, got string"),
        (_set("timing.startTime", 5), "timing.startTime must be an object, got number"),
        (_delete("timing.endTime"), "timing.endTime is required"),
        (
            _set("timing.startTime.seconds", "1"),
            "timing.startTime.seconds must be a number, got string",
        ),
        (
            _set("timing.endTime.milliseconds", None),
            "timing.endTime.milliseconds must be a number, got null",
        ),
        (
            _set("timing.startTime", {"seconds": -1, "milliseconds": 0}),
            "timing.startTime must not be negative, got -1000 ms",
        ),
        (
            _set("timing.endTime", {"seconds": 1_699_999_999, "milliseconds": 0}),
            "timing.startTime must not be after timing.endTime (1700000000000 > 1699999999000 ms)",
        ),
        (
            _set("timing.endTime", {"seconds": 1e13, "milliseconds": 0}),
            "timing.endTime is out of range: 10000000000000000 ms is after the year 9999",
        ),
        (
            _set("timing.timeToFirstToken", "5"),
            "timing.timeToFirstToken must be a number, got string",
        ),
    ],
)
def test_invalid_field_is_named_in_the_error(mutate: Callable[[Body], None], message: str) -> None:
    body = copy.deepcopy(make_body())
    mutate(body)
    with pytest.raises(InvalidLogError) as caught:
        validate_async_log(body)
    assert str(caught.value) == message


@pytest.mark.parametrize(("body", "kind"), [([], "array"), ("x", "string"), (None, "null")])
def test_body_that_is_not_an_object_is_invalid(body: object, kind: str) -> None:
    with pytest.raises(InvalidLogError, match=f"body must be a JSON object, got {kind}"):
        validate_async_log(body)


def test_start_equal_to_end_is_valid() -> None:
    body = make_body()
    body["timing"]["endTime"] = dict(body["timing"]["startTime"])
    validate_async_log(body)


def test_fractional_milliseconds_are_valid() -> None:
    body = make_body()
    body["timing"]["endTime"]["milliseconds"] = 250.5
    validate_async_log(body)
