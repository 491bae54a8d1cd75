"""Credentials in plain configuration, outside and inside env vars: container args and commands, Cloud Run jobs,
workflows (user env vars, source), Cloud Build triggers (step env, substitutions, args), scheduler requests, VM,
template and project metadata and startup scripts (also base64), variables named like credentials holding a
literal of any shape, and Pulumi secrets passed into plain values (rejected); Secret Manager references, names,
numbers, URLs, paths and references in credential-named variables, and secrets read at run time (accepted).

Shapes follow Google's documentation (Cloud Build's `availableSecrets` with `$$NAME`, the Workflows Secret
Manager connector, `gcloud secrets versions access` in a startup script, Container-Optimized OS's container
declaration) and public programs (a Cloud Run service with a database URL, a VM with a startup script).
Secret-shaped values are assembled at run time so that none sits in the repository."""

import base64
import json

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

cfg = pulumi.Config()
REGION = "us-central1"
ZONE = "us-central1-a"
IMAGE = "us-docker.pkg.dev/cloudrun/container/hello"
LABELS = {"app": "t"}

GITHUB_TOKEN = "ghp_" + "R8mZ2kQ7vN4xT1bW6yP3sJ9dL5fH0cG2aE7u"
SLACK_TOKEN = "xox" + "b-" + "2718281828-3141592653-Qz8Rt5Lp2Wv"
API_KEY = "AIza" + "Sy" + "C1d2E3f4G5h6I7j8K9l0M1n2O3p4Q5r6S7"
PRIVATE_KEY = (
    "-----BEGIN "
    + "PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
)
SA_KEY_FILE = json.dumps(
    {"type": "service_account", "project_id": "si-pack-1234", "private_key_id": "0" * 40,
     "private_key": PRIVATE_KEY, "client_email": "ci@si-pack-1234.iam.gserviceaccount.com"}
)  # fmt: skip


def identity(name: str) -> gcp.serviceaccount.Account:
    return gcp.serviceaccount.Account(f"{name}-sa", account_id=f"{name}"[:28])


def service(name: str, envs=(), args=(), commands=()) -> gcp.cloudrunv2.Service:
    return gcp.cloudrunv2.Service(
        name,
        name=name,
        location=REGION,
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        deletion_protection=False,
        labels=LABELS,
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=identity(name).email,
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    image=IMAGE, envs=list(envs), args=list(args), commands=list(commands)
                )
            ],
        ),
    )


def job(name: str, envs=(), args=(), commands=()) -> gcp.cloudrunv2.Job:
    return gcp.cloudrunv2.Job(
        name,
        name=name,
        location=REGION,
        deletion_protection=False,
        labels=LABELS,
        template=gcp.cloudrunv2.JobTemplateArgs(
            template=gcp.cloudrunv2.JobTemplateTemplateArgs(
                service_account=identity(name).email,
                containers=[
                    gcp.cloudrunv2.JobTemplateTemplateContainerArgs(
                        image=IMAGE, envs=list(envs), args=list(args), commands=list(commands)
                    )
                ],
            )
        ),
    )


def env(name: str, value) -> gcp.cloudrunv2.ServiceTemplateContainerEnvArgs:
    return gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=name, value=value)


def job_env(name: str, value) -> gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs:
    return gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs(name=name, value=value)


def vm(name: str, metadata=None, startup=None) -> gcp.compute.Instance:
    # No service account block: the VM runs with no identity (accepted by workload-identity-set).
    return gcp.compute.Instance(
        name,
        machine_type="e2-small",
        zone=ZONE,
        boot_disk=gcp.compute.InstanceBootDiskArgs(
            initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(image="debian-cloud/debian-12")
        ),
        network_interfaces=[gcp.compute.InstanceNetworkInterfaceArgs(network="default")],
        metadata=metadata,
        metadata_startup_script=startup,
    )


def trigger(name: str, build: gcp.cloudbuild.TriggerBuildArgs, substitutions=None) -> gcp.cloudbuild.Trigger:
    return gcp.cloudbuild.Trigger(
        name,
        location="global",
        service_account=identity(name).id,
        trigger_template=gcp.cloudbuild.TriggerTriggerTemplateArgs(branch_name="main", repo_name="app"),
        substitutions=substitutions,
        build=build,
    )


