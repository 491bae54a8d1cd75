"""What a role can do, from its permissions: the one classifier behind the generated table of predefined
roles (`role_table.json`, built by `policies/tools/generate_role_table.py`) and behind custom roles.

Classes, most severe first:
- escalation: acts as or mints credentials for service accounts (`ESCALATION_PERMISSIONS`, each with why);
- iam: changes IAM (`*.setIamPolicy`, editing roles that may already be granted);
- runs-code: runs code as an identity the caller does not otherwise hold (`RUNS_CODE_PERMISSIONS`, each with
  the reason);
- org-policy: changes or switches off organization policy constraints (`ORG_POLICY_PERMISSIONS`), the
  guardrails above this pack;
- writes / reads: writes, manages or reads the contents of resources that Google lets you grant on one by one
  (`RESOURCE_KINDS`): a grant of such a role on the whole project reaches every one of them.
Metadata reads (get, list, getIamPolicy, ...) and creating top-level resources (only ever granted on a
project) carry no class. A role with none of these is judged harmless at any scope: that is what makes log
writer, metric writer, trace agent and event receiver project-scoped by nature (`PROJECT_SCOPED_BY_NATURE`).
Invoke permissions are recorded by name (`invoke`): the invoker rule asks which ones a role carries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

__all__ = [
    "ESCALATION_PERMISSIONS",
    "ORG_POLICY_PERMISSIONS",
    "PROJECT_SCOPED_BY_NATURE",
    "RESOURCE_KINDS",
    "RUNS_CODE_PERMISSIONS",
    "TABLE_FORMAT",
    "TABLE_PATH",
    "ResourceKind",
    "RolePower",
    "classify",
    "from_record",
    "kind_named",
    "predefined",
    "table_version",
    "to_record",
]

# Acting as a service account, or minting a credential that acts as one. Each entry says why.
ESCALATION_PERMISSIONS: Final[Mapping[str, str]] = {
    "iam.serviceAccounts.actAs": "attaches service accounts to resources that then run as them",
    "iam.serviceAccounts.getAccessToken": "mints OAuth access tokens for service accounts",
    "iam.serviceAccounts.getOpenIdToken": "mints OIDC ID tokens for service accounts",
    "iam.serviceAccounts.signJwt": "signs JWTs as service accounts",
    "iam.serviceAccounts.signBlob": "signs data as service accounts",
    "iam.serviceAccounts.implicitDelegation": "mints credentials through a chain of service accounts",
    "iam.serviceAccountKeys.create": "creates long-lived keys for service accounts",
    "storage.hmacKeys.create": "creates long-lived HMAC keys for service accounts (Cloud Storage as that account)",
    "container.serviceAccounts.createToken": "mints Kubernetes service account tokens, which Workload Identity "
    "exchanges for tokens of the Google service accounts they are bound to",
}
# Editing a role changes what everyone already holding it may do; creating one is the first half of that.
IAM_ROLE_PERMISSIONS: Final = frozenset({"iam.roles.create", "iam.roles.update"})
# Setting IAM on a service account is impersonation power over it: the holder can grant itself the token
# roles. Kept first in the table's (truncated) evidence so rules can ask for it.
SET_SERVICE_ACCOUNT_IAM: Final = "iam.serviceAccounts.setIamPolicy"

# Permissions that run code as an identity without the caller needing actAs on it: holding one on a
# project means acting as every identity it reaches there. Each entry says why.
RUNS_CODE_PERMISSIONS: Final[Mapping[str, str]] = {
    "cloudbuild.builds.create": "starts builds that run as the project's build service account",
    "deploymentmanager.deployments.create": "deploys through the Google APIs service agent, which holds "
    "roles/editor on the project",
    "deploymentmanager.deployments.update": "redeploys through the Google APIs service agent, which holds "
    "roles/editor on the project",
    "cloudfunctions.functions.update": "replaces the code of existing functions, which keep their identities",
    "run.services.update": "replaces the code of existing Cloud Run services, which keep their identities",
    "run.jobs.update": "replaces the code of existing Cloud Run jobs, which keep their identities",
    "run.jobs.runWithOverrides": "runs existing Cloud Run jobs with other arguments and environment",
    "run.workerpools.update": "replaces the code of existing Cloud Run worker pools, which keep their identities",
    "workflows.workflows.update": "replaces the steps of existing workflows, which keep their identities",
    "dataproc.jobs.create": "submits jobs that run on existing Dataproc clusters as their identities",
    "compute.instances.setMetadata": "sets startup scripts and SSH keys of VMs, which run as their identities",
    "compute.projects.setCommonInstanceMetadata": "sets project-wide startup scripts and SSH keys for every VM",
    "container.pods.create": "starts pods in GKE clusters as any Kubernetes service account, and so as any Google "
    "service account bound to one through Workload Identity",
    "container.pods.exec": "runs commands in running pods, as their Kubernetes and Workload Identity accounts",
    "composer.environments.update": "changes Composer environments (PyPI packages, environment variables, "
    "Airflow configuration), whose code runs as the environment's service account",
}

# Changing organization policy switches off the constraints that stand behind every grant (no keys, allowed
# member domains, ...). Only ever granted on a project, folder or organization.
ORG_POLICY_PERMISSIONS: Final[Mapping[str, str]] = {
    "orgpolicy.policy.set": "sets organization policies (legacy API)",
    "orgpolicy.policies.create": "creates organization policies",
    "orgpolicy.policies.update": "changes organization policies",
    "orgpolicy.policies.delete": "deletes organization policies, restoring the parent's",
}


@dataclass(frozen=True)
class ResourceKind:
    """A resource type whose roles can be granted on one resource: grant there instead of on the project."""

    name: str  # as a person says it: "bucket", "secret", ...
    prefixes: tuple[str, ...]  # permission types (`service.type`) that act on it or on its contents
    top: str  # the type itself: creating one is a project-level act
    iam_member: str  # the pulumi-gcp resource that grants on one of them
    reads: frozenset[str] = frozenset()  # content reads (a `get` elsewhere is metadata)


RESOURCE_KINDS: Final[tuple[ResourceKind, ...]] = (
    ResourceKind(
        "bucket",
        ("storage.buckets", "storage.objects", "storage.managedFolders", "storage.folders", "storage.multipartUploads"),
        "storage.buckets",
        "gcp.storage.BucketIAMMember",
        frozenset({"storage.objects.get"}),
    ),
    ResourceKind(
        "secret",
        ("secretmanager.secrets", "secretmanager.versions"),
        "secretmanager.secrets",
        "gcp.secretmanager.SecretIamMember",
        frozenset({"secretmanager.versions.access"}),
    ),
    ResourceKind(
        "Artifact Registry repository",
        (
            "artifactregistry.repositories",
            "artifactregistry.files",
            "artifactregistry.packages",
            "artifactregistry.tags",
            "artifactregistry.versions",
            "artifactregistry.dockerimages",
            "artifactregistry.mavenartifacts",
            "artifactregistry.npmpackages",
            "artifactregistry.pythonpackages",
            "artifactregistry.aptartifacts",
            "artifactregistry.yumartifacts",
            "artifactregistry.kfpartifacts",
            "artifactregistry.attachments",
            "artifactregistry.rules",
        ),
        "artifactregistry.repositories",
        "gcp.artifactregistry.RepositoryIamMember",
        frozenset(
            {
                "artifactregistry.repositories.downloadArtifacts",
                "artifactregistry.repositories.readViaVirtualRepository",
                "artifactregistry.files.download",
            }
        ),
    ),
    ResourceKind("Pub/Sub topic", ("pubsub.topics",), "pubsub.topics", "gcp.pubsub.TopicIAMMember"),
    ResourceKind(
        "Pub/Sub subscription",
        ("pubsub.subscriptions", "pubsub.snapshots"),
        "pubsub.subscriptions",
        "gcp.pubsub.SubscriptionIAMMember",
        frozenset({"pubsub.subscriptions.consume"}),
    ),
    ResourceKind(
        "BigQuery dataset",
        ("bigquery.datasets", "bigquery.tables", "bigquery.routines", "bigquery.models"),
        "bigquery.datasets",
        "gcp.bigquery.DatasetIamMember",
        frozenset(
            {
                "bigquery.tables.getData",
                "bigquery.tables.export",
                "bigquery.tables.createSnapshot",
                "bigquery.tables.replicateData",
                "bigquery.models.getData",
                "bigquery.models.export",
            }
        ),
    ),
    ResourceKind(
        "KMS key",
        ("cloudkms.keyRings", "cloudkms.cryptoKeys", "cloudkms.cryptoKeyVersions"),
        "cloudkms.keyRings",
        "gcp.kms.CryptoKeyIAMMember",
        frozenset({"cloudkms.cryptoKeyVersions.useToDecrypt", "cloudkms.cryptoKeyVersions.useToDecryptViaDelegation"}),
    ),
    ResourceKind(
        "Cloud Run service",
        ("run.services", "run.routes", "run.revisions", "run.configurations"),
        "run.services",
        "gcp.cloudrunv2.ServiceIamMember",
    ),
    ResourceKind(
        "Cloud Run job", ("run.jobs", "run.executions", "run.tasks"), "run.jobs", "gcp.cloudrunv2.JobIamMember"
    ),
    ResourceKind(
        "Cloud Run worker pool", ("run.workerpools",), "run.workerpools", "gcp.cloudrunv2.WorkerPoolIamMember"
    ),
    ResourceKind(
        "Cloud Function",
        ("cloudfunctions.functions",),
        "cloudfunctions.functions",
        "gcp.cloudfunctionsv2.FunctionIamMember",
    ),
    ResourceKind(
        "service account",
        ("iam.serviceAccounts", "iam.serviceAccountKeys"),
        "iam.serviceAccounts",
        "gcp.serviceaccount.IAMMember",
    ),
    ResourceKind(
        "Cloud Tasks queue",
        ("cloudtasks.queues", "cloudtasks.tasks"),
        "cloudtasks.queues",
        "gcp.cloudtasks.QueueIamMember",
    ),
    ResourceKind(
        "Spanner instance",
        ("spanner.instances", "spanner.databases", "spanner.sessions", "spanner.backups"),
        "spanner.instances",
        "gcp.spanner.DatabaseIAMMember",
        frozenset({"spanner.databases.read", "spanner.databases.select", "spanner.databases.beginReadOnlyTransaction"}),
    ),
    ResourceKind(
        "Bigtable instance",
        ("bigtable.instances", "bigtable.tables", "bigtable.backups", "bigtable.authorizedViews"),
        "bigtable.instances",
        "gcp.bigtable.InstanceIamMember",
        frozenset({"bigtable.tables.readRows", "bigtable.authorizedViews.readRows"}),
    ),
    ResourceKind(
        "source repository",
        ("source.repos",),
        "source.repos",
        "gcp.sourcerepo.RepositoryIamMember",
        frozenset({"source.repos.get"}),
    ),
    ResourceKind("Dataproc cluster", ("dataproc.clusters",), "dataproc.clusters", "gcp.dataproc.ClusterIAMMember"),
)
_KIND_BY_TYPE: Final = {prefix: kind for kind in RESOURCE_KINDS for prefix in kind.prefixes}
_METADATA_VERBS: Final = frozenset(
    {"get", "getMetadata", "list", "getIamPolicy", "listEffectiveTags", "listTagBindings"}
)
INVOKE_PERMISSIONS: Final = frozenset(
    {"run.routes.invoke", "cloudfunctions.functions.invoke", "cloudfunctions.functions.call"}
)

# Roles that are project-wide by what they do (write logs, metrics, traces; receive events; connect to
# Cloud SQL; use the project's APIs): the classifier gives them no class. The generator refuses to write a
# table in which one of them gains a class, and the sweep test grants each on a project.
PROJECT_SCOPED_BY_NATURE: Final[tuple[str, ...]] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/cloudtrace.agent",
    "roles/eventarc.eventReceiver",
    "roles/errorreporting.writer",
    "roles/cloudprofiler.agent",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/opsconfigmonitoring.resourceMetadata.writer",
    "roles/serviceusage.serviceUsageConsumer",
    "roles/cloudsql.client",
    "roles/bigquery.jobUser",
    "roles/browser",
)

_SERVICE_AGENT_ID: Final = re.compile(r"serviceagent", re.IGNORECASE)


@dataclass(frozen=True)
class RolePower:
    """The classes a role carries, each with its evidence (permissions, or the resource kinds reached)."""

    escalation: tuple[str, ...] = ()
    iam: tuple[str, ...] = ()
    runs_code: tuple[str, ...] = ()
    org_policy: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()  # resource kind names
    reads: tuple[str, ...] = ()  # resource kind names
    invoke: tuple[str, ...] = ()  # the INVOKE_PERMISSIONS it carries
    service_agent: bool = False

    @property
    def identity_level(self) -> bool:
        """Power over identities, IAM or the organization's policies: never acceptable on a whole project."""
        return bool(self.escalation or self.iam or self.runs_code or self.org_policy)

    @property
    def harmless(self) -> bool:
        return not (self.identity_level or self.writes or self.reads or self.service_agent)

    @property
    def sets_service_account_iam(self) -> bool:
        return SET_SERVICE_ACCOUNT_IAM in self.iam

    def invokes(self, *permissions: str) -> bool:
        return any(p in self.invoke for p in permissions)


