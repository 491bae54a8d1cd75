import pulumi_gcp as gcp

shared = gcp.serviceaccount.Account("shared", account_id="shared-runtime")
for name in ("api", "jobs"):
    gcp.cloudrunv2.Service(
        name,
        location="europe-west1",
        labels={"app": name},
        deletion_protection=False,
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        template={
            "service_account": shared.email,
            "containers": [{"image": "europe-docker.pkg.dev/p/r/x@sha256:" + "1" * 64}],
        },
    )