def workflow(name: str, source: str, user_env=None) -> gcp.workflows.Workflow:
    return gcp.workflows.Workflow(
        name,
        region=REGION,
        service_account=identity(name).id,
        labels=LABELS,
        source_contents=source,
        user_env_vars=user_env,
    )


secret = gcp.secretmanager.Secret(
    "db-password", secret_id="db-password", labels=LABELS,
    replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
)  # fmt: skip

# --- rejected ----------------------------------------------------------------------------------------------------

# Container args: a password as the value after its flag; a command running curl with a GitHub token.
service("reject-run-args-password", args=["--db-user", "app", "--db-password", "Tr0ub4dor&3"])
job("reject-job-command-token",
    commands=["sh", "-c", f"curl -fsS -H 'Authorization: token {GITHUB_TOKEN}' https://api.github.com/repos/o/r"])  # fmt: skip
# A Cloud Run job's env: a short human password (no secret shape; its name says what it is).
job("reject-job-env-password", envs=[job_env("DB_PASSWORD", "hunter2!"), job_env("DB_USER", "app")])
# The stack's secret config written into a container argument.
service("reject-secure-config-in-args", args=[pulumi.Output.concat("--api-key=", cfg.require_secret("apiKey"))])
# A generated password (a Pulumi secret output) passed into a plain env var whose name says nothing: only
# preflight's provenance sees that it is a secret.
salt = random.RandomPassword("upstream-salt", length=16, special=False)
service("reject-pulumi-secret-in-env", envs=[env("UPSTREAM_SALT", salt.result), env("PORT_NAME", "http1")])
# Workflows: a user env var holding a Slack token; a source that sends a literal bearer token.
workflow("reject-workflow-env-token", "main:\n  steps:\n  - done:\n      return: ok\n",
         user_env={"SLACK_TOKEN": SLACK_TOKEN, "CHANNEL": "#ops"})  # fmt: skip
workflow(
    "reject-workflow-source-bearer",
    """main:
  steps:
  - call_api:
      call: http.get
      args:
        url: https://api.example.com/v1/items
        headers:
          Authorization: "Bearer 7f2c91d04ab3e865"
      result: items
  - done:
      return: ${items.body}
""",
)
# Cloud Build: a substitution holding a password; a step's env holding an API key; `docker login` with a password.
trigger("reject-build-substitution", gcp.cloudbuild.TriggerBuildArgs(steps=[gcp.cloudbuild.TriggerBuildStepArgs(
    name="gcr.io/cloud-builders/gcloud", args=["sql", "users", "set-password", "app", "--password=$_DB_PASSWORD"])]),
    substitutions={"_DB_PASSWORD": "s3cret-Pa55", "_REGION": REGION})  # fmt: skip
trigger("reject-build-step-env", gcp.cloudbuild.TriggerBuildArgs(steps=[gcp.cloudbuild.TriggerBuildStepArgs(
    name="python:3.12", entrypoint="python", args=["translate.py"], envs=[f"TRANSLATE_API_KEY={API_KEY}"])]))  # fmt: skip
trigger("reject-build-docker-login", gcp.cloudbuild.TriggerBuildArgs(steps=[gcp.cloudbuild.TriggerBuildStepArgs(
    name="gcr.io/cloud-builders/docker",
    args=["login", "--username=ci", "--password=Pa55w0rd!", "registry.example.com"])]))  # fmt: skip
