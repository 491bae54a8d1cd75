"""What a deployer must be able to do, one shape per `case`: a plain bucket, and the deploy preconditions Google
enforces — each with the fix that satisfies it and the variant that does not.

- `bucket`: one bucket (storage.admin is all it needs);
- `secret-env` / `secret-env-version` / `secret-env-version-unordered` / `secret-file`: a Cloud Run service reading
  a secret this program creates, as an environment variable (with no version, with one it depends on, with one it
  does not wait for) or as a mounted file;
- `build-no-wait` / `build-wait` / `build-short-wait`: a gen2 function whose build account gets a grant in the
  same update, created right after it, after a 60 s sleep that follows the grant, or after a 10 s one.
"""

import pulumi
import pulumi_gcp as gcp

case = pulumi.Config().require("case")
project = "pf-deployer"
image = "europe-docker.pkg.dev/pf-deployer/images/app@sha256:" + "0" * 64

gcp.storage.Bucket("data", name="pf-deployer-data", location="EU", uniform_bucket_level_access=True)
# As most programs do: the project's number (a preview makes this call too).
pulumi.export("project_number", gcp.organizations.get_project().number)

if case.startswith("secret-"):
    runtime = gcp.serviceaccount.Account("runtime", account_id="app-runtime")
    secret = gcp.secretmanager.Secret("api-key", secret_id="api-key", replication={"auto": {}})
    depends: list[pulumi.Resource] = []
    if case in ("secret-env-version", "secret-env-version-unordered"):
        version = gcp.secretmanager.SecretVersion("api-key-v1", secret=secret.id, secret_data="placeholder")
        if case == "secret-env-version":
            depends.append(version)
    container: dict = {"image": image}
    template: dict = {"service_account": runtime.email, "containers": [container]}
    if case == "secret-file":
        container["volume_mounts"] = [{"name": "key", "mount_path": "/secrets/key"}]
        template["volumes"] = [
            {"name": "key", "secret": {"secret": secret.secret_id, "items": [{"path": "value", "version": "latest"}]}}
        ]
    else:
        container["envs"] = [
            {"name": "API_KEY", "value_source": {"secret_key_ref": {"secret": secret.secret_id, "version": "latest"}}}
        ]
    gcp.cloudrunv2.Service(
        "app",
        location="europe-west1",
        deletion_protection=False,
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        template=template,
        opts=pulumi.ResourceOptions(depends_on=depends),
    )

if case.startswith("build-"):
    runtime = gcp.serviceaccount.Account("runtime", account_id="fn-runtime")
    build = gcp.serviceaccount.Account("build", account_id="fn-build")
    log_writer = gcp.projects.IAMMember(
        "build-log-writer", project=project, role="roles/logging.logWriter", member=build.member
    )
    waits: list[pulumi.Resource] = [log_writer]
    if case in ("build-wait", "build-short-wait"):
        duration = "60s" if case == "build-wait" else "10s"
        # pulumiverse-time's Sleep, registered by its type token (the SDK need not be installed for this fixture).
        waits.append(
            pulumi.CustomResource(
                "time:index/sleep:Sleep",
                "build-grants-propagation",
                {"createDuration": duration},
                opts=pulumi.ResourceOptions(depends_on=[log_writer]),
            )
        )
    source = gcp.storage.BucketObject("source", bucket="pf-deployer-data", name="fn.zip", content="placeholder")
    gcp.cloudfunctionsv2.Function(
        "fn",
        location="europe-west1",
        build_config={
            "runtime": "python312",
            "entry_point": "main",
            "service_account": build.id,
            "source": {"storage_source": {"bucket": "pf-deployer-data", "object": source.name}},
        },
        service_config={"service_account_email": runtime.email, "ingress_settings": "ALLOW_INTERNAL_ONLY"},
        opts=pulumi.ResourceOptions(depends_on=waits),
    )
