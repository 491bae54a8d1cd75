"""Credentials: keys, API key restrictions, secret-shaped env values (by value, never by variable name)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from secure_invoke.policies.guardrails.credentials import (
    api_keys_restricted,
    no_hmac_keys,
    no_plaintext_secrets_in_env,
    no_service_account_keys,
    secret_shape,
)
from tests.policies.guardrail_cases import UNKNOWN_ARRAY, UNKNOWN_OBJECT, UNKNOWN_STRING, ctx, judge

# Fake credentials assembled at runtime so no secret-shaped literal sits in the repository.
GOOGLE_API_KEY = "AIza" + "Sy" + "D3xQ9k2LmN8pR4tV6wB1cE7fG0hJ5uK_-aZ"
PEM = "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
RSA_PEM = "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
SA_JSON = '{"type": "service_account", "private_key": "-----BEGIN ' + 'PRIVATE KEY-----\\nMII"}'
RANDOM_TOKEN = "q8Zt3Kx" + "P9mW2vR7nL4sB6yH1dF5gJ0c"
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
JWT = "eyJhbGciOiJSUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVlLWhlcmU"
DB_URL = "postgres://app:" + "s3cretPassw0rd@db.internal:5432/app"
# `openssl rand -hex 32` / `-hex 16` shapes (deterministic stand-ins, derived at runtime).
HEX_64 = hashlib.sha256(b"stand-in for openssl rand -hex 32").hexdigest()
HEX_32 = hashlib.md5(b"stand-in for openssl rand -hex 16").hexdigest()  # noqa: S324 (not a hash use)


def _sri(algorithm: str, data: bytes = b"alert(1)") -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, data).digest()).decode()


def test_service_account_key_and_hmac_key_rejected() -> None:
    assert "Workload Identity Federation" in no_service_account_keys("gcp:serviceaccount/key:Key", {}, ctx())[0]
    assert len(no_hmac_keys("gcp:storage/hmacKey:HmacKey", {"serviceAccountEmail": "x"}, ctx())) == 1


def test_other_resources_are_not_keys() -> None:
    assert judge("no-service-account-keys", "gcp:serviceaccount/account:Account", {}, ctx()) == []
    assert judge("no-hmac-keys", "gcp:kms/cryptoKey:CryptoKey", {}, ctx()) == []
    assert judge("no-hmac-keys", "gcp:storage/hmacKey:HmacKey", {}, ctx()) != []


@pytest.mark.parametrize(
    "props",
    [
        {},
        {"restrictions": None},
        {"restrictions": {}},
        {"restrictions": {"apiTargets": []}},
        {"restrictions": {"browserKeyRestrictions": {"allowedReferrers": ["https://example.com/*"]}}},
    ],
)
def test_unrestricted_api_keys_rejected(props: dict) -> None:
    messages = api_keys_restricted("gcp:projects/apiKey:ApiKey", props, ctx())
    assert len(messages) == 1 and "restrictions.apiTargets" in messages[0]


@pytest.mark.parametrize(
    "props",
    [
        {"restrictions": {"apiTargets": [{"service": "translate.googleapis.com"}]}},
        {"restrictions": UNKNOWN_OBJECT},
        {"restrictions": {"apiTargets": UNKNOWN_ARRAY}},
    ],
)
def test_restricted_or_unknown_api_keys_accepted(props: dict) -> None:
    assert api_keys_restricted("gcp:projects/apiKey:ApiKey", props, ctx()) == []


SECRETS = [
    GOOGLE_API_KEY,
    PEM,
    RSA_PEM,
    SA_JSON,
    RANDOM_TOKEN,
    GITHUB,
    JWT,
    DB_URL,
    HEX_64,  # a bare 64-hex value is a secret's shape, not a digest
    HEX_32,
    HEX_64.upper(),
    HEX_64 + HEX_32,
    "sha256-" + RANDOM_TOKEN,  # a digest prefix with the wrong length does not launder a token
    "sha512-" + RANDOM_TOKEN + RANDOM_TOKEN,
]
NOT_SECRETS = [
    "12",  # PASSWORD_MIN_LENGTH=12
    "https://worker-dev-abcd1234-uc.a.run.app",  # TOKEN_AUDIENCE=https://…
    "https://www.googleapis.com/oauth2/v1/certs",
    "relay-runtime-dev@si-dev-1234.iam.gserviceaccount.com",
    "projects/si-dev-1234/secrets/upstream-api-key/versions/latest",
    "us-central1-docker.pkg.dev/si/worker-images/worker@sha256:" + "ab" * 32,
    "3f2a9c0d1e4b5a6978877665544332211aabbccd",  # git commit
    "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",  # SRI of the empty string
    _sri("sha256"),
    _sri("sha384"),
    _sri("sha512"),
    "sha384:" + _sri("sha384")[len("sha384-") :],
    "sha256:" + HEX_64,  # an image digest
    "sha1:" + hashlib.sha1(b"x").hexdigest(),  # noqa: S324 (a digest fixture)
    "0" * 64,  # a placeholder, not random
    "9b2c4f3e-1d2a-4c5b-8e7f-0a1b2c3d4e5f",
    "ThisIsAVeryLongConfigValue",
    "application/json; charset=utf-8",
    "30",
    "true",
    "",
    "x" * 200_000,
]


@pytest.mark.parametrize("value", SECRETS)
def test_secret_shapes_recognised(value: str) -> None:
    assert secret_shape(value) is not None


@pytest.mark.parametrize("value", NOT_SECRETS)
def test_ordinary_values_are_not_secrets(value: str) -> None:
    assert secret_shape(value) is None


def test_env_secrets_rejected_in_every_workload_type() -> None:
    cases = [
        ("gcp:cloudfunctionsv2/function:Function", {"serviceConfig": {"environmentVariables": {"K": GOOGLE_API_KEY}}}),
        ("gcp:cloudfunctionsv2/function:Function", {"buildConfig": {"environmentVariables": {"K": PEM}}}),
        ("gcp:cloudfunctions/function:Function", {"environmentVariables": {"K": RANDOM_TOKEN}}),
        ("gcp:cloudfunctions/function:Function", {"buildEnvironmentVariables": {"K": GITHUB}}),
        ("gcp:cloudrunv2/service:Service", {"template": {"containers": [{"envs": [{"name": "K", "value": JWT}]}]}}),
        ("gcp:cloudrunv2/job:Job",
         {"template": {"template": {"containers": [{"envs": [{"name": "K", "value": SA_JSON}]}]}}}),
        ("gcp:cloudrunv2/workerPool:WorkerPool", {"template": {"containers": [{"envs": [{"name": "K", "value": DB_URL}]}]}}),
        ("gcp:cloudrun/service:Service",
         {"template": {"spec": {"containers": [{"envs": [{"name": "K", "value": RSA_PEM}]}]}}}),
    ]  # fmt: skip
    for rtype, props in cases:
        messages = no_plaintext_secrets_in_env(rtype, props, ctx())
        assert len(messages) == 1, rtype
        assert "Secret Manager" in messages[0] and "K" in messages[0]
        assert GOOGLE_API_KEY not in messages[0] and RANDOM_TOKEN not in messages[0]  # never echo the secret


def test_env_judged_by_value_not_name() -> None:
    env = {
        "PASSWORD_MIN_LENGTH": "12",
        "TOKEN_AUDIENCE": "https://worker-dev-abcd1234-uc.a.run.app",
        "SECRET_NAME": "projects/p/secrets/upstream-api-key",
        "API_KEY_HEADER": "X-Api-Key",
        "UNKNOWN_YET": UNKNOWN_STRING,
    }
    props = {"serviceConfig": {"environmentVariables": env}}
    assert no_plaintext_secrets_in_env("gcp:cloudfunctionsv2/function:Function", props, ctx()) == []
    # an innocuous name does not hide a real secret
    env["GREETING"] = GOOGLE_API_KEY
    assert len(no_plaintext_secrets_in_env("gcp:cloudfunctionsv2/function:Function", props, ctx())) == 1


def test_secret_references_accepted() -> None:
    props = {
        "template": {
            "containers": [
                {
                    "envs": [
                        {"name": "UPSTREAM_API_KEY", "valueSource": {"secretKeyRef": {"secret": "s", "version": "1"}}}
                    ]
                }
            ]
        }
    }
    assert no_plaintext_secrets_in_env("gcp:cloudrunv2/service:Service", props, ctx()) == []
    unknown = {"template": {"containers": UNKNOWN_ARRAY}}
    assert no_plaintext_secrets_in_env("gcp:cloudrunv2/service:Service", unknown, ctx()) == []


def test_stack_config_secret_in_plain_env_rejected_offline() -> None:
    from secure_invoke.policies.guardrails.credentials import PREFLIGHT_SECRET_MARKER
    from secure_invoke.preflight.engine.project import SECRET_PLACEHOLDER

    assert PREFLIGHT_SECRET_MARKER == SECRET_PLACEHOLDER  # the marker preflight puts where a secure: value was
    props = {"template": {"containers": [{"envs": [{"name": "UPSTREAM_API_KEY", "value": SECRET_PLACEHOLDER}]}]}}
    messages = no_plaintext_secrets_in_env("gcp:cloudrunv2/service:Service", props, ctx())
    assert len(messages) == 1 and "secure:" in messages[0]


def test_provider_with_key_file_credentials_rejected() -> None:
    rejected = no_service_account_keys("pulumi:providers:gcp", {"credentials": SA_JSON, "project": "p"}, ctx())
    assert len(rejected) == 1 and "Workload Identity Federation" in rejected[0]
    wif = '{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/x"}'
    for props in ({"project": "p"}, {"credentials": wif}, {"credentials": UNKNOWN_STRING}):
        assert no_service_account_keys("pulumi:providers:gcp", props, ctx()) == []


def test_hex_secret_rejected_and_digests_accepted_in_env() -> None:
    env = {
        "SCRIPT_INTEGRITY": "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "BUNDLE_INTEGRITY": _sri("sha512"),
        "IMAGE_DIGEST": "sha256:" + HEX_64,
        "GIT_SHA": hashlib.sha1(b"commit").hexdigest(),  # noqa: S324 (a commit id fixture)
    }
    props = {"serviceConfig": {"environmentVariables": env}}
    assert no_plaintext_secrets_in_env("gcp:cloudfunctionsv2/function:Function", props, ctx()) == []
    env["SESSION_KEY"] = HEX_64
    messages = no_plaintext_secrets_in_env("gcp:cloudfunctionsv2/function:Function", props, ctx())
    assert len(messages) == 1 and "SESSION_KEY" in messages[0] and "hex-encoded random secret" in messages[0]
    assert HEX_64 not in messages[0]


@pytest.mark.parametrize("path", ["key.json", "./ci/deployer-key.json", "C:\\keys\\sa.JSON", " creds/sa.json "])
def test_provider_with_key_file_path_rejected(path: str) -> None:
    rejected = no_service_account_keys("pulumi:providers:gcp", {"credentials": path}, ctx())
    assert len(rejected) == 1 and "key file path" in rejected[0] and "'subject'" in rejected[0]


@pytest.mark.parametrize(
    "credentials",
    [
        '{"type": "external_account", "credential_source": {"file": "token.json"}}',  # WIF JSON mentioning .json
        "ya29-not-a-path",
        "keys.json.example-notes",
    ],
)
def test_provider_credentials_that_are_no_key_file_path_accepted(credentials: str) -> None:
    assert no_service_account_keys("pulumi:providers:gcp", {"credentials": credentials}, ctx()) == []
