"""What neither the provider's definitions nor the method dataset say and Google documents, each with its source.

- `METHOD_PERMISSIONS`: REST methods the dataset (iam-dataset's map.json) lists without permissions, or not at
  all, whose permissions Google's reference pages name;
- `NAMES` / `IAM_TARGETS`: the resource names of handwritten types, and the resource each handwritten IAM type
  changes the policy of (generated types carry theirs in provider_methods.json);
- `STEP_OVERRIDES`: calls the provider makes that Google answers without a further call;
- `INVOKES`: the provider functions a program calls and the method each one is;
- `RUNS_AS_EXTRA`: workloads that run as a service account the pack's workload model does not list;
- `CHECKED_ELSEWHERE`: permissions a step checks on another resource than its own, one its inputs name;
- `ATTRIBUTE_SERVICES`: services whose IAM conditions see `resource.name`/`resource.type`.
"""

from __future__ import annotations

from typing import Final

LOGGING_ACCESS: Final = "https://cloud.google.com/logging/docs/access-control (logging.logMetrics.*)"
IAM_PERMISSIONS: Final = (
    "https://cloud.google.com/iam/docs/permissions-reference (iam.googleapis.com/workloadIdentityPools.*)"
)
SERVICE_AGENTS: Final = (
    "https://cloud.google.com/iam/docs/create-service-agents: triggering service agent creation doesn't require "
    "any IAM permissions"
)
ACT_AS: Final = (
    "https://cloud.google.com/iam/docs/service-accounts-actas: deploying a resource that runs as a service "
    "account needs iam.serviceAccounts.actAs on that account"
)
AR_PUSH: Final = (
    "https://cloud.google.com/artifact-registry/docs/access-control#permissions: pushing an image needs "
    "artifactregistry.repositories.uploadArtifacts (and downloadArtifacts for the layers it checks)"
)
CLOUD_TASKS_ACT_AS: Final = (
    "https://cloud.google.com/tasks/docs/reference/rest/v2/OidcToken: the queue's (or task's) token account — "
    '"The caller must have iam.serviceAccounts.actAs permission for the service account" (OAuthToken: the same)'
)
PUBSUB_ATTACH: Final = (
    "https://cloud.google.com/pubsub/docs/access-control#required_permissions: creating a subscription needs "
    "pubsub.subscriptions.create on its project and pubsub.topics.attachSubscription on the topic it attaches to"
)
PULUMI_GCS_BACKEND: Final = (
    "Pulumi's gs:// backend reads, writes and deletes the stack's checkpoint, history and lock objects "
    "(https://www.pulumi.com/docs/iac/concepts/state-and-backends/#google-cloud-storage); overwriting an object "
    "also needs storage.objects.delete (https://cloud.google.com/storage/docs/access-control/iam-permissions)"
)
PULUMI_KMS: Final = (
    "Pulumi's gcpkms:// secrets provider decrypts the stack's data key with Cloud KMS when it loads the stack and "
    "encrypts values locally with it; only creating the key (`pulumi stack init`) encrypts with KMS "
    "(https://www.pulumi.com/docs/iac/concepts/secrets/#configuring-secrets-encryption)"
)

# method id -> (permissions, source). An empty tuple: Google checks no permission (documented).
METHOD_PERMISSIONS: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    "logging.projects.metrics.create": (("logging.logMetrics.create",), LOGGING_ACCESS),
    "logging.projects.metrics.get": (("logging.logMetrics.get",), LOGGING_ACCESS),
    "logging.projects.metrics.update": (("logging.logMetrics.update",), LOGGING_ACCESS),
    "logging.projects.metrics.delete": (("logging.logMetrics.delete",), LOGGING_ACCESS),
    "serviceusage.services.generateServiceIdentity": ((), SERVICE_AGENTS),
    "iam.projects.locations.workloadIdentityPools.patch": (
        ("iam.googleapis.com/workloadIdentityPools.get", "iam.googleapis.com/workloadIdentityPools.update"),
        IAM_PERMISSIONS,
    ),
    "iam.projects.locations.workloadIdentityPools.setAttestationRules": (
        ("iam.googleapis.com/workloadIdentityPools.setAttestationRules",),
        IAM_PERMISSIONS,
    ),
}

# A call the provider makes whose answer makes the next one unnecessary: (type, step) -> (methods dropped, why).
STEP_OVERRIDES: Final[dict[tuple[str, str], tuple[frozenset[str], str]]] = {
    ("gcp:projects/serviceIdentity:ServiceIdentity", "create"): (
        frozenset({"serviceusage.operations.get"}),
        "generateServiceIdentity answers with a finished operation (`operations/finished.DONE_OPERATION`, "
        "done: true): no poll follows (" + SERVICE_AGENTS + ")",
    ),
}

# Resource names (IAM's `resource.name`) of handwritten types; `{key}` is the resource's input or output of that
# name (pulumi's camelCase), `{project}` the resource's or the provider's project.
NAMES: Final[dict[str, str]] = {
    "gcp:serviceaccount/account:Account": "projects/{project}/serviceAccounts/{email}",
    "gcp:storage/bucket:Bucket": "projects/_/buckets/{name}",
    "gcp:storage/bucketObject:BucketObject": "projects/_/buckets/{bucket}/objects/{name}",
    "gcp:projects/iAMCustomRole:IAMCustomRole": "projects/{project}/roles/{roleId}",
    "gcp:organizations/iAMCustomRole:IAMCustomRole": "organizations/{orgId}/roles/{roleId}",
    "gcp:projects/serviceIdentity:ServiceIdentity": "projects/{project}/services/{service}",
    "gcp:projects/service:Service": "projects/{project}/services/{service}",
    "gcp:projects/project:Project": "projects/{projectId}",
}

