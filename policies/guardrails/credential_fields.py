"""Credentials in the fields made for them: passwords, raw encryption keys, private keys, shared secrets and
secret data given as literals (written in the program or the stack's plain config), and long-lived keys stored as
data (a Secret Manager version, an uploaded object, a file inside a function's source archive).

A password field is meant to hold a password: what is wrong is where the value comes from. Only preflight can
tell (provenance.py): under the Pulumi CLI the pack sees the value, not whether the program wrote it or read it
with `config.require_secret(...)`, so `no-literal-credentials` judges only with provenance. Key material is
judged by what it is, under both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .context import RuleContext
from .credentials import SERVICE_ACCOUNT_KEY
from .provenance import Origin, path_of, walk
from .secret_values import PREFLIGHT_SECRET_MARKER, key_material
from .values import get, is_unknown

__all__ = [
    "BUCKET_OBJECT",
    "CREDENTIAL_FIELDS",
    "LITERAL_TYPES",
    "RAW_KEY_TYPES",
    "SECRET_VERSION_TYPES",
    "STORED_KEY_TYPES",
    "CredentialField",
    "no_literal_credentials",
    "no_stored_keys",
]

SECRET_VERSION: Final = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105 (a type token)
REGIONAL_SECRET_VERSION: Final = "gcp:secretmanager/regionalSecretVersion:RegionalSecretVersion"  # noqa: S105 (a type token)
SECRET_VERSION_TYPES: Final = frozenset({SECRET_VERSION, REGIONAL_SECRET_VERSION})
BUCKET_OBJECT: Final = "gcp:storage/bucketObject:BucketObject"
STORED_KEY_TYPES: Final = SECRET_VERSION_TYPES | {BUCKET_OBJECT}

_READ_SAFELY: Final = (
    "read it from a Pulumi secret (config.require_secret(...), set with `pulumi config set --secret`) or generate "
    "it (pulumi_random.RandomPassword)"
)
_PASSWORD_FIX: Final = f"{_READ_SAFELY}, or use IAM database authentication instead of a password"
_KEY_FIX: Final = (
    "use a Cloud KMS key (kmsKeySelfLink) instead, or, if you must supply the key, read it from a Pulumi secret "
    "(config.require_secret(...))"
)
_CERT_FIX: Final = (
    "use a Google-managed certificate (Certificate Manager, compute.ManagedSslCertificate), or read the key from a "
    "Pulumi secret (config.require_secret(...)) or a generated one (pulumi_tls)"
)


@dataclass(frozen=True)
class CredentialField:
    """A field that holds a credential: the types it is on, its path (`*` for any list element), what it is."""

    types: frozenset[str]
    path: tuple[str, ...]
    what: str
    fix: str


def _field(types: tuple[str, ...], path: str, what: str, fix: str = _READ_SAFELY) -> CredentialField:
    return CredentialField(frozenset(types), tuple(path.split(".")), what, fix)


_SQL_USER: Final = ("gcp:sql/user:User",)
_SQL_INSTANCE: Final = ("gcp:sql/databaseInstance:DatabaseInstance",)
_ALLOYDB_USER: Final = ("gcp:alloydb/user:User",)
_SSL_CERTS: Final = (
    "gcp:compute/sSLCertificate:SSLCertificate",
    "gcp:compute/regionSslCertificate:RegionSslCertificate",
)
_VPN: Final = ("gcp:compute/vPNTunnel:VPNTunnel",)
_SIGNED_URL_KEYS: Final = (
    "gcp:compute/backendBucketSignedUrlKey:BackendBucketSignedUrlKey",
    "gcp:compute/backendServiceSignedUrlKey:BackendServiceSignedUrlKey",
)
_SECRET_DATA: Final = tuple(sorted(SECRET_VERSION_TYPES))
CREDENTIAL_FIELDS: Final[tuple[CredentialField, ...]] = (
    _field(_SQL_USER, "password", "the Cloud SQL user's password", _PASSWORD_FIX),
    _field(_SQL_USER, "passwordWo", "the Cloud SQL user's password", _PASSWORD_FIX),
    _field(_SQL_INSTANCE, "rootPassword", "the Cloud SQL instance's root password", _PASSWORD_FIX),
    _field(_SQL_INSTANCE, "rootPasswordWo", "the Cloud SQL instance's root password", _PASSWORD_FIX),
    _field(_SQL_INSTANCE, "replicaConfiguration.password", "the replication user's password"),
    _field(_SQL_INSTANCE, "replicaConfiguration.clientKey", "the replica's client private key"),
    _field(("gcp:sql/sourceRepresentationInstance:SourceRepresentationInstance",), "password",
           "the source database's replication password"),
    _field(_ALLOYDB_USER, "password", "the AlloyDB user's password", _PASSWORD_FIX),
    _field(_ALLOYDB_USER, "passwordWo", "the AlloyDB user's password", _PASSWORD_FIX),
    _field(("gcp:alloydb/cluster:Cluster",), "initialUser.password", "the AlloyDB cluster's initial user's password",
           _PASSWORD_FIX),
    _field(_SECRET_DATA, "secretData", "the secret version's data",
           "create the version outside the program (gcloud secrets versions add … --data-file=-), or "
           + _READ_SAFELY),
    _field(_SECRET_DATA, "secretDataWo", "the secret version's data",
           "create the version outside the program (gcloud secrets versions add … --data-file=-), or "
           + _READ_SAFELY),
    _field((BUCKET_OBJECT,), "customerEncryption.encryptionKey", "the object's customer-supplied encryption key",
           "use a Cloud KMS key (kmsKeyName) instead, or read the key from a Pulumi secret (config.require_secret)"),
    _field(_SSL_CERTS, "privateKey", "the certificate's private key", _CERT_FIX),
    _field(_SSL_CERTS, "privateKeyWo", "the certificate's private key", _CERT_FIX),
    _field(("gcp:certificatemanager/certificate:Certificate",), "selfManaged.pemPrivateKey",
           "the certificate's private key", _CERT_FIX),
    _field(_VPN, "sharedSecret", "the VPN tunnel's shared secret"),
    _field(_VPN, "sharedSecretWo", "the VPN tunnel's shared secret"),
    _field(_SIGNED_URL_KEYS, "keyValue", "the signed URL key"),
    _field(("gcp:kms/secretCiphertext:SecretCiphertext",), "plaintext", "the plaintext to encrypt",
           "encrypt it outside the program (gcloud kms encrypt) and keep only the ciphertext, or read it from a "
           "Pulumi secret (config.require_secret(...))"),
    _field(("gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",), "httpCheck.authInfo.password",
           "the uptime check's basic-auth password"),
    _field(("gcp:bigquery/connection:Connection",), "cloudSql.credential.password",
           "the connection's database password", _PASSWORD_FIX),
    _field(("gcp:compute/backendService:BackendService", "gcp:compute/regionBackendService:RegionBackendService"),
           "iap.oauth2ClientSecret", "the IAP OAuth client secret"),
    _field(("gcp:identityplatform/oauthIdpConfig:OauthIdpConfig",
            "gcp:identityplatform/defaultSupportedIdpConfig:DefaultSupportedIdpConfig"),
           "clientSecret", "the identity provider's client secret"),
    _field(("gcp:datastream/connectionProfile:ConnectionProfile",), "mysqlProfile.password",
           "the source database's password", _PASSWORD_FIX),
    _field(("gcp:datastream/connectionProfile:ConnectionProfile",), "postgresqlProfile.password",
           "the source database's password", _PASSWORD_FIX),
    _field(("gcp:datastream/connectionProfile:ConnectionProfile",), "oracleProfile.password",
           "the source database's password", _PASSWORD_FIX),
)  # fmt: skip

# Raw (customer-supplied) disk, image and snapshot keys, wherever a compute resource takes one.
RAW_KEY_TYPES: Final = frozenset(
    f"gcp:compute/{module}:{name}"
    for module, name in (
        ("disk", "Disk"), ("regionDisk", "RegionDisk"), ("image", "Image"), ("snapshot", "Snapshot"),
        ("machineImage", "MachineImage"), ("instance", "Instance"), ("instanceFromTemplate", "InstanceFromTemplate"),
        ("instanceFromMachineImage", "InstanceFromMachineImage"), ("instanceTemplate", "InstanceTemplate"),
        ("regionInstanceTemplate", "RegionInstanceTemplate"),
        ("regionInstanceGroupManager", "RegionInstanceGroupManager"),
    )
)  # fmt: skip
_RAW_KEY_FIELDS: Final = frozenset({"rawKey", "rawKeyWo", "diskEncryptionKeyRaw"})
LITERAL_TYPES: Final = frozenset(t for f in CREDENTIAL_FIELDS for t in f.types) | RAW_KEY_TYPES


def _at(props: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    """(path, value) of a field; `*` steps into every element of a list."""

    def step(value: Any, rest: tuple[str, ...], steps: tuple[str | int, ...]) -> Iterator[tuple[str, Any]]:
        if not rest:
            yield path_of(*steps), value
            return
        head, tail = rest[0], rest[1:]
        if head == "*":
            if isinstance(value, list):
                for index, child in enumerate(value):
                    yield from step(child, tail, (*steps, index))
        elif isinstance(value, Mapping) and head in value:
            yield from step(value[head], tail, (*steps, head))

    yield from step(props, path, ())


def _credential_values(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any, str, str]]:
    """(path, value, what it is, fix) of every credential field set on the resource."""
    for field in CREDENTIAL_FIELDS:
        if resource_type in field.types:
            for path, value in _at(props, field.path):
                yield path, value, field.what, field.fix
    if resource_type in RAW_KEY_TYPES:
        for steps, value in walk(props):
            if steps and steps[-1] in _RAW_KEY_FIELDS:
                yield path_of(*steps), value, "a raw (customer-supplied) encryption key", _KEY_FIX


def _where(origin: Origin) -> str:
    if origin.kind == "plain-config":
        return (
            f"comes from the stack's plain config ({origin.source or 'a key'}), stored unencrypted in "
            "Pulumi.<stack>.yaml (a Pulumi secret is set with `pulumi config set --secret` and read with "
            "config.require_secret)"
        )
    return "is written in the program (a literal, or read by the program from a file or its environment)"


def no_literal_credentials(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """A credential field given a value written in the program or the stack's plain config (needs preflight's
    provenance; under the CLI a literal cannot be told from a Pulumi secret, and nothing is judged)."""
    if not ctx.provenance.available:
        return []
    out: list[str] = []
    for path, value, what, fix in _credential_values(resource_type, props):
        if not isinstance(value, str) or is_unknown(value) or not value.strip() or PREFLIGHT_SECRET_MARKER in value:
            continue
        if resource_type in STORED_KEY_TYPES and key_material(value):
            continue  # a key stored as data: no-stored-keys' finding
        origin = ctx.provenance.origin(path)
        if origin.written_in_plain:
            out.append(
                f"{path}: {what} of {ctx.label} {_where(origin)}: it is in plain text wherever the program's "
                f"source or the stack's config goes. Remove it; {fix}."
            )
    return out


def _secret_data(props: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    # With isSecretDataBase64 the data is base64: key_material decodes base64 runs itself.
    for key in ("secretData", "secretDataWo"):
        value = get(props, key)
        if isinstance(value, str) and not is_unknown(value) and value.strip():
            yield key, value


def no_stored_keys(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """Service-account key files and private keys stored as data: a key in Secret Manager or Cloud Storage is
    still a long-lived key."""
    out: list[str] = []
    if resource_type in SECRET_VERSION_TYPES:
        for path, value in _secret_data(props):
            holds = key_material(value)
            origin = ctx.provenance.origin(path)
            if not holds or origin.source.startswith(f"{SERVICE_ACCOUNT_KEY}."):
                continue  # (the service account key this stack creates is no-service-account-keys' finding)
            out.append(
                f"{path}: secret version {ctx.label} stores {holds}. A key in Secret Manager is still a long-lived "
                f"key: whoever can read the secret holds it until it is rotated. {_key_fix(holds)}"
            )
        return out
    if resource_type == BUCKET_OBJECT:
        content = get(props, "content")
        if isinstance(content, str) and not is_unknown(content):
            holds = key_material(content)
            if holds:
                out.append(f"content: bucket object {ctx.label} uploads {holds}. {_object_fix(holds)}")
        files = [(where, f.entry, f.holds) for where, f in ctx.provenance.files_under("source")]
        if not ctx.provenance.available:
            files += list(_text_assets(get(props, "source"), "source"))
        for where, entry, holds in files:
            out.append(
                f"{where}: bucket object {ctx.label} uploads {entry}, which holds {holds}: anyone who can read the "
                f"bucket gets it, and so do the build and the code of a function deployed from it. "
                f"{_object_fix(holds)}"
            )
    return out


def _text_assets(value: Any, where: str) -> Iterator[tuple[str, str, str]]:
    """StringAssets inside an asset or archive the pack itself can read (the CLI sends their text)."""
    if isinstance(value, Mapping):
        text = value.get("text")
        if isinstance(text, str):
            holds = key_material(text)
            if holds:
                yield where, where.rsplit(".", 1)[-1], holds
        assets = value.get("assets")
        if isinstance(assets, Mapping):
            for name, child in assets.items():
                yield from _text_assets(child, path_of(where, "assets", str(name)))


def _key_fix(holds: str) -> str:
    if "service account key" in holds:
        return (
            "Delete the key; run the workload as its own service account (metadata-server tokens) and federate "
            "callers outside Google Cloud with Workload Identity Federation."
        )
    if "refresh token" in holds:
        return "Revoke it; run the workload as its own service account instead of a person's credentials."
    return (
        "Sign with a Cloud KMS asymmetric key (its private part never leaves KMS), use a Google-managed certificate "
        "for TLS, or reach Google APIs as the workload's own service account; if a third party requires this key, "
        "exempt this resource with the reason and rotate the key."
    )


def _object_fix(holds: str) -> str:
    return (
        "Remove the file from what is uploaded (and from the repository: add it to .gcloudignore and .gitignore). "
        + _key_fix(holds)
    )
