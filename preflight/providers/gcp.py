"""Computed outputs of Google Cloud resources in the formats Google returns them.

What the generic shapes cannot guess: values derived from other properties (a service account's email
from its account id, a Cloud SQL connection name, a Cloud Run URL from name and region), so that policies
can correlate identities and grants exactly as they would after a real `pulumi up`. Each function returns
(id, known, computed): known values stay known in a preview (provider defaults), computed ones do not.
And what Google fills in for a property a program leaves unset (`unset_identity`, `unset_configured`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from secure_invoke.preflight.outputs.formats import (
    Subject,
    default_compute_account,
    digest,
    ip_address,
    pem,
    project_number,
    run_region_code,
    self_link,
    string_value,
)
from secure_invoke.preflight.providers.tokens import Registry

Computed = dict[str, Any]
Outputs = tuple[str, Computed, Computed]
_Fn = Callable[[dict[str, Any], Subject], Outputs]
_BY_TYPE: Registry[_Fn] = Registry()

# Google-managed service agents whose domain is not simply gcp-sa-<service>.
_SERVICE_AGENT_DOMAINS = {
    "cloudfunctions": "gcf-admin-robot",
    "run": "serverless-robot-prod",
    "compute": "compute-system",
    "container": "container-engine-robot",
}
_WORKLOAD_IDENTITY = ("service_account", "service_account_email")
# Unset, these come from the provider's configuration: known before anything is created.
_PROVIDER_DEFAULTS = {"project": "project", "region": "region", "zone": "zone"}


def unset_identity(python: str, subject: Subject) -> str | None:
    """An unset workload identity of a Google Cloud resource: the Compute Engine default service account."""
    if python in _WORKLOAD_IDENTITY and subject.package == "gcp":
        return default_compute_account(subject.project)
    return None


def unset_configured(wire: str, subject: Subject) -> str | None:
    """An unset `project`, `region` or `zone` input of a Google Cloud resource: the provider's configured one."""
    if wire in _PROVIDER_DEFAULTS and subject.package == "gcp":
        return getattr(subject, _PROVIDER_DEFAULTS[wire]) or string_value(subject, wire)
    return None


def _location(inputs: dict[str, Any], subject: Subject) -> str:
    value = inputs.get("location") or inputs.get("region")
    return value if isinstance(value, str) else subject.region


def _run_uri(name: str, subject: Subject, location: str) -> str:
    return f"https://{name}-{digest('run', subject.project, length=10)}-{run_region_code(location)}.a.run.app"


def service_agent_email(service: str, project: str) -> str:
    prefix = service.split(".", 1)[0]
    domain = _SERVICE_AGENT_DOMAINS.get(prefix, f"gcp-sa-{prefix}")
    return f"service-{project_number(project)}@{domain}.iam.gserviceaccount.com"


@_BY_TYPE.of("gcp:serviceaccount/account:Account")
def _service_account(inputs: dict[str, Any], subject: Subject) -> Outputs:
    account_id = inputs.get("accountId") or subject.name
    email = f"{account_id}@{subject.project}.iam.gserviceaccount.com"
    name = f"projects/{subject.project}/serviceAccounts/{email}"
    unique_id = str(100000000000000000000 + int(digest("uid", email), 16) % 10**20)
    computed = {"email": email, "name": name, "member": f"serviceAccount:{email}", "uniqueId": unique_id}
    return name, {"project": subject.project}, computed


@_BY_TYPE.of("gcp:cloudrunv2/service:Service")
def _run_service(inputs: dict[str, Any], subject: Subject) -> Outputs:
    location = _location(inputs, subject)
    uri = _run_uri(subject.name, subject, location)
    full = f"projects/{subject.project}/locations/{location}/services/{subject.name}"
    computed = {
        "uri": uri,
        "urls": [uri, f"https://{subject.name}-{project_number(subject.project)}.{location}.run.app"],
        "uid": digest("uid", full, length=32),
        "etag": digest("etag", full, length=16),
    }
    return full, {"name": subject.name, "location": location, "project": subject.project}, computed


@_BY_TYPE.of("gcp:cloudrun/service:Service")
def _run_service_v1(inputs: dict[str, Any], subject: Subject) -> Outputs:
    location = _location(inputs, subject)
    uri = _run_uri(subject.name, subject, location)
    status = {
        "url": uri,
        "latestReadyRevisionName": f"{subject.name}-00001-abc",
        "latestCreatedRevisionName": f"{subject.name}-00001-abc",
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "", "message": ""}],
    }
    full = f"locations/{location}/namespaces/{subject.project}/services/{subject.name}"
    return full, {"name": subject.name, "location": location, "project": subject.project}, {"statuses": [status]}


