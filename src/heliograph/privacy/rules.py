"""The secret detectors of the ``redacted`` mode: one precompiled regex per kind of secret.

Three constraints shape every pattern here:

* **Linear time on any input.** Telemetry runs on the caller's thread, on text an attacker
  (or a pasted log file) may control. Every repetition is bounded or possessive (``{m,n}+``,
  ``*+``, Python 3.11+), so a failed attempt never backtracks into itself, and every pattern
  that starts with a literal prefix has a look-behind so that a run like ``eyJeyJeyJ…`` is
  tried once, not at every offset. Each rule also names lowercase *triggers*: the regex runs
  only if one occurs in the text, so ordinary text costs a few substring searches.
* **Few false positives.** Vendor tokens are recognised by their documented prefixes;
  the generic ``password=``/``.env`` rules skip values that look like code (``password=None``,
  ``api_key=self.api_key``, ``secret: str``) or placeholders (``${DB_PASSWORD}``).
* **Mask the secret, keep the context.** Only the secret itself becomes
  ``[REDACTED:<kind>]``: ``postgres://app:[REDACTED:connection_string]@db:5432/orders`` still
  tells the reader which database was used.

Rules run in order; specific ones first, so ``OPENAI_API_KEY=sk-…`` counts as an
``openai_key``, and later rules leave already-masked values alone.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Callable

__all__ = ["MASK_PREFIX", "RULES", "Rule", "mask"]

MASK_PREFIX = "[REDACTED:"

Span = tuple[str, int, int]
"""``(kind, start, end)``: what to mask in the matched text, and how to count it."""


def mask(kind: str) -> str:
    return f"{MASK_PREFIX}{kind}]"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One detector. ``pick`` decides, per match, what (if anything) to mask."""

    kind: str
    regex: re.Pattern[str]
    triggers: tuple[str, ...]
    pick: Callable[[Rule, re.Match[str]], Span | None]

    def applies_to(self, lowered: str) -> bool:
        return not self.triggers or any(t in lowered for t in self.triggers)


# -- how a match is turned into a span ---------------------------------------------------


def _whole(rule: Rule, match: re.Match[str]) -> Span | None:
    return rule.kind, match.start(), match.end()


def _last_group(rule: Rule, match: re.Match[str]) -> Span | None:
    group = match.lastindex or 0
    return rule.kind, match.start(group), match.end(group)


def _random_token(rule: Rule, match: re.Match[str]) -> Span | None:
    """Mask only tokens that look random (letters and digits mixed), not ``sk-learn-docs-…``."""
    if not _looks_random(match.group(1)):
        return None
    return rule.kind, match.start(), match.end()


def _looks_random(token: str) -> bool:
    has_digit = any(c.isdigit() for c in token)
    has_upper = any(c.isupper() for c in token)
    has_lower = any(c.islower() for c in token)
    return has_digit and (has_upper or has_lower)


_DB_SCHEMES = frozenset(
    {
        "postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis",
        "rediss", "amqp", "amqps", "mssql", "sqlserver", "oracle", "cockroachdb", "clickhouse",
        "couchdb", "neo4j", "neo4j+s", "bolt", "memcached", "kafka", "nats", "cassandra",
        "postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg", "mysql+pymysql",
    }
)  # fmt: skip


def _url_password(rule: Rule, match: re.Match[str]) -> Span | None:
    password = match.group(3)
    if MASK_PREFIX in password or _is_placeholder(password):
        return None
    scheme = match.group(1).lower()
    kind = "connection_string" if scheme in _DB_SCHEMES else rule.kind
    return kind, match.start(3), match.end(3)


def _authorization(rule: Rule, match: re.Match[str]) -> Span | None:
    token = match.group(2)
    scheme = match.group(1).lower()
    if scheme == "basic":
        # Basic credentials are base64("user:password"); "basic authentication" is prose.
        try:
            decoded = base64.b64decode(token, validate=True)
        except ValueError:
            return None
        if b":" not in decoded:
            return None
        return "basic_auth", match.start(2), match.end(2)
    if not _looks_random(token):
        return None
    return rule.kind, match.start(2), match.end(2)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*+(?:\.[A-Za-z_][A-Za-z0-9_]*+)*+")
