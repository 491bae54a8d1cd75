"""Conditions read strictly, and the rules that rest on them: people's time-bound access (one clock, one
limit), project grants confined to named resources, setIamPolicy limited to grantable roles."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from secure_invoke.policies.guardrails import cel, conditions
from secure_invoke.policies.guardrails.config import DEFAULT_MAX_HUMAN_ACCESS_DAYS, ConfigError, parse_settings
from secure_invoke.policies.guardrails.humans import human_access_expired, human_access_expires
from secure_invoke.policies.guardrails.roles import judge_high_scope
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


# --- CEL read as CEL: literals, escapes, comments ---------------------------------------------------------------

EXPIRY = 'request.time < timestamp("2026-03-03T00:00:00Z")'


@pytest.mark.parametrize(
    ("expression", "readable", "or_outside_literals"),
    [
        (EXPIRY, True, False),
        ('resource.name == "a\\"||b" && ' + EXPIRY, True, False),  # an escaped quote stays inside the literal
        ("resource.name == 'it\\'s || fine' && " + EXPIRY, True, False),
        ('resource.name == "a//b" && ' + EXPIRY, True, False),  # // inside a literal is no comment
        ('resource.name == """x\n|| y""" && ' + EXPIRY, True, False),  # triple-quoted: newlines allowed
        ("resource.name == r'\\' || true", True, True),  # raw: the backslash does not escape the quote
        ('resource.name == b"\\x00" && ' + EXPIRY, True, False),
        (EXPIRY + ' && true // "\n|| true', False, True),  # the comment: unreadable, whatever follows
        (EXPIRY + " // expires friday", False, False),  # any comment outside literals: unreadable
        ('resource.name == "unclosed && ' + EXPIRY, False, False),
        ('resource.name == "a\nb" && ' + EXPIRY, False, False),  # a newline in a one-line literal
        ("(" + EXPIRY, False, False),  # unbalanced
        (EXPIRY + " && ()", False, False),  # an empty operand
    ],
)
def test_conditions_are_lexed_as_cel_lexes_them(expression: str, readable: bool, or_outside_literals: bool) -> None:
    parsed = cel.parse(expression)
    assert parsed.readable is readable
    if readable:
        assert parsed.has_or is or_outside_literals
        assert (conditions.expiry({"expression": expression}) is not None) is (not or_outside_literals)
    else:
        assert conditions.expiry({"expression": expression}) is None
        assert conditions.resource_scope({"expression": expression}) == []
        assert conditions.grantable_roles({"expression": expression}) is None


def test_nested_conjunctions_are_one_conjunction_and_nesting_is_bounded() -> None:
    nested = f'(resource.type == "t" && ({EXPIRY} && resource.service == "s"))'
    assert conditions.expiry({"expression": nested}) == datetime(2026, 3, 3, tzinfo=UTC)
    deep = "(" * (cel.MAX_DEPTH + 5) + "a && b" + ")" * (cel.MAX_DEPTH + 5)
    assert cel.parse(deep).readable  # brackets around the whole are stripped, not nested
    too_deep = "a && (" * (cel.MAX_DEPTH + 5) + "b" + ")" * (cel.MAX_DEPTH + 5)
    assert not cel.parse(too_deep).readable


def test_each_condition_is_parsed_once() -> None:
    expression = EXPIRY + ' && resource.name.startsWith("projects/_/buckets/once/")'
    cel.parse.cache_clear()
    conditions.expiry({"expression": expression})
    conditions.resource_scope({"expression": expression})
    conditions.grantable_roles({"expression": expression})
    info = cel.parse.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# --- resource scope: a resource of a documented collection, below a project -----------------------------------


@pytest.mark.parametrize(
    ("expression", "named"),
    [
        ('resource.name == "projects/p/secrets/s"', [("secrets", "s", False)]),
        ('resource.name.startsWith("projects/p/secrets/s/")', [("secrets", "s", False)]),
        ('resource.name.startsWith("projects/p/secrets/s/versions/")', [("secrets", "s", False)]),
        ('resource.name.startsWith("projects/p/secrets/s")', [("secrets", "s", True)]),  # also s2, s-old
        ('resource.name.startsWith("projects/_/buckets/b/objects/logs/2026/")', [("objects", "logs/2026", False)]),
        ('resource.name == "projects/p/locations/l/services/worker"', [("services", "worker", False)]),
        ('resource.name == "projects/p/zones/z/instances/vm"', [("instances", "vm", False)]),
        ('resource.name.startsWith("projects/p/zones/us-central1-a")', []),  # a zone
        ('resource.name.startsWith("projects/p/zones/us-central1-a/")', []),
        ('resource.name.startsWith("projects/p/regions/us-central1/")', []),
        ('resource.name.startsWith("projects/p/locations/global")', []),
        ('resource.name.startsWith("projects/p/locations/l/services")', []),  # every service of a location
        ('resource.name == "projects/p/widgets/w"', []),  # not a documented collection
        ('resource.name == "folders/1/secrets/s"', []),  # not below a project
        ('resource.name == "projects/p//secrets/s"', []),
    ],
)  # fmt: skip
def test_resource_scope_names_a_resource_of_a_documented_collection(expression: str, named: list) -> None:
    scope = conditions.resource_scope({"expression": expression})
    assert [(n.collection, n.name, n.partial) for n in scope] == named


def test_a_bucket_and_its_objects_by_disjunction_is_resource_scope_but_not_an_expiry() -> None:
    both = 'resource.name == "projects/_/buckets/b" || resource.name.startsWith("projects/_/buckets/b/objects/")'
    assert conditions.resource_names({"expression": both}) == ["projects/_/buckets/b", "projects/_/buckets/b"]
    assert conditions.resource_scope({"expression": both + " || true"}) == []  # one alternative is unconfined
    assert conditions.expiry({"expression": f"({EXPIRY} && a) || ({EXPIRY} && b)"}) is None  # strict, as before
    assert conditions.resource_scope({"expression": 'x ? resource.name == "projects/p/secrets/s" : true'}) == []


def test_a_12k_character_condition_is_read_well_under_a_second() -> None:
    """Linear reading: a long conjunction, deep brackets, many literals with escapes and `||` inside them."""
    terms = [f'resource.type != "t{i}\\" || x"' for i in range(360)]
    expression = " && ".join([*terms, EXPIRY, 'resource.name.startsWith("projects/_/buckets/big/")'])
    expression = "(" * 40 + expression + ")" * 40
    assert 12_000 <= len(expression) <= 13_000
    variants = [expression, expression + " || true", expression.replace("&&", "||"), "(" * 6000 + ")" * 6000]
    cel.parse.cache_clear()
    started = time.perf_counter()
    for text in variants:
        conditions.expiry({"expression": text})
        conditions.resource_scope({"expression": text})
        conditions.grantable_roles({"expression": text})
    elapsed = time.perf_counter() - started
    assert conditions.expiry({"expression": expression}) == datetime(2026, 3, 3, tzinfo=UTC)
    assert conditions.resource_names({"expression": expression}) == ["projects/_/buckets/big"]
    assert elapsed < 0.5, elapsed


# --- people who may edit a service account's IAM can impersonate it -----------------------------------------

OPERATOR_ID = "projects/si-dev-1234/serviceAccounts/worker-operator-dev@si-dev-1234.iam.gserviceaccount.com"


@pytest.mark.parametrize("role", ["roles/iam.serviceAccountAdmin", "roles/iam.securityAdmin"])
def test_a_person_who_can_set_a_service_accounts_iam_needs_the_same_expiry(role: str) -> None:
    props: dict[str, object] = {"serviceAccountId": OPERATOR_ID, "role": role, "member": "user:dev@acme.com"}
    found = human_access_expires(SA_MEMBER, props, people_ctx())
    assert len(found) == 1 and "setIamPolicy" in found[0] and "with no expiry" in found[0]
    props["condition"] = until(2)
    assert human_access_expires(SA_MEMBER, props, people_ctx()) == []
    # on a bucket, the same kind of role sets the bucket's IAM only: no impersonation power
    assert human_access_expires("gcp:storage/bucketIAMMember:BucketIAMMember",
                                {"role": "roles/storage.admin", "member": "user:dev@acme.com"}, people_ctx()) == []  # fmt: skip


def test_a_whole_domain_with_impersonation_power_is_people_and_needs_an_expiry() -> None:
    props = {"serviceAccountId": OPERATOR_ID, "role": "roles/iam.serviceAccountOpenIdTokenCreator",
             "member": "domain:acme.com"}  # fmt: skip
    assert len(human_access_expires(SA_MEMBER, props, people_ctx())) == 1
    assert human_access_expires(SA_MEMBER, {**props, "condition": until(1)}, people_ctx()) == []


def test_a_domain_member_keeps_its_scope_judgement_whatever_allowedMemberDomains_says() -> None:
    props = {"role": "roles/iam.serviceAccountTokenCreator", "member": "domain:acme.com"}
    allowed = people_ctx(allowed_member_domains=frozenset({"acme.com"}))
    found = judge_high_scope("gcp:organizations/iAMMember:IAMMember", props, allowed)
    assert len(found) == 1 and "every service account in the organization" in found[0]
