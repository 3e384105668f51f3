"""The ``redacted`` mode on a corpus of realistic fake secrets and of ordinary text."""

from __future__ import annotations

import pytest

from heliograph.privacy import PrivacyFilter
from tests.privacy.corpus import INNOCENT, SecretCase, secret_cases

CASES = secret_cases()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}:{c.text.split()[0][:16]}")
def test_each_secret_is_masked_in_place_and_counted(case: SecretCase) -> None:
    f = PrivacyFilter("redacted")
    out = f.text(case.text)
    assert out == case.expected
    assert case.secret not in out
    assert dict(f.counts) == {case.kind: 1}


def test_a_whole_document_of_secrets_loses_every_one() -> None:
    f = PrivacyFilter("redacted")
    document = "\n\n".join(c.text for c in CASES)
    out = f.text(document)
    leaked = [c.kind for c in CASES if c.secret in out]
    assert leaked == []
    assert f.counts.total == len(CASES)


def test_ordinary_code_and_prose_come_through_unchanged() -> None:
    f = PrivacyFilter("redacted")
    assert f.text(INNOCENT) == INNOCENT
    for line in INNOCENT.splitlines():
        assert f.text(line) == line
    assert f.counts.total == 0


def test_a_secret_inside_escaped_json_is_masked() -> None:
    f = PrivacyFilter("redacted")
    escaped = '{\\"password\\": \\"Tr0ub4dor3\\", \\"user\\": \\"ada\\"}'
    assert f.text(escaped) == '{\\"password\\": \\"[REDACTED:password]\\", \\"user\\": \\"ada\\"}'


def test_extra_patterns_mask_as_custom() -> None:
    f = PrivacyFilter("redacted", extra_patterns=("ACME-[0-9]{6}",))
    assert f.text("ticket ACME-123456 and ACME-654321") == (
        "ticket [REDACTED:custom] and [REDACTED:custom]"
    )
    assert dict(f.counts) == {"custom": 2}


ADVERSARIAL = {
    "jwt-prefixes": "eyJ" * 350_000,
    "key-prefixes": "sk-" * 350_000,
    "url-without-at": "a://" + "b" * 1_000_000,
    "assignments": "password=" * 120_000,
    "pem-headers": "-----BEGIN RSA PRIVATE KEY-----" * 34_000,
    "bearer-run": "Bearer " + "a1" * 500_000,
    "env-lines": "API_KEY=" * 130_000,
    "colons": "x:" * 500_000 + "@",
    "tokens": " token " * 150_000,
    "quotes": 'secret="' * 130_000,
    "pem-unterminated": "-----BEGIN PRIVATE KEY-----\n" + "A" * 1_000_000,
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=list(ADVERSARIAL))
def test_a_megabyte_of_adversarial_input_does_not_hang(text: str) -> None:
    # The timeout is the assertion: backtracking regexes take hours on these inputs.
    out = PrivacyFilter("redacted").text(text)
    assert isinstance(out, str)
