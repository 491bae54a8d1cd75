"""Component args validate themselves before any child is registered: each error names the field."""

from __future__ import annotations

import re

import pytest

from secure_invoke.components import (
    Caller,
    Condition,
    DeadLetterTopicArgs,
    PushCall,
    ScheduledCall,
    ScopedRole,
)

EXPIRES = 'request.time < timestamp("2030-01-01T00:00:00Z")'


def test_a_condition_narrows_project_grants_and_ends_account_grants_only() -> None:
    condition = Condition("gcf-v2-sources-only", 'resource.name == "projects/_/buckets/gcf-v2-sources-1-r"')
    assert ScopedRole("roles/storage.objectViewer", "project", "p", condition=condition).condition == condition
    until = Condition("operator access until 2030-01-01T00:00:00Z", EXPIRES)
    assert ScopedRole("roles/iam.serviceAccountOpenIdTokenCreator", "service_account", "a", condition=until).condition
    # On a resource grant the resource is the scope already: a condition there would only hide a mistake.
    with pytest.raises(ValueError, match=r"ScopedRole\(roles/storage.objectViewer, bucket\): condition is only"):
        ScopedRole("roles/storage.objectViewer", "bucket", "b", condition=condition)


@pytest.mark.parametrize("title", ["", "x" * 101])
def test_condition_title_is_required_and_bounded(title: str) -> None:
    with pytest.raises(ValueError, match=r"Condition.title"):
        Condition(title, EXPIRES)


def test_scoped_role_names_its_field() -> None:
    with pytest.raises(ValueError, match=r"ScopedRole.role: 'run.invoker' is not a role name"):
        ScopedRole("run.invoker", "project", "p")
    with pytest.raises(ValueError, match=r"location is required"):
        ScopedRole("roles/run.invoker", "run_service", "worker")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"topic_name": "goog-dead"}, "DeadLetterTopicArgs.topic_name: 'goog-dead' is not a Pub/Sub topic name"),
        ({"topic_name": "a b"}, "DeadLetterTopicArgs.topic_name: 'a b' is not a Pub/Sub topic name"),
        ({"topic_name": "jobs-dead", "retention_days": 0}, "DeadLetterTopicArgs.retention_days: 0 is outside 1..31"),
        ({"topic_name": "jobs-dead", "retention_days": 32}, "DeadLetterTopicArgs.retention_days: 32 is outside 1..31"),
    ],
)
def test_dead_letter_args_name_the_bad_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DeadLetterTopicArgs(project="acme", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"Caller\(nightly\): give exactly one of identity, account_id, email \(got \[\]\)"),
        ({"account_id": "nightly-dev", "email": "a@b.iam.gserviceaccount.com"}, r"give exactly one of"),
        (
            {"email": "x@p.iam.gserviceaccount.com", "call": ScheduledCall("0 3 * * *", "{}")},
            r"runs as an account of this program",
        ),
        ({"email": "not an email"}, r"Caller\(nightly\).email: 'not an email' is not an email address"),
    ],
)
def test_a_caller_names_exactly_one_identity(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Caller("nightly", **kwargs)


def test_caller_calls_check_their_own_fields() -> None:
    with pytest.raises(ValueError, match=r"ScheduledCall.body: 'not json' is not JSON"):
        ScheduledCall("0 3 * * *", "not json")
    with pytest.raises(ValueError, match=r"PushCall.path: 'jobs' must start with /"):
        PushCall(topic="t", path="jobs")
    with pytest.raises(ValueError, match=r"dead_letter_topic and pubsub_agent go together"):
        PushCall(topic="t", dead_letter_topic="projects/p/topics/d")
    assert Caller("nightly", account_id="nightly-dev", call=ScheduledCall("0 3 * * *", "{}")).kind == "scheduler"
    assert Caller("ledger", email="ledger@p-123.iam.gserviceaccount.com").kind == "service-account"
