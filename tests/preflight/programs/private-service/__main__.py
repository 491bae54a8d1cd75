import pulumi
import pulumi_gcp as gcp

runtime = gcp.serviceaccount.Account("worker-runtime", account_id="worker-runtime")
service = gcp.cloudrunv2.Service(
    "worker",
    location="europe-west1",
    labels={"app": "worker"},
    deletion_protection=False,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    template={
        "service_account": runtime.email,
        "containers": [{"image": "europe-docker.pkg.dev/p/r/worker@sha256:" + "0" * 64}],
    },
)
pulumi.export("url", service.uri)
