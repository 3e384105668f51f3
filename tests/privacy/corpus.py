"""Realistic fake secrets, generated fresh for each run (never real ones), and innocent text.

Each secret is built the way its issuer formats it (prefix, alphabet, length), from random
characters, so the detectors are tested on the shapes they will meet, not on fixed strings.
"""

from __future__ import annotations

import base64
import secrets
import string

__all__ = ["INNOCENT", "SecretCase", "secret_cases"]

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"
LOWER_ALNUM = string.ascii_lowercase + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    # Random, and with letters and digits mixed when the alphabet has both, as issued tokens are.
    mixed = any(c.isdigit() for c in alphabet) and any(c.isalpha() for c in alphabet)
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(n))
        if not mixed or (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
            return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SecretCase:
    """``text`` holds ``secret`` once; after redaction it must read ``expected``."""

    def __init__(self, kind: str, text: str, secret: str, expected: str) -> None:
        self.kind, self.text, self.secret, self.expected = kind, text, secret, expected

    def __repr__(self) -> str:
        return f"SecretCase({self.kind})"


def _case(kind: str, template: str, secret: str) -> SecretCase:
    return SecretCase(
        kind,
        template.replace("{}", secret),
        secret,
        template.replace("{}", f"[REDACTED:{kind}]"),
    )


def secret_cases() -> list[SecretCase]:
    """One case per kind and context; each text contains exactly one secret."""
    pem_body = "\n".join(rand(64, ALNUM + "+/") for _ in range(6))
    aws_secret = rand(40, ALNUM + "/+")
    jwt = ".".join(
        (
            b64url(b'{"alg":"HS256","typ":"JWT"}'),
            b64url(b'{"sub":"1234567890","name":"Ada","iat":1516239022}'),
            b64url(secrets.token_bytes(32)),
        )
    )
    upper = string.ascii_uppercase + string.digits
    webhook = f"https://hooks.slack.com/services/T{rand(8, upper)}/B{rand(10, upper)}/{rand(24)}"
    encrypted_pem = (
        f"-----BEGIN ENCRYPTED PRIVATE KEY-----\n{pem_body}\n-----END ENCRYPTED PRIVATE KEY-----"
    )
    helicone = "sk-helicone-" + "-".join(rand(7, LOWER_ALNUM) for _ in range(4))
    return [
        _case(
            "openai_key",
            "export OPENAI_API_KEY={}",
            f"sk-proj-{rand(74, B64URL)}T3BlbkFJ{rand(74, B64URL)}",
        ),
        _case("openai_key", "client = OpenAI(api_key='{}')", f"sk-{rand(20)}T3BlbkFJ{rand(20)}"),
        _case("anthropic_key", "ANTHROPIC_API_KEY={}", f"sk-ant-api03-{rand(93, B64URL)}AA"),
        _case("anthropic_key", "x-api-key: {}", f"sk-ant-admin01-{rand(93, B64URL)}AA"),
        _case("helicone_key", '"Helicone-Auth": "Bearer {}"', helicone),
        _case("github_token", "git clone https://{}@github.com/acme/app.git", f"ghp_{rand(36)}"),
        _case("github_token", "GH_TOKEN is {} for CI", f"github_pat_11{rand(20)}_{rand(59)}"),
        _case("gitlab_token", "PRIVATE-TOKEN: {}", f"glpat-{rand(20, B64URL)}"),
        _case(
            "slack_token",
            "slack_client = WebClient(token={})",
            f"xoxb-{rand(12, string.digits)}-{rand(13, string.digits)}-{rand(24)}",
        ),
        _case(
            "slack_webhook",
            "post to {} when done",
            webhook,
        ),
        _case("stripe_key", "stripe.api_key = '{}'", f"sk_live_{rand(99)}"),
        _case("stripe_key", "STRIPE_WEBHOOK={}", f"whsec_{rand(32)}"),
        _case("google_api_key", "maps.js?key={}&callback=init", f"AIza{rand(35, B64URL)}"),
        _case("google_oauth_token", "access: {} expires in 3599s", f"ya29.{rand(150, B64URL)}"),
        _case(
            "aws_access_key",
            "aws_access_key_id = {}",
            f"AKIA{rand(16, string.ascii_uppercase + '234567')}",
        ),
        _case(
            "aws_access_key",
            "temporary creds {} from STS",
            f"ASIA{rand(16, string.ascii_uppercase + '234567')}",
        ),
        _case(
            "aws_secret_key",
            "[default]\naws_secret_access_key = {}\nregion = eu-west-1",
            aws_secret,
        ),
        _case("jwt", "the session cookie {} expired", jwt),
        _case(
            "private_key",
            "key file:\n{}\nthat was the key",
            f"-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----",
        ),
        _case(
            "private_key",
            "{}\n",
            f"-----BEGIN OPENSSH PRIVATE KEY-----\n{pem_body}\n-----END OPENSSH PRIVATE KEY-----",
        ),
        _case(
            "private_key",
            "{}",
            encrypted_pem,
        ),
        _case(
            "connection_string", "DATABASE_URL=postgres://app:{}@db.internal:5432/orders", rand(16)
        ),
        _case("connection_string", "broker = 'amqp://worker:{}@rabbit:5672/vhost'", rand(12)),
        _case("connection_string", "REDIS_URL=redis://:{}@cache:6379/0", rand(24)),
        _case(
            "connection_string", "mongodb+srv://admin:{}@cluster0.ab1cd.mongodb.net/prod", rand(14)
        ),
        _case("url_password", "fetch https://deploy:{}@git.example.com/repo.git", rand(18)),
        _case(
            "bearer_token",
            "curl -H 'Authorization: Bearer {}' https://api.example.com",
            rand(40, B64URL + "."),
        ),
        _case(
            "basic_auth",
            "Authorization: Basic {}",
            base64.b64encode(f"admin:{rand(12)}".encode()).decode(),
        ),
        _case("password", 'db_password = "{}"', rand(14) + "!#"),
        _case("password", "PGPASSWORD: {}", rand(12)),
        _case("password", '{"username": "ada", "password": "{}"}', rand(10)),
        _case("password", "mysql -u root --password={} app", rand(12)),
        _case("secret", "client_secret: {}", rand(32)),
        _case("secret", "api_key={}&format=json", rand(32)),
        _case(
            "env_secret",
            "DJANGO_SECRET_KEY={}\nDEBUG=false",
            "django-insecure-" + rand(40, ALNUM + "!@#%^&*(-_=+)"),
        ),
        _case("env_secret", "export GITHUB_TOKEN={}", rand(30)),
        _case("npm_token", "//registry.npmjs.org/:_authToken={}", f"npm_{rand(36)}"),
        _case("huggingface_token", "HF token {} for downloads", f"hf_{rand(34)}"),
    ]


INNOCENT = """\
def check_password(password: str) -> bool:
    \"\"\"Return True if the password matches the stored hash.\"\"\"
    return bcrypt.checkpw(password.encode(), stored_hash)

client = OpenAI(api_key=api_key, base_url=settings.base_url)
token = None
api_key = os.environ["OPENAI_API_KEY"]
API_KEY = os.environ['API_KEY']
SECRET_KEY = get_secret("django")
password = self.password
secret: str
tokens: int = 0
max_tokens = 1024
PASSWORD_MIN_LENGTH = 8
CACHE_KEY = "sessions"
export PATH=/usr/local/bin:$PATH
export DATABASE_URL=$DATABASE_URL
password: ${DB_PASSWORD}
token: ${{ secrets.GITHUB_TOKEN }}
if not password:
    raise ValueError("password is required")
response = requests.get("https://api.example.com/v1/items?page=2", timeout=5)
Visit http://localhost:8080/v1/messages or https://docs.python.org/3/library/re.html.
The risk-assessment-framework-document and the desk-reservation-system-v2 are ready.
Use Bearer tokens for authentication; basic authentication is weaker.
The token limit was reached after 4096 tokens; the secret to speed is caching.
ASIAN markets opened higher. AKIA is a common prefix, as the docs explain.
The user's session id is 3f2b9c1d-7e40-4e6a-9a35-6f2b9c1d7e40 and the commit is 6915c66.
sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
git log --oneline | head -5; ls -la ~/.ssh/; cat README.md
SELECT id, name FROM users WHERE email = 'ada@example.com';
The -----BEGIN CERTIFICATE----- block holds a public certificate, not a key.
skip-navigation-link-header-item, task-runner-config-loader-v2, disk-usage-monitor-2024
{"model": "claude-sonnet-4-5", "max_tokens": 1024, "input_tokens": 12, "token_count": 5}
Set `password_hash` from the form; never log the password itself.
secret_santa = True
auth_token_ttl_seconds = 3600
"""