def _kind_of(permission: str) -> tuple[ResourceKind, str] | None:
    parts = permission.split(".")
    if len(parts) != 3:
        return None
    kind = _KIND_BY_TYPE.get(f"{parts[0]}.{parts[1]}")
    return (kind, parts[2]) if kind is not None else None


def classify(permissions: Iterable[str], role_id: str = "", title: str = "") -> RolePower:
    """The power of a role holding `permissions`; role id and title only mark Google's service-agent roles."""
    escalation: set[str] = set()
    iam: set[str] = set()
    runs_code: set[str] = set()
    org_policy: set[str] = set()
    writes: set[str] = set()
    reads: set[str] = set()
    invoke: set[str] = set()
    for permission in permissions:
        if not isinstance(permission, str):
            continue
        if permission in ESCALATION_PERMISSIONS:
            escalation.add(permission)
        if permission.endswith(".setIamPolicy") or permission in IAM_ROLE_PERMISSIONS:
            iam.add(permission)
        if permission in RUNS_CODE_PERMISSIONS:
            runs_code.add(permission)
        if permission in ORG_POLICY_PERMISSIONS:
            org_policy.add(permission)
        if permission in INVOKE_PERMISSIONS:
            invoke.add(permission)
        found = _kind_of(permission)
        if found is None:
            continue
        kind, verb = found
        if permission in kind.reads:
            reads.add(kind.name)
        elif (
            verb in _METADATA_VERBS
            or verb.startswith("search")
            or (verb == "create" and permission.startswith(kind.top + "."))
        ):
            continue
        elif not permission.endswith(".setIamPolicy"):
            writes.add(kind.name)
    last = role_id.rsplit("/", 1)[-1]
    service_agent = bool(_SERVICE_AGENT_ID.search(last)) or "service agent" in title.lower()
    return RolePower(
        escalation=tuple(sorted(escalation)),
        iam=tuple(sorted(iam, key=lambda p: (p != SET_SERVICE_ACCOUNT_IAM, p))),
        runs_code=tuple(sorted(runs_code)),
        org_policy=tuple(sorted(org_policy)),
        writes=tuple(sorted(writes)),
        reads=tuple(sorted(reads - writes)),
        invoke=tuple(sorted(invoke)),
        service_agent=service_agent,
    )


