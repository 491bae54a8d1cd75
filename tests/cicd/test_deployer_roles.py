"""The CI bootstrap's deployers and previewers against what each environment's stack needs, as preflight's
deployer check computes it from the provider's calls: for every environment the bootstrap lists, nothing missing
and nothing unused. And what only some stack files ask for — declared callers of every kind, a topic of another
project, `legacyPubsubServiceAgent` — a bootstrap that reads such a stack file gives exactly that, and one that
does not is told, permission by permission."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from functools import cache

import pytest
import yaml

from secure_invoke.preflight.deployer import PREVIEW, UP, IdentitySpec, Verdict, backend_from, check_identity
from secure_invoke.preflight.deployer.report import lines, missing_lines
from secure_invoke.preflight.engine.program import ProgramRun, run_program
from tests.cicd.paths import ROOT, bootstrap_environments
from tests.stack.cases import overrides_as_config, settings_of

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ENVIRONMENTS = bootstrap_environments()


@cache
def bootstrap() -> ProgramRun:
    return run_program(ROOT / "bootstrap", "github")


@cache
def stack(env: str) -> ProgramRun:
    return run_program(ROOT, env)


def check(env: str, run: ProgramRun, boot: ProgramRun, mode: str = UP) -> Verdict:
    """The deployer (or previewer) of `env` as the bootstrap run `boot` defines it, on the plan `run`."""
    who = "deployer" if mode == UP else "previewer"
    references = {"bootstrap": dict(boot.outputs)}
    spec = IdentitySpec(f"--{who}", mode, f"bootstrap:{who}_{env}_email")
    backend = backend_from(f"bootstrap:backend_url_{env}", f"bootstrap:secrets_provider_{env}", references)
    return check_identity(run, spec, references, [boot], backend, NOW)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_deployer_misses_nothing_and_holds_nothing_unused(env: str) -> None:
    verdict = check(env, stack(env), bootstrap())
    assert verdict.missing == [], missing_lines(verdict)
    assert verdict.unused == [], lines(verdict)
    assert verdict.plan.unknown == [] and verdict.unknown_roles == [] and verdict.undecided == []
    # Google's deploy-time preconditions hold: the secret is mounted (no version needed before the worker), the
    # build waits 60 s after its grants, and the bootstrap enables every API the plan calls.
    assert verdict.findings == [], lines(verdict)
    needed = {n.permission for n in verdict.plan.needs}
    assert {"run.services.create", "cloudfunctions.functions.create", "iam.serviceAccounts.actAs"} <= needed
    assert {"storage.objects.create", "cloudkms.cryptoKeyVersions.useToDecrypt"} <= needed  # the state backend
    assert "iam.serviceAccounts.create" not in needed  # the accounts exist: the deployer holds grants on them
    # setIamPolicy on an account only where the stack sets one: operator access entries, the legacy agent.
    settings = settings_of(env)
    sets_account_iam = bool(settings.operator_access) or bool(settings.value("legacyPubsubServiceAgent"))
    assert ("iam.serviceAccounts.setIamPolicy" in needed) == sets_account_iam
    assert verdict.minimal_role == sorted(needed)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_previewer_holds_exactly_what_a_preview_reads(env: str) -> None:
    verdict = check(env, stack(env), bootstrap(), PREVIEW)
    assert not verdict.failing, lines(verdict)
    assert verdict.minimal_role == [
        "cloudkms.cryptoKeyVersions.useToDecrypt",
        "resourcemanager.projects.get",
        "storage.objects.get",
        "storage.objects.list",
    ]


# --- what a stack file adds: the bootstrap reads it and gives exactly that ------------------------------------

ENV = ENVIRONMENTS[0]
FOREIGN_TOPIC = "projects/orders-platform-7731/topics/order-events"
EXTRAS = {
    "legacyPubsubServiceAgent": True,
    "callers": [
        {"name": "nightly", "kind": "scheduler", "schedule": "0 3 * * *", "job": {"task": "primes", "limit": 9}},
        {"name": "orders", "kind": "pubsub-push", "topic": FOREIGN_TOPIC},
        {"name": "refunds", "kind": "cloud-tasks"},
        {"name": "settle", "kind": "workflows"},
        {"name": "ledger", "kind": "service-account", "email": "ledger@orders-platform-7731.iam.gserviceaccount.com"},
    ],
}


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProgramRun, ProgramRun]:
    """(bootstrap, stack) where the first environment's stack file also sets EXTRAS: the bootstrap run from a
    copy beside a stack file that says so, the stack with the same keys set."""
    root = tmp_path_factory.mktemp("extended")
    shutil.copytree(ROOT / "bootstrap", root / "bootstrap", ignore=shutil.ignore_patterns("__pycache__"))
    for path in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(path, root / path.name)
    stack_file = root / f"Pulumi.{ENV}.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    document["config"] |= {f"secure-invoke:{key}": value for key, value in EXTRAS.items()}
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return run_program(root / "bootstrap", "github"), run_program(ROOT, ENV, overrides_as_config(EXTRAS))


def account(name: str) -> str:
    project = settings_of(ENV).project
    return f"projects/{project}/serviceAccounts/{name}-{ENV}@{project}.iam.gserviceaccount.com"


def test_callers_of_every_kind_and_the_legacy_agent_are_exactly_covered(
    extended: tuple[ProgramRun, ProgramRun],
) -> None:
    boot, run = extended
    verdict = check(ENV, run, boot)
    assert not verdict.failing, lines(verdict)
    needed = {(n.permission, n.target.name) for n in verdict.plan.needs}
    # The trigger account's IAM (the Pub/Sub agent's token creator), and the other team's topic.
    assert ("iam.serviceAccounts.setIamPolicy", account("relay-trigger")) in needed
    assert ("pubsub.topics.attachSubscription", FOREIGN_TOPIC) in needed
    for caller in ("nightly", "orders", "refunds", "settle"):
        assert ("iam.serviceAccounts.actAs", account(caller)) in needed, caller


def test_a_bootstrap_that_does_not_read_them_is_told_what_would_fail(extended: tuple[ProgramRun, ProgramRun]) -> None:
    _, run = extended
    verdict = check(ENV, run, bootstrap())  # the repository's bootstrap: its stack file has none of EXTRAS
    missing = {(m.need.permission, m.need.target.name) for m in verdict.missing}
    project = f"projects/{settings_of(ENV).project}"
    for need in (
        ("iam.serviceAccounts.setIamPolicy", account("relay-trigger")),
        ("pubsub.topics.attachSubscription", FOREIGN_TOPIC),
        ("cloudscheduler.jobs.create", project),
        ("cloudtasks.queues.create", project),
        ("workflows.workflows.create", project),
        ("iam.serviceAccounts.actAs", account("refunds")),
    ):
        assert need in missing, need
    (apis,) = [f for f in verdict.findings if f.kind == "api-not-enabled"]
    for api in ("cloudscheduler", "cloudtasks", "workflows"):
        assert f"{api}.googleapis.com" in apis.message


def test_a_bootstrap_that_reads_them_holds_unused_roles_for_a_stack_without_them(
    extended: tuple[ProgramRun, ProgramRun],
) -> None:
    boot, _ = extended
    verdict = check(ENV, stack(ENV), boot)
    assert verdict.missing == []
    unused = {u.holding.role for u in verdict.unused}
    assert {"roles/cloudscheduler.admin", "roles/cloudtasks.queueAdmin", "roles/workflows.editor"} <= unused
    assert "roles/pubsub.subscriber" in unused  # on the other team's topic
    scopes = {u.holding.scope for u in verdict.unused}
    assert FOREIGN_TOPIC in scopes and account("refunds") in scopes
