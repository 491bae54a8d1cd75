"""Every way a program opens a resource to anyone — allUsers, allAuthenticatedUsers and
principalSet://goog/public:all in a member, a binding or a policy, and a Cloud Run service without its invoker
check (rejected) — next to the same resources granted to one identity (accepted). The report must show each
rejected grant as public and nothing else (tests/preflight/test_iam_picture.py)."""

import json

import pulumi_gcp as gcp

LABELS = {"app": "t"}
IMAGE = "us-docker.pkg.dev/si-pack-1234/images/api@sha256:" + "0" * 64

reader = gcp.serviceaccount.Account("accept-reader", account_id="reader")

bucket = gcp.storage.Bucket(
    "accept-assets", location="US", uniform_bucket_level_access=True, public_access_prevention="enforced",
    labels=LABELS,
)  # fmt: skip
gcp.storage.BucketIAMMember("reject-all-users", bucket=bucket.name, role="roles/storage.objectViewer",
                            member="allUsers")  # fmt: skip
gcp.storage.BucketIAMBinding("reject-all-authenticated", bucket=bucket.name, role="roles/storage.objectViewer",
                             members=[reader.member, "allAuthenticatedUsers"])  # fmt: skip
gcp.storage.BucketIAMMember("accept-one-reader", bucket=bucket.name, role="roles/storage.objectViewer",
                            member=reader.member)  # fmt: skip

topic = gcp.pubsub.Topic("accept-events", labels=LABELS)
gcp.pubsub.TopicIAMMember("reject-public-principal-set", topic=topic.name, role="roles/pubsub.subscriber",
                          member="principalSet://goog/public:all")  # fmt: skip

secret = gcp.secretmanager.Secret("accept-token", secret_id="token", labels=LABELS, replication={"auto": {}})


def _policy(member: str) -> str:
    role = "roles/secretmanager.secretAccessor"
    return json.dumps({"bindings": [{"role": role, "members": [member, "principalSet://goog/public:all"]}]})


gcp.secretmanager.SecretIamPolicy(
    "reject-public-in-policy", secret_id=secret.secret_id, policy_data=reader.member.apply(_policy)
)


def service(name: str, open_to_all: bool) -> gcp.cloudrunv2.Service:
    runner = gcp.serviceaccount.Account(f"accept-{name}-runner", account_id=f"{name[:20]}-run")
    return gcp.cloudrunv2.Service(
        name,
        location="us-central1",
        labels=LABELS,
        deletion_protection=False,
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        invoker_iam_disabled=open_to_all,
        template={"service_account": runner.email, "containers": [{"image": IMAGE}]},
    )


service("reject-invoker-check-off", open_to_all=True)
service("accept-invoker-check-on", open_to_all=False)
