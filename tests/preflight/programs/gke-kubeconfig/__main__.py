"""An autonamed cluster (no `name=`) and a kubeconfig built from its endpoint and CA certificate."""

import base64

import pulumi
import pulumi_gcp as gcp

nodes = gcp.serviceaccount.Account("gke-nodes", account_id="gke-nodes")
cluster = gcp.container.Cluster(
    "primary",
    location="europe-west1-b",
    initial_node_count=1,
    deletion_protection=False,
    node_config={"machine_type": "e2-small", "service_account": nodes.email},
)


def kubeconfig(args: list) -> str:
    name, endpoint, auth = args
    # Inside Output.all the output type arrives as a dict, as in a real run. A wrong shape fails here.
    pem = base64.b64decode(auth["cluster_ca_certificate"]).decode()
    if not pem.startswith("-----BEGIN CERTIFICATE-----"):
        raise ValueError("cluster_ca_certificate is not a base64 PEM certificate")
    return "\n".join(
        [
            "apiVersion: v1",
            "clusters:",
            f"- cluster: {{certificate-authority-data: {auth['cluster_ca_certificate']}, server: https://{endpoint}}}",
            f"  name: {name}",
            "kind: Config",
        ]
    )


config = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth).apply(kubeconfig)
pulumi.export("cluster_name", cluster.name)
pulumi.export("endpoint", cluster.endpoint)
pulumi.export("kubeconfig", pulumi.Output.secret(config))