@_BY_TYPE.of("gcp:cloudfunctionsv2/function:Function")
def _function(inputs: dict[str, Any], subject: Subject) -> Outputs:
    location = _location(inputs, subject)
    full = f"projects/{subject.project}/locations/{location}/functions/{subject.name}"
    service_config = {
        "uri": _run_uri(subject.name, subject, location),
        "service": f"projects/{subject.project}/locations/{location}/services/{subject.name}",
    }
    computed = {
        "url": f"https://{location}-{subject.project}.cloudfunctions.net/{subject.name}",
        "serviceConfig": service_config,
        "state": "ACTIVE",
        "environment": "GEN_2",
    }
    return full, {"name": subject.name, "location": location, "project": subject.project}, computed


@_BY_TYPE.of("gcp:cloudfunctions/function:Function")
def _function_v1(inputs: dict[str, Any], subject: Subject) -> Outputs:
    region = _location(inputs, subject)
    full = f"projects/{subject.project}/locations/{region}/functions/{subject.name}"
    trigger = f"https://{region}-{subject.project}.cloudfunctions.net/{subject.name}"
    computed = {"httpsTriggerUrl": trigger, "status": "ACTIVE"}
    return full, {"name": subject.name, "region": region, "project": subject.project}, computed


@_BY_TYPE.of("gcp:sql/databaseInstance:DatabaseInstance")
def _sql_instance(inputs: dict[str, Any], subject: Subject) -> Outputs:
    region = _location(inputs, subject)
    private, public = ip_address(subject, "private"), ip_address(subject, "public")
    computed = {
        "connectionName": f"{subject.project}:{region}:{subject.name}",
        "ipAddresses": [{"ipAddress": public, "type": "PRIMARY"}, {"ipAddress": private, "type": "PRIVATE"}],
        "publicIpAddress": public,
        "privateIpAddress": private,
        "firstIpAddress": public,
        "selfLink": self_link(subject),
        "serviceAccountEmailAddress": f"p{project_number(subject.project)}-{subject.hex(length=6)}"
        "@gcp-sa-cloud-sql.iam.gserviceaccount.com",
        "dnsName": f"{subject.hex(length=12)}.{region}.sql.goog.",
    }
    return subject.name, {"name": subject.name, "region": region, "project": subject.project}, computed


@_BY_TYPE.of("gcp:container/cluster:Cluster")
def _gke_cluster(inputs: dict[str, Any], subject: Subject) -> Outputs:
    location = _location(inputs, subject)
    given = inputs.get("masterAuth")
    given = given if isinstance(given, dict) else {}
    master_auth = {
        "clientCertificateConfig": given.get("clientCertificateConfig") or {"issueClientCertificate": False},
        "clusterCaCertificate": _base64_pem("CERTIFICATE", subject.hex("ca")),
        "clientCertificate": "",
        "clientKey": "",
    }
    computed = {
        "endpoint": ip_address(subject, "endpoint"),
        "masterAuth": master_auth,
        "masterVersion": "1.30.5-gke.1014001",
        "selfLink": f"https://container.googleapis.com/v1/projects/{subject.project}/locations/{location}"
        f"/clusters/{subject.name}",
        "labelFingerprint": subject.hex("fingerprint"),
        "servicesIpv4Cidr": "34.118.224.0/20",
    }
    full = f"projects/{subject.project}/locations/{location}/clusters/{subject.name}"
    return full, {"name": subject.name, "location": location, "project": subject.project}, computed


def _base64_pem(label: str, seed: str) -> str:
    return base64.b64encode(pem(label, seed).encode()).decode()


@_BY_TYPE.of("gcp:pubsub/topic:Topic")
def _topic(inputs: dict[str, Any], subject: Subject) -> Outputs:
    return f"projects/{subject.project}/topics/{subject.name}", {"name": subject.name, "project": subject.project}, {}


@_BY_TYPE.of("gcp:pubsub/subscription:Subscription")
def _subscription(inputs: dict[str, Any], subject: Subject) -> Outputs:
    full = f"projects/{subject.project}/subscriptions/{subject.name}"
    return full, {"name": subject.name, "project": subject.project}, {}


@_BY_TYPE.of("gcp:storage/bucket:Bucket")
def _bucket(inputs: dict[str, Any], subject: Subject) -> Outputs:
    computed = {"url": f"gs://{subject.name}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{subject.name}"}
    return subject.name, {"name": subject.name, "project": subject.project}, computed


@_BY_TYPE.of("gcp:storage/bucketObject:BucketObject")
def _bucket_object(inputs: dict[str, Any], subject: Subject) -> Outputs:
    bucket = inputs.get("bucket", "")
    computed = {
        "md5hash": digest("md5", bucket, subject.name, length=24),
        "mediaLink": f"https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{subject.name}",
        "outputName": subject.name,
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{subject.name}",
    }
    return f"{bucket}-{subject.name}", {"name": subject.name}, computed