# The resource whose IAM policy a handwritten IAM type reads and writes, by type-token prefix.
IAM_TARGETS: Final[dict[str, str]] = {
    # iam_pubsub_subscription.go: a bare subscription name is in the resource's (or provider's) project.
    "gcp:pubsub/subscriptionIAM": "projects/{project}/subscriptions/{subscription}",
    "gcp:projects/iAM": "projects/{project}",
    "gcp:serviceaccount/iAM": "{serviceAccountId}",
    "gcp:storage/bucketIAM": "projects/_/buckets/{bucket}",
    "gcp:kms/cryptoKeyIAM": "{cryptoKeyId}",
    "gcp:kms/keyRingIAM": "{keyRingId}",
    "gcp:organizations/iAM": "organizations/{orgId}",
    "gcp:folder/iAM": "{folder}",
}

# Provider functions (invokes): token -> (method, target template) or None when no API permission is involved.
INVOKES: Final[dict[str, tuple[str, str] | None]] = {
    "gcp:organizations/getProject:getProject": ("cloudresourcemanager.projects.get", "projects/{projectId}"),
    # Answers from the provider's own configuration and credentials.
    "gcp:organizations/getClientConfig:getClientConfig": None,
    "gcp:organizations/getClientOpenIdUserInfo:getClientOpenIdUserInfo": None,
    # Build a policy document locally (the data source makes no request).
    "gcp:organizations/getIAMPolicy:getIAMPolicy": None,
    "gcp:serviceaccount/getAccount:getAccount": (
        "iam.projects.serviceAccounts.get",
        "projects/{project}/serviceAccounts/{accountId}",
    ),
    "gcp:secretmanager/getSecretVersion:getSecretVersion": (
        "secretmanager.projects.secrets.versions.access",
        "projects/{project}/secrets/{secret}",
    ),
    "gcp:secretmanager/getSecretVersionAccess:getSecretVersionAccess": (
        "secretmanager.projects.secrets.versions.access",
        "projects/{project}/secrets/{secret}",
    ),
    "gcp:compute/getZones:getZones": ("compute.zones.list", "projects/{project}"),
    "gcp:compute/getDefaultServiceAccount:getDefaultServiceAccount": ("compute.projects.get", "projects/{project}"),
}

# Workloads that run as an account and are not in the pack's workload model: type -> paths of the email.
RUNS_AS_EXTRA: Final[dict[str, tuple[tuple[str | int, ...], ...]]] = {
    "gcp:compute/instance:Instance": (("serviceAccount", "email"),),
    "gcp:compute/instanceTemplate:InstanceTemplate": (("serviceAccount", "email"),),
    "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate": (("serviceAccount", "email"),),
    "gcp:container/nodePool:NodePool": (("nodeConfig", "serviceAccount"),),
    "gcp:container/cluster:Cluster": (("nodeConfig", "serviceAccount"),),
    # CLOUD_TASKS_ACT_AS: the queue's HTTP target sends every task with a token of this account.
    "gcp:cloudtasks/queue:Queue": (("httpTarget", "oidcToken", "serviceAccountEmail"),
                                   ("httpTarget", "oauthToken", "serviceAccountEmail")),
}  # fmt: skip

# Permissions a step checks on another resource than the one it creates, which an input names (a topic in
# another project, for one): (type, step) -> ((permission, name template, service, IAM resource type, method,
# source), ...). The template is filled like a resource name (`{topic}` may already be a full name).
CHECKED_ELSEWHERE: Final[dict[tuple[str, str], tuple[tuple[str, str, str, str, str, str], ...]]] = {
    ("gcp:pubsub/subscription:Subscription", "create"): (
        (
            "pubsub.topics.attachSubscription",
            "projects/{project}/topics/{topic}",
            "pubsub.googleapis.com",
            "pubsub.googleapis.com/Topic",
            "pubsub.projects.subscriptions.create",
            PUBSUB_ATTACH,
        ),
    ),
}

# Services whose IAM conditions see resource attributes, with the resource name formats this check builds for
# them (https://cloud.google.com/iam/docs/conditions-resource-attributes). For any other service a condition
# that reads `resource.*` cannot be decided here: the grant is counted as not applying, and the report says so.
# (Secret Manager is listed there too, but names secrets by project number, which is not known offline.)
ATTRIBUTE_SERVICES: Final = frozenset({"storage.googleapis.com", "cloudkms.googleapis.com", "compute.googleapis.com"})

# Image pushes: types that push to a registry, and where the push flag and tags live.
IMAGE_TYPES: Final[dict[str, tuple[str, str]]] = {
    "docker-build:index:Image": ("push", "tags"),
    "docker:index/image:Image": ("", "imageName"),
    "docker:index/registryImage:RegistryImage": ("", "name"),
}
