"""One reject and one accept case per resource rule, with the message contract: it names the resource,
says what to do instead, and stays on one line."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from secure_invoke.policies.guardrails.pack import SPECS
from tests.policies.guardrail_cases import ctx, judge

SA = "serviceAccount:relay-runtime-dev@si-dev-1234.iam.gserviceaccount.com"
EMAIL = "relay-runtime-dev@si-dev-1234.iam.gserviceaccount.com"
MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
RUN = "gcp:cloudrunv2/service:Service"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
BUCKET = "gcp:storage/bucket:Bucket"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SOON = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
PAST = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
FN2 = "gcp:cloudfunctionsv2/function:Function"

CASES: dict[str, tuple[tuple[str, dict], tuple[str, dict]]] = {
    "no-public-members": ((MEMBER, {"role": "roles/run.invoker", "member": "allUsers"}),
                          (MEMBER, {"role": "roles/run.invoker", "member": SA})),
    "no-public-acls": (("gcp:storage/bucketACL:BucketACL", {"roleEntities": ["READER:allUsers"]}),
                       ("gcp:storage/bucketACL:BucketACL", {"roleEntities": ["READER:group-ops@acme.com"]})),
    "no-broad-principals": ((MEMBER, {"role": "roles/run.invoker", "member": "domain:example.com"}),
                            (MEMBER, {"role": "roles/run.invoker", "member": SA})),
    "invoker-iam-check-enabled": ((RUN, {"invokerIamDisabled": True}), (RUN, {"invokerIamDisabled": False})),
    "no-service-account-keys": (("gcp:serviceaccount/key:Key", {"serviceAccountId": "x"}),
                                ("gcp:serviceaccount/account:Account", {"accountId": "x"})),
    "no-hmac-keys": (("gcp:storage/hmacKey:HmacKey", {}), ("gcp:storage/bucket:Bucket", {})),
    "api-keys-restricted": (("gcp:projects/apiKey:ApiKey", {}),
                            ("gcp:projects/apiKey:ApiKey", {"restrictions": {"apiTargets": [{"service": "s"}]}})),
    "no-plaintext-secrets-in-env": (
        (FN2, {"serviceConfig": {"environmentVariables": {"K": "AIza" + "B" * 35}}}),
        (FN2, {"serviceConfig": {"environmentVariables": {"PASSWORD_MIN_LENGTH": "12"}}})),
    "workload-identity-set": ((RUN, {"template": {}}), (RUN, {"template": {"serviceAccount": EMAIL}})),
    "no-basic-roles": ((PROJECT_MEMBER, {"role": "roles/editor", "member": SA}),
                       (PROJECT_MEMBER, {"role": "roles/logging.logWriter", "member": SA})),
    "no-default-identity-grants": (
        (PROJECT_MEMBER, {"role": "roles/logging.logWriter", "member": "serviceAccount:123-compute@developer.gserviceaccount.com"}),
        (PROJECT_MEMBER, {"role": "roles/logging.logWriter", "member": SA})),
    "service-agent-roles-for-agents": (
        (PROJECT_MEMBER, {"role": "roles/run.serviceAgent", "member": SA}),
        (PROJECT_MEMBER, {"role": "roles/run.serviceAgent",
                          "member": "serviceAccount:service-123@serverless-robot-prod.iam.gserviceaccount.com"})),
    "no-convenience-members": (
        ("gcp:storage/bucketIAMMember:BucketIAMMember", {"role": "roles/storage.objectAdmin", "member": "projectEditor:p"}),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", {"role": "roles/storage.objectViewer", "member": "projectViewer:p"})),
    "human-access-expires": (
        (SA_MEMBER, {"role": "roles/iam.serviceAccountTokenCreator", "member": "user:alice@acme.com"}),
        (SA_MEMBER, {"role": "roles/iam.serviceAccountTokenCreator", "member": "user:alice@acme.com",
                     "condition": {"title": "t", "expression": f'request.time < timestamp("{SOON}")'}})),
    "human-access-expired": (
        (SA_MEMBER, {"role": "roles/iam.serviceAccountTokenCreator", "member": "user:alice@acme.com",
                     "condition": {"title": "t", "expression": f'request.time < timestamp("{PAST}")'}}),
        (SA_MEMBER, {"role": "roles/iam.serviceAccountTokenCreator", "member": "user:alice@acme.com",
                     "condition": {"title": "t", "expression": f'request.time < timestamp("{SOON}")'}})),
    "federation-pinned": (
        (PROVIDER, {"oidc": {"issuerUri": "https://token.actions.githubusercontent.com"}}),
        (PROVIDER, {"oidc": {"issuerUri": "https://token.actions.githubusercontent.com"},
                    "attributeCondition": "assertion.repository_id == '123'"})),
    "bucket-uniform-access": ((BUCKET, {}), (BUCKET, {"uniformBucketLevelAccess": True})),
    "bucket-public-access-prevention": ((BUCKET, {"publicAccessPrevention": "inherited"}),
                                        (BUCKET, {"publicAccessPrevention": "enforced"})),
    "no-key-minting-grants": ((PROJECT_MEMBER, {"role": "roles/iam.serviceAccountKeyAdmin", "member": SA}),
                              (PROJECT_MEMBER, {"role": "roles/logging.logWriter", "member": SA})),
    "no-privileged-custom-roles": (
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"permissions": ["iam.serviceAccounts.actAs"]}),
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"permissions": ["run.routes.invoke"]})),
    "labels-present": (("gcp:pubsub/topic:Topic", {}), ("gcp:pubsub/topic:Topic", {"labels": {"app": "si"}})),
    "prod-min-instances": ((RUN, {"template": {}}), (RUN, {"template": {"scaling": {"minInstanceCount": 1}}})),
    "ingress-restricted": ((RUN, {"ingress": "INGRESS_TRAFFIC_ALL"}), (RUN, {"ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY"})),
}  # fmt: skip
RESOURCE_RULES = {s.name for s in SPECS if s.resource_rule is not None}
FIX_WORDS = re.compile(r"\b(instead|Set|Remove|Delete|Grant|grant|restrict|Store|Add|add)\b")


def test_every_resource_rule_has_a_case() -> None:
    assert set(CASES) == set(RESOURCE_RULES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_reject_case_message_contract(name: str) -> None:
    (rtype, props), _ = CASES[name]
    messages = judge(name, rtype, props, ctx(stack="prod", name="the-resource", now=NOW))
    assert len(messages) == 1
    message = messages[0]
    assert "'the-resource'" in message and "\n" not in message and FIX_WORDS.search(message)


@pytest.mark.parametrize("name", sorted(CASES))
def test_accept_case(name: str) -> None:
    _, (rtype, props) = CASES[name]
    assert judge(name, rtype, props, ctx(stack="prod", now=NOW)) == []
