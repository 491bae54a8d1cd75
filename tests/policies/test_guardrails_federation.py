"""Workload identity federation: no provider without a condition; shared platforms pin the owner."""

from __future__ import annotations

import pytest

from policies.guardrails.federation import PROVIDER, federation_pinned
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
