"""The real program run by preflight's engine: the planned resources and the
complete IAM of each environment, asserted as tables."""

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
from secure_invoke.preflight.engine.program import ProgramError, ProgramRun, Resource, run_program
from secure_invoke.preflight.report.grants import grants_of
from tests.stack.cases import REPO, RULES, overrides_as_config

PROJECTS = {"dev": "acme-secure-invoke-dev", "prod": "acme-secure-invoke-prod"}
DEFAULT_SA = re.compile(r"(-compute@developer\.gserviceaccount\.com|@appspot\.gserviceaccount\.com)$", re.I)
IMAGE = "europe-west1-docker.pkg.dev/acme/worker/worker@sha256:" + "b" * 64

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SERVICE = "gcp:cloudrunv2/service:Service"
ACCOUNT = "gcp:serviceaccount/account:Account"


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_program(REPO, request.param)


def one(run: ProgramRun, type_: str, name: str | None = None) -> Resource:
    found = [r for r in run.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def sa(name: str, env: str) -> str:
    return f"serviceAccount:{name}-{env}@{PROJECTS[env]}.iam.gserviceaccount.com"


def test_complete_iam_is_exactly_the_design_table(run: ProgramRun) -> None:
    """The ten grants of docs/design.md §2, resource by resource."""
    env, project = run.stack, PROJECTS[run.stack]
    bucket = one(run, "gcp:storage/bucket:Bucket").outputs["name"]
    rotation_topic = one(run, "gcp:pubsub/topic:Topic", "upstream-api-key-rotation").outputs["name"]
    agent = one(run, "gcp:projects/serviceIdentity:ServiceIdentity")
    assert agent.inputs["service"] == "secretmanager.googleapis.com"
    expected = {
        (sa("relay-runtime", env), "roles/run.invoker", f"cloudrunv2/service worker-{env}"),
        (sa("relay-trigger", env), "roles/run.invoker", f"cloudrunv2/service relay-{env}"),
        (sa("relay-build", env), "roles/logging.logWriter", f"project {project}"),
        (sa("relay-build", env), "roles/artifactregistry.writer", f"artifactregistry/repository relay-{env}-builds"),
        (sa("relay-build", env), "roles/storage.objectViewer", f"storage/bucket {bucket}"),
        # Conditioned to Google's gcf-v2-sources bucket: see test_build_reads_googles_source_copy_only.
        (sa("relay-build", env), "roles/storage.objectViewer", f"project {project}"),
        (
            sa("worker-runtime", env),
            "roles/secretmanager.secretAccessor",
            f"secretmanager/secret upstream-api-key-{env}",
        ),
        (agent.outputs["member"], "roles/pubsub.publisher", f"pubsub/topic {rotation_topic}"),
        # People borrow this account just in time (operatorAccess); on its own it may only invoke the worker.
        (sa("worker-operator", env), "roles/run.invoker", f"cloudrunv2/service worker-{env}"),
        # The relay keeps what it gives up on in its dead-letter topic, and may publish nowhere else.
        (sa("relay-runtime", env), "roles/pubsub.publisher", f"pubsub/topic jobs-{env}-dead"),
    }
    grants = [(g.member, g.role, g.resource) for g in grants_of(run.resources)]
    assert len(grants) == len(set(grants)), "a grant is made twice"
    assert set(grants) == expected
    assert re.fullmatch(
        r"serviceAccount:service-\d+@gcp-sa-secretmanager\.iam\.gserviceaccount\.com", agent.outputs["member"]
    )


def test_legacy_pubsub_agent_adds_only_token_creator_on_the_trigger_identity() -> None:
    base = {(g.member, g.role, g.resource) for g in grants_of(run_program(REPO, "dev").resources)}
    legacy = run_program(REPO, "dev", {"secure-invoke:legacyPubsubServiceAgent": "true"})
    added = {(g.member, g.role, g.resource) for g in grants_of(legacy.resources)} - base
    assert len(added) == 1
    (member, role, resource) = added.pop()
    assert role == "roles/iam.serviceAccountTokenCreator"
    trigger = one(legacy, ACCOUNT, "relay-trigger").outputs["name"]
    assert resource == f"serviceaccount {trigger}"
    number = re.fullmatch(r"serviceAccount:service-(\d+)@gcp-sa-pubsub\.iam\.gserviceaccount\.com", member)
    assert number, member
    # Same project number as Secret Manager's agent: both come from the one project.
    assert f"service-{number.group(1)}@" in one(legacy, "gcp:projects/serviceIdentity:ServiceIdentity").outputs["email"]


def test_build_reads_googles_source_copy_only(run: ProgramRun) -> None:
    """Cloud Functions copies the archive into `gcf-v2-sources-<number>-<region>` and the build fetches it from
    there as the build identity: a project grant narrowed by a condition to exactly that bucket."""
    project_grants = [
        r for r in run.of_type("gcp:projects/iAMMember:IAMMember") if r.inputs["role"] == "roles/storage.objectViewer"
    ]
    assert len(project_grants) == 1
    grant = project_grants[0].inputs
    assert grant["member"] == sa("relay-build", run.stack)
    assert grant["project"] == PROJECTS[run.stack]
    agent = one(run, "gcp:projects/serviceIdentity:ServiceIdentity").outputs["email"]
    number = re.fullmatch(r"service-(\d+)@gcp-sa-secretmanager\.iam\.gserviceaccount\.com", agent)
    assert number, agent
    assert grant["condition"] == {
        "title": "gcf-v2-sources-only",
        "expression": f'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-{number.group(1)}-europe-west1")',
        "description": "Only the function source bucket that Cloud Functions creates for builds in this region.",
    }
    # The build must find it in place, like its other grants.
    assert project_grants[0].urn in one(run, FUNCTION).dependencies


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
    identities = workload_identities(run)
    accounts = {r.outputs["email"] for r in run.of_type(ACCOUNT)}
    for what, email in identities.items():
        assert email, f"{what} identity is not set: it would fall back to the default service account"
        assert not DEFAULT_SA.search(email), f"{what} runs as a default service account"
        assert email in accounts, f"{what} identity {email} is not a service account of this stack"
    assert len(set(identities.values())) == len(identities), "an identity is shared between workloads"
    # Every account is a workload's, but the operator account, which no workload runs as.
    operator = sa("worker-operator", run.stack).removeprefix("serviceAccount:")
    assert accounts == {*identities.values(), operator}
    # Cloud Build wants the account's full resource name, not its email.
    build = one(run, FUNCTION).inputs["buildConfig"]["serviceAccount"]
    assert build == one(run, ACCOUNT, "relay-build").id


def test_no_key_of_any_kind_exists(run: ProgramRun) -> None:
    key_types = [r.type for r in run.resources if re.search(r"(^|/)(key|hmacKey|apiKey)(:|$)", r.type, re.I)]
    assert key_types == []
    assert not [r.type for r in run.resources if r.type.rsplit(":", 1)[-1].lower().endswith("key")]


def test_worker_is_private_and_the_relay_is_wired_to_it(run: ProgramRun) -> None:
    svc = one(run, SERVICE)
    fn = one(run, FUNCTION).inputs
    assert svc.inputs["invokerIamDisabled"] is False
    assert svc.inputs["ingress"] == "INGRESS_TRAFFIC_ALL"
    audience = svc.inputs["customAudiences"][0]
    envs = {e["name"]: e for e in svc.inputs["template"]["containers"][0]["envs"]}
    assert envs["INVOKER_AUDIENCE"]["value"] == audience
    concurrency = svc.inputs["template"]["maxInstanceRequestConcurrency"]
    assert envs["WORKER_THREADS"]["value"] == str(concurrency)
    relay, operator = (sa(n, run.stack).removeprefix("serviceAccount:") for n in ("relay-runtime", "worker-operator"))
    assert envs["ALLOWED_INVOKERS"]["value"] == f"{relay},{operator}"
    assert envs["OPERATOR_INVOKERS"]["value"] == operator
    secret_ref = envs["UPSTREAM_API_KEY"]["valueSource"]["secretKeyRef"]
    assert secret_ref == {"secret": f"upstream-api-key-{run.stack}", "version": "latest"}
    assert "value" not in envs["UPSTREAM_API_KEY"]
    assert envs["GOOGLE_CLOUD_PROJECT"]["value"] == PROJECTS[run.stack]
    relay_env = fn["serviceConfig"]["environmentVariables"]
    assert relay_env["WORKER_URL"] == svc.outputs["uri"]
    assert relay_env["WORKER_AUDIENCE"] == audience
    assert relay_env["DEAD_LETTER_TOPIC"] == f"projects/{PROJECTS[run.stack]}/topics/jobs-{run.stack}-dead"
    assert "PUBSUB_ENDPOINT" not in relay_env  # the real API; the override exists for local mode only
    assert float(relay_env["WORKER_TIMEOUT_SECONDS"]) < fn["serviceConfig"]["timeoutSeconds"]
    assert fn["serviceConfig"]["timeoutSeconds"] <= int(svc.inputs["template"]["timeout"].removesuffix("s"))
    assert fn["serviceConfig"]["ingressSettings"] == "ALLOW_INTERNAL_ONLY"
    assert fn["eventTrigger"]["retryPolicy"] == "RETRY_POLICY_RETRY"
    assert fn["eventTrigger"]["pubsubTopic"] == one(run, "gcp:pubsub/topic:Topic", "jobs").id


def test_worker_and_relay_accept_the_environment_the_stack_gives_them(run: ProgramRun) -> None:
    # The deployed code reads its settings once; a name or format the stack gets wrong would only show
    # as a boot loop (worker) or a message that can never be dead-lettered (relay).
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
    relay, operator = (sa(n, run.stack).removeprefix("serviceAccount:") for n in ("relay-runtime", "worker-operator"))
    assert config.caller_kinds() == {relay: "relay", operator: "operator"}
    assert config.project == PROJECTS[run.stack]
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
    digest = directory_digest(REPO / "functions" / "relay")[:16]
    archive = one(run, "gcp:storage/bucketObject:BucketObject").inputs["name"]
    assert archive == f"relay-{run.stack}-{digest}.zip"


def test_function_waits_for_its_build_grants(run: ProgramRun) -> None:
    fn = one(run, FUNCTION)
    build_grants = [
        r.urn
        for r in run.resources
        if r.parent and r.parent.endswith("::relay-build") and r.type.endswith(("IAMMember", "IamMember"))
    ]
    assert len(build_grants) == 4
    assert set(build_grants) <= set(fn.dependencies)
    worker_invoker = one(run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "worker-invoker-relay-runtime")
    assert worker_invoker.urn in fn.dependencies, "the relay's first call should find its invoker grant"
    publisher = one(run, "gcp:pubsub/topicIAMMember:TopicIAMMember", "relay-runtime-pubsub-publisher-topic")
    assert publisher.urn in fn.dependencies, "the relay's first dead letter should find its publisher grant"
    trigger_grant = next(r for r in run.resources if r.name == "relay-trigger-run-invoker-run_service")
    assert fn.urn in trigger_grant.dependencies, "the trigger's invoker grant must follow the function"


def test_dead_letters_are_kept_seven_days_by_a_subscription_that_never_expires(run: ProgramRun) -> None:
    env = run.stack
    topic = one(run, "gcp:pubsub/topic:Topic", "jobs-dead")
    assert topic.inputs["name"] == f"jobs-{env}-dead"
    subscription = one(run, "gcp:pubsub/subscription:Subscription").inputs
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


def test_dev_and_prod_plans_differ_where_they_should() -> None:
    def worker(stack: str) -> dict:
        return one(run_program(REPO, stack), SERVICE).inputs

    dev, prod = worker("dev"), worker("prod")
    assert dev["deletionProtection"] is False and prod["deletionProtection"] is True
    assert dev["template"]["scaling"]["minInstanceCount"] == 0
    assert prod["template"]["scaling"]["minInstanceCount"] >= 1
    assert dev["template"]["containers"][0]["resources"]["startupCpuBoost"] is False
    assert prod["template"]["containers"][0]["resources"]["startupCpuBoost"] is True


def test_image_is_built_and_pushed_by_digest_unless_prebuilt() -> None:
    built = run_program(REPO, "dev")
    image = one(built, "docker-build:index:Image")
    assert image.inputs["push"] is True
    ref = one(built, SERVICE).inputs["template"]["containers"][0]["image"]
    assert ref == image.outputs["ref"] and "@sha256:" in ref
    repo = one(built, "gcp:artifactregistry/repository:Repository", "worker-image-repository").inputs
    assert {p["id"]: p["action"] for p in repo["cleanupPolicies"]} == {"keep-recent": "KEEP", "delete-old": "DELETE"}

    prebuilt = run_program(REPO, "prod", {"secure-invoke:workerImage": IMAGE})
    assert prebuilt.of_type("docker-build:index:Image") == []
    assert one(prebuilt, SERVICE).inputs["template"]["containers"][0]["image"] == IMAGE
    assert [r.name for r in prebuilt.of_type("gcp:artifactregistry/repository:Repository")] == ["relay-builds"]


def test_internal_ingress_routes_the_relay_through_the_vpc() -> None:
    run = run_program(
        REPO,
        "dev",
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


# `--set`-style overrides can only set keys; rules about missing keys are covered by test_settings.py.
SETTABLE = [rule for rule, (_, overrides, _) in RULES.items() if None not in overrides.values()]


@pytest.mark.parametrize("rule", SETTABLE)
def test_invalid_config_stops_the_program_before_any_resource(rule: str) -> None:
    stack, overrides, fragment = RULES[rule]
    with pytest.raises(ProgramError) as caught:
        run_program(REPO, stack, overrides_as_config(overrides))
    assert fragment in str(caught.value) or fragment in caught.value.details
    assert [r.type for r in caught.value.resources if r.type != "pulumi:pulumi:Stack"] == []


def _in(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


POOL_GROUP = "principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta/group/sre"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_operator_access_adds_one_conditional_id_token_grant_per_entry_and_nothing_else(stack: str) -> None:
    entries = [
        {"principal": "group:oncall@acme.com", "expires": _in(2), "reason": "INC-42 replay failed jobs"},
        {"principal": POOL_GROUP, "expires": _in(7), "reason": "CHG-7 verify the fix"},
    ]
    base = {(g.member, g.role, g.resource) for g in grants_of(run_program(REPO, stack).resources)}
    run = run_program(REPO, stack, {"secure-invoke:operatorAccess": json.dumps(entries)})
    added = {(g.member, g.role, g.resource) for g in grants_of(run.resources)} - base
    operator = one(run, ACCOUNT, "worker-operator")
    assert added == {
        (e["principal"], "roles/iam.serviceAccountOpenIdTokenCreator", f"serviceaccount {operator.outputs['name']}")
        for e in entries
    }
    grants = {
        r.inputs["member"]: r.inputs
        for r in run.of_type("gcp:serviceaccount/iAMMember:IAMMember")
        if r.inputs["role"] == "roles/iam.serviceAccountOpenIdTokenCreator"
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
    assert [g.role for g in grants_of(run.resources) if g.member == operator.outputs["member"]] == ["roles/run.invoker"]


def test_expired_operator_access_is_dropped_and_said() -> None:
    entries = [{"principal": "user:dev@acme.com", "expires": "2020-01-01T00:00:00Z"}]
    run = run_program(REPO, "dev", {"secure-invoke:operatorAccess": json.dumps(entries)})
    assert not [r for r in run.of_type("gcp:serviceaccount/iAMMember:IAMMember") if "dev@acme.com" in str(r.inputs)]
    assert any("user:dev@acme.com expired at 2020-01-01T00:00:00Z; dropped" in line for line in run.logs)


def test_impersonation_is_audited_counted_and_alerted_in_prod(run: ProgramRun) -> None:
    audit = one(run, "gcp:projects/iAMAuditConfig:IAMAuditConfig").inputs
    assert audit["service"] == "iam.googleapis.com"  # covers the Service Account Credentials API
    assert audit["project"] == PROJECTS[run.stack]
    assert sorted(c["logType"] for c in audit["auditLogConfigs"]) == ["ADMIN_READ", "DATA_READ"]
    operator = one(run, ACCOUNT, "worker-operator").outputs["email"]
    metrics = {r.inputs["name"]: r.inputs for r in run.of_type("gcp:logging/metric:Metric")}
    assert set(metrics) == {f"operator-token-mints-{run.stack}", f"worker-{run.stack}-denials"}
    mints = metrics[f"operator-token-mints-{run.stack}"]["filter"]
    assert 'protoPayload.methodName="GenerateIdToken"' in mints
    assert f'resource.labels.email_id="{operator}"' in mints
    denials = metrics[f"worker-{run.stack}-denials"]
    assert f'resource.labels.service_name="worker-{run.stack}"' in denials["filter"]
    assert "jsonPayload.status=401 OR jsonPayload.status=403" in denials["filter"]
    assert denials["labelExtractors"] == {"status": "EXTRACT(jsonPayload.status)"}
    alerts = run.of_type("gcp:monitoring/alertPolicy:AlertPolicy")
    if run.stack == "prod":
        (alert,) = alerts
        assert alert.inputs["conditions"][0]["conditionMatchedLog"]["filter"] == mints
        assert alert.inputs["alertStrategy"]["notificationRateLimit"]["period"] == "300s"
    else:
        assert alerts == []


def test_alert_channels_reach_the_prod_alert() -> None:
    channel = "projects/acme-secure-invoke-prod/notificationChannels/1234567890"
    run = run_program(REPO, "prod", {"secure-invoke:operatorAlertChannels": json.dumps([channel])})
    assert one(run, "gcp:monitoring/alertPolicy:AlertPolicy").inputs["notificationChannels"] == [channel]


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_pack_accepts_the_stack_with_operator_access(stack: str, tmp_path: Path) -> None:
    entries = [
        {"principal": "group:oncall@acme.com", "expires": _in(3), "reason": "INC-42"},
        {"principal": POOL_GROUP, "expires": _in(6), "reason": "CHG-7"},
    ]
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--stack", stack, "--json", str(report),
         "--set", f"secure-invoke:operatorAccess={json.dumps(entries)}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    violations = json.loads(report.read_text())["violations"]
    # Only the documented advisory (ingress ALL with IAM as the gate); nothing about the operator path.
    assert [(v["enforcementLevel"], v["policy"]) for v in violations] == [("advisory", "ingress-restricted")]
