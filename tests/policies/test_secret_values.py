"""What a value is: names that say "credential", what such a variable may legitimately hold (many accept cases:
false positives make people disable guardrails), key material, and what scripts and documents hold."""

from __future__ import annotations

import base64
import json
import time

import pytest

from secure_invoke.policies.guardrails.secret_values import (
    SECRET_SHAPES,
    credential_name,
    decoded_texts,
    key_material,
    legitimate_value,
    name_words,
    secret_shape,
    text_findings,
)

# Fake credentials assembled at run time so that no credential-shaped literal sits in the repository.
PEM = "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
OPENSSH = (
    "-----BEGIN OPENSSH "
    + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----"
)
SA_KEY_FILE = json.dumps({"type": "service_account", "private_key_id": "1" * 40, "private_key": PEM,
                          "client_email": "ci@p.iam.gserviceaccount.com"})  # fmt: skip
USER_ADC = json.dumps({"type": "authorized_user", "client_id": "123.apps.googleusercontent.com",
                       "refresh_token": "1//" + "0gFq9zX" * 8})  # fmt: skip
WIF_CONFIG = json.dumps({"type": "external_account", "audience": "//iam.googleapis.com/projects/1/x",
                         "credential_source": {"file": "/var/run/token"}})  # fmt: skip
SHAPES = list(SECRET_SHAPES)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("name", "words"),
    [("DB_PASSWORD", ["DB", "PASSWORD"]), ("dbPassword", ["DB", "PASSWORD"]), ("X-Api-Key", ["X", "API", "KEY"]),
     ("APIKey", ["API", "KEY"]), ("smtp-smtp_password", ["SMTP", "SMTP", "PASSWORD"])],
)  # fmt: skip
def test_names_split_into_words(name: str, words: list[str]) -> None:
    assert name_words(name) == words


CREDENTIAL_NAMES = [
    "PASSWORD", "DB_PASSWORD", "dbPassword", "DB_PASS", "SMTP_PASSWD", "MYSQLPASSWORD", "openaiapikey", "API_KEY",
    "X-Api-Key", "GOOGLE_MAPS_API_KEY", "SECRET_KEY", "SECRET_KEY_BASE", "JWT_SECRET", "CLIENT_SECRET",
    "SESSION_SECRET", "GITHUB_TOKEN", "SLACK_BOT_TOKEN", "AUTH_TOKEN", "accessToken", "REFRESH_TOKEN",
    "PASSPHRASE", "SSH_KEY", "ENCRYPTION_KEY", "SIGNING_KEY", "STRIPE_SECRET_KEY", "ADMIN_CREDENTIALS",
    "GITHUB_PAT", "core-fernet_key", "smtp-smtp_password", "db-password", "Authorization", "_DB_PASSWORD",
    "KEY", "PASSWORD_HASH", "LICENSE_KEY",
]  # fmt: skip
NOT_CREDENTIAL_NAMES = [
    "PASSWORD_MIN_LENGTH", "MIN_PASSWORD_LENGTH", "TOKEN_AUDIENCE", "TOKEN_URL", "OAUTH_TOKEN_ENDPOINT",
    "SECRET_NAME", "SECRET_ID", "SECRET_VERSION", "SECRET_PROJECT", "API_KEY_HEADER", "API_KEY_NAME", "KEY_ID",
    "KMS_KEY_NAME", "KMS_KEY", "CRYPTO_KEY", "KEY_RING", "CACHE_KEY", "SORT_KEY", "PARTITION_KEY", "ORDERING_KEY",
    "IDEMPOTENCY_KEY", "OBJECT_KEY", "PUBLIC_KEY", "DEPLOY_PUBLIC_KEY", "STRIPE_PUBLISHABLE_KEY",
    "RECAPTCHA_SITE_KEY", "JWT_VERIFICATION_KEY", "TOKEN_TTL", "TOKEN_EXPIRY", "SESSION_TOKEN_TTL",
    "PASSWORD_RESET_URL", "DB_PASSWORD_FILE", "GOOGLE_APPLICATION_CREDENTIALS_PATH", "SECRET_MANAGER_PROJECT",
    "TOKENIZER", "KEYCLOAK_URL", "MONKEY", "SECRETARY", "PASSENGER", "password-stdin", "password-env",
    "TOKEN_TYPE", "KEY_ALGORITHM", "PASSWORD_POLICY", "DB_USER", "REGION", "PORT", "TOKEN_ISSUER",
    "SECRET_ROTATION_PERIOD", "API_KEY_SECRET_NAME", "ENABLE_TOKEN_AUTH_MODE",
]  # fmt: skip


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_names_that_say_credential(name: str) -> None:
    assert credential_name(name)


