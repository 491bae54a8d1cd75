"""The real program run by preflight's engine, on every stack of the repository: the planned resources and the
complete IAM of each environment, asserted as tables derived from the settings the program itself loads (ids,
region, environment, tier, operator entries, declared callers), never from the sample's literal ids."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from secure_invoke.components import directory_digest
from secure_invoke.components.callers import workflow_source
from secure_invoke.preflight.engine.program import ProgramError, ProgramRun, run_program
from secure_invoke.settings import Settings
from tests.stack.cases import (
    REPO,
    RULES,
    STACKS,
    overrides_as_config,
    settings_of,
    stack_config,
    stack_of_tier,
)
from tests.stack.expected import (
    ACCOUNT,
    OPEN_ID_TOKEN_CREATOR,
    caller_emails,
    email,
    expected_grants,
    one,
    project_number,
    registered_grants,
    sa,
)

DEFAULT_SA = re.compile(r"(-compute@developer\.gserviceaccount\.com|@appspot\.gserviceaccount\.com)$", re.I)

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SERVICE = "gcp:cloudrunv2/service:Service"
INVOKER_GRANT = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
SLEEP = "time:index/sleep:Sleep"
# One caller of each kind, as an adopter writes them in `callers`.
CALLERS = [
    {"name": "nightly", "kind": "scheduler", "schedule": "0 3 * * *", "job": {"task": "primes", "limit": 1000}},
    {"name": "billing", "kind": "pubsub-push", "topic": "billing-events"},
    {"name": "batch", "kind": "cloud-tasks"},
    {"name": "orchestrate", "kind": "workflows"},
    {"name": "ledger", "kind": "service-account", "email": "ledger-runtime@other-proj-123.iam.gserviceaccount.com"},
]


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(REPO, request.param)


def cfg_of(run: ProgramRun) -> Settings:
    return settings_of(run.stack)


def test_complete_iam_is_exactly_the_design_table_and_what_the_config_adds(run: ProgramRun) -> None:
    """The ten grants of docs/design.md §2, plus one per live operator entry and per declared caller."""
    cfg = cfg_of(run)
    grants = registered_grants(run)
    assert len(grants) == len(set(grants)), "a grant is made twice"
    assert set(grants) == expected_grants(cfg, run).all
    agent = one(run, "gcp:projects/serviceIdentity:ServiceIdentity")
    assert agent.inputs["service"] == "secretmanager.googleapis.com"
    assert (
        agent.outputs["member"]
        == f"serviceAccount:service-{project_number(run)}@gcp-sa-secretmanager.iam.gserviceaccount.com"
    )


def test_legacy_pubsub_agent_adds_only_token_creator_on_the_trigger_identity() -> None:
    stack = STACKS[0]
    base = set(registered_grants(run_program(REPO, stack)))
    legacy = run_program(REPO, stack, {"secure-invoke:legacyPubsubServiceAgent": "true"})
    added = set(registered_grants(legacy)) - base
    assert len(added) == 1
    (member, role, resource) = added.pop()
    assert role == "roles/iam.serviceAccountTokenCreator"
    trigger = one(legacy, ACCOUNT, "relay-trigger").outputs["name"]
    assert resource == f"serviceaccount {trigger}"
    # Same project number as Secret Manager's agent: both come from the one project.
    assert member == f"serviceAccount:service-{project_number(legacy)}@gcp-sa-pubsub.iam.gserviceaccount.com"


def test_build_reads_exactly_googles_source_bucket(run: ProgramRun) -> None:
    """Cloud Functions copies the archive into `gcf-v2-sources-<number>-<region>` and the build fetches it from
    there as the build identity: a project grant narrowed by a condition to exactly that bucket and its objects
    (a prefix would also match `…-<region>0`)."""
    cfg = cfg_of(run)
    project_grants = [
        r for r in run.of_type("gcp:projects/iAMMember:IAMMember") if r.inputs["role"] == "roles/storage.objectViewer"
    ]
    assert len(project_grants) == 1
    grant = project_grants[0].inputs
    assert grant["member"] == sa(cfg, "relay-build")
    assert grant["project"] == cfg.project
    bucket = f"projects/_/buckets/gcf-v2-sources-{project_number(run)}-{cfg.region}"
    assert grant["condition"] == {
        "title": "gcf-v2-sources-only",
        "expression": f'resource.name == "{bucket}" || resource.name.startsWith("{bucket}/objects/")',
        "description": "Only the function source bucket that Cloud Functions creates for builds in this region.",
    }
    # The build must find it in place, like its other grants.
    assert project_grants[0].urn in one(run, FUNCTION).dependencies


def test_the_gcf_sources_condition_matches_that_bucket_and_no_longer_region() -> None:
    # The expression evaluated as IAM would on resource names: the region's bucket and its objects, nothing else.
    expression = re.compile(r'resource\.name == "([^"]+)" \|\| resource\.name\.startsWith\("([^"]+)"\)')
    cfg = settings_of(STACKS[0])
    run = run_program(REPO, STACKS[0])
    grant = next(r for r in run.of_type("gcp:projects/iAMMember:IAMMember") if r.inputs.get("condition"))
    match = expression.fullmatch(grant.inputs["condition"]["expression"])
    assert match
    equals, prefix = match.groups()

    def matches(name: str) -> bool:
        return name == equals or name.startswith(prefix)

    bucket = f"projects/_/buckets/gcf-v2-sources-{project_number(run)}-{cfg.region}"
    assert matches(bucket) and matches(f"{bucket}/objects/relay.zip")
    assert not matches(f"{bucket}0") and not matches(f"{bucket}0/objects/relay.zip")
    assert not matches(f"{bucket}-other/objects/x")


def workload_identities(run: ProgramRun) -> dict[str, str]:
    fn = one(run, FUNCTION).inputs
    svc = one(run, SERVICE).inputs
    build = fn["buildConfig"].get("serviceAccount", "")
    return {
        "relay runtime": fn["serviceConfig"].get("serviceAccountEmail", ""),
        "relay trigger": fn["eventTrigger"].get("serviceAccountEmail", ""),
        "relay build": build.rsplit("/", 1)[-1],
        "worker runtime": svc["template"].get("serviceAccount", ""),
    }


def test_every_workload_has_its_own_dedicated_non_default_identity(run: ProgramRun) -> None:
    cfg = cfg_of(run)
    identities = workload_identities(run)
    accounts = {r.outputs["email"] for r in run.of_type(ACCOUNT)}
    for what, address in identities.items():
        assert address, f"{what} identity is not set: it would fall back to the default service account"
        assert not DEFAULT_SA.search(address), f"{what} runs as a default service account"
        assert address in accounts, f"{what} identity {address} is not a service account of this stack"
    assert len(set(identities.values())) == len(identities), "an identity is shared between workloads"
    # Every account is one the settings name: the workloads', the operator's, one per declared caller.
    assert accounts == {f"{account}@{cfg.project}.iam.gserviceaccount.com" for account in cfg.service_accounts()}
    # Cloud Build wants the account's full resource name, not its email.
    build = one(run, FUNCTION).inputs["buildConfig"]["serviceAccount"]
    assert build == one(run, ACCOUNT, "relay-build").id


def test_no_key_of_any_kind_exists(run: ProgramRun) -> None:
    key_types = [r.type for r in run.resources if re.search(r"(^|/)(key|hmacKey|apiKey)(:|$)", r.type, re.I)]
    assert key_types == []
    assert not [r.type for r in run.resources if r.type.rsplit(":", 1)[-1].lower().endswith("key")]


def envs_of(run: ProgramRun) -> dict[str, dict]:
    return {e["name"]: e for e in one(run, SERVICE).inputs["template"]["containers"][0]["envs"]}


def test_worker_is_private_and_the_relay_is_wired_to_it(run: ProgramRun) -> None:
    cfg = cfg_of(run)
    env = cfg.environment
    svc = one(run, SERVICE)
    fn = one(run, FUNCTION).inputs
    assert svc.inputs["invokerIamDisabled"] is False
    assert svc.inputs["ingress"] == (
        "INGRESS_TRAFFIC_INTERNAL_ONLY" if cfg.value("workerIngress") == "internal" else "INGRESS_TRAFFIC_ALL"
    )
    assert svc.inputs["customAudiences"] == [cfg.worker_audience]
    envs = envs_of(run)
    assert envs["INVOKER_AUDIENCE"]["value"] == cfg.worker_audience
    assert envs["WORKER_THREADS"]["value"] == str(svc.inputs["template"]["maxInstanceRequestConcurrency"])
    # The allowlist is the callers the grants are made for, in one list: no second list to keep in step.
    assert envs["ALLOWED_INVOKERS"]["value"] == ",".join(caller_emails(cfg))
    assert envs["OPERATOR_INVOKERS"]["value"] == email(cfg, "worker-operator")
    assert envs["GOOGLE_CLOUD_PROJECT"]["value"] == cfg.project
    relay_env = fn["serviceConfig"]["environmentVariables"]
    assert relay_env["WORKER_URL"] == svc.outputs["uri"]
    assert relay_env["WORKER_AUDIENCE"] == cfg.worker_audience
    assert relay_env["DEAD_LETTER_TOPIC"] == f"projects/{cfg.project}/topics/jobs-{env}-dead"
    assert "PUBSUB_ENDPOINT" not in relay_env  # the real API; the override exists for local mode only
    assert float(relay_env["WORKER_TIMEOUT_SECONDS"]) < fn["serviceConfig"]["timeoutSeconds"]
    assert fn["serviceConfig"]["timeoutSeconds"] <= int(svc.inputs["template"]["timeout"].removesuffix("s"))
    assert fn["serviceConfig"]["ingressSettings"] == "ALLOW_INTERNAL_ONLY"
    assert fn["eventTrigger"]["retryPolicy"] == (
        "RETRY_POLICY_RETRY" if cfg.value("relayRetry") else "RETRY_POLICY_DO_NOT_RETRY"
    )
    assert fn["eventTrigger"]["pubsubTopic"] == one(run, "gcp:pubsub/topic:Topic", "jobs").id


def test_worker_reads_its_secret_as_a_file_so_its_first_revision_needs_no_version(run: ProgramRun) -> None:
    # Cloud Run resolves a secret env var before an instance starts (no version: no instance, the deploy fails);
    # a mounted secret is read when the file is read. So the first revision starts before anyone adds a version.
    env = cfg_of(run).environment
    template = one(run, SERVICE).inputs["template"]
    envs = envs_of(run)
    assert not [e for e in envs.values() if "valueSource" in e], "a secret as an env var blocks the first revision"
    path = envs["UPSTREAM_API_KEY_FILE"]["value"]
    (volume,) = template["volumes"]
    assert volume["secret"] == {"secret": f"upstream-api-key-{env}", "items": [{"path": "value", "version": "latest"}]}
    (mount,) = template["containers"][0]["volumeMounts"]
    assert mount["name"] == volume["name"] and path == f"{mount['mountPath']}/value"
    assert not run.of_type("gcp:secretmanager/secretVersion:SecretVersion")  # no version in state unless configured


def test_worker_and_relay_accept_the_environment_the_stack_gives_them(run: ProgramRun) -> None:
    # The deployed code reads its settings once; a name or format the stack gets wrong would only show
    # as a boot loop (worker) or a message that can never be dead-lettered (relay).
    cfg = cfg_of(run)
    relay_dir = REPO / "functions" / "relay"
    sys.path[:0] = [str(REPO / "services" / "worker"), str(relay_dir)]
    try:
        from worker.environment import load_config

        spec = importlib.util.spec_from_file_location("relay_main_under_test", relay_dir / "main.py")
        assert spec and spec.loader
        relay_main = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(relay_main)
    finally:
        del sys.path[:2]
    container = one(run, SERVICE).inputs["template"]["containers"][0]
    config = load_config({e["name"]: e["value"] for e in container["envs"] if "value" in e})
    assert config.allowed_invokers == set(caller_emails(cfg))
    assert config.operator_invokers == {email(cfg, "worker-operator")}
    assert config.audience == cfg.worker_audience
    assert config.project == cfg.project
    relay_env = one(run, FUNCTION).inputs["serviceConfig"]["environmentVariables"]
    assert relay_main.TOPIC.match(relay_env["DEAD_LETTER_TOPIC"])


def test_worker_waits_for_its_secret_and_its_access_to_it(run: ProgramRun) -> None:
    svc = one(run, SERVICE)
    accessor = one(run, "gcp:secretmanager/secretIamMember:SecretIamMember")
    secret = one(run, "gcp:secretmanager/secret:Secret")
    assert {accessor.urn, secret.urn} <= set(svc.dependencies)


def test_source_is_private_and_named_by_its_content(run: ProgramRun) -> None:
    bucket = one(run, "gcp:storage/bucket:Bucket").inputs
    assert bucket["uniformBucketLevelAccess"] is True
    assert bucket["publicAccessPrevention"] == "enforced"
    assert bucket["forceDestroy"] is (not cfg_of(run).is_production)
    digest = directory_digest(REPO / "functions" / "relay")[:16]
    archive = one(run, "gcp:storage/bucketObject:BucketObject").inputs["name"]
    assert archive == f"relay-{cfg_of(run).environment}-{digest}.zip"


def test_function_waits_for_its_build_grants_and_a_minute_after_them(run: ProgramRun) -> None:
    fn = one(run, FUNCTION)
    build_grants = [
        r.urn
        for r in run.resources
        if r.parent and r.parent.endswith("::relay-build") and r.type.endswith(("IAMMember", "IamMember"))
    ]
    assert len(build_grants) == 4
    assert set(build_grants) <= set(fn.dependencies)
    # Google's "Cloud Functions 2 basic builder" example waits 60 s after the build's grants; so does this one.
    wait = one(run, SLEEP)
    assert wait.inputs["createDuration"] == "60s"
    assert set(build_grants) <= set(wait.dependencies)
    assert wait.urn in fn.dependencies
    worker_invoker = one(run, INVOKER_GRANT, "worker-invoker-relay-runtime")
    assert worker_invoker.urn in fn.dependencies, "the relay's first call should find its invoker grant"
    publisher = one(run, "gcp:pubsub/topicIAMMember:TopicIAMMember", "relay-runtime-pubsub-publisher-topic")
    assert publisher.urn in fn.dependencies, "the relay's first dead letter should find its publisher grant"
    trigger_grant = next(r for r in run.resources if r.name == "relay-trigger-run-invoker-run_service")
    assert fn.urn in trigger_grant.dependencies, "the trigger's invoker grant must follow the function"


def test_dead_letters_are_kept_seven_days_by_a_subscription_that_never_expires(run: ProgramRun) -> None:
    env = cfg_of(run).environment
    topic = one(run, "gcp:pubsub/topic:Topic", "jobs-dead")
    assert topic.inputs["name"] == f"jobs-{env}-dead"
    subscription = one(run, "gcp:pubsub/subscription:Subscription", "jobs-dead-subscription").inputs
    assert subscription["topic"] == f"jobs-{env}-dead"
    assert subscription["messageRetentionDuration"] == f"{7 * 24 * 3600}s"
    assert subscription["retainAckedMessages"] is True
    assert subscription["expirationPolicy"] == {"ttl": ""}  # never deleted for inactivity
    assert "pushConfig" not in subscription  # pulled by an operator, never pushed anywhere
    assert topic.inputs["labels"] and subscription["labels"]


def test_every_resource_but_the_topic_sits_in_a_component(run: ProgramRun) -> None:
    top_level = [
        r.name for r in run.resources if r.custom and r.parent == run.stack_urn and not r.type.startswith("pulumi:")
    ]
    assert top_level == ["jobs"]
    components = {r.type for r in run.resources if not r.custom and r.type.startswith("secure-invoke:")}
    assert components == {
        "secure-invoke:identity:ServiceIdentity",
        "secure-invoke:serverless:PrivateService",
        "secure-invoke:serverless:EventFunction",
        "secure-invoke:secrets:RotatedSecret",
        "secure-invoke:images:WorkerImage",
        "secure-invoke:identity:OperatorAccess",
        "secure-invoke:observability:AccessAudit",
        "secure-invoke:messaging:DeadLetterTopic",
    }


def test_what_differs_between_stacks_is_their_tier(run: ProgramRun) -> None:
    cfg = cfg_of(run)
    worker = one(run, SERVICE).inputs
    assert worker["deletionProtection"] is cfg.value("deletionProtection")
    assert worker["template"]["scaling"]["minInstanceCount"] == cfg.value("workerMinInstances")
    assert worker["template"]["containers"][0]["resources"]["startupCpuBoost"] is cfg.value("workerStartupCpuBoost")
    if cfg.is_production:
        # What production insists on, whatever the environment is called.
        assert worker["deletionProtection"] is True
        assert worker["template"]["scaling"]["minInstanceCount"] >= 1
        assert worker["template"]["containers"][0]["resources"]["startupCpuBoost"] is True


@pytest.mark.parametrize("tier", ["development", "production"])
def test_a_tier_makes_the_same_plan_whatever_the_environment_is_called(tier: str) -> None:
    stack = stack_of_tier(tier)  # type: ignore[arg-type]
    renamed = run_program(REPO, stack, {"secure-invoke:environment": "qa" if tier == "production" else "prod"})
    original = run_program(REPO, stack)
    assert one(renamed, SERVICE).inputs["deletionProtection"] is one(original, SERVICE).inputs["deletionProtection"]
    assert bool(renamed.of_type("gcp:monitoring/alertPolicy:AlertPolicy")) is (tier == "production")


def test_image_is_built_and_pushed_by_digest_unless_prebuilt() -> None:
    built = run_program(REPO, stack_of_tier("development"))
    image = one(built, "docker-build:index:Image")
    assert image.inputs["push"] is True
    ref = one(built, SERVICE).inputs["template"]["containers"][0]["image"]
    assert ref == image.outputs["ref"] and "@sha256:" in ref
    repo = one(built, "gcp:artifactregistry/repository:Repository", "worker-image-repository").inputs
    assert {p["id"]: p["action"] for p in repo["cleanupPolicies"]} == {"keep-recent": "KEEP", "delete-old": "DELETE"}

    production = stack_of_tier("production")
    prebuilt_image = f"{settings_of(production).region}-docker.pkg.dev/acme/worker/worker@sha256:" + "b" * 64
    prebuilt = run_program(REPO, production, {"secure-invoke:workerImage": prebuilt_image})
    assert prebuilt.of_type("docker-build:index:Image") == []
    assert one(prebuilt, SERVICE).inputs["template"]["containers"][0]["image"] == prebuilt_image
    assert [r.name for r in prebuilt.of_type("gcp:artifactregistry/repository:Repository")] == ["relay-builds"]


def test_internal_ingress_routes_the_relay_through_the_vpc() -> None:
    run = run_program(
        REPO,
        STACKS[0],
        {
            "secure-invoke:workerIngress": "internal",
            "secure-invoke:vpcNetwork": "shared-vpc",
            "secure-invoke:vpcSubnetwork": "run-egress",
        },
    )
    assert one(run, SERVICE).inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_ONLY"
    service_config = one(run, FUNCTION).inputs["serviceConfig"]
    assert service_config["directVpcEgress"] == "VPC_EGRESS_ALL_TRAFFIC"
    assert service_config["directVpcNetworkInterfaces"] == [{"network": "shared-vpc", "subnetwork": "run-egress"}]


# One rule of each layer of the settings (schema, key names, combinations, tier, operator access, callers): each
# message is proven on the pure parser for every rule (test_settings.py); here, that any of them stops the real
# program before it registers anything, one line, as the engine shows it.
PROGRAM_RULES = [
    "unknown key",
    "out of range",
    "min above max",
    "production without warm instance",
    "operator access for a domain",
    "caller with a field of another kind",
    "environment with a bad name",
]


@pytest.mark.parametrize("rule", PROGRAM_RULES)
def test_invalid_config_stops_the_program_before_any_resource(rule: str) -> None:
    tier, overrides, fragment = RULES[rule]
    with pytest.raises(ProgramError) as caught:
        run_program(REPO, stack_of_tier(tier), overrides_as_config(overrides))
    assert fragment in str(caught.value) or fragment in caught.value.details
    assert [r.type for r in caught.value.resources if r.type != "pulumi:pulumi:Stack"] == []


def _in(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


POOL_GROUP = "principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta/group/sre"


def token_creator_grants(run: ProgramRun) -> set[tuple[str, str, str]]:
    return {g for g in registered_grants(run) if g[1] == OPEN_ID_TOKEN_CREATOR}


@pytest.mark.parametrize("stack", STACKS)
def test_operator_access_adds_one_conditional_id_token_grant_per_entry_and_nothing_else(stack: str) -> None:
    entries = [
        {"principal": "group:oncall@acme.com", "expires": _in(2), "reason": "INC-42 replay failed jobs"},
        {"principal": POOL_GROUP, "expires": _in(7), "reason": "CHG-7 verify the fix"},
    ]
    base = run_program(REPO, stack)
    run = run_program(
        REPO,
        stack,
        {"secure-invoke:operatorAccess": json.dumps(entries), "secure-invoke:operatorAccessMaxDays": "7"},
    )
    # The stack's own entries (if any) are replaced by these; every other grant stays as it was.
    assert set(registered_grants(run)) - token_creator_grants(run) == set(
        registered_grants(base)
    ) - token_creator_grants(base)
    operator = one(run, ACCOUNT, "worker-operator")
    assert token_creator_grants(run) == {
        (e["principal"], OPEN_ID_TOKEN_CREATOR, f"serviceaccount {operator.outputs['name']}") for e in entries
    }
    grants = {
        r.inputs["member"]: r.inputs
        for r in run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == OPEN_ID_TOKEN_CREATOR
    }
    for entry in entries:
        grant = grants[entry["principal"]]
        assert grant["serviceAccountId"] == operator.outputs["name"]  # the operator account, nothing else
        assert grant["condition"] == {
            "title": f"operator access until {entry['expires']}",
            "description": entry["reason"],
            "expression": f'request.time < timestamp("{entry["expires"]}")',
        }
    # The operator account itself can only invoke the worker: exactly one grant names it as member.
    assert [g[1] for g in registered_grants(run) if g[0] == operator.outputs["member"]] == ["roles/run.invoker"]


def test_expired_operator_access_is_dropped_and_said() -> None:
    entries = [{"principal": "user:dev@acme.com", "expires": "2020-01-01T00:00:00Z"}]
    run = run_program(REPO, stack_of_tier("development"), {"secure-invoke:operatorAccess": json.dumps(entries)})
    assert not [r for r in run.of_type("gcp:serviceaccount/iAMMember:IAMMember") if "dev@acme.com" in str(r.inputs)]
    assert any("user:dev@acme.com expired at 2020-01-01T00:00:00Z; dropped" in line for line in run.logs)


def test_impersonation_is_audited_counted_and_alerted_in_production(run: ProgramRun) -> None:
    cfg = cfg_of(run)
    env = cfg.environment
    audit = one(run, "gcp:projects/iAMAuditConfig:IAMAuditConfig").inputs
    assert audit["service"] == "iam.googleapis.com"  # covers the Service Account Credentials API
    assert audit["project"] == cfg.project
    # GenerateIdToken checks iam.serviceAccounts.getOpenIdToken, an ADMIN_READ permission: that log type alone.
    assert [c["logType"] for c in audit["auditLogConfigs"]] == ["ADMIN_READ"]
    operator = one(run, ACCOUNT, "worker-operator").outputs["email"]
    metrics = {r.inputs["name"]: r.inputs for r in run.of_type("gcp:logging/metric:Metric")}
    assert set(metrics) == {f"operator-token-mints-{env}", f"worker-{env}-denials"}
    mints = metrics[f"operator-token-mints-{env}"]["filter"]
    assert 'protoPayload.methodName="GenerateIdToken"' in mints
    assert f'resource.labels.email_id="{operator}"' in mints
    denials = metrics[f"worker-{env}-denials"]
    assert f'resource.labels.service_name="worker-{env}"' in denials["filter"]
    assert "jsonPayload.status=401 OR jsonPayload.status=403" in denials["filter"]
    assert denials["labelExtractors"] == {"status": "EXTRACT(jsonPayload.status)"}
    alerts = run.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
    if cfg.is_production:
        (alert,) = alerts
        assert alert.inputs["conditions"][0]["conditionMatchedLog"]["filter"] == mints
        assert alert.inputs["alertStrategy"]["notificationRateLimit"]["period"] == "300s"
        assert alert.inputs["notificationChannels"] == list(cfg.value("operatorAlertChannels"))
    else:
        assert alerts == []


def test_alert_channels_reach_the_production_alert() -> None:
    stack = stack_of_tier("production")
    channel = f"projects/{settings_of(stack).project}/notificationChannels/1234567890"
    run = run_program(REPO, stack, {"secure-invoke:operatorAlertChannels": json.dumps([channel])})
    assert one(run, "gcp:monitoring/alertPolicy:AlertPolicy").inputs["notificationChannels"] == [channel]


# --- declared callers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_callers() -> tuple[Settings, ProgramRun]:
    stack = stack_of_tier("development")
    cfg = Settings.from_config(stack_config(stack, callers=CALLERS))
    return cfg, run_program(REPO, stack, {"secure-invoke:callers": json.dumps(CALLERS)})


def test_each_declared_caller_is_one_entry_yielding_grant_allowlist_and_audience(with_callers) -> None:
    cfg, run = with_callers
    worker = one(run, SERVICE)
    url, audience = worker.outputs["uri"].rstrip("/"), cfg.worker_audience
    grants = {r.name: r for r in run.of_type(INVOKER_GRANT) if r.name.startswith("worker-invoker-")}
    assert set(grants) == {
        f"worker-invoker-{n}" for n in ("relay-runtime", "worker-operator", *(c["name"] for c in CALLERS))
    }
    assert envs_of(run)["ALLOWED_INVOKERS"]["value"] == ",".join(caller_emails(cfg))
    assert set(registered_grants(run)) == expected_grants(cfg, run).all
    for entry in cfg.callers:
        grant = grants[f"worker-invoker-{entry.name}"]
        assert grant.inputs["role"] == "roles/run.invoker" and grant.inputs["name"] == worker.inputs["name"]
        member = grant.inputs["member"].removeprefix("serviceAccount:")
        if entry.kind == "service-account":
            assert member == entry.email
            assert not [r for r in run.resources if r.name == entry.name]  # a workload elsewhere: nothing made here
            continue
        assert member == f"{entry.account_id}@{cfg.project}.iam.gserviceaccount.com"
        made = [r for r in run.resources if r.name == entry.name and r.custom and r.type != ACCOUNT]
        assert len(made) == 1, (entry.name, [r.type for r in made])
        caller = made[0]
        # Created only once its grant exists, so its first call finds it.
        assert grant.urn in caller.dependencies
        inputs = caller.inputs
        match entry.kind:
            case "scheduler":
                target = inputs["httpTarget"]
                assert target["uri"] == f"{url}/jobs" and target["httpMethod"] == "POST"
                assert target["oidcToken"] == {"serviceAccountEmail": member, "audience": audience}
                assert target["headers"] == {"Content-Type": "application/json"}
                assert inputs["schedule"] == entry.schedule and inputs["region"] == cfg.region
            case "pubsub-push":
                push = inputs["pushConfig"]
                assert push["pushEndpoint"] == f"{url}/pubsub"
                assert push["oidcToken"] == {"serviceAccountEmail": member, "audience": audience}
                assert (
                    inputs["deadLetterPolicy"]["deadLetterTopic"]
                    == f"projects/{cfg.project}/topics/jobs-{cfg.environment}-dead"
                )
                assert inputs["expirationPolicy"] == {"ttl": ""}
            case "cloud-tasks":
                target = inputs["httpTarget"]
                assert target["oidcToken"] == {"serviceAccountEmail": member, "audience": audience}
                override = target["uriOverride"]
                assert override["host"] == url.removeprefix("https://") and override["scheme"] == "HTTPS"
                assert override["pathOverride"] == {"path": "/jobs"} and override["uriOverrideEnforceMode"] == "ALWAYS"
            case "workflows":
                assert inputs["serviceAccount"] == member
                timeout = cfg.value("workerRequestTimeoutSeconds")
                assert inputs["sourceContents"] == workflow_source(url, "/jobs", audience, timeout)
                step = json.loads(inputs["sourceContents"])["main"]["steps"][0]["call_service"]["args"]
                assert step["auth"] == {"type": "OIDC", "audience": audience} and step["url"] == f"{url}/jobs"


def test_a_scheduler_job_posts_the_declared_job_as_json(with_callers) -> None:
    import base64

    _, run = with_callers
    body = one(run, "gcp:cloudscheduler/job:Job").inputs["httpTarget"]["body"]
    assert json.loads(base64.b64decode(body)) == {"job": CALLERS[0]["job"]}


def test_a_caller_from_another_project_is_one_entry_and_nothing_else() -> None:
    stack = stack_of_tier("development")
    foreign = [CALLERS[-1]]
    base = run_program(REPO, stack)
    run = run_program(REPO, stack, {"secure-invoke:callers": json.dumps(foreign)})
    added = set(registered_grants(run)) - set(registered_grants(base))
    assert added == {
        (
            f"serviceAccount:{foreign[0]['email']}",
            "roles/run.invoker",
            f"cloudrunv2/service worker-{settings_of(stack).environment}",
        )
    }
    assert len(run.resources) == len(base.resources) + 1  # its grant, and nothing else
    assert envs_of(run)["ALLOWED_INVOKERS"]["value"].endswith(f",{foreign[0]['email']}")


def preflight(stack: str, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--stack", stack, "--json", str(report), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("tier", ["development", "production"])
def test_the_pack_accepts_the_stack_with_operator_access_and_declared_callers(tier: str, tmp_path: Path) -> None:
    entries = [
        {"principal": "group:oncall@acme.com", "expires": _in(3), "reason": "INC-42"},
        {"principal": POOL_GROUP, "expires": _in(6), "reason": "CHG-7"},
    ]
    report = tmp_path / "report.json"
    result = preflight(
        stack_of_tier(tier),  # type: ignore[arg-type]
        report,
        "--set", f"secure-invoke:operatorAccess={json.dumps(entries)}",
        "--set", "secure-invoke:operatorAccessMaxDays=7",
        "--set", f"secure-invoke:callers={json.dumps(CALLERS)}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    violations = json.loads(report.read_text())["violations"]
    # Only the documented advisories: ingress ALL with IAM as the gate, and the caller of another project the
    # pack cannot place (it is named in the worker's allowlist, but no allowedInvokers list names it).
    found = {(v["enforcementLevel"], v["policy"]) for v in violations}
    assert found == {("advisory", "ingress-restricted"), ("advisory", "unverified-invokers")}
    (unplaced,) = [v for v in violations if v["policy"] == "unverified-invokers"]
    assert CALLERS[-1]["email"] in unplaced["message"]
