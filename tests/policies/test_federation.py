"""Workload identity federation: no provider without a condition; shared platforms pin the owner."""

from __future__ import annotations

import pytest

from secure_invoke.policies.guardrails.federation import PROVIDER, federation_pinned
from tests.policies.guardrail_cases import UNKNOWN_STRING, ctx

GITHUB = {"issuerUri": "https://token.actions.githubusercontent.com"}
MAPPING = {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository",
           "attribute.actor": "assertion.actor"}  # fmt: skip


def provider(condition: object = None, oidc: object = GITHUB, **extra: object) -> dict:
    props: dict = {"oidc": oidc, "attributeMapping": MAPPING, **extra}
    if condition is not None:
        props["attributeCondition"] = condition
    return props


@pytest.mark.parametrize(
    "condition",
    [
        "assertion.repository_id == '123456789'",
        "assertion.repository_owner_id == '42' && assertion.ref == 'refs/heads/main'",
        "assertion.repository == 'acme/app' && (assertion.event_name == 'push' || assertion.event_name == 'x')",
        "attribute.repository.startsWith('acme/')",  # mapped from assertion.repository, owner prefix
        "assertion.repository in ['acme/app', 'acme/infra']",
        "assertion.sub == 'repo:acme/app:environment:prod'",  # an exact subject names its repository
    ],
)
def test_github_provider_pinned_to_an_owner_accepted(condition: str) -> None:
    assert federation_pinned(PROVIDER, provider(condition), ctx()) == []


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        (None, "attributeCondition is not set"),
        ("", "attributeCondition is not set"),
        ("assertion.sub.startsWith('repo:acme')", "does not pin"),  # also matches repo:acme-evil/...
        ("assertion.actor == 'alice'", "does not pin"),  # anyone named alice, anywhere
        ("assertion.environment == 'prod'", "does not pin"),
        ("assertion.repository == 'acme/app' || assertion.actor == 'x'", "does not pin"),
        ("assertion.job_workflow_ref == 'acme/app/.github/workflows/deploy.yml@refs/heads/main'", "does not pin"),
        ("attribute.actor == 'acme/app'", "does not pin"),  # attribute.actor is not a repository
        ("assertion.repository.startsWith('acme')", "does not pin"),  # no owner boundary
    ],
)
def test_github_provider_not_pinned_rejected(condition: str | None, words: str) -> None:
    found = federation_pinned(PROVIDER, provider(condition), ctx(name="gh"))
    assert len(found) == 1 and words in found[0] and "'gh'" in found[0] and "repository_id" in found[0]


def test_other_shared_platforms() -> None:
    gitlab = {"issuerUri": "https://gitlab.com"}
    assert federation_pinned(PROVIDER, provider("assertion.namespace_id == '77'", gitlab), ctx()) == []
    assert len(federation_pinned(PROVIDER, provider("assertion.ref == 'main'", gitlab), ctx())) == 1
    tfc = {"issuerUri": "https://app.terraform.io"}
    assert federation_pinned(PROVIDER, provider("assertion.terraform_organization_id == 'org-1'", tfc), ctx()) == []
    assert len(federation_pinned(PROVIDER, provider("assertion.terraform_workspace_name == 'w'", tfc), ctx())) == 1


