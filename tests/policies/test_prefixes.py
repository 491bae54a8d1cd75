"""resource-prefix-bounded: a resource.name prefix that ends mid-name is accepted as resource scope and noted,
unless it is the name of a resource of this stack or a documented Google-managed naming idiom."""

from __future__ import annotations

import pytest

from secure_invoke.policies.guardrails.prefixes import resource_prefix_bounded
from secure_invoke.policies.guardrails.roles import high_scope_privileged_roles
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import UNKNOWN_STRING, ctx, project_stack, urn

PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUILD = "serviceAccount:relay-build-dev@si-dev-1234.iam.gserviceaccount.com"


def _grant(expression: str, role: str = "roles/storage.objectViewer", rtype: str = PROJECT_MEMBER) -> dict:
    return {"urn": urn("dev", rtype, "scoped"), "type": rtype, "name": "scoped",
            "props": {"project": "si-dev-1234", "role": role, "member": BUILD,
                      "condition": {"title": "t", "expression": expression}}}  # fmt: skip


@pytest.mark.parametrize(
    "expression",
    [
        'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-123456789012-us-central1")',  # Google's idiom
        'resource.name.startsWith("projects/_/buckets/gcf-sources-123456789012-europe-west1")',
        'resource.name.startsWith("projects/_/buckets/src-dev")',  # the stack's own bucket, by its exact name
        'resource.name.startsWith("projects/_/buckets/anything/")',  # ends at a path boundary
        'resource.name == "projects/_/buckets/anything"',
        'resource.name == "projects/_/buckets/b" || resource.name.startsWith("projects/_/buckets/b/objects/")',
        UNKNOWN_STRING,  # not known yet
    ],
)
def test_bounded_or_known_prefixes_pass_quietly(expression: str) -> None:
    stack = [*project_stack(), _grant(expression)]
    assert resource_prefix_bounded(StackModel(stack), ctx()) == []
    assert high_scope_privileged_roles(StackModel(stack), ctx()) == []


@pytest.mark.parametrize(
    ("expression", "fix"),
    [
        ('resource.name.startsWith("projects/_/buckets/a")',
         'resource.name == "projects/_/buckets/a" || resource.name.startsWith("projects/_/buckets/a/objects/")'),
        ('resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")', "projects/_/buckets/gcf-v2-sources-"),
        ('resource.name.startsWith("projects/p/secrets/api")', 'end the prefix with \'/\' ("projects/p/secrets/api/")'),
    ],
)  # fmt: skip
def test_other_partial_prefixes_are_accepted_and_noted(expression: str, fix: str) -> None:
    stack = [*project_stack(), _grant(expression)]
    assert high_scope_privileged_roles(StackModel(stack), ctx()) == []  # resource scope: no mandatory finding
    noted = resource_prefix_bounded(StackModel(stack), ctx())
    assert [at for at, _ in noted] == [stack[-1]["urn"]]
    assert "ends mid-name" in noted[0][1] and fix in noted[0][1]


def test_harmless_roles_and_resource_level_grants_are_not_noted() -> None:
    partial = 'resource.name.startsWith("projects/_/buckets/a")'
    assert resource_prefix_bounded(StackModel([_grant(partial, role="roles/logging.logWriter")]), ctx()) == []
    bucket_member = _grant(partial, rtype="gcp:storage/bucketIAMMember:BucketIAMMember")
    assert resource_prefix_bounded(StackModel([bucket_member]), ctx()) == []
