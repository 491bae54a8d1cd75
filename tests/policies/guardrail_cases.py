"""Shared test data: contexts, unknown sentinels, and this project's own stack as the analyzer sees it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from pulumi_policy import EnforcementLevel

from secure_invoke.policies.guardrails.config import PolicySettings
from secure_invoke.policies.guardrails.context import RuleContext
from secure_invoke.policies.guardrails.pack import SPECS
from secure_invoke.policies.guardrails.stack import StackModel

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_ARRAY = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2"
UNKNOWN_OBJECT = "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"
UNKNOWN_BOOL = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"

PROJECT = "si-dev-1234"
PROJECT_NUMBER = "123456789012"


_SETTINGS: frozenset[str] = frozenset(f.name for f in fields(PolicySettings))


def ctx(**kwargs: Any) -> RuleContext:
    """A rule context; keyword arguments naming a setting (allowed_invokers=...) go to its settings."""
    settings = PolicySettings(**{key: kwargs.pop(key) for key in list(kwargs) if key in _SETTINGS})
    kwargs.setdefault("name", "subject")
    kwargs.setdefault("urn", "urn:pulumi:dev::secure-invoke::gcp:test:Subject::subject")
    kwargs.setdefault("stack", "dev")
    return RuleContext(settings=settings, **kwargs)


def judge(policy: str, resource_type: str, props: dict[str, Any], rule_ctx: RuleContext) -> list[str]:
    """A resource policy's messages as the adapter gives them: its rule's, for a type its Spec lists; none else."""
    spec = next(s for s in SPECS if s.name == policy)
    assert spec.resource_rule is not None, policy
    return spec.resource_rule(resource_type, props, rule_ctx) if spec.judges(resource_type) else []


def urn(stack: str, rtype: str, name: str, parent: str | None = None) -> str:
    qualified = f"{parent}${rtype}" if parent else rtype
    return f"urn:pulumi:{stack}::secure-invoke::{qualified}::{name}"


def sa_email(account_id: str) -> str:
    return f"{account_id}@{PROJECT}.iam.gserviceaccount.com"


def project_stack(stack: str = "dev") -> list[dict[str, Any]]:
    """A hand-written copy of this project's stack with the outputs the engine gives AnalyzeStack: the workload,
    build and agent grants of docs/design.md §2 plus the legacy Pub/Sub agent's, without the dead-letter and
    operator grants (tests/stack/test_stack.py asserts the real stack's complete table)."""
    resources: list[dict[str, Any]] = []

    def add(rtype: str, name: str, props: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        resource = {
            "urn": urn(stack, rtype, name, parent),
            "type": rtype,
            "name": name,
            "props": props,
            "parent": None,
            "dependencies": [],
        }
        resources.append(resource)
        return resource

    labels = {"app": "secure-invoke", "env": stack}
    identity = "secure-invoke:identity:ServiceIdentity"
    emails = {}
    for role in ("relay-runtime", "relay-trigger", "relay-build", "worker-runtime"):
        account_id = f"{role}-{stack}"
        email = sa_email(account_id)
        emails[role] = email
        add(
            "gcp:serviceaccount/account:Account",
            role,
            {
                "accountId": account_id,
                "email": email,
                "name": f"projects/{PROJECT}/serviceAccounts/{email}",
                "id": f"projects/{PROJECT}/serviceAccounts/{email}",
                "member": f"serviceAccount:{email}",
            },
            identity,
        )
    add("gcp:pubsub/topic:Topic", "jobs", {"name": f"jobs-{stack}", "labels": labels})
    add("gcp:pubsub/topic:Topic", "rotation", {"name": f"rotation-{stack}", "labels": labels})
    add(
        "gcp:storage/bucket:Bucket",
        "source",
        {"name": f"src-{stack}", "uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"}
        | {"labels": labels},
    )
    add("gcp:storage/bucketObject:BucketObject", "relay-zip", {"name": "relay-3f2a9c.zip", "bucket": "src"})
    for repo in ("relay-builds", "worker-images"):
        add("gcp:artifactregistry/repository:Repository", repo, {"repositoryId": repo, "labels": labels})
    worker_uri = f"https://worker-{stack}-abcd1234-uc.a.run.app"
    worker_min = 1 if stack == "prod" else 0
    add(
        "gcp:cloudrunv2/service:Service",
        "worker",
        {
            "name": f"worker-{stack}",
            "id": f"projects/{PROJECT}/locations/us-central1/services/worker-{stack}",
            "location": "us-central1",
            "ingress": "INGRESS_TRAFFIC_ALL",
            "invokerIamDisabled": False,
            "deletionProtection": stack == "prod",
            "labels": labels,
            "uri": worker_uri,
            "urls": [worker_uri],
            "template": {
                "serviceAccount": emails["worker-runtime"],
                "scaling": {"minInstanceCount": worker_min, "maxInstanceCount": 5},
                "containers": [
                    {
                        "image": "us-central1-docker.pkg.dev/si/worker-images/worker@sha256:" + "ab" * 32,
                        "ports": {"containerPort": 8080},
                        "envs": [
                            {"name": "INVOKER_AUDIENCE", "value": worker_uri},
                            {"name": "ALLOWED_INVOKERS", "value": emails["relay-runtime"]},
                            {
                                "name": "UPSTREAM_API_KEY",
                                "valueSource": {"secretKeyRef": {"secret": "upstream-api-key", "version": "latest"}},
                            },
                        ],
                    }
                ],
            },
        },
        "secure-invoke:serverless:PrivateService",
    )
    relay_name = f"relay-{stack}"
    add(
        "gcp:cloudfunctionsv2/function:Function",
        "relay",
        {
            "name": relay_name,
            "location": "us-central1",
            "labels": labels,
            "url": f"https://us-central1-{PROJECT}.cloudfunctions.net/{relay_name}",
            "buildConfig": {
                "runtime": "python312",
                "entryPoint": "relay",
                "serviceAccount": f"projects/{PROJECT}/serviceAccounts/{emails['relay-build']}",
                "dockerRepository": f"projects/{PROJECT}/locations/us-central1/repositories/relay-builds",
            },
            "serviceConfig": {
                "serviceAccountEmail": emails["relay-runtime"],
                "ingressSettings": "ALLOW_INTERNAL_ONLY",
                "service": f"projects/{PROJECT}/locations/us-central1/services/{relay_name}",
                "uri": f"https://{relay_name}-abcd1234-uc.a.run.app",
                "environmentVariables": {
                    "WORKER_URL": worker_uri,
                    "WORKER_AUDIENCE": worker_uri,
                    "WORKER_TIMEOUT_SECONDS": "30",
                },
            },
            "eventTrigger": {
                "eventType": "google.cloud.pubsub.topic.v1.messagePublished",
                "pubsubTopic": f"projects/{PROJECT}/topics/jobs-{stack}",
                "retryPolicy": "RETRY_POLICY_RETRY",
                "serviceAccountEmail": emails["relay-trigger"],
            },
        },
        "secure-invoke:serverless:EventFunction",
    )
    add("gcp:secretmanager/secret:Secret", "upstream-api-key", {"secretId": "upstream-api-key", "labels": labels})
    agent = f"service-{PROJECT_NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount.com"
    add("gcp:projects/serviceIdentity:ServiceIdentity", "secretmanager-agent", {"email": agent})

    def member(email: str) -> str:
        return f"serviceAccount:{email}"

    grants = [
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "worker-invoker-relay",
         {"name": f"worker-{stack}", "location": "us-central1", "role": "roles/run.invoker",
          "member": member(emails["relay-runtime"])}),
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "relay-trigger-invoker",
         {"name": relay_name, "location": "us-central1", "role": "roles/run.invoker",
          "member": member(emails["relay-trigger"])}),
        ("gcp:projects/iAMMember:IAMMember", "relay-build-logwriter",
         {"project": PROJECT, "role": "roles/logging.logWriter", "member": member(emails["relay-build"])}),
        ("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "relay-build-ar-writer",
         {"repository": "relay-builds", "location": "us-central1", "role": "roles/artifactregistry.writer",
          "member": member(emails["relay-build"])}),
        ("gcp:projects/iAMMember:IAMMember", "relay-build-gcf-sources-viewer",
         {"project": PROJECT, "role": "roles/storage.objectViewer", "member": member(emails["relay-build"]),
          "condition": {"title": "gcf-v2-sources-only", "expression":
                        f'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-{PROJECT_NUMBER}-us-central1")'}}),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "relay-build-source-viewer",
         {"bucket": f"src-{stack}", "role": "roles/storage.objectViewer", "member": member(emails["relay-build"])}),
        ("gcp:secretmanager/secretIamMember:SecretIamMember", "worker-secret-accessor",
         {"secretId": "upstream-api-key", "role": "roles/secretmanager.secretAccessor",
          "member": member(emails["worker-runtime"])}),
        ("gcp:pubsub/topicIAMMember:TopicIAMMember", "secretmanager-agent-publisher",
         {"topic": f"rotation-{stack}", "role": "roles/pubsub.publisher", "member": member(agent)}),
        ("gcp:serviceaccount/iAMMember:IAMMember", "pubsub-agent-token-creator",
         {"serviceAccountId": f"projects/{PROJECT}/serviceAccounts/{emails['relay-trigger']}",
          "role": "roles/iam.serviceAccountTokenCreator",
          "member": f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com"}),
    ]  # fmt: skip
    for rtype, name, props in grants:
        add(rtype, name, props)
    return resources


def evaluate(resources: list[dict[str, Any]]) -> list[tuple[str, EnforcementLevel, str, str]]:
    """Every rule of the pack over plain resources, as the adapter would run them (each resource rule on the
    types its Spec lists, default settings): (policy, level, urn, msg)."""
    found: list[tuple[str, EnforcementLevel, str, str]] = []
    model = StackModel(resources)  # one model for every stack rule, as the adapter builds it
    for spec in SPECS:
        if spec.resource_rule is not None:
            for resource in resources:
                if not spec.judges(resource["type"]):
                    continue
                rule_ctx = RuleContext(urn=resource["urn"], name=resource["name"], stack=resource["urn"].split(":")[2])
                for message in spec.resource_rule(resource["type"], resource["props"], rule_ctx):
                    found.append((spec.name, spec.level, resource["urn"], message))
        if spec.stack_rule is not None:
            stack = resources[0]["urn"].split(":")[2] if resources else ""
            for at, message in spec.stack_rule(model, RuleContext(stack=stack)):
                found.append((spec.name, spec.level, at, message))
    return found


def mandatory(found: list[tuple[str, EnforcementLevel, str, str]]) -> list[tuple[str, str, str]]:
    return [(name, at, msg) for name, level, at, msg in found if level is EnforcementLevel.MANDATORY]