@pytest.mark.parametrize("name", NOT_CREDENTIAL_NAMES)
def test_names_about_a_credential_or_a_key_that_is_none(name: str) -> None:
    assert not credential_name(name)


LEGITIMATE = [
    "", "  ", "12", "0", "-1", "3.5", "3600", "30s", "15m", "1h", "7d", "500ms", "10MB", "2Gi", "true", "False",
    "yes", "off", "disabled", "none", "null", "auto", "https://worker-abc123-uc.a.run.app",
    "https://oauth2.googleapis.com/token", "https://api.example.com/v1?mode=full&token=", "grpc://10.0.0.3:50051",
    "sm://projects/p/secrets/s", "projects/p/secrets/s/versions/latest", "organizations/123/roles/x",
    "//secretmanager.googleapis.com/projects/p/secrets/s", "${DB_PASSWORD}", "${{ secrets.DB_PASSWORD }}",
    "$(gcloud secrets versions access latest --secret=db)", "$DB_PASSWORD", "$$PASSWORD", "$_DB_PASSWORD",
    "{{ db_password }}", "%DB_PASSWORD%", "<your-api-token>", "%s", "%(password)s", "/run/secrets/db-password",
    "./secrets/token", "~/.config/app/token", "ci@p.iam.gserviceaccount.com", "ops@example.com",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJm0Zx8yQ2r3s4t5u6v7w8x9y0z1A2B3C4D5E6F7G8H9 ci",
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7x4Jc3/PlD7Z8eD4rA6ZVzqf8 alice@laptop",
    "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    "postgres://app:${DB_PASSWORD}@/app?host=/cloudsql/p:r:i",
]  # fmt: skip
LITERALS = [
    "hunter2", "hunter2!", "changeme", "P@ssw0rd", "correct horse battery staple", "Tr0ub4dor&3", "s3cr3t",
    "letmein", "admin", "dev", "abc123", "Bearer 7f2c91d04ab3e865", "token 1234", "https://u:pw@db.internal/app",
    "https://api.example.com/v1?api_key=abc123", "postgres://app:s3cr3t@10.0.0.3/app", "12345678x",
]  # fmt: skip


@pytest.mark.parametrize("value", LEGITIMATE)
def test_what_a_credential_named_variable_may_hold(value: str) -> None:
    assert legitimate_value(value)


@pytest.mark.parametrize("value", LITERALS)
def test_literals_of_any_shape_are_not_legitimate(value: str) -> None:
    assert not legitimate_value(value)


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        (SA_KEY_FILE, "a service account key file"),
        (b64(SA_KEY_FILE), "a service account key file (base64-encoded)"),
        (PEM, "a private key"),
        (OPENSSH, "a private key"),
        (b64(PEM), "a private key (base64-encoded)"),
        (USER_ADC, "a user's application default credentials (a long-lived refresh token)"),
        ("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n", "a private key"),
        (f"echo '{b64(PEM)}' | base64 -d > /etc/tls.key", "a private key (base64-encoded)"),
        (base64.urlsafe_b64encode(SA_KEY_FILE.encode()).decode(), "a service account key file (base64-encoded)"),
    ],
)
def test_key_material_recognised_also_base64(text: str, holds: str) -> None:
    assert key_material(text) == holds


@pytest.mark.parametrize(
    "text",
    [WIF_CONFIG, "-----BEGIN PUBLIC KEY-----\nMCowBQ\n-----END PUBLIC KEY-----",
     "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", b64("just some text that is long enough"),
     "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7x4Jc3/PlD7Z8eD4rA6ZVzqf8q2l0Ys9i1Jj8l3pSmMK3yUQ alice",
     '{"private_key_id": "abc", "note": "rotated"}', ""],
)  # fmt: skip
def test_no_key_material(text: str) -> None:
    assert key_material(text) is None


def test_binary_base64_is_no_text() -> None:
    blob = base64.b64encode(bytes(range(256)) * 2).decode()
    assert list(decoded_texts(blob)) == []


