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

# More workloads that fall back to a default account: rejected unset, accepted with their own account.
gcp.workflows.Workflow("reject-workflow-default", region="us-central1", deletion_protection=False,
                       source_contents="main:\n  steps:\n  - done:\n      return: ok\n")  # fmt: skip
wf = gcp.serviceaccount.Account("wf", account_id="wf-runtime")
gcp.workflows.Workflow("accept-workflow-own", region="us-central1", deletion_protection=False, service_account=wf.id,
                       source_contents="main:\n  steps:\n  - done:\n      return: ok\n")  # fmt: skip
gcp.dataflow.Job("reject-dataflow-default", template_gcs_path="gs://dataflow-templates/latest/Word_Count",
                 temp_gcs_location="gs://tmp-bucket/tmp", region="us-central1")  # fmt: skip
dataproc_sa = gcp.serviceaccount.Account("dataproc", account_id="dataproc-workers")
gcp.dataproc.Cluster(
    "accept-dataproc-own", region="us-central1",
    cluster_config=gcp.dataproc.ClusterClusterConfigArgs(
        gce_cluster_config=gcp.dataproc.ClusterClusterConfigGceClusterConfigArgs(service_account=dataproc_sa.email)),
)  # fmt: skip

# Inline node pools with their own account: no default pool exists, the pools are judged.
gcp.container.Cluster(
    "accept-cluster-inline-pools", location="us-central1", deletion_protection=False,
    node_pools=[gcp.container.ClusterNodePoolArgs(
        name="main", initial_node_count=1,
        node_config=gcp.container.ClusterNodePoolNodeConfigArgs(service_account=nodes.email, oauth_scopes=FULL))],
)  # fmt: skip

# Acting as the default account on the account itself.
gcp.serviceaccount.IAMMember("reject-act-as-default", service_account_id=f"projects/si-pack-1234/serviceAccounts/{DEFAULT}",
                             role="roles/iam.serviceAccountUser", member=vm_sa.member)  # fmt: skip
