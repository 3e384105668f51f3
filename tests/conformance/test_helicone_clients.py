"""Heliograph's manual logger against Helicone's own clients, on the wire, field by field.

Every scenario in ``scenarios.py`` is run through npm ``@helicone/helpers`` 1.8.3, PyPI
``helicone-helpers`` 1.2.1 and ``heliograph.ManualLogger``, each against a loopback capture
server. The captured requests are normalised (``normalise.py``) and diffed. Heliograph must
send exactly what each client sends, except for the differences listed in
``DELIBERATE_DIFFERENCES``: any other difference fails, and so does a listed difference that
no longer occurs (the table must stay true). ``docs/compatibility.md`` explains each entry.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import urllib.request
from importlib.util import find_spec
from typing import Any

import pytest

from heliograph.model.pricing import cost_usd
from heliograph.model.usage import usage_from_response

from .capture_server import CaptureServer
from .drivers import RunScenario, npm_missing_reason
from .normalise import ABSENT, INT_MS, TIMESTAMP, UUID, diff, is_helicone_uuid, normalise
from .scenarios import API_KEY, SCENARIOS, Scenario

# --- the table of deliberate differences --------------------------------------------------

Value = Any  # a normalised value, or a Callable[[Scenario], Any] computing one


@dataclasses.dataclass(frozen=True)
class Difference:
    """Heliograph sends ``heliograph`` where the client sends ``client`` (normalised values,
    or functions of the scenario), in ``scenarios`` (``None``: every scenario)."""

    field: str
    heliograph: Value
    client: Value
    why: str
    scenarios: tuple[str, ...] | None = None

    def expected(self, scenario: Scenario) -> tuple[Any, Any]:
        def resolve(value: Value) -> Any:
            return value(scenario) if callable(value) else value

        return resolve(self.heliograph), resolve(self.client)


def _merged_results(scenario: Scenario) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for result in scenario["results"]:
        merged.update(result)
    return merged


def _with_unknown_tags(scenario: Scenario) -> dict[str, Any]:
    return {**_merged_results(scenario), "_type": "unknown", "toolName": "unknown"}


def _ctor_headers(scenario: Scenario) -> dict[str, str]:
    return dict(scenario["ctor_headers"])


PROVIDER_GIVEN = (
    "log_request_openai",
    "log_request_anthropic",
    "log_request_google",
    "ctor_headers",
    "ctor_headers_other_case",
)
OBJECT_RESULT = (
    "log_request_openai",
    "log_request_anthropic",
    "log_request_google",
    "log_request_no_provider",
    "log_request_tool_event",
    "ctor_headers",
    "ctor_headers_other_case",
)
CTOR_HEADERS = ("ctor_headers", "ctor_headers_other_case")

REQUEST_ID = Difference(
    "header:helicone-request-id",
    UUID,
    ABSENT,
    "Heliograph sends a Helicone-Request-Id on every log: a UUID that passes Helicone's "
    "v1-5 check, chosen when the call is captured and stored with the spooled record, so "
    "every re-send of that record carries the same id.",
)
RESPONSE_HEADERS = Difference(
    "body:providerResponse.headers",
    {},
    _ctor_headers,
    "The clients copy their constructor headers (request headers such as Helicone-User-Id) "
    "into providerResponse.headers, reporting them as the provider's response headers; "
    "Heliograph sends only response headers it was given (none for a manual log).",
    CTOR_HEADERS,
)
OPERATION_ERROR_LOGGED = Difference(
    "requests",
    1,
    0,
    "A failed call is telemetry too: Heliograph logs it (status 500, the traceback as "
    "textBody) and re-raises; both clients re-raise and log nothing.",
    ("operation_raises",),
)
SINGLE_REQUEST_BACKDATED = Difference(
    "timing:start",
    "<call time minus latency_ms>",
    "<during the call>",
    "log_single_request reports a call that already finished: Heliograph ends it at the "
    "logging time and starts it latency_ms earlier; the clients start it at the logging time, "
    "so its endTime lies latency_ms in the future.",
    ("single_request",),
)


def _priced(scenario: Scenario) -> float | None:
    """The cost Heliograph computes from the scenario's response usage and model."""
    provider = scenario["provider"].upper()
    response = _merged_results(scenario)
    usage = usage_from_response(provider, response)
    assert usage is not None
    model = response.get("model") or scenario["request"]["model"]
    return cost_usd(provider, model, usage)


