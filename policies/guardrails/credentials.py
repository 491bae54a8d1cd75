"""Long-lived credentials: SA keys, HMAC keys, unrestricted API keys, secrets in plain env values."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

from .context import RuleContext
from .values import UNKNOWN, get, get_list, get_map, is_unknown
from .workloads import env_vars

__all__ = [
    "API_KEY",
    "GCP_PROVIDER",
    "HMAC_KEY",
    "PREFLIGHT_SECRET_MARKER",
    "SERVICE_ACCOUNT_KEY",
    "api_keys_restricted",
    "no_hmac_keys",
    "no_plaintext_secrets_in_env",
    "no_service_account_keys",
    "secret_shape",
]

SERVICE_ACCOUNT_KEY: Final = "gcp:serviceaccount/key:Key"
HMAC_KEY: Final = "gcp:storage/hmacKey:HmacKey"
API_KEY: Final = "gcp:projects/apiKey:ApiKey"


GCP_PROVIDER: Final = "pulumi:providers:gcp"
_KEY_FILE_RE: Final = re.compile(r'"type"\s*:\s*"service_account"|"private_key"\s*:')
# The provider also takes a path to the key file; the content is not visible to the pack, the path is.
_KEY_FILE_PATH_RE: Final = re.compile(r"^\s*[^{\s][^\n]*\.json\s*$", re.IGNORECASE)


def no_service_account_keys(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    if resource_type == GCP_PROVIDER:
        # A key file's JSON given to the provider (gcp:credentials); WIF/external_account configs are fine.
        credentials = get(props, "credentials")
        if not isinstance(credentials, str) or is_unknown(credentials):
            return []
        if _KEY_FILE_RE.search(credentials):
            return [
                f"provider {ctx.label} authenticates with a service account key file (credentials). Remove "
                "it; deploy with Application Default Credentials from Workload Identity Federation (CI) or "
                "impersonateServiceAccount."
            ]
        if _KEY_FILE_PATH_RE.match(credentials):
            return [
                f"provider {ctx.label} reads its credentials from a key file path (credentials ends in .json). "
                "Remove it; deploy with Application Default Credentials from Workload Identity Federation (CI) "
                "or impersonateServiceAccount (a federation credential configuration belongs in "
                "GOOGLE_APPLICATION_CREDENTIALS, not in the provider's credentials)."
            ]
        return []
    return [
        f"service account key {ctx.label} is a long-lived credential that can leak. Delete it; run the "
        "workload as its own service account (metadata-server tokens) and federate external callers with "
        "Workload Identity Federation instead."
    ]


def no_hmac_keys(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    return [
        f"storage HMAC key {ctx.label} is a long-lived credential. Delete it; access Cloud Storage with the "
        "workload's service account through the JSON/XML API and short-lived OAuth tokens instead."
    ]


_APP_RESTRICTIONS: Final = (
    "androidKeyRestrictions",
    "browserKeyRestrictions",
    "iosKeyRestrictions",
    "serverKeyRestrictions",
)


def api_keys_restricted(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """An API key must name the APIs it may call; one without restrictions works for every enabled API."""
    restrictions = get(props, "restrictions")
    if restrictions is UNKNOWN:
        return []
    targets = get_list(restrictions, "apiTargets")
    if targets is UNKNOWN:
        return []
    if targets:
        return []
    has_app = any(
        isinstance(get_map(restrictions, key), Mapping) or get(restrictions, key) is UNKNOWN
        for key in _APP_RESTRICTIONS
    )
    what = "has application restrictions but no API targets" if has_app else "has no restrictions"
    return [
        f"API key {ctx.label} {what}, so it can call every API enabled in the project. Set "
        "restrictions.apiTargets to the one service it is for (and an application restriction), or "
        "replace the key with service-account authentication."
    ]


# --- plaintext secrets ---------------------------------------------------------------------------

# Each shape is linear on long values: a token that runs on (a class repeated) starts only where its run starts
# (a lookbehind for the class), and its quantifiers are possessive or bounded, so no run is scanned twice.
_SECRET_SHAPES: Final = (
    ("a Google API key", re.compile(r"AIza[0-9A-Za-z_\-]{35}")),
    ("a PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY-----")),
    ("a service account key file", re.compile(r'"private_key"\s*+:\s*+"-----BEGIN')),
    ("a Google OAuth client secret", re.compile(r"GOCSPX-[0-9A-Za-z_\-]{20,}+")),
    ("a Google OAuth access token", re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}+")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[0-9A-Za-z]{36,}+|github_pat_[0-9A-Za-z_]{40,}+)")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[0-9A-Za-z\-]{10,}+")),
    ("a Stripe secret key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}+")),
    (
        "a JSON Web Token",
        re.compile(r"(?<![0-9A-Za-z_\-])eyJ[0-9A-Za-z_\-]{8,}+\.eyJ[0-9A-Za-z_\-]{8,}+\.[0-9A-Za-z_\-]{8,}+"),
    ),
    (
        "a URL with an embedded password",
        re.compile(r"(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]{0,31}+://[^/\s:@]++:[^/\s@]{3,}+@", re.IGNORECASE),
    ),
)
_TOKEN_RE: Final = re.compile(r"^[A-Za-z0-9+/=_\-.~]+$")
_NOT_SECRET_RE: Final = re.compile(
    r"^(?:[a-z][a-z0-9+.\-]*://\S*"  # URLs (an audience, a base URL)
    r"|[^@\s]+@[^@\s]+\.[a-z]{2,}"  # emails
    r"|(?:projects|organizations|folders|locations)/\S*"  # resource names
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # UUID identifiers
    r"|[0-9a-f]{40})$",  # a git commit SHA (a bare 32/64-hex value is a secret's shape: openssl rand -hex)
    re.IGNORECASE,
)
# Digests named by their algorithm: image digests (sha256:<hex>), SRI hashes (sha384-<base64>). The lengths
# are the digest's own, so a secret cannot pass just by wearing a "sha256-" prefix.
_DIGEST_RE: Final = re.compile(
    r"^(?:sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}"
    r"|sha256[-:][A-Za-z0-9+/_\-]{43}=?|sha384[-:][A-Za-z0-9+/_\-]{64}|sha512[-:][A-Za-z0-9+/_\-]{86}(?:==)?)$"
)
_HEX_SECRET_RE: Final = re.compile(r"^(?:[0-9a-f]{32,}|[0-9A-F]{32,})$")
_MAX_SCAN: Final = 100_000


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


# What the offline preflight substitutes for a `secure:` stack config value it cannot decrypt: seeing it in
# a plain env var means a Pulumi secret was written into plaintext configuration.
PREFLIGHT_SECRET_MARKER: Final = "[preflight: secret value not decrypted]"  # noqa: S105 (a marker)


def secret_shape(value: str) -> str | None:
    """What kind of secret the value looks like, or None: judged by the value, never the variable name."""
    text = value[:_MAX_SCAN]
    if PREFLIGHT_SECRET_MARKER in text:
        return "a secret from the stack's config (secure:)"
    for label, pattern in _SECRET_SHAPES:
        if pattern.search(text):
            return label
    token = text.strip()
    if len(token) < 24 or len(token) > 4096 or not _TOKEN_RE.match(token) or _NOT_SECRET_RE.match(token):
        return None
    if _DIGEST_RE.match(token):
        return None
    if _HEX_SECRET_RE.match(token):
        # Random hex has letters and digits throughout; "0000…" or "abab…" placeholders do not.
        letters = sum(c.isalpha() for c in token)
        if 0.15 <= letters / len(token) <= 0.85 and _entropy(token) >= 3.0:
            return "a hex-encoded random secret"
        return None
    classes = sum((any(c.islower() for c in token), any(c.isupper() for c in token), any(c.isdigit() for c in token)))
    digits = sum(c.isdigit() for c in token)
    if classes == 3 and digits >= 2 and _entropy(token) >= 4.0:
        return "a high-entropy token"
    return None


def no_plaintext_secrets_in_env(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    out: list[str] = []
    for env in env_vars(resource_type, props):
        if not isinstance(env.value, str) or is_unknown(env.value):
            continue
        shape = secret_shape(env.value)
        if shape:
            out.append(
                f"{env.path}: environment variable {env.name} of {ctx.label} holds {shape} in plain text "
                "(visible to anyone who can read the service config). Store it in Secret Manager and "
                "reference it (Cloud Run: env valueSource.secretKeyRef; functions: "
                "serviceConfig.secretEnvironmentVariables), granting roles/secretmanager.secretAccessor "
                "on that one secret to the runtime service account."
            )
    return out