_NUMBER = re.compile(r"[0-9][0-9.,_]*+")
_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,200}+[(\[]")
_CODE_WORDS = frozenset(
    {"none", "null", "nil", "true", "false", "undefined", "string", "str", "bytes", "optional"}
)
_PASSWORD_WORDS = ("password", "passwd", "pwd", "passphrase")


def _is_placeholder(value: str) -> bool:
    """``""``, ``***``, ``xxxx``, ``<password>``, ``${DB_PASSWORD}``, ``{{ secret }}``, ``%s``."""
    stripped = value.strip()
    if not stripped or len(set(stripped)) == 1:
        return True
    return stripped[0] in "<$%{" or stripped.lower() in _CODE_WORDS


def _is_code(value: str, after: str) -> bool:
    """A variable, attribute, call or number rather than a literal secret."""
    if _NUMBER.fullmatch(value) or _CALL.match(value):
        return True
    if _IDENTIFIER.fullmatch(value):
        has_digit = any(c.isdigit() for c in value)
        return "." in value or not has_digit or after[:1] in ("(", "[")
    return False


def _assignment(rule: Rule, match: re.Match[str]) -> Span | None:
    """``password = "hunter2"``, ``"api_key": "…"``, ``secret: abc123`` (not ``secret: str``)."""
    quoted = match.lastindex is not None and match.lastindex < 4
    group = match.lastindex or 0
    value = match.group(group)
    if MASK_PREFIX in value or _is_placeholder(value):
        return None
    if not quoted and _is_code(value, match.string[match.end() : match.end() + 1]):
        return None
    keyword = match.group(1).lower()
    kind = "password" if keyword.startswith(_PASSWORD_WORDS) else rule.kind
    return kind, match.start(group), match.end(group)


_STRONG_NAME_PARTS = frozenset(
    {
        "PASSWORD", "PASSWD", "PWD", "PASS", "PASSPHRASE", "SECRET", "SECRETS", "TOKEN",
        "CREDENTIAL", "CREDENTIALS", "APIKEY", "DSN", "PRIVATE",
    }
)  # fmt: skip
_KEY_QUALIFIERS = frozenset(
    {"API", "ACCESS", "SECRET", "PRIVATE", "SIGNING", "ENCRYPTION", "MASTER", "LICENSE", "AUTH"}
)


def _sensitive_env_name(name: str) -> bool:
    parts = name.split("_")
    if any(part in _STRONG_NAME_PARTS for part in parts):
        return True
    return any(
        part == "KEY" and i > 0 and parts[i - 1] in _KEY_QUALIFIERS for i, part in enumerate(parts)
    )


def _env_line(rule: Rule, match: re.Match[str]) -> Span | None:
    """``GITHUB_TOKEN=…`` on a line of its own, as in ``.env`` files and shell profiles."""
    name, value = match.group(1), match.group(2).rstrip()
    if not name.isupper() or not _sensitive_env_name(name):
        return None
    quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
    bare = value[1:-1] if quoted else value
    if MASK_PREFIX in value or _is_placeholder(bare) or len(bare) < 3:
        return None
    if not quoted and (_is_code(bare, "") or value[-1] in "([{,"):
        return None
    return rule.kind, match.start(2), match.start(2) + len(value)


def _rule(
    kind: str,
    pattern: str,
    triggers: tuple[str, ...],
    pick: Callable[[Rule, re.Match[str]], Span | None] = _whole,
    flags: int = 0,
) -> Rule:
    return Rule(kind, re.compile(pattern, flags), triggers, pick)


# Characters of base64url/base62 tokens, and the look-behind that anchors a token's start.
_TOK = r"[A-Za-z0-9_-]"
_START = r"(?<![A-Za-z0-9_-])"

RULES: tuple[Rule, ...] = (
    _rule(
        "private_key",
        r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[A-Za-z0-9+/=\s:,.\\]|-(?!----))*+"
        r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
        ("private key",),
    ),
    _rule("anthropic_key", _START + r"sk-ant-[a-z0-9]{2,12}-" + _TOK + r"{20,300}+", ("sk-ant-",)),
    _rule(
        "helicone_key",
        _START + r"[sp]k-helicone-(?:[a-z]{2,3}-)?[a-z0-9]{5,12}(?:-[a-z0-9]{5,12}){2,6}",
        ("-helicone-",),
    ),
    _rule(
        "openai_key",
        _START + r"sk-(?:proj-|svcacct-|admin-|None-)?(" + _TOK + r"{20,300}+)",
        ("sk-",),
        _random_token,
    ),
    _rule(
        "github_token",
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}+|github_pat_[A-Za-z0-9_]{22,255}+)",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _rule(
        "gitlab_token",
        _START + r"gl(?:pat|dt|rt|ptt|ft|soat|cbt|imt|oas)-" + _TOK + r"{20,64}+",
        ("glpat-", "gldt-", "glrt-", "glptt-", "glft-", "glsoat-", "glcbt-", "glimt-", "gloas-"),
    ),
    _rule(
        "slack_webhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{20,200}+",
        ("hooks.slack.com",),
    ),
    _rule(
        "slack_token",
        _START + r"(?:xox[abeoprs]-[A-Za-z0-9-]{10,250}+|xapp-[0-9]-[A-Za-z0-9-]{10,250}+)",
        ("xox", "xapp-"),
    ),
    _rule(
        "stripe_key",
        r"(?<![A-Za-z0-9_])(?:[sr]k_(?:live|test)_[A-Za-z0-9]{16,255}+|whsec_[A-Za-z0-9]{24,255}+)",
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"),
    ),
    _rule("google_api_key", _START + r"AIza" + _TOK + r"{35}(?!" + _TOK + ")", ("aiza",)),
    _rule("google_oauth_token", _START + r"ya29\." + _TOK + r"{20,2048}+", ("ya29.",)),
    _rule(
        "aws_access_key",
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        ("akia", "asia", "abia", "acca"),
    ),
    _rule(
        "aws_secret_key",
        r"(?i)(?:aws_?secret_?access_?key|aws_?secret_?key|aws_?secret|secret_?access_?key)"
        r"""["']?\s{0,5}(?::=|=>|[:=])\s{0,5}["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])""",
        ("secret",),
        _last_group,
    ),
    _rule("npm_token", r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])", ("npm_",)),
    _rule("pypi_token", _START + r"pypi-AgEIcHlwaS5vcmc" + _TOK + r"{50,1000}+", ("pypi-ageic",)),
    _rule(
        "huggingface_token",
        r"(?<![A-Za-z0-9_])hf_([A-Za-z0-9]{34,40})(?![A-Za-z0-9])",
        ("hf_",),
        _random_token,
    ),
    _rule(
        "sendgrid_key",
        _START + r"SG\." + _TOK + r"{22}\." + _TOK + r"{43}(?!" + _TOK + ")",
        ("sg.",),
    ),
    _rule(
        "jwt",
        _START + r"eyJ" + _TOK + r"{8,8192}+\.eyJ" + _TOK + r"{8,8192}+\.[A-Za-z0-9_=-]{0,8192}+",
        ("eyj",),
    ),
    _rule(
        "url_password",
        r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{1,30}+)://"
        r"""([^\s:/?#@"'<>\[\]]{0,128}+):([^\s/?#"'<>]{1,256})@""",
        ("://",),
        _url_password,
    ),
    _rule(
        "bearer_token",
        r"(?i)(?<![A-Za-z0-9])(bearer|token|basic)[ \t]{1,5}+([A-Za-z0-9._~+/-]{8,4096}+=*+)",
        ("bearer", "token", "basic"),
        _authorization,
    ),
    _rule(
        "env_secret",
        r"(?m)^[ \t]*+(?:export[ \t]++)?([A-Za-z_][A-Za-z0-9_]{0,79}+)[ \t]*+=[ \t]*+"
        r"([^\r\n]{1,4096})",
        ("=",),
        _env_line,
    ),
    _rule(
        "secret",
        r"(?i)(password|passwd|pwd|passphrase|secret[_-]?key|secret|api[_-]?key|apikey"
        r"|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token|access[_-]?token"
        r"|refresh[_-]?token|token|credentials?)(?![A-Za-z0-9])"
        r"""\\?["']?[ \t]{0,5}(?::=|=>|[:=])[ \t]{0,5}"""
        r"""(?:\\?"([^"\\\r\n]{1,512}+)\\?"|'([^'\r\n]{1,512}+)'"""
        r"""|([^\s"'`,;&<>(){}\[\]]{1,512}+))""",
        ("pass", "pwd", "secret", "key", "token", "credential"),
        _assignment,
    ),
)