# A scheduler job that sends a literal bearer token instead of its own OIDC token.
gcp.cloudscheduler.Job(
    "reject-scheduler-bearer",
    region=REGION,
    schedule="0 3 * * *",
    http_target=gcp.cloudscheduler.JobHttpTargetArgs(
        uri="https://api.example.com/nightly", http_method="POST",
        headers={"Authorization": "Bearer 5b1e0c7a9d3f4e2b", "Content-Type": "application/json"},
    ),
)  # fmt: skip
# VMs: a startup script that writes a service account key file it carries base64-encoded; metadata holding a
# password; an instance template's cloud-init writing a token into an env file; a Container-Optimized OS
# declaration with a password in the container's env; a project metadata item with a webhook token.
encoded_key = base64.b64encode(SA_KEY_FILE.encode()).decode()
vm("reject-vm-startup-key", startup=f"#!/bin/bash\necho '{encoded_key}' | base64 -d > /etc/app/key.json\n")
vm("reject-vm-metadata-password", metadata={"db-password": "hunter2!", "enable-oslogin": "TRUE"})
gcp.compute.InstanceTemplate(
    "reject-template-user-data",
    machine_type="e2-small",
    disks=[gcp.compute.InstanceTemplateDiskArgs(source_image="cos-cloud/cos-stable", boot=True)],
    network_interfaces=[gcp.compute.InstanceTemplateNetworkInterfaceArgs(network="default")],
    metadata={
        "user-data": "#cloud-config\nwrite_files:\n- path: /etc/app.env\n  content: |\n    API_TOKEN=9c1f5e2a7b\n"
    },
)
vm(
    "reject-container-declaration",
    metadata={
        "gce-container-declaration": """spec:
  containers:
  - name: app
    image: us-docker.pkg.dev/cloudrun/container/hello
    env:
    - name: DB_PASSWORD
      value: correct-horse-battery
    - name: PORT
      value: "8080"
  restartPolicy: Always
"""
    },
)
gcp.compute.ProjectMetadataItem("reject-project-metadata-token", key="deploy-webhook-token", value="wh_4f9a1c2e8b")
# A public program's shape: the data of a secret version copied into the VM's metadata for a container's env file.
# Its key and value say nothing; the program sends it as a Pulumi secret (the version's data is one).
env_token = random.RandomPassword("app-env-token", length=20, special=False)
env_file = gcp.secretmanager.SecretVersion("app-env", secret=secret.id, secret_data=env_token.result)
vm("reject-vm-metadata-from-secret-version", metadata={"env": env_file.secret_data},
   startup="docker run --env-file=/run/secrets/env -p 3000:3000 gcr.io/si-pack-1234/api:1")  # fmt: skip

# --- accepted ----------------------------------------------------------------------------------------------------

# A service whose credential-named variables hold what such a variable may hold: a Secret Manager reference, a
# number, a URL, a resource name, a header name, a cache key, a duration, a flag, an empty value, a public key,
# a database URL whose password is a reference, and the name of a secret taken from the Secret resource.
service(
    "accept-run-references",
    envs=[
        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(
            name="DB_PASSWORD",
            value_source=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                secret_key_ref=gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                    secret=secret.secret_id, version="latest"
                )
            ),
        ),
        env("PASSWORD_MIN_LENGTH", "12"),
        env("TOKEN_AUDIENCE", "https://worker-abc123-uc.a.run.app"),
        env("OAUTH_TOKEN_URL", "https://oauth2.googleapis.com/token"),
        env("SECRET_NAME", "projects/si-pack-1234/secrets/upstream-api-key/versions/latest"),
        env("KMS_KEY_NAME", "projects/si-pack-1234/locations/us/keyRings/app/cryptoKeys/data"),
        env("API_KEY_HEADER", "X-Api-Key"),
        env("CACHE_KEY", "v2"),
        env("SESSION_TOKEN_TTL", "30m"),
        env("ENABLE_TOKEN_AUTH", "true"),
        env("SMTP_PASSWORD", ""),
        env("DEPLOY_PUBLIC_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJm0Zx8yQ2r3s4t5u6v7w8x9y0z1A2B3C4D5E6F7G8H9 ci"),
        env("DATABASE_URL", "postgres://app:${DB_PASSWORD}@/app?host=/cloudsql/si-pack-1234:us-central1:db"),
        env("DB_PASSWORD_SECRET", secret.secret_id),
        env("GOOGLE_APPLICATION_CREDENTIALS", "/var/run/secrets/workload/config.json"),
        env("REGION", cfg.require("region")),
    ],
    args=["--port=8080", "--db-password-file=/secrets/db/password", "--token-audience", "https://api.example.com"],
)
job("accept-job-reads-secret-at-run-time",
    commands=["sh", "-c", 'export API_TOKEN="$(cat /secrets/api/token)" && exec /app/run --max-tokens=4096'])  # fmt: skip
