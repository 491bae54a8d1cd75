"""Conditions read strictly, and the rules that rest on them: people's time-bound access (one clock, one
limit), project grants confined to named resources, setIamPolicy limited to grantable roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from policies.guardrails import conditions
from policies.guardrails.config import DEFAULT_MAX_HUMAN_ACCESS_DAYS, ConfigError, parse_settings
from policies.guardrails.humans import human_access_expired, human_access_expires
from policies.guardrails.roles import judge_high_scope
from tests.policies.guardrail_cases import ctx

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
RUN_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUILD = "serviceAccount:relay-build-dev@si-dev-1234.iam.gserviceaccount.com"
GCF_SOURCES = 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-123456789012-us-central1")'


def at(days: float) -> str:
    return (NOW + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def until(days: float, extra: str = "") -> dict:
    return {"title": "t", "expression": f'request.time < timestamp("{at(days)}"){extra}'}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('request.time < timestamp("2026-03-03T00:00:00Z")', datetime(2026, 3, 3, tzinfo=UTC)),
        ("request.time < timestamp('2026-03-03T01:00:00+01:00')", datetime(2026, 3, 3, tzinfo=UTC)),
        ('request.time < timestamp("2026-03-03T00:00:00Z") && resource.name.startsWith("projects/_/x")',
         datetime(2026, 3, 3, tzinfo=UTC)),
        ('(request.time < timestamp("2026-03-05T00:00:00Z")) && request.time < timestamp("2026-03-03T00:00:00Z")',
         datetime(2026, 3, 3, tzinfo=UTC)),  # the earliest wins
        ('request.time < timestamp("2026-03-03T00:00:00Z") || true', None),
        ('true || request.time < timestamp("2026-03-03T00:00:00Z")', None),
        ('request.time < timestamp("2026-03-03T00:00:00Z") && (a || b)', None),  # || anywhere
        ('x ? true : request.time < timestamp("2026-03-03T00:00:00Z")', None),
        ('!(request.time < timestamp("2026-03-03T00:00:00Z"))', None),
        ('request.time > timestamp("2026-03-03T00:00:00Z")', None),
        ('request.time < timestamp("2026-03-03T00:00:00")', None),  # no offset: not RFC 3339
        ('request.time < timestamp("soon")', None),
        ('resource.name == "projects/_/buckets/b||c" && request.time < timestamp("2026-03-03T00:00:00Z")',
         datetime(2026, 3, 3, tzinfo=UTC)),  # || inside a string literal is no disjunction
    ],
)  # fmt: skip
def test_expiry_parsed_strictly(expression: str, expected: datetime | None) -> None:
    assert conditions.expiry({"expression": expression}) == expected


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (GCF_SOURCES, ["projects/_/buckets/gcf-v2-sources-123456789012-us-central1"]),
        ('resource.name == "projects/p/secrets/s"', ["projects/p/secrets/s"]),
        ('resource.type == "storage.googleapis.com/Bucket" && ' + GCF_SOURCES,
         ["projects/_/buckets/gcf-v2-sources-123456789012-us-central1"]),
        ('resource.name.startsWith("projects/_/buckets/")', []),  # every bucket
        ('resource.name.startsWith("projects/p")', []),
        ('resource.name.startsWith("projects/_/buckets/*")', []),
        ('resource.type == "storage.googleapis.com/Bucket"', []),  # a kind, not named resources
        (GCF_SOURCES + " || true", []),
        ('resource.name.endsWith("sources")', []),
    ],
)  # fmt: skip
def test_resource_scope_parsed_strictly(expression: str, names: list[str]) -> None:
    assert conditions.resource_names({"expression": expression}) == names


def test_conditioned_project_grant_naming_the_gcf_sources_bucket_accepted_and_its_twin_rejected() -> None:
    conditioned = {"project": "p", "role": "roles/storage.objectViewer", "member": BUILD,
                   "condition": {"title": "gcf-v2-sources-only", "expression": GCF_SOURCES}}  # fmt: skip
    assert judge_high_scope(PROJECT_MEMBER, conditioned, ctx()) == []
    twin = {k: v for k, v in conditioned.items() if k != "condition"}
    found = judge_high_scope(PROJECT_MEMBER, twin, ctx())
    assert len(found) == 1 and "read every bucket" in found[0] and "condition on resource.name" in found[0]
    loose = {**conditioned, "condition": {"title": "t", "expression": GCF_SOURCES + " || true"}}
    assert len(judge_high_scope(PROJECT_MEMBER, loose, ctx())) == 1


LIMIT = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{}])"


@pytest.mark.parametrize(
    ("roles", "accepted"),
    [
        ("'roles/logging.logWriter'", True),
        ("'roles/logging.logWriter', 'roles/storage.objectViewer'", True),  # data roles: no identity power
        ("'roles/iam.serviceAccountTokenCreator'", False),
        ("'roles/owner'", False),
        ("'roles/resourcemanager.projectIamAdmin'", False),
        ("'roles/not.aRole'", False),  # unknown: cannot be judged
    ],
)
def test_set_iam_policy_on_a_project_limited_by_grantable_roles(roles: str, accepted: bool) -> None:
    props = {"role": "roles/resourcemanager.projectIamAdmin", "member": BUILD,
             "condition": {"title": "t", "expression": LIMIT.format(roles)}}  # fmt: skip
    assert (judge_high_scope(PROJECT_MEMBER, props, ctx()) == []) is accepted


def test_set_iam_policy_limit_parsed_strictly() -> None:
    assert conditions.grantable_roles({"expression": LIMIT.format("'roles/a', 'roles/b'")}) == ["roles/a", "roles/b"]
    assert conditions.grantable_roles({"expression": LIMIT.format("'roles/a'") + " || true"}) is None
    assert conditions.grantable_roles({"expression": LIMIT.format("'roles/a', x")}) is None
    assert conditions.grantable_roles({"expression": "api.getAttribute('other', []).hasOnly(['roles/a'])"}) is None


# --- people -------------------------------------------------------------------------------------------------

PEOPLE = [
    "user:alice@acme.com",
    "group:oncall@acme.com",
    "principalSet://iam.googleapis.com/locations/global/workforcePools/acme/group/oncall",
    "principal://iam.googleapis.com/locations/global/workforcePools/acme/subject/alice",
]
GRANTS = [
    (SA_MEMBER, "roles/iam.serviceAccountOpenIdTokenCreator"),
    (SA_MEMBER, "roles/iam.serviceAccountTokenCreator"),
    (RUN_MEMBER, "roles/run.invoker"),
]


def people_ctx(**kwargs):
    return ctx(now=NOW, **kwargs)


@pytest.mark.parametrize("member", PEOPLE)
@pytest.mark.parametrize(("rtype", "role"), GRANTS)
def test_person_on_one_resource_with_expiry_within_the_limit_accepted(member: str, rtype: str, role: str) -> None:
    props = {"role": role, "member": member, "condition": until(DEFAULT_MAX_HUMAN_ACCESS_DAYS - 0.5)}
    assert human_access_expires(rtype, props, people_ctx()) == []
    assert human_access_expired(rtype, props, people_ctx()) == []


@pytest.mark.parametrize("member", PEOPLE[:2])
@pytest.mark.parametrize(
    ("condition", "words"),
    [
        (None, "with no expiry"),
        (until(2, " || true"), "no expiry the pack can prove"),
        (until(DEFAULT_MAX_HUMAN_ACCESS_DAYS + 1), "longer than maxHumanAccessDays"),
        ({"title": "t", "expression": 'resource.name.startsWith("projects/p/serviceAccounts/x")'}, "no expiry"),
    ],
)
def test_person_without_a_provable_short_expiry_rejected(member: str, condition, words: str) -> None:
    props = {"role": "roles/iam.serviceAccountOpenIdTokenCreator", "member": member}
    if condition is not None:
        props["condition"] = condition
    found = human_access_expires(SA_MEMBER, props, people_ctx())
    assert len(found) == 1 and words in found[0] and "timestamp" in found[0]


def test_expired_grant_is_advisory_only() -> None:
    props = {"role": "roles/run.invoker", "member": "user:alice@acme.com", "condition": until(-1)}
    assert human_access_expires(RUN_MEMBER, props, people_ctx()) == []
    found = human_access_expired(RUN_MEMBER, props, people_ctx())
    assert len(found) == 1 and "expired" in found[0] and "Remove" in found[0]


def test_the_clock_and_the_limit_are_injected() -> None:
    props = {"role": "roles/run.invoker", "member": "user:alice@acme.com", "condition": until(10)}
    assert len(human_access_expires(RUN_MEMBER, props, people_ctx())) == 1
    assert human_access_expires(RUN_MEMBER, props, people_ctx(max_human_access_days=14)) == []
    later = ctx(now=NOW + timedelta(days=11))
    assert (
        human_access_expires(RUN_MEMBER, props, later) == []
        and len(human_access_expired(RUN_MEMBER, props, later)) == 1
    )


def test_people_on_a_project_are_the_scope_rules_finding_not_this_one() -> None:
    props = {"role": "roles/iam.serviceAccountTokenCreator", "member": "user:alice@acme.com", "condition": until(1)}
    assert human_access_expires(PROJECT_MEMBER, props, people_ctx()) == []
    assert len(judge_high_scope(PROJECT_MEMBER, props, people_ctx())) == 1


@pytest.mark.parametrize(
    ("rtype", "role", "member"),
    [
        (SA_MEMBER, "roles/iam.serviceAccountUser", BUILD),  # a workload, not a person
        (SA_MEMBER, "roles/iam.serviceAccountViewer", "user:alice@acme.com"),  # no impersonation power
        (RUN_MEMBER, "roles/run.viewer", "group:devs@acme.com"),
    ],
)
def test_people_rule_leaves_other_grants_alone(rtype: str, role: str, member: str) -> None:
    assert human_access_expires(rtype, {"role": role, "member": member}, people_ctx()) == []


@pytest.mark.parametrize("value", [0, 91, "7", 2.5, True])
def test_max_human_access_days_config_errors(value: object) -> None:
    with pytest.raises(ConfigError, match=r"human-access-expires\.maxHumanAccessDays must be a whole number"):
        parse_settings("human-access-expires", {"maxHumanAccessDays": value})
    assert parse_settings("human-access-expires", {"maxHumanAccessDays": 14.0}).max_human_access_days == 14
