"""resource-prefix-bounded: a resource.name prefix that ends mid-name is accepted as resource scope and noted,
unless it is the name of a resource of this stack; one that also matches another resource of the stack, or the
same name in other regions, confines nothing to one resource (rejected by the scope rules, not noted)."""

from __future__ import annotations

import pytest

from secure_invoke.policies.guardrails.prefixes import resource_prefix_bounded
from secure_invoke.policies.guardrails.roles import high_scope_privileged_roles
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import GCF_SOURCES_EXACT, UNKNOWN_STRING, ctx, project_stack, urn

PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUILD = "serviceAccount:relay-build-dev@si-dev-1234.iam.gserviceaccount.com"


def _grant(expression: str, role: str = "roles/storage.objectViewer", rtype: str = PROJECT_MEMBER) -> dict:
    return {"urn": urn("dev", rtype, "scoped"), "type": rtype, "name": "scoped",
            "props": {"project": "si-dev-1234", "role": role, "member": BUILD,
                      "condition": {"title": "t", "expression": expression}}}  # fmt: skip


@pytest.mark.parametrize(
    "expression",
    [
        GCF_SOURCES_EXACT,  # Google's bucket for gen2 builds and its objects, exactly
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


@pytest.mark.parametrize(
    "bucket", ["gcf-v2-sources-123456789012-us-central1", "gcf-sources-123456789012-europe-west1", "logs-europe-west1"]
)
def test_a_prefix_ending_in_a_region_is_rejected_as_unconfined_not_noted(bucket: str) -> None:
    stack = [*project_stack(), _grant(f'resource.name.startsWith("projects/_/buckets/{bucket}")')]
    assert resource_prefix_bounded(StackModel(stack), ctx()) == []
    found = high_scope_privileged_roles(StackModel(stack), ctx())
    assert [at for at, _ in found] == [stack[-1]["urn"]]
    assert f"'{bucket}0'" in found[0][1] and "read every bucket" in found[0][1]


def _bucket(name: str) -> dict:
    rtype = "gcp:storage/bucket:Bucket"
    return {"urn": urn("dev", rtype, name), "type": rtype, "name": name,
            "props": {"name": name, "uniformBucketLevelAccess": True}}  # fmt: skip


def test_a_prefix_that_also_matches_another_resource_of_the_stack_is_no_single_resource_grant() -> None:
    stack = [
        *project_stack(),
        _bucket("app"),
        _bucket("app-backups"),
        _grant('resource.name.startsWith("projects/_/buckets/app")'),
    ]
    assert resource_prefix_bounded(StackModel(stack), ctx()) == []  # one finding: the mandatory one
    found = high_scope_privileged_roles(StackModel(stack), ctx())
    assert [at for at, _ in found] == [stack[-1]["urn"]]
    assert "'app-backups' of this stack" in found[0][1] and "no single resource" in found[0][1]
    # without the second bucket the prefix is the stack's bucket's own name: accepted quietly, as before
    alone = [s for s in stack if s["name"] != "app-backups"]
    assert high_scope_privileged_roles(StackModel(alone), ctx()) == []
    assert resource_prefix_bounded(StackModel(alone), ctx()) == []
    # another kind of resource named alike is not covered by a bucket prefix
    topic = {"urn": urn("dev", "gcp:pubsub/topic:Topic", "t"), "type": "gcp:pubsub/topic:Topic", "name": "t",
             "props": {"name": "app-events"}}  # fmt: skip
    assert high_scope_privileged_roles(StackModel([*alone, topic]), ctx()) == []


def test_a_persons_overreaching_prefix_is_noted_for_human_access_expires_to_judge() -> None:
    """human-access-expires judges people's invoke grants on one resource and cannot see the stack: the prefix
    that matches two services is noted, not rejected a second time as a project grant."""
    service = "gcp:cloudrunv2/service:Service"
    services = [{"urn": urn("dev", service, n), "type": service, "name": n, "props": {"name": n}}
                for n in ("api", "api-admin")]  # fmt: skip
    person = _grant('resource.name.startsWith("projects/p/locations/l/services/api")', role="roles/run.invoker")
    person["props"]["member"] = "user:alice@example.com"
    stack = [*services, person]
    assert high_scope_privileged_roles(StackModel(stack), ctx()) == []
    noted = resource_prefix_bounded(StackModel(stack), ctx())
    assert [at for at, _ in noted] == [person["urn"]] and "'api-admin'" in noted[0][1]
