"""Default identities outside Cloud Run and functions, as public programs use them (rejected), next to
dedicated node and VM accounts (accepted)."""

import pulumi_gcp as gcp

DEFAULT = "123456789012-compute@developer.gserviceaccount.com"
FULL = ["https://www.googleapis.com/auth/cloud-platform"]
IMAGE = gcp.compute.InstanceBootDiskArgs(
    initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(image="debian-cloud/debian-12")
)
NIC = [gcp.compute.InstanceNetworkInterfaceArgs(network="default")]
nodes = gcp.serviceaccount.Account("nodes", account_id="gke-nodes")
vm_sa = gcp.serviceaccount.Account("vm", account_id="vm-runtime")

# rejected
gcp.compute.Instance("reject-vm-default", machine_type="e2-small", zone="us-central1-a", boot_disk=IMAGE,
                     network_interfaces=NIC, service_account=gcp.compute.InstanceServiceAccountArgs(scopes=FULL))  # fmt: skip
gcp.container.Cluster("reject-cluster-default", location="us-central1", initial_node_count=1,
                      node_config=gcp.container.ClusterNodeConfigArgs(oauth_scopes=FULL))  # fmt: skip
gcp.projects.IAMMember("reject-grant-to-default", project="si-pack-1234", role="roles/logging.logWriter",
                       member=f"serviceAccount:{DEFAULT}")  # fmt: skip

# accepted
gcp.compute.Instance("accept-vm-own", machine_type="e2-small", zone="us-central1-a", boot_disk=IMAGE,
                     network_interfaces=NIC,
                     service_account=gcp.compute.InstanceServiceAccountArgs(email=vm_sa.email, scopes=FULL))  # fmt: skip
gcp.compute.Instance("accept-vm-no-identity", machine_type="e2-small", zone="us-central1-a", boot_disk=IMAGE,
                     network_interfaces=NIC)  # fmt: skip
cluster = gcp.container.Cluster("accept-cluster", location="us-central1", initial_node_count=1,
                                remove_default_node_pool=True)  # fmt: skip
gcp.container.NodePool("accept-pool", cluster=cluster.id, node_count=1,
                       node_config=gcp.container.NodePoolNodeConfigArgs(service_account=nodes.email, oauth_scopes=FULL))  # fmt: skip
gcp.projects.IAMMember("accept-node-logs", project="si-pack-1234", role="roles/logging.logWriter", member=nodes.member)
