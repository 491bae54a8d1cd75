"""The rules key on pulumi-gcp type tokens and property names: check them against the installed provider
SDK, so a provider upgrade that renames something fails here instead of silently passing everything."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi_gcp
import pytest

from secure_invoke.policies.guardrails.iam import grant_kind, grant_scope, is_grant_type
from secure_invoke.policies.guardrails.pack import SPECS
from secure_invoke.policies.guardrails.workloads import MORE_WORKLOAD_TYPES, WORKLOAD_TYPES

GCP_DIR = Path(pulumi_gcp.__file__).parent
TOKEN_RE = re.compile(r'@pulumi\.type_token\("(gcp:[^"]+)"\)')
GETTER_RE = re.compile(r'@pulumi\.getter\(name="([A-Za-z]+)"\)')


def _tokens_by_file() -> dict[str, Path]:
    tokens: dict[str, Path] = {}
    for path in GCP_DIR.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for token in TOKEN_RE.findall(text):
            tokens[token] = path
    return tokens


TOKENS = _tokens_by_file()


def test_every_iam_member_binding_and_policy_type_is_a_grant() -> None:
    iam = {t for t in TOKENS if re.search(r"(Iam|IAM)(Member|Binding|Policy)$", t)}
    assert len(iam) > 400  # ~158 services x member/binding/policy in pulumi-gcp 10.x
    assert all(is_grant_type(t) and grant_kind(t) for t in iam)
    not_grants = {t for t in TOKENS if is_grant_type(t)} - iam
    assert not_grants == set()
    assert not is_grant_type("gcp:projects/iamMemberRemove:IamMemberRemove")
    assert not is_grant_type("gcp:projects/iAMAuditConfig:IAMAuditConfig")


@pytest.mark.parametrize(
    ("token", "scope"),
    [
        ("gcp:projects/iAMMember:IAMMember", "project"),
        ("gcp:folder/iAMBinding:IAMBinding", "folder"),
        ("gcp:organizations/iAMPolicy:IAMPolicy", "organization"),
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "resource"),
        ("gcp:serviceaccount/iAMMember:IAMMember", "resource"),
    ],
)
def test_scopes(token: str, scope: str) -> None:
    assert token in TOKENS
    assert grant_scope(token) == scope


def _names_in(*tokens: str) -> set[str]:
    names: set[str] = set()
    for token in tokens:
        path = TOKENS[token]
        for sibling in (path, path.parent / "_inputs.py", path.parent / "outputs.py"):
            if sibling.exists():
                names |= set(GETTER_RE.findall(sibling.read_text(encoding="utf-8")))
                names |= set(re.findall(r"def ([a-z]+)\(self\)", sibling.read_text(encoding="utf-8")))
    return names


@pytest.mark.parametrize(
    ("token", "properties"),
    [
        ("gcp:cloudfunctionsv2/function:Function",
         {"serviceConfig", "serviceAccountEmail", "environmentVariables", "eventTrigger", "buildConfig",
          "serviceAccount", "ingressSettings", "url", "uri", "service", "labels"}),
        ("gcp:cloudfunctions/function:Function",
         {"serviceAccountEmail", "buildServiceAccount", "environmentVariables", "buildEnvironmentVariables",
          "ingressSettings", "httpsTriggerUrl", "labels"}),
        ("gcp:cloudrunv2/service:Service",
         {"template", "serviceAccount", "containers", "envs", "invokerIamDisabled", "ingress", "scaling",
          "minInstanceCount", "customAudiences", "uri", "urls", "labels"}),
        ("gcp:cloudrunv2/job:Job", {"template", "serviceAccount", "containers", "envs"}),
        ("gcp:cloudrun/service:Service",
         {"metadata", "annotations", "template", "spec", "serviceAccountName", "containers", "envs", "statuses", "url"}),
        ("gcp:projects/apiKey:ApiKey", {"restrictions", "apiTargets", "browserKeyRestrictions", "serverKeyRestrictions"}),
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"permissions", "roleId"}),
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", {"member", "role", "condition", "name"}),
        ("gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding", {"members", "role"}),
        ("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", {"policyData"}),
        ("gcp:cloudrun/iamMember:IamMember", {"service", "member"}),
        ("gcp:cloudfunctionsv2/functionIamMember:FunctionIamMember", {"cloudFunction", "member"}),
        ("gcp:pubsub/subscription:Subscription", {"pushConfig", "pushEndpoint", "oidcToken", "serviceAccountEmail", "audience"}),
        ("gcp:cloudscheduler/job:Job", {"httpTarget", "uri", "oidcToken", "oauthToken", "serviceAccountEmail", "audience"}),
        ("gcp:eventarc/trigger:Trigger", {"serviceAccount", "destination", "cloudRunService", "service"}),
        ("gcp:apigateway/apiConfig:ApiConfig",
         {"gatewayConfig", "backendConfig", "googleServiceAccount", "openapiDocuments", "document", "contents",
          "managedServiceConfigs"}),
        ("gcp:logging/projectSink:ProjectSink", {"writerIdentity", "uniqueWriterIdentity", "customWriterIdentity"}),
        ("gcp:storage/bucketAccessControl:BucketAccessControl", {"entity", "role"}),
        ("gcp:storage/objectAccessControl:ObjectAccessControl", {"entity", "role"}),
        ("gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl", {"entity", "role"}),
        ("gcp:storage/bucketACL:BucketACL", {"roleEntities", "predefinedAcl", "defaultAcl"}),
        ("gcp:storage/objectACL:ObjectACL", {"roleEntities", "predefinedAcl"}),
        ("gcp:storage/defaultObjectACL:DefaultObjectACL", {"roleEntities"}),
        ("gcp:bigquery/datasetAccess:DatasetAccess", {"specialGroup", "iamMember", "role"}),
        ("gcp:bigquery/dataset:Dataset", {"accesses", "specialGroup", "iamMember", "role"}),
    ],
)  # fmt: skip
def test_property_names_the_rules_read_exist(token: str, properties: set[str]) -> None:
    assert properties <= _names_in(token)


def test_workload_types_exist() -> None:
    assert set(WORKLOAD_TYPES) <= set(TOKENS)


@pytest.mark.parametrize(
    ("token", "properties"),
    [
        ("gcp:workflows/workflow:Workflow", {"serviceAccount", "sourceContents"}),
        ("gcp:cloudbuild/trigger:Trigger", {"serviceAccount"}),
        ("gcp:dataflow/job:Job", {"serviceAccountEmail"}),
        ("gcp:dataflow/flexTemplateJob:FlexTemplateJob", {"serviceAccountEmail"}),
        ("gcp:dataproc/cluster:Cluster", {"clusterConfig", "gceClusterConfig", "serviceAccount", "virtualClusterConfig"}),
        ("gcp:composer/environment:Environment", {"config", "nodeConfig", "serviceAccount"}),
        ("gcp:workbench/instance:Instance", {"gceSetup", "serviceAccounts", "email"}),
        ("gcp:appengine/flexibleAppVersion:FlexibleAppVersion", {"serviceAccount"}),
        ("gcp:appengine/standardAppVersion:StandardAppVersion", {"serviceAccount"}),
        ("gcp:container/cluster:Cluster", {"nodePools", "removeDefaultNodePool", "nodeConfig", "serviceAccount"}),
        ("gcp:cloudfunctions/functionIamMember:FunctionIamMember", {"cloudFunction", "member", "role"}),
        # configuration taken from Secret Manager (what the invoker rule cannot read)
        ("gcp:cloudrunv2/service:Service", {"valueSource", "secretKeyRef", "volumes", "secret", "args", "commands"}),
        ("gcp:cloudrun/service:Service", {"valueFrom", "secretKeyRef", "volumes", "secret"}),
        ("gcp:cloudfunctionsv2/function:Function", {"secretEnvironmentVariables", "secretVolumes"}),
        ("gcp:cloudfunctions/function:Function", {"secretEnvironmentVariables", "secretVolumes"}),
    ],
)  # fmt: skip
def test_property_names_of_more_workloads_exist(token: str, properties: set[str]) -> None:
    assert properties <= _names_in(token)


def test_more_workload_types_exist() -> None:
    assert set(MORE_WORKLOAD_TYPES) <= set(TOKENS)
    assert {"gcp:serviceaccount/iAMMember:IAMMember"} <= set(TOKENS)


def test_every_type_a_policy_lists_is_a_provider_type() -> None:
    """A Spec's types are what the adapter lets through to its rule: a misspelt token would silence it."""
    listed = {token for spec in SPECS for token in spec.types.tokens}
    assert listed - set(TOKENS) == {"pulumi:providers:gcp"}  # the provider resource itself (its credentials)