@_BY_TYPE.of("gcp:artifactregistry/repository:Repository")
def _repository(inputs: dict[str, Any], subject: Subject) -> Outputs:
    repository_id = inputs.get("repositoryId") or subject.name
    location = _location(inputs, subject)
    full = f"projects/{subject.project}/locations/{location}/repositories/{repository_id}"
    return full, {"project": subject.project, "location": location}, {"name": repository_id}


@_BY_TYPE.of("gcp:secretmanager/secret:Secret")
def _secret(inputs: dict[str, Any], subject: Subject) -> Outputs:
    secret_id = inputs.get("secretId") or subject.name
    computed = {"name": f"projects/{project_number(subject.project)}/secrets/{secret_id}"}
    return f"projects/{subject.project}/secrets/{secret_id}", {"project": subject.project}, computed


@_BY_TYPE.of("gcp:secretmanager/secretVersion:SecretVersion")
def _secret_version(inputs: dict[str, Any], subject: Subject) -> Outputs:
    name = f"{inputs.get('secret', '')}/versions/1"
    return name, {}, {"name": name, "version": "1"}


@_BY_TYPE.of("gcp:kms/keyRing:KeyRing")
def _key_ring(inputs: dict[str, Any], subject: Subject) -> Outputs:
    location = _location(inputs, subject)
    return f"projects/{subject.project}/locations/{location}/keyRings/{subject.name}", {"project": subject.project}, {}


@_BY_TYPE.of("gcp:kms/cryptoKey:CryptoKey")
def _crypto_key(inputs: dict[str, Any], subject: Subject) -> Outputs:
    # The provider's id is `{{key_ring}}/cryptoKeys/{{name}}`: grants on the key (CryptoKeyIAMMember) name it.
    return f"{inputs.get('keyRing', '')}/cryptoKeys/{subject.name}", {}, {}


@_BY_TYPE.of("gcp:projects/serviceIdentity:ServiceIdentity")
def _service_identity(inputs: dict[str, Any], subject: Subject) -> Outputs:
    service = str(inputs.get("service") or "")
    email = service_agent_email(service, subject.project)
    full = f"projects/{subject.project}/services/{service}"
    return full, {"project": subject.project}, {"email": email, "member": f"serviceAccount:{email}"}


@_BY_TYPE.of("gcp:projects/iAMCustomRole:IAMCustomRole")
def _project_custom_role(inputs: dict[str, Any], subject: Subject) -> Outputs:
    # `name` (and the id) is what grants use as the role: projects/<project>/roles/<roleId>.
    name = f"projects/{subject.project}/roles/{inputs.get('roleId') or subject.name}"
    return name, {"project": subject.project}, {"name": name, "deleted": False}


@_BY_TYPE.of("gcp:organizations/iAMCustomRole:IAMCustomRole")
def _organization_custom_role(inputs: dict[str, Any], subject: Subject) -> Outputs:
    name = f"organizations/{inputs.get('orgId')}/roles/{inputs.get('roleId') or subject.name}"
    return name, {}, {"name": name, "deleted": False}


def _logging_agent(scope: str) -> str:
    return f"serviceAccount:service-{scope}@gcp-sa-logging.iam.gserviceaccount.com"


@_BY_TYPE.of("gcp:logging/projectSink:ProjectSink")
def _project_sink(inputs: dict[str, Any], subject: Subject) -> Outputs:
    # The identity the destination must trust: the project's Logging service agent, a service account the
    # sink names (customWriterIdentity), or the shared legacy writer when uniqueWriterIdentity is false.
    custom = inputs.get("customWriterIdentity")
    if isinstance(custom, str) and custom:
        writer = custom if ":" in custom else f"serviceAccount:{custom}"
    elif inputs.get("uniqueWriterIdentity") is False:
        writer = "serviceAccount:cloud-logs@system.gserviceaccount.com"
    else:
        writer = _logging_agent(project_number(subject.project))
    full = f"projects/{subject.project}/sinks/{subject.name}"
    return full, {"project": subject.project}, {"writerIdentity": writer}


@_BY_TYPE.of("gcp:logging/folderSink:FolderSink")
def _folder_sink(inputs: dict[str, Any], subject: Subject) -> Outputs:
    folder = str(inputs.get("folder") or "").removeprefix("folders/")
    return f"folders/{folder}/sinks/{subject.name}", {}, {"writerIdentity": _logging_agent(f"folder-{folder}")}


@_BY_TYPE.of("gcp:logging/organizationSink:OrganizationSink")
def _organization_sink(inputs: dict[str, Any], subject: Subject) -> Outputs:
    org = str(inputs.get("orgId") or "").removeprefix("organizations/")
    return f"organizations/{org}/sinks/{subject.name}", {}, {"writerIdentity": _logging_agent(f"org-{org}")}


def outputs(type_: str, inputs: dict[str, Any], subject: Subject) -> Outputs | None:
    """(id, known, computed) for a Google Cloud resource of a type listed here; None for other types."""
    fn = _BY_TYPE.get(type_)
    return fn(inputs, subject) if fn is not None else None
