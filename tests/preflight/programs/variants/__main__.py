"""A private Cloud Run service that passes the pack, plus one offending change chosen by `case`.

Each case is a real program run through `python -m secure_invoke.preflight --set case=<case>`; `none` is the accept case.
"""

import pulumi
import pulumi_gcp as gcp

case = pulumi.Config().require("case")
project = "pf-variants"
image = "europe-docker.pkg.dev/pf-variants/images/worker@sha256:" + "0" * 64

runtime = gcp.serviceaccount.Account("worker-runtime", account_id="worker-runtime")
envs = [{"name": "LOG_LEVEL", "value": "info"}]
if case == "plaintext-secret":
    envs.append({"name": "UPSTREAM", "value": "AIza" + "SyD3x9Q2mVb7LkP0wZr5TnC8uHf1JgE4aYo"})
template = {"containers": [{"image": image, "envs": envs}]}
if case != "no-identity":
    template["service_account"] = runtime.email
service = gcp.cloudrunv2.Service(
    "worker",
    location="europe-west1",
    labels={"app": "worker"},
    deletion_protection=False,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    invoker_iam_disabled=case == "invoker-check-off",
    template=template,
)

if case == "public-acl":
    gcp.storage.BucketAccessControl("public-read", bucket="pf-variants-assets", entity="allUsers", role="READER")
if case == "domain-member":
    topic = gcp.pubsub.Topic("events", labels={"app": "worker"})
    gcp.pubsub.TopicIAMMember(
        "domain-subscribers", topic=topic.name, role="roles/pubsub.subscriber", member="domain:example.com"
    )
if case == "hmac-key":
    gcp.storage.HmacKey("legacy-hmac", service_account_email=runtime.email)
if case == "unrestricted-api-key":
    gcp.projects.ApiKey("maps", name="maps-key", display_name="maps")
if case == "project-invoker":
    gcp.projects.IAMMember("project-wide-invoker", project=project, role="roles/run.invoker", member=runtime.member)
if case == "key-minting":
    gcp.serviceaccount.IAMMember(
        "key-admin",
        service_account_id=runtime.name,
        role="roles/iam.serviceAccountKeyAdmin",
        member="group:ops@example.com",
    )
if case == "privileged-custom-role":
    gcp.projects.IAMCustomRole(
        "deployer",
        role_id="deployer",
        title="Deployer",
        project=project,
        permissions=["run.services.get", "iam.serviceAccounts.actAs"],
    )
if case == "unintended-invoker":
    # The service's own identity: an identity of this stack that does not call the service. (An account the
    # stack merely creates could be a caller elsewhere: the pack notes that as advisory only.)
    gcp.cloudrunv2.ServiceIamMember(
        "stranger-invoker",
        name=service.name,
        location=service.location,
        role="roles/run.invoker",
        member=runtime.member,
    )

pulumi.export("url", service.uri)