COST_SENT = Difference(
    "body:providerResponse.cost",
    _priced,
    ABSENT,
    "Heliograph prices a call with a known model and usage from its bundled price table "
    "and sends the cost (providerResponse.cost); neither client sends one.",
    ("log_request_openai", "log_request_anthropic", *CTOR_HEADERS),
)
PER_CALL_HEADER_WINS = Difference(
    "header:helicone-user-id",
    "u2",
    "ctor, u2",
    "HTTP header names are case-insensitive; a per-call header must replace the "
    "constructor's. npm's fetch sends both values, which Helicone reads as 'ctor, u2'.",
    ("ctor_headers_other_case",),
)

DELIBERATE_DIFFERENCES: dict[str, tuple[Difference, ...]] = {
    "npm": (
        REQUEST_ID,
        RESPONSE_HEADERS,
        OPERATION_ERROR_LOGGED,
        SINGLE_REQUEST_BACKDATED,
        PER_CALL_HEADER_WINS,
        COST_SENT,
        Difference(
            "body:provider",
            lambda s: s["provider"].upper(),
            lambda s: s["provider"],
            "Heliograph sends Helicone's provider name (OPENAI, ANTHROPIC, GOOGLE); npm "
            "echoes the caller's spelling. Helicone's worker ignores this field (the route "
            "decides the provider).",
            PROVIDER_GIVEN,
        ),
        Difference(
            "body:providerResponse.textBody",
            "<python traceback>\n_Boom: boom",
            "Error: boom\n<js stack>\n\n",
            "Both send the error's trace then '\\n\\n' + the partial response; Heliograph's "
            "trace is a Python traceback and it leaves out the separator when there is no "
            "partial response.",
            ("builder_error",),
        ),
    ),
    "python": (
        REQUEST_ID,
        RESPONSE_HEADERS,
        OPERATION_ERROR_LOGGED,
        SINGLE_REQUEST_BACKDATED,
        COST_SENT,
        Difference(
            "body:provider",
            lambda s: s["provider"].upper(),
            ABSENT,
            "helicone-helpers never sends the top-level provider; Heliograph sends it when "
            "the caller named one, as npm does.",
            PROVIDER_GIVEN,
        ),
        Difference(
            "path",
            "/googleapis/v1/log",
            "/custom/v1/log",
            "helicone-helpers routes only 'openai' and 'anthropic'; Heliograph routes Google "
            "to /googleapis/v1/log, as npm does; the route decides the provider Helicone "
            "records.",
            ("log_request_google",),
        ),
        Difference(
            "body:providerResponse.json",
            _merged_results,
            _with_unknown_tags,
            "helicone-helpers adds '_type': 'unknown' and 'toolName': 'unknown' to every "
            "object result; Heliograph copies _type/toolName/name only when the request "
            "has them, as npm does.",
            tuple(s for s in OBJECT_RESULT if s != "log_request_tool_event"),
        ),
        Difference(
            "body:providerResponse.textBody",
            ABSENT,
            None,
            "helicone-helpers sends textBody: null beside an object result; Heliograph "
            "omits it, as npm does.",
            OBJECT_RESULT,
        ),
        Difference(
            "body:timing.timeToFirstToken",
            ABSENT,
            None,
            "helicone-helpers sends timeToFirstToken: null when unknown, which Helicone "
            "stores as 0 ms (Number(null)); Heliograph omits it, as npm does.",
            tuple(s for s in SCENARIOS if s != "operation_raises"),
        ),
        Difference(
            "body:providerResponse.json",
            lambda s: s["response"],
            {},
            "helicone-helpers' add_response(dict) json.dumps the dict into textBody and sends "
            "json: {}; Heliograph sends the object as json, as npm does with an object.",
            ("builder_response_object",),
        ),
        Difference(
            "body:providerResponse.textBody",
            ABSENT,
            lambda s: json.dumps(s["response"]),
            "(the other half of the entry above)",
            ("builder_response_object",),
        ),
        Difference(
            "body:providerResponse.status",
            500,
            200,
            "helicone-helpers' builder computes status 500 after set_error but always "
            "sends 200; Heliograph sends 500, as npm does.",
            ("builder_error",),
        ),
        Difference(
            "body:providerResponse.textBody",
            "<python traceback>\n_Boom: boom",
            "<python traceback>\n_Boom: boom\n\n\n",
            "Same traceback; helicone-helpers appends '\\n\\n' + the (empty) partial "
            "response, Heliograph only when there is a partial response.",
            ("builder_error",),
        ),
    ),
}

# Differences that Heliograph should not have but has today: the comparison is expected to
# fail (strict xfail, so fixing the bug makes the test fail until the mark is removed).
SUSPECTED_HELIOGRAPH_BUGS: dict[str, str] = {}

# Fields of the call's outcome, compared even when a client sent no request.
CALL_FIELDS = frozenset({"call:returned", "call:raised", "requests"})

# --- parametrisation ----------------------------------------------------------------------

