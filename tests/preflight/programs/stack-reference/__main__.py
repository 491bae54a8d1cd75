import pulumi
import pulumi_gcp as gcp

network = pulumi.StackReference("acme/network/prod")
subnet = network.get_output("subnet")

service = gcp.cloudrunv2.Service(
    "api",
    location="europe-west1",
    deletion_protection=False,
    template={
        "containers": [{"image": "europe-docker.pkg.dev/app/api/api:1"}],
        "vpc_access": {"network_interfaces": [{"subnetwork": subnet}], "egress": "ALL_TRAFFIC"},
    },
)
pulumi.export("subnet", subnet)
pulumi.export("range", network.require_output("vpc_connector_range"))