REJECTED_SCRIPTS = [
    ("#!/bin/bash\nexport DB_PASSWORD=hunter2\n./run", "a literal for DB_PASSWORD"),
    ("mysql --user=root --password=s3cr3t! -h 10.0.0.3", "a literal for password"),
    ("app --api-token 7f2c91d04ab3e865 --verbose", "a literal for api-token"),
    ("ENV SECRET_KEY django-insecure\nENV SECRET_KEY=django-insecure-x", "a literal for SECRET_KEY"),
    ('curl -d \'{"client_secret": "8Hs72kLq"}\' https://x', "a literal for client_secret"),
    ("#cloud-config\nwrite_files:\n- path: /etc/a\n  content: |\n    API_TOKEN=9c1f5e2a7b\n", "API_TOKEN"),
    ("echo " + b64("#!/bin/sh\nexport API_TOKEN=9c1f5e2a7b\nexec /app/run") + " | base64 -d | sh", "(base64-encoded)"),
    ("curl -H 'Authorization: token ghp_" + "R8mZ2kQ7vN4xT1bW6yP3sJ9dL5fH0cG2aE7u'", "a GitHub token"),
    (f"cat > /etc/key.json <<EOF\n{SA_KEY_FILE}\nEOF", "a service account key file"),
]


@pytest.mark.parametrize(("text", "expected"), REJECTED_SCRIPTS)
def test_scripts_holding_credentials(text: str, expected: str) -> None:
    found = text_findings(text, SHAPES)
    assert any(expected in f for f in found), found


ACCEPTED_SCRIPTS = [
    '#!/bin/bash\nDB_PASSWORD="$(gcloud secrets versions access latest --secret=db-password)"\n',
    "export API_TOKEN=`cat /run/secrets/token`",
    "export TOKEN=${TOKEN:-}",
    "gcloud secrets versions access 1 --secret=db-password > /tmp/pw",
    "docker login --username=$$USERNAME --password=$$PASSWORD registry.example.com",
    "docker login -u _json_key --password-stdin https://gcr.io < /run/key.json",
    "docker build --secret id=npm,src=/tmp/npmrc .",
    'echo "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  f.tgz" | sha256sum -c -',
    "app --db-password-file=/secrets/db --token-audience https://api.example.com --max-tokens=4096",
    "curl -H 'Metadata-Flavor: Google' http://metadata.google.internal/computeMetadata/v1/instance/id",
    "PASSWORD_MIN_LENGTH=12 TOKEN_TTL=1h CACHE_KEY=v2 ./run",
    'psql "postgres://app:${DB_PASSWORD}@10.0.0.3/app"',
    'main:\n  steps:\n  - call: http.get\n    args:\n      headers:\n        Authorization: ${"Bearer " + token}\n',
    "",
]


@pytest.mark.parametrize("text", ACCEPTED_SCRIPTS)
def test_scripts_that_read_credentials_at_run_time(text: str) -> None:
    assert text_findings(text, SHAPES, yaml=text.startswith("main:")) == []


def test_yaml_pairs_only_in_yaml() -> None:
    text = "Authorization: Bearer 7f2c91d04ab3e865\n"
    assert text_findings(text, SHAPES) == []  # a line of a shell script is no YAML field
    assert text_findings(text, SHAPES, yaml=True) == ["a literal for Authorization (a credential by its name)"]


def test_findings_name_variables_never_values() -> None:
    found = text_findings("export DB_PASSWORD=hunter2-unique-value", SHAPES)
    assert found and not any("hunter2" in f for f in found)


def test_secret_shape_ignores_a_reference_in_a_url_password() -> None:
    assert secret_shape("postgres://app:${DB_PASSWORD}@10.0.0.3/app") is None
    assert secret_shape("postgres://app:%s@10.0.0.3/app") is None
    assert secret_shape("postgres://app:s3cretPassw0rd@10.0.0.3/app") == "a URL with an embedded password"


@pytest.mark.parametrize(
    "text",
    ["a=" * 100_000, "--a " * 50_000, '"k": "' * 40_000, "A" * 200_000, "name: x\n" * 25_000,
     "eyJ" + "A" * 199_000, ("QUJD" * 50 + " ") * 1000],
)  # fmt: skip
def test_long_text_is_scanned_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    text_findings(text, SHAPES, yaml=True)
    key_material(text)
    assert time.perf_counter() - started < 2.0