_NPM_MISSING = npm_missing_reason()
_PY_MISSING = None if find_spec("helicone_helpers") else "helicone-helpers is not installed"
CLIENT_MARKS = {
    "npm": [
        pytest.mark.npm,
        pytest.mark.skipif(_NPM_MISSING is not None, reason=_NPM_MISSING or ""),
    ],
    "python": [pytest.mark.skipif(_PY_MISSING is not None, reason=_PY_MISSING or "")],
}
CLIENTS = tuple(CLIENT_MARKS)


def _cases(*scenarios: str) -> list[Any]:
    cases = []
    for client in CLIENTS:
        for name in scenarios:
            marks = list(CLIENT_MARKS[client])
            if name in SUSPECTED_HELIOGRAPH_BUGS:
                marks.append(pytest.mark.xfail(reason=SUSPECTED_HELIOGRAPH_BUGS[name]))
            cases.append(pytest.param(client, name, marks=marks, id=f"{client}-{name}"))
    return cases


LOG_REQUEST_SCENARIOS = (
    "log_request_openai",
    "log_request_anthropic",
    "log_request_google",
    "log_request_no_provider",
    "log_request_tool_event",
)
COMPARED_GROUPS = {
    "single_request": ("single_request",),
    "log_request": LOG_REQUEST_SCENARIOS,
    "ctor_headers": CTOR_HEADERS,
    "builder_response": ("builder_response", "builder_response_object"),
    "builder_error": ("builder_error",),
    "operation_raises": ("operation_raises",),
}


def expected_differences(client: str, name: str) -> dict[str, tuple[Any, Any]]:
    scenario = SCENARIOS[name]
    return {
        d.field: d.expected(scenario)
        for d in DELIBERATE_DIFFERENCES[client]
        if d.scenarios is None or name in d.scenarios
    }


def observed_differences(run_scenario: RunScenario, client: str, name: str) -> dict[str, Any]:
    scenario = SCENARIOS[name]
    ours = normalise(run_scenario("heliograph", name), scenario)
    theirs = normalise(run_scenario(client, name), scenario)
    return diff(ours, theirs)


def assert_matches_except_listed(run_scenario: RunScenario, client: str, name: str) -> None:
    observed = observed_differences(run_scenario, client, name)
    expected = expected_differences(client, name)
    if run_scenario(client, name).captures == []:
        # Nothing on the wire to compare field by field: compare the call's outcome.
        observed = {k: v for k, v in observed.items() if k in CALL_FIELDS}
        expected = {k: v for k, v in expected.items() if k in CALL_FIELDS}
    unexpected = {k: v for k, v in observed.items() if expected.get(k, ABSENT) != v}
    missing = {k: v for k, v in expected.items() if observed.get(k, ABSENT) != v}
    assert not unexpected and not missing, (
        f"Heliograph vs {client} in {name!r}:\n"
        f"  differences not listed in DELIBERATE_DIFFERENCES (heliograph, {client}): "
        f"{unexpected}\n"
        f"  listed differences that did not occur as listed: {missing}"
    )


# --- comparisons, one test per kind of call -----------------------------------------------


@pytest.mark.parametrize(("client", "name"), _cases(*COMPARED_GROUPS["single_request"]))
def test_single_request_matches_client_except_listed_differences(
    run_scenario: RunScenario, client: str, name: str
) -> None:
    assert_matches_except_listed(run_scenario, client, name)


@pytest.mark.parametrize(("client", "name"), _cases(*COMPARED_GROUPS["log_request"]))
def test_log_request_route_and_body_match_client_except_listed_differences(
    run_scenario: RunScenario, client: str, name: str
) -> None:
    assert_matches_except_listed(run_scenario, client, name)


@pytest.mark.parametrize(("client", "name"), _cases(*COMPARED_GROUPS["ctor_headers"]))
def test_constructor_headers_match_client_except_listed_differences(
    run_scenario: RunScenario, client: str, name: str
) -> None:
    assert_matches_except_listed(run_scenario, client, name)


@pytest.mark.parametrize(("client", "name"), _cases(*COMPARED_GROUPS["builder_response"]))
def test_builder_response_matches_client_except_listed_differences(
    run_scenario: RunScenario, client: str, name: str
) -> None:
    assert_matches_except_listed(run_scenario, client, name)


@pytest.mark.parametrize(("client", "name"), _cases(*COMPARED_GROUPS["builder_error"]))
def test_builder_error_matches_client_except_listed_differences(
    run_scenario: RunScenario, client: str, name: str
) -> None:
    assert_matches_except_listed(run_scenario, client, name)