# --- the generated table ------------------------------------------------------------------------------------

TABLE_PATH: Final = Path(__file__).with_name("role_table.json")
TABLE_FORMAT: Final = 2
# Evidence kept per class in the table: enough to name why in a message, small enough to diff.
EVIDENCE_LIMIT: Final = 4


def to_record(power: RolePower) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, values in (
        ("escalation", power.escalation),
        ("iam", power.iam),
        ("runsCode", power.runs_code),
        ("orgPolicy", power.org_policy),
        ("writes", power.writes),
        ("reads", power.reads),
        ("invoke", power.invoke),
    ):
        if values:
            record[key] = list(values[:EVIDENCE_LIMIT]) if key in ("iam",) else list(values)
    if power.service_agent:
        record["serviceAgent"] = True
    return record


def from_record(record: Mapping[str, Any]) -> RolePower:
    def strings(key: str) -> tuple[str, ...]:
        values = record.get(key, [])
        return tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else ()

    return RolePower(
        escalation=strings("escalation"),
        iam=strings("iam"),
        runs_code=strings("runsCode"),
        org_policy=strings("orgPolicy"),
        writes=strings("writes"),
        reads=strings("reads"),
        invoke=strings("invoke"),
        service_agent=record.get("serviceAgent") is True,
    )


@cache
def _table() -> Mapping[str, RolePower]:
    document = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return {role: from_record(record) for role, record in document["roles"].items()}


def table_version() -> str:
    document = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return str(document["version"])


def predefined(role: str) -> RolePower | None:
    """The power of a predefined role (`roles/...`), or None if the table does not know it."""
    return _table().get(role)


def kind_named(name: str) -> ResourceKind | None:
    return next((kind for kind in RESOURCE_KINDS if kind.name == name), None)