# Workflows: the Secret Manager connector, then a bearer token built from what it read.
workflow("accept-workflow-connector", """main:
  steps:
  - get_token:
      call: googleapis.secretmanager.v1.projects.secrets.versions.accessString
      args:
        secret_id: api-token
      result: token
  - call_api:
      call: http.get
      args:
        url: https://api.example.com/v1/items
        headers:
          Authorization: ${"Bearer " + token}
      result: items
  - done:
      return: ${items.body}
""", user_env={"SECRET_NAME": "api-token", "TOKEN_AUDIENCE": "https://api.example.com"})  # fmt: skip
# Cloud Build as Google documents it: availableSecrets, the step's secretEnv, $$NAME in the script; a KMS
# ciphertext (build.secrets) is encrypted, not a credential in plain text.
trigger("accept-build-available-secrets", gcp.cloudbuild.TriggerBuildArgs(
    steps=[gcp.cloudbuild.TriggerBuildStepArgs(
        name="gcr.io/cloud-builders/docker", entrypoint="bash",
        args=["-c", "docker login --username=$$USERNAME --password=$$PASSWORD registry.example.com"],
        secret_envs=["USERNAME", "PASSWORD"], envs=["TOKEN_TTL=3600", "DOCKER_BUILDKIT=1"])],
    available_secrets=gcp.cloudbuild.TriggerBuildAvailableSecretsArgs(secret_managers=[
        gcp.cloudbuild.TriggerBuildAvailableSecretsSecretManagerArgs(
            env="PASSWORD", version_name="projects/si-pack-1234/secrets/registry-password/versions/latest"),
        gcp.cloudbuild.TriggerBuildAvailableSecretsSecretManagerArgs(
            env="USERNAME", version_name="projects/si-pack-1234/secrets/registry-user/versions/latest")]),
    secrets=[gcp.cloudbuild.TriggerBuildSecretArgs(
        kms_key_name="projects/si-pack-1234/locations/global/keyRings/ci/cryptoKeys/build",
        secret_env={"NPM_TOKEN": "CiQAz8vN3Qm5x2Rr0k1LwT7pYbGdHfJ4sUeVaWcXiZoKlMnBqEgSAOh8dK3FjP9vY2wT"})]),
    substitutions={"_REGION": REGION, "_DB_PASSWORD_SECRET": "projects/si-pack-1234/secrets/db-password"})  # fmt: skip
# A scheduler job that authenticates as its own account.
gcp.cloudscheduler.Job(
    "accept-scheduler-oidc",
    region=REGION,
    schedule="0 3 * * *",
    http_target=gcp.cloudscheduler.JobHttpTargetArgs(
        uri="https://worker-abc123-uc.a.run.app/nightly", http_method="POST",
        headers={"Content-Type": "application/json"},
        body=base64.b64encode(json.dumps({"mode": "full", "token_ttl": 3600}).encode()).decode(),
        oidc_token=gcp.cloudscheduler.JobHttpTargetOidcTokenArgs(
            service_account_email=identity("nightly").email, audience="https://worker-abc123-uc.a.run.app"),
    ),
)  # fmt: skip
# A VM that reads its password from Secret Manager at boot, checks a download's digest and carries a public SSH key.
vm("accept-vm-secret-at-boot", metadata={
    "ssh-keys": "alice:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJm0Zx8yQ2r3s4t5u6v7w8x9y0z1A2B3C4D5E6F7G8H9 alice",
    "block-project-ssh-keys": "true", "enable-oslogin": "TRUE",
    "gce-container-declaration": "spec:\n  containers:\n  - name: app\n    image: gcr.io/p/app\n    env:\n"
                                 "    - name: DB_PASSWORD_FILE\n      value: /run/secrets/db\n"},
   startup="""#!/bin/bash
set -euo pipefail
DB_PASSWORD="$(gcloud secrets versions access latest --secret=db-password)"
curl -fsSLo /tmp/agent.tgz https://example.com/agent.tgz
echo "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  /tmp/agent.tgz" | sha256sum -c -
/opt/app/start --db-password-env DB_PASSWORD
""")  # fmt: skip
gcp.compute.ProjectMetadataItem("accept-project-metadata-flag", key="enable-oslogin", value="TRUE")