@pytest.mark.parametrize(("client", "name"), _cases(*COMPARED_GROUPS["operation_raises"]))
def test_raising_operation_is_reraised_by_all_but_logged_only_by_heliograph(
    run_scenario: RunScenario, client: str, name: str
) -> None:
    assert run_scenario(client, name).raised == "boom"
    assert run_scenario(client, name).captures == []
    assert_matches_except_listed(run_scenario, client, name)


@pytest.mark.parametrize("client", [pytest.param(c, marks=CLIENT_MARKS[c]) for c in CLIENTS])
def test_client_prints_a_raising_operation_but_heliograph_prints_nothing(
    run_scenario: RunScenario, client: str
) -> None:
    assert run_scenario("heliograph", "operation_raises").extra["stdout"] == ""
    run = run_scenario(client, "operation_raises")
    printed = run.extra["stderr"] if client == "npm" else run.extra["stdout"]
    assert "Error during operation: " in printed
    assert "boom" in printed


# --- Heliograph's own wire guarantees -----------------------------------------------------


def test_heliograph_logs_a_raising_operation_with_status_500_and_its_traceback(
    run_scenario: RunScenario,
) -> None:
    run = run_scenario("heliograph", "operation_raises")
    assert run.raised == "boom"
    [capture] = run.captures
    assert capture.path == "/oai/v1/log"
    assert capture.headers["helicone-user-id"] == "u1"
    response = capture.body["providerResponse"]
    assert response["status"] == 500
    assert response["json"] == {}
    assert response["textBody"].startswith("Traceback (most recent call last):\n")
    assert response["textBody"].endswith("_Boom: boom")
    assert capture.body["providerRequest"]["json"] == SCENARIOS["operation_raises"]["request"]
    assert capture.body["provider"] == "OPENAI"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_heliograph_sends_one_well_formed_log_per_call(
    run_scenario: RunScenario, name: str
) -> None:
    run = run_scenario("heliograph", name)
    assert (run.extra["delivered"], run.extra["pending"]) == (1, 0)
    assert run.extra["stdout"] == ""
    [capture] = run.captures
    assert capture.method == "POST"
    assert capture.headers["authorization"] == f"Bearer {API_KEY}"
    assert capture.headers["content-type"] == "application/json"
    assert is_helicone_uuid(capture.headers["helicone-request-id"])
    fields = normalise(run, SCENARIOS[name])
    assert fields["body:timing.startTime"] == TIMESTAMP
    assert fields["body:timing.endTime"] == TIMESTAMP
    assert fields["timing:order"] == "end >= start"
    assert fields.get("body:timing.timeToFirstToken", ABSENT) in (ABSENT, INT_MS)
    # Helicone rejects a log whose providerResponse.json is missing, even beside textBody.
    assert isinstance(capture.body["providerResponse"]["json"], dict)
    assert set(capture.body) <= {"providerRequest", "providerResponse", "timing", "provider"}
    assert ("provider" in capture.body) == (SCENARIOS[name].get("provider") is not None)


def test_heliograph_request_ids_are_distinct_across_logs(run_scenario: RunScenario) -> None:
    ids = [
        run_scenario("heliograph", name).captures[0].headers["helicone-request-id"]
        for name in SCENARIOS
    ]
    assert len(set(ids)) == len(ids)


# --- the harness itself -------------------------------------------------------------------


def test_every_scenario_is_compared_and_the_table_names_only_known_scenarios() -> None:
    compared = {name for group in COMPARED_GROUPS.values() for name in group}
    assert compared == set(SCENARIOS)
    for client, differences in DELIBERATE_DIFFERENCES.items():
        for difference in differences:
            assert set(difference.scenarios or ()) <= set(SCENARIOS), difference.field
        for name in SCENARIOS:
            fields = [d.field for d in differences if d.scenarios is None or name in d.scenarios]
            assert len(fields) == len(set(fields)), f"{client}/{name}: a field is listed twice"
    assert set(SUSPECTED_HELIOGRAPH_BUGS) <= set(SCENARIOS)


def test_capture_server_records_method_path_lowercased_headers_and_json_body() -> None:
    with CaptureServer() as server:
        request = urllib.request.Request(
            server.url + "/custom/v1/log",
            data=b'{"a": [1, 2]}',
            headers={"Content-Type": "application/json", "Helicone-User-Id": "u1"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert response.read() == b"ok"
            assert is_helicone_uuid(response.headers["helicone-id"])
        [capture] = server.wait_for(1)
    assert (capture.method, capture.path) == ("POST", "/custom/v1/log")
    assert capture.headers["helicone-user-id"] == "u1"
    assert capture.headers["content-type"] == "application/json"
    assert capture.body == {"a": [1, 2]}


def test_capture_server_stops_listening_on_exit() -> None:
    with CaptureServer() as server:
        host, port = server.url.removeprefix("http://").split(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
        pass
