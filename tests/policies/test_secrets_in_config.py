"""Secrets in plain configuration, per place: env vars of every workload kind and everything else in plain text
(args, commands, build steps, workflow sources, scheduler requests, metadata and startup scripts), judged by
value, by name, and — with preflight's provenance — by where the value came from. Each place has reject and
accept cases; the same resources without provenance show what a pack run by the Pulumi CLI still tells."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from secure_invoke.policies.guardrails import provenance
from secure_invoke.policies.guardrails.secret_values import PREFLIGHT_SECRET_MARKER
from tests.policies.guardrail_cases import UNKNOWN_OBJECT, UNKNOWN_STRING, ctx, judge

ENV = "no-plaintext-secrets-in-env"
CONFIG = "no-plaintext-secrets-in-config"
PEM = "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
SA_KEY_FILE = json.dumps({"type": "service_account", "private_key": PEM, "client_email": "x@p.iam.gserviceaccount.com"})
SLACK = "xox" + "b-" + "2718281828-3141592653-Qz8Rt5Lp2Wv"

RUN = "gcp:cloudrunv2/service:Service"
RUN_V1 = "gcp:cloudrun/service:Service"
JOB = "gcp:cloudrunv2/job:Job"
POOL = "gcp:cloudrunv2/workerPool:WorkerPool"
FN2 = "gcp:cloudfunctionsv2/function:Function"
FN1 = "gcp:cloudfunctions/function:Function"
WORKFLOW = "gcp:workflows/workflow:Workflow"
TRIGGER = "gcp:cloudbuild/trigger:Trigger"
APP_ENGINE = "gcp:appengine/standardAppVersion:StandardAppVersion"
APP_ENGINE_FLEX = "gcp:appengine/flexibleAppVersion:FlexibleAppVersion"
COMPOSER = "gcp:composer/environment:Environment"
SCHEDULER = "gcp:cloudscheduler/job:Job"
VM = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
REGION_TEMPLATE = "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"
PROJECT_METADATA = "gcp:compute/projectMetadata:ProjectMetadata"
METADATA_ITEM = "gcp:compute/projectMetadataItem:ProjectMetadataItem"
GKE = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
DATAPROC = "gcp:dataproc/cluster:Cluster"
WORKBENCH = "gcp:workbench/instance:Instance"


def containers(**container: Any) -> dict[str, Any]:
    return {"template": {"containers": [container]}}


def job_containers(**container: Any) -> dict[str, Any]:
    return {"template": {"template": {"containers": [container]}}}


def v1_containers(**container: Any) -> dict[str, Any]:
    return {"template": {"spec": {"containers": [container]}}}


def env_of(name: str, value: Any) -> dict[str, Any]:
    """The same variable in every env-like place of every workload kind: (type, props)."""
    entry = [{"name": name, "value": value}]
    return {
        RUN: containers(envs=entry), JOB: job_containers(envs=entry), POOL: containers(envs=entry),
        RUN_V1: v1_containers(envs=entry), FN2: {"serviceConfig": {"environmentVariables": {name: value}}},
        FN1: {"environmentVariables": {name: value}}, WORKFLOW: {"userEnvVars": {name: value}},
        TRIGGER: {"build": {"steps": [{"name": "gcr.io/x", "envs": [f"{name}={value}"]}]}},
        APP_ENGINE: {"envVariables": {name: value}}, APP_ENGINE_FLEX: {"envVariables": {name: value}},
        COMPOSER: {"config": {"softwareConfig": {"envVariables": {name: value}}}},
    }  # fmt: skip


REJECTED_ENV = [("DB_PASSWORD", "hunter2!"), ("SLACK_BOT_TOKEN", "x-any-shape"), ("GREETING", SLACK),
                ("CONFIG", SA_KEY_FILE), ("ANY", base64.b64encode(SA_KEY_FILE.encode()).decode()),
                ("UPSTREAM_API_KEY", PREFLIGHT_SECRET_MARKER), ("JWT_SECRET", "correct horse battery staple"),
                ("UPSTREAM_API_KEY", "k3y!"), ("ADMIN_PASS", "Winter2024")]  # fmt: skip
ACCEPTED_ENV = [("PASSWORD_MIN_LENGTH", "12"), ("TOKEN_AUDIENCE", "https://worker-abc-uc.a.run.app"),
                ("SECRET_NAME", "projects/p/secrets/s"), ("API_KEY_HEADER", "X-Api-Key"), ("CACHE_KEY", "v2"),
                ("DB_PASSWORD", ""), ("DB_PASSWORD", "${DB_PASSWORD}"), ("SESSION_TTL", "30m"),
                ("ENABLE_TOKEN_AUTH", "true"), ("DB_PASSWORD", "/run/secrets/db"), ("TOKEN", UNKNOWN_STRING),
                ("GREETING", "hello world"), ("KMS_KEY", "projects/p/locations/l/keyRings/r/cryptoKeys/k")]  # fmt: skip


@pytest.mark.parametrize(("name", "value"), REJECTED_ENV)
def test_env_credentials_rejected_in_every_kind_of_workload(name: str, value: str) -> None:
    for rtype, props in env_of(name, value).items():
        messages = judge(ENV, rtype, props, ctx())
        assert len(messages) == 1, (rtype, messages)
        assert name in messages[0] and "Secret Manager" in messages[0] and "'subject'" in messages[0]
        assert value[:8] not in messages[0] or value == PREFLIGHT_SECRET_MARKER


@pytest.mark.parametrize(("name", "value"), ACCEPTED_ENV)
def test_env_values_a_credential_named_variable_may_hold(name: str, value: str) -> None:
    for rtype, props in env_of(name, value).items():
        assert judge(ENV, rtype, props, ctx()) == [], rtype


def test_each_fix_names_the_mechanism_of_its_kind_of_workload() -> None:
    fixes = {rtype: judge(ENV, rtype, props, ctx())[0] for rtype, props in env_of("DB_PASSWORD", "x!1").items()}
    assert "valueSource.secretKeyRef" in fixes[RUN] and "secretEnvironmentVariables" in fixes[FN2]
    assert "accessString" in fixes[WORKFLOW] and "availableSecrets" in fixes[TRIGGER]
    assert "secrets backend" in fixes[COMPOSER] and "start-up" in fixes[APP_ENGINE]
    assert "If it names a secret rather than holding one" in fixes[RUN]


def test_build_substitutions_and_build_env_are_variables_too() -> None:
    props = {"substitutions": {"_DB_PASSWORD": "s3cret-Pa55", "_REGION": "us-central1"},
             "build": {"substitutions": {"_API_TOKEN": "t0k3n"}, "options": {"envs": ["NPM_TOKEN=n0pe", "CI=true"]},
                       "secrets": [{"kmsKeyName": "k", "secretEnv": {"NPM_TOKEN": "CiQAz8vN3Qm5x2Rr0k1LwT7p"}}],
                       "steps": [{"name": "node", "secretEnvs": ["NPM_TOKEN"], "envs": ["DOCKER_BUILDKIT=1"]}]}}  # fmt: skip
    messages = judge(ENV, TRIGGER, props, ctx())
    assert [m.split(":", 1)[0] for m in messages] == [
        "build.options.envs[0]", "build.substitutions._API_TOKEN", "substitutions._DB_PASSWORD"]  # fmt: skip


def test_a_build_step_pointed_at_a_key_file_is_rejected_and_a_service_mounting_a_config_is_not() -> None:
    # A step always has its trigger's account from the metadata server: a credential file there is a key that
    # came with the source or an earlier step. A service may mount a federation config: not judged by this.
    keyed = {"build": {"steps": [{"name": "gcr.io/cloud-builders/gcloud",
                                  "envs": ["GOOGLE_APPLICATION_CREDENTIALS=/workspace/deployer-key.json"]}]}}  # fmt: skip
    [message] = judge(ENV, TRIGGER, keyed, ctx())
    assert message.startswith("build.steps[0].envs[0]: step 0 environment variable GOOGLE_APPLICATION_CREDENTIALS")
    assert "credential file" in message and "metadata server" in message and "deployer-key" not in message
    gcloud = {"build": {"options": {"envs": ["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE=key.json"]}}}
    assert len(judge(ENV, TRIGGER, gcloud, ctx())) == 1
    for unset in (["GOOGLE_APPLICATION_CREDENTIALS="], ["GOOGLE_CLOUD_PROJECT=p"]):
        assert judge(ENV, TRIGGER, {"build": {"steps": [{"name": "n", "envs": unset}]}}, ctx()) == []
    mounted = containers(envs=[{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/run/secrets/wif.json"}])
    assert judge(ENV, RUN, mounted, ctx()) == []


def test_composer_airflow_overrides_are_judged_by_name() -> None:
    overrides = {"smtp-smtp_password": "hunter2!", "core-dags_are_paused_at_creation": "True",
                 "secrets-backend": "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend"}  # fmt: skip
    messages = judge(ENV, COMPOSER, {"config": {"softwareConfig": {"airflowConfigOverrides": overrides}}}, ctx())
    assert len(messages) == 1 and "smtp-smtp_password" in messages[0]


# --- provenance: what only preflight can tell --------------------------------------------------------------------


def with_provenance(
    props: dict[str, Any], secret: tuple[str, ...] = (), origins: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {**props, provenance.PROVENANCE_KEY: {"secret": list(secret), "origins": origins or {}}}


def test_a_pulumi_secret_in_a_plain_env_var_is_rejected_whatever_its_name_or_shape() -> None:
    props = containers(envs=[{"name": "UPSTREAM_SALT", "value": "aB3dE5fG7hJ9kL1m"}])
    assert judge(ENV, RUN, props, ctx()) == []  # the CLI: a short value, an innocent name
    sent = with_provenance(props, secret=("template.containers[0].envs[0].value",))
    messages = judge(ENV, RUN, sent, ctx())
    assert len(messages) == 1 and "a Pulumi secret" in messages[0] and "aB3d" not in messages[0]
    # a secret wrapper around the whole template covers the value too
    whole = with_provenance(props, secret=("template",))
    assert len(judge(ENV, RUN, whole, ctx())) == 1


def test_a_credential_named_variable_set_from_another_resource_names_it() -> None:
    """`DB_PASSWORD_SECRET=secret.secret_id`: the value is a resource's (non-secret) output, a name, not a
    password; the same literal typed into the program is judged by its name."""
    props = containers(envs=[{"name": "DB_PASSWORD_SECRET", "value": "db-password"}])
    path = "template.containers[0].envs[0].value"
    from_resource = {"from": "resource", "type": "gcp:secretmanager/secret:Secret", "output": "secretId"}
    assert judge(ENV, RUN, with_provenance(props, origins={path: from_resource}), ctx()) == []
    assert len(judge(ENV, RUN, with_provenance(props), ctx())) == 1  # written in the program
    assert len(judge(ENV, RUN, props, ctx())) == 1  # the CLI cannot tell: judged by name
    from_invoke = {"from": "invoke", "token": "gcp:secretmanager/getSecret:getSecret"}
    assert judge(ENV, RUN, with_provenance(props, origins={path: from_invoke}), ctx()) == []
    secret_output = {**from_resource, "secret": True}
    assert len(judge(ENV, RUN, with_provenance(props, origins={path: secret_output}), ctx())) == 1


def test_plain_config_in_a_credential_named_variable_is_still_plain_text() -> None:
    props = containers(envs=[{"name": "SMTP_PASSWORD", "value": "hunter2!"}])
    origin = {"from": "config", "key": "app:smtpPassword", "secure": False}
    sent = with_provenance(props, origins={"template.containers[0].envs[0].value": origin})
    assert len(judge(ENV, RUN, sent, ctx())) == 1


# --- everything else in plain configuration ----------------------------------------------------------------------

REJECTED_CONFIG = [
    (RUN, containers(args=["--db-password", "Tr0ub4dor&3"]), "args[1]"),
    (RUN, containers(args=["--db-password=Tr0ub4dor&3"]), "args[0]"),
    (JOB, job_containers(commands=["sh", "-c", f"curl -H 'Authorization: Bearer {SLACK}' https://x"]), "commands[2]"),
    (POOL, containers(args=["--api-key", PREFLIGHT_SECRET_MARKER]), "args[1]"),
    (RUN_V1, v1_containers(commands=["/app", "--token=7f2c91d04ab3e865"]), "commands[1]"),
    (TRIGGER, {"build": {"steps": [{"name": "d", "args": ["login", "--password=Pa55w0rd!", "r.example.com"]}]}},
     "args[1]"),
    (TRIGGER, {"build": {"steps": [{"name": "d", "script": "export NPM_TOKEN=n0pe-t0ken\nnpm publish"}]}}, "script"),
    (WORKFLOW, {"sourceContents": "main:\n  steps:\n  - c:\n      args:\n        headers:\n"
                                  "          Authorization: \"Bearer 7f2c91d04ab3e865\"\n"}, "sourceContents"),
    (SCHEDULER, {"httpTarget": {"uri": "https://x", "headers": {"Authorization": "Bearer 5b1e0c7a9d3f"}}},
     "httpTarget.headers.Authorization"),
    (SCHEDULER, {"httpTarget": {"uri": "https://x", "body": base64.b64encode(
        json.dumps({"client_secret": "8Hs72kLq-literal", "mode": "full"}).encode()).decode()}}, "httpTarget.body"),
    (SCHEDULER, {"httpTarget": {"uri": "https://ops:Sup3rS3cret@hooks.example.com/run"}}, "httpTarget.uri"),
    (SCHEDULER, {"pubsubTarget": {"topicName": "t", "attributes": {"api_token": "t0k3n-literal"}}},
     "pubsubTarget.attributes.api_token"),
    (VM, {"metadataStartupScript": "#!/bin/bash\necho '" + base64.b64encode(SA_KEY_FILE.encode()).decode()
          + "' | base64 -d > /etc/key.json"}, "metadataStartupScript"),
    (VM, {"metadata": {"db-password": "hunter2!"}}, "metadata.db-password"),
    (VM, {"metadata": {"startup-script": "export API_TOKEN=9c1f5e2a7b"}}, "metadata.startup-script"),
    (VM, {"metadata": {"ssh-keys": "alice:" + PEM}}, "metadata.ssh-keys"),
    (TEMPLATE, {"metadata": {"user-data": "#cloud-config\nruncmd:\n- [sh, -c, 'export API_TOKEN=9c1f5e2a7b']\n"}},
     "metadata.user-data"),
    (REGION_TEMPLATE, {"metadata": {"windows-startup-script-ps1": "Install-WindowsFeature Web-Server",
                                    "admin-password": "P@ss1"}}, "metadata.admin-password"),
    (PROJECT_METADATA, {"metadata": {"deploy-webhook-token": "wh_4f9a1c2e8b"}}, "metadata.deploy-webhook-token"),
    (METADATA_ITEM, {"key": "deploy-webhook-token", "value": "wh_4f9a1c2e8b"}, "value"),
    (GKE, {"nodeConfig": {"metadata": {"db-password": "hunter2!"}}}, "nodeConfig.metadata.db-password"),
    (GKE, {"nodePools": [{"nodeConfig": {"metadata": {"api-key": "k-123"}}}]},
     "nodePools[0].nodeConfig.metadata.api-key"),
    (NODE_POOL, {"nodeConfig": {"metadata": {"startup-script": PEM}}}, "nodeConfig.metadata.startup-script"),
    (DATAPROC, {"clusterConfig": {"gceClusterConfig": {"metadata": {"hive-password": "hunter2!"}}}},
     "clusterConfig.gceClusterConfig.metadata.hive-password"),
    (WORKBENCH, {"gceSetup": {"metadata": {"jupyter-token": "t0k3n-literal"}}}, "gceSetup.metadata.jupyter-token"),
    (VM, {"metadata": {"gce-container-declaration": "spec:\n  containers:\n  - name: app\n    env:\n"
                                                    "    - name: DB_PASSWORD\n      value: hunter2\n"}},
     "metadata.gce-container-declaration"),
]  # fmt: skip


@pytest.mark.parametrize(("rtype", "props", "where"), REJECTED_CONFIG)
def test_credentials_in_plain_configuration_rejected(rtype: str, props: dict, where: str) -> None:
    messages = judge(CONFIG, rtype, props, ctx())
    assert len(messages) == 1, messages
    assert messages[0].split(":", 1)[0].endswith(where) and "'subject'" in messages[0]
    assert "Secret Manager" in messages[0] or "service account" in messages[0]
    for value in ("Tr0ub4dor", "Pa55w0rd", "hunter2", "7f2c91d0", "5b1e0c7a", "8Hs72kLq", "wh_4f9a1", "Sup3rS3c"):
        assert value not in messages[0]


ACCEPTED_CONFIG = [
    (RUN, containers(args=["--port=8080", "--db-password-file=/secrets/db", "--token-audience", "https://x"])),
    (RUN, containers(args=UNKNOWN_STRING, commands=["sh", "-c", 'export TOKEN="$(cat /run/token)"; exec app'])),
    (JOB, job_containers(args=["--max-tokens=4096", "--secret=api-key", "--password-stdin"])),
    (TRIGGER, {"build": {"steps": [{"name": "d", "entrypoint": "bash", "secretEnvs": ["PASSWORD"],
                                    "args": ["-c", "docker login --username=$$USERNAME --password=$$PASSWORD r"]}]}}),
    (TRIGGER, {"build": {"steps": [{"name": "gcloud", "args": ["sql", "users", "set-password", "app",
                                                              "--password=$_DB_PASSWORD"]}]}}),
    (WORKFLOW, {"sourceContents": "main:\n  steps:\n  - t:\n      call: googleapis.secretmanager.v1.projects.secrets."
                                  "versions.accessString\n      args:\n        secret_id: api-token\n      result: t\n"
                                  "  - c:\n      args:\n        headers:\n          Authorization: ${\"Bearer \" + t}\n"}),
    (SCHEDULER, {"httpTarget": {"uri": "https://x.a.run.app/run", "headers": {"Content-Type": "application/json"},
                                "body": base64.b64encode(b'{"mode": "full", "token_ttl": 3600}').decode(),
                                "oidcToken": {"serviceAccountEmail": "s@p.iam.gserviceaccount.com"}}}),
    (VM, {"metadata": {"ssh-keys": "alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJm0Zx8yQ2r3 alice",
                       "windows-keys": json.dumps({"modulus": "AAAB" * 40, "exponent": "AQAB", "userName": "a"}),
                       "enable-oslogin": "TRUE", "block-project-ssh-keys": "true", "startup-script-url": "gs://b/s.sh",
                       "google-logging-enabled": "true", "api-key-secret-name": "projects/p/secrets/k"},
          "metadataStartupScript": "#!/bin/bash\nPW=\"$(gcloud secrets versions access latest --secret=db)\"\n"
                                   "echo 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  f' "
                                   "| sha256sum -c -\n"}),
    (VM, {"metadata": UNKNOWN_OBJECT, "metadataStartupScript": UNKNOWN_STRING}),
    (PROJECT_METADATA, {"metadata": {"enable-oslogin": "TRUE", "ssh-keys": "bob:ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB b"}}),
    (METADATA_ITEM, {"key": "enable-oslogin", "value": "TRUE"}),
    (METADATA_ITEM, {"key": UNKNOWN_STRING, "value": "hunter2!"}),
    (GKE, {"nodeConfig": {"metadata": {"disable-legacy-endpoints": "true"}}}),
]  # fmt: skip


@pytest.mark.parametrize(("rtype", "props"), ACCEPTED_CONFIG)
def test_plain_configuration_without_credentials_accepted(rtype: str, props: dict) -> None:
    assert judge(CONFIG, rtype, props, ctx()) == []


def test_a_pulumi_secret_in_a_startup_script_is_rejected_with_provenance_only() -> None:
    props = {"metadataStartupScript": "#!/bin/bash\n/opt/app --mode=a1b2c3d4e5f6\n"}
    assert judge(CONFIG, VM, props, ctx()) == []
    sent = with_provenance(props, secret=("metadataStartupScript",))
    messages = judge(CONFIG, VM, sent, ctx())
    assert len(messages) == 1 and "a Pulumi secret" in messages[0] and "metadata server" in messages[0]


def test_one_message_per_place_naming_everything_found_there() -> None:
    script = "#!/bin/bash\nexport DB_PASSWORD=hunter2\ncat > /k.pem <<EOF\n" + PEM + "EOF\n"
    messages = judge(CONFIG, VM, {"metadata": {"startup-script": script}}, ctx())
    assert len(messages) == 1
    assert "a private key" in messages[0] and "a literal for DB_PASSWORD" in messages[0]


def test_args_and_commands_are_not_env_vars() -> None:
    props = containers(args=["--db-password=Tr0ub4dor&3"], envs=[{"name": "PORT", "value": "8080"}])
    assert judge(ENV, RUN, props, ctx()) == []
    assert len(judge(CONFIG, RUN, props, ctx())) == 1