def test_own_issuers_need_a_condition_but_any_condition_will_do() -> None:
    own = {"issuerUri": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"}
    assert len(federation_pinned(PROVIDER, provider(None, own), ctx())) == 1
    assert (
        federation_pinned(PROVIDER, provider("assertion.sub == 'system:serviceaccount:ci:deployer'", own), ctx()) == []
    )
    assert federation_pinned(PROVIDER, {"aws": {"accountId": "123456789012"}}, ctx()) == []


def test_unknown_values_are_not_violations() -> None:
    assert federation_pinned(PROVIDER, provider(UNKNOWN_STRING), ctx()) == []
    assert federation_pinned(PROVIDER, provider(None, {"issuerUri": UNKNOWN_STRING}), ctx()) == []


@pytest.mark.parametrize(
    "condition",
    [
        "assertion.sub.startsWith('repo:acme/app:')",  # the trailing colon ends the repository name
        "assertion.sub == 'repo:acme/app:ref:refs/heads/main'",
        "google.subject.startsWith('repo:acme/app:')",  # google.subject is mapped from assertion.sub
        "google.subject == 'repo:acme/app:environment:prod' && assertion.ref == 'refs/heads/main'",
        "'repo:acme/app:environment:prod' == assertion.sub",
    ],
)
def test_github_subject_up_to_the_repository_and_its_colon_pins(condition: str) -> None:
    assert federation_pinned(PROVIDER, provider(condition), ctx()) == []


@pytest.mark.parametrize(
    "condition",
    [
        "assertion.sub.startsWith('repo:acme/app')",  # also repo:acme/app-evil:...
        "assertion.sub.startsWith('repo:acme/')",  # every repository named under acme: not repository_owner_id
        "assertion.sub.matches('repo:acme/app:.*')",  # a pattern, not a prefix
        "assertion.sub == 'repo:acme/app'",  # not a subject GitHub mints; pins nothing provable
        "assertion.sub.startsWith('repo:acme/app:') || assertion.actor == 'x'",
        "attribute.actor.startsWith('repo:acme/app:')",  # attribute.actor is mapped from actor, not sub
    ],
)
def test_github_subject_patterns_other_repositories_can_produce_rejected(condition: str) -> None:
    assert len(federation_pinned(PROVIDER, provider(condition), ctx())) == 1


@pytest.mark.parametrize(
    ("oidc", "condition", "pinned"),
    [
        ({"issuerUri": "https://agent.buildkite.com"}, "assertion.organization_id == '0b3a-uuid'", True),
        ({"issuerUri": "https://agent.buildkite.com"}, "assertion.organization_slug == 'acme'", True),
        ({"issuerUri": "https://agent.buildkite.com"}, "assertion.sub.startsWith('organization:acme:')", True),
        ({"issuerUri": "https://agent.buildkite.com"}, "assertion.pipeline_slug == 'deploy'", False),  # any org's
        ({"issuerUri": "https://agent.buildkite.com"}, "assertion.sub.startsWith('organization:acme')", False),
        ({"issuerUri": "https://gitlab.com"}, "assertion.sub.startsWith('project_path:acme/app:')", True),
        ({"issuerUri": "https://app.terraform.io"}, "assertion.sub.startsWith('organization:acme:')", True),
        # one issuer per CircleCI organization: any real condition will do
        ({"issuerUri": "https://oidc.circleci.com/org/0b3a"}, "assertion.aud == '0b3a'", True),
    ],
)  # fmt: skip
def test_shared_issuers_need_an_owner_pin(oidc: dict, condition: str, pinned: bool) -> None:
    assert (federation_pinned(PROVIDER, provider(condition, oidc), ctx()) == []) is pinned


OWN = {"issuerUri": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"}


@pytest.mark.parametrize("oidc", [GITHUB, OWN, {"issuerUri": "https://agent.buildkite.com"}])
@pytest.mark.parametrize(
    "condition",
    [
        "true",
        "(true)",
        "1 == 1",
        "'a' == 'a'",
        "'a' != 'b'",
        "!false",
        "true && true",
        "assertion.sub.startsWith('')",
        "assertion.sub.matches('.*')",
        "size(assertion.sub) >= 0",
        "assertion.repository_id == '1' || true",  # any alternative that is always true
    ],
)
def test_a_condition_that_is_always_true_is_no_condition_for_every_issuer(oidc: dict, condition: str) -> None:
    found = federation_pinned(PROVIDER, provider(condition, oidc), ctx())
    assert len(found) == 1 and "true for every token" in found[0]


@pytest.mark.parametrize("oidc", [GITHUB, OWN])
def test_a_condition_with_a_comment_cannot_be_read_for_any_issuer(oidc: dict) -> None:
    hidden = "assertion.repository_owner_id == '123456' && true // '\n|| true"
    found = federation_pinned(PROVIDER, provider(hidden, oidc), ctx())
    assert len(found) == 1 and "cannot be read" in found[0] and "// comment" in found[0]
    # a // inside a string literal is no comment
    assert (
        federation_pinned(
            PROVIDER, provider("assertion.repository == 'acme/app' && assertion.aud == 'https://x//y'", oidc), ctx()
        )
        == []
    )
