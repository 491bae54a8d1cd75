"""Long-lived credentials: SA keys, HMAC keys, unrestricted API keys, GKE's static client credentials (secrets
in plain configuration: secrets_in_config.py; credentials in the fields made for them: credential_fields.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .context import RuleContext
from .secret_values import PREFLIGHT_SECRET_MARKER, secret_shape
from .secrets_in_config import no_plaintext_secrets_in_env
from .values import UNKNOWN, get, get_list, get_map, is_true, is_unknown

__all__ = [
    "API_KEY",
    "GCP_PROVIDER",
    "HMAC_KEY",
    "PREFLIGHT_SECRET_MARKER",
    "SERVICE_ACCOUNT_KEY",
    "api_keys_restricted",
    "gke_no_static_credentials",
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


# --- GKE: client certificates and basic auth ---------------------------------------------------------------------


def gke_no_static_credentials(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """A cluster that issues a client certificate, or takes a basic-auth user and password (pulumi-gcp 6 and
    earlier): a credential that does not expire and that IAM cannot revoke."""
    out: list[str] = []
    if is_true(get(props, "masterAuth", "clientCertificateConfig", "issueClientCertificate")):
        out.append(
            f"masterAuth.clientCertificateConfig.issueClientCertificate: GKE cluster {ctx.label} issues a client "
            "certificate, a credential that does not expire and that IAM cannot revoke (whoever holds it is "
            "authenticated to the cluster until it is rotated). Set issueClientCertificate to false; people and "
            "workloads authenticate with their Google identity (gcloud container clusters get-credentials, Workload "
            "Identity), authorised by IAM and Kubernetes RBAC."
        )
    username, password = get(props, "masterAuth", "username"), get(props, "masterAuth", "password")
    if any(isinstance(v, str) and v.strip() and not is_unknown(v) for v in (username, password)):
        out.append(
            f"masterAuth.username/password: GKE cluster {ctx.label} enables basic authentication, a static user "
            "and password to the cluster's API (removed from GKE since 1.19). Remove username and password from "
            "masterAuth; authenticate with Google identities (gcloud container clusters get-credentials) and "
            "authorise with IAM and Kubernetes RBAC."
        )
    return out
