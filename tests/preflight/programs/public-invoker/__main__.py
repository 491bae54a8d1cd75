import pulumi_gcp as gcp

runtime = gcp.serviceaccount.Account("worker-runtime", account_id="worker-runtime")
service = gcp.cloudrunv2.Service(
    "worker",
    location="europe-west1",
    labels={"app": "worker"},
    deletion_protection=False,
    template={
        "service_account": runtime.email,
        "containers": [{"image": "europe-docker.pkg.dev/p/r/worker@sha256:" + "0" * 64}],
    },
)
gcp.cloudrunv2.ServiceIamMember(
    "public", name=service.name, location=service.location, role="roles/run.invoker", member="allUsers"
)
