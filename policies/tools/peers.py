"""The peer checks the pack is compared with — checkov's and trivy-checks' GCP checks (`peer_checks.json`, read
from their repositories by `peer_checks.py`), the GCP policies of Pulumi's pre-built compliance packs, and the CIS
Google Cloud Platform Foundation Benchmark items the pack's policies name — each in scope or out of scope with the
reason. Which policy covers an in-scope check is declared once, by the policy (`Spec.peers` in
`guardrails/pack.py`); an in-scope check no policy covers is a gap, listed here with what it asks. policies/README.md's
peer tables are generated from this (`make docs`) and tests/policies/test_peers.py holds the two to each other."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from secure_invoke.policies.guardrails.pack import SPECS
from secure_invoke.policies.tools.peer_checks import load

__all__ = [
    "CATALOGUE",
    "CIS_ITEMS",
    "GAPS",
    "NOTES",
    "PEERS",
    "PULUMI_PACKS",
    "REASONS",
    "PeerCheck",
    "covered_by",
    "out_of_scope",
]


@dataclass(frozen=True)
class PeerCheck:
    id: str  # CKV_GCP_28, AVD-GCP-0001, pulumi:iam-no-broad-roles, CIS GCP 1.4
    peer: str  # a key of PEERS
    title: str
    reason: str | None  # a key of REASONS when out of scope; None when in scope


# --- why a check is out of this pack's scope ---------------------------------------------------------------------

REASONS: Final[dict[str, str]] = {
    "network": "reachability, not identity: firewalls, routes, subnets, load balancers, Cloud Armor, DNS, public IPs "
    "and private endpoints of VMs, clusters, databases and data services (a Cloud Run service or function open to "
    "all traffic is `ingress-restricted`'s note)",
    "encryption": "encryption of data at rest or in transit (CMEK/CSEK, TLS, SSL policies, certificates, HTTPS "
    "triggers): who holds a key's IAM and how often it rotates are in scope, which data uses which key is not",
    "logging": "observability: logging, monitoring, flow logs, sinks, retention, Security Command Center, scanners, "
    "and which Data Access audit logs to pay for (an audit config that exempts members, or an authoritative policy "
    "that drops IAM's, is `audit-logs-kept`'s)",
    "resilience": "availability and data lifecycle: backups, versioning, replication, high availability, deletion "
    "protection, retries, dead-letter queues, retention and lifecycle rules",
    "gke": "GKE cluster and node hardening (node images, shielded and private nodes, network policy, legacy ABAC, "
    "metadata concealment, release channels, Binary Authorization): the identities GKE nodes run as are "
    "`workload-identity-set`'s, and who may start pods is judged by role power",
    "vm": "VM and OS hardening: OS Login, project-wide SSH keys, serial ports, IP forwarding, Shielded VM, OS Config "
    "patching (the account a VM runs as is `workload-identity-set`'s)",
    "database": "database engines and their own users: Cloud SQL flags, versions and networks, database users and "
    "password policies, IAM database authentication, Redis AUTH (a literal database password is a credential, in "
    "scope)",
    "people": "how people sign in and are organised (2-step verification, groups instead of direct grants, Kerberos, "
    "Kubernetes RBAC groups): the pack lets a person hold a role directly and judges what it can do and for how long "
    "(`human-access-expires`, scope rules)",
    "inventory": "inventory and configuration hygiene: naming, documentation, labels outside workloads and data "
    "resources, runtime versions, environment separation, unused resources, capacity and timeouts",
    "supply-chain": "the software supply chain: image immutability, vulnerability scanning, build sources",
    "no-identity-preferred": "asks every VM to carry a service account; a VM without one holds no Google "
    "credentials, which this pack prefers (`workload-identity-set` judges the account a VM does have)",
}

# --- checkov and trivy-checks: every GCP check by reason, by number ------------------------------------------------


def _ids(prefix: str, numbers: Iterable[int], width: int = 0) -> list[str]:
    return [f"{prefix}{n:0{width}d}" for n in numbers]


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CHECKOV_REASONS: Final[dict[str, list[str]]] = {
    "network": _ids("CKV_GCP_", (2, 3, 11, 16, 17, 18, 20, 25, 26, 27, 40, 60, 64, 73, 74, 75, 76, 77, 86, 87, 88))
    + _ids("CKV_GCP_", (89, 94, 103, 106))
    + _ids("CKV2_GCP_", (2, 12, 18, 28, 32, 33, 34, 36, 37, 38)),
    "encryption": _ids("CKV_GCP_", (4, 6, 37, 38, 80, 81, 83, 84, 85, 90, 91, 92, 93, 96, 97))
    + _ids("CKV2_GCP_", (10, 21, 22, 23, 24, 25, 26, 27, 35)),
    "logging": _ids("CKV_GCP_", (1, 8, 51, 52, 53, 54, 55, 56, 57, 61, 62, 63, 104, 105, 108, 109, 110, 111))
    + _ids("CKV2_GCP_", (4, 13, 14, 15, 16, 17, 29, 30, 31)),
    "resilience": _ids("CKV_GCP_", (14, 78, 82, 119, 120, 121, 122)) + _ids("CKV2_GCP_", (20,)),
    "gke": _ids("CKV_GCP_", (7, 9, 10, 12, 21, 22, 23, 24, 66, 68, 69, 70, 71, 72, 123)) + _ids("CKV2_GCP_", (19,)),
    "vm": _ids("CKV_GCP_", (32, 33, 34, 35, 36, 39, 126, 127)),
    "database": _ids("CKV_GCP_", (50, 58, 59, 79, 95)) + _ids("CKV2_GCP_", (7,)),
    "people": _ids("CKV_GCP_", (65,)),
    "supply-chain": _ids("CKV2_GCP_", (11,)),
}

TRIVY_REASONS: Final[dict[str, list[str]]] = {
    "network": _ids("AVD-GCP-", (10, 12, 13, 17, 27, 31, 35, 53, 59, 61, 70, 71, 72, 73, 74, 75), 4),
    "encryption": _ids("AVD-GCP-", (15, 33, 34, 39, 66), 4),
    "logging": _ids("AVD-GCP-", (14, 16, 18, 20, 21, 22, 25, 29, 52, 60, 76, 77), 4),
    "resilience": _ids("AVD-GCP-", (24, 78), 4),
    "gke": _ids("AVD-GCP-", (48, 49, 54, 55, 56, 57, 58, 62, 63), 4),
    "vm": _ids("AVD-GCP-", (30, 32, 36, 41, 42, 43, 45, 67), 4),
    "database": _ids("AVD-GCP-", (19, 23, 26), 4),
    "people": _ids("AVD-GCP-", (3,), 4),
    "inventory": _ids("AVD-GCP-", (51,), 4),
}

# --- Pulumi's pre-built packs: their GCP policies, as each pack's reference page lists them -------------------------

PULUMI_SOURCE: Final = "pulumi/docs content/docs/reference/pre-built-policy-packs/<pack>/google-cloud.md"
PULUMI_PACKS: Final[dict[str, tuple[str, str]]] = {
    # pack: (framework and version, the pulumi/docs commit its page was read at)
    "cis": ("CIS 8.1", "b610307ff2a0"),
    "nist": ("NIST SP 800-53", "819bc87f56d0"),
    "hitrust": ("HITRUST CSF 11.5", "a0a009989589"),
    "iso-27001": ("ISO/IEC 27001:2022", "f819b563da3a"),
    "pci-dss": ("PCI DSS v4.0.1", "f819b563da3a"),
}
# Out of scope, by reason; every other policy of the packs is in scope (PULUMI_IN_SCOPE).
PULUMI_REASONS: Final[dict[str, tuple[str, ...]]] = {
    "network": _names(
        """
        vpc-external-ip-associated vpc-firewall-rule-unused vpc-firewall-rule-associated-to-network
        managed-instance-group-launch-template-public-ip-disabled database-migration-service-not-publicly-accessible
        compute-engine-instance-in-vpc compute-engine-instance-not-publicly-accessible
        gke-cluster-endpoint-restrict-public-access dataproc-cluster-master-nodes-no-public-ip
        cloud-sql-instance-not-publicly-accessible elasticsearch-in-vpc-only cloud-functions-inside-vpc
        ai-platform-notebook-no-direct-internet-access subnet-auto-assign-external-ip-disabled
        no-unrestricted-route-to-internet-gateway vpc-firewall-rule-restrict-ingress-ssh-all restricted-ssh
        load-balancer-cross-region-load-balancing-enabled load-balancer-cloud-armor-enabled
        firewall-restrict-rdp-ingress firewall-restrict-ssh-ingress gke-nodes-private lb-connection-draining
        cloud-cdn-armor cloudsql-authorized-networks-restricted firewall-no-http-ingress firewall-no-public-ingress
        firewall-strict gke-private-endpoint lb-cloud-armor-attached private-service-connect
        securitypolicy-has-custom-rules gke-private-endpoints firewall-ssh-rdp cloudsql-private-ip
        compute-no-public-ip instance-template-no-public-ip cloud-armor database-network-access
        firewall-explicit-direction firewall-explicit-target-scoping firewall-no-unrestricted-egress
        subnet-private-google-access lb-external-managed-scheme lb-forwarding-rule-target-configured
        cloud-sql-enhanced-networking-enabled
        """
    ),
    "encryption": _names(
        """
        load-balancer-http-to-https-redirection load-balancer-managed-ssl-certificate
        load-balancer-tls-https-listeners-only application-load-balancer-managed-ssl-certificate
        cloud-storage-bucket-ssl-requests-only ai-platform-endpoint-configuration-kms-key-configured
        ai-platform-notebook-instance-kms-key-configured secret-manager-using-cmek
        cloud-storage-bucket-encryption-enabled pubsub-encrypted-kms bigquery-dataset-encryption-enabled
        cloud-logging-encrypted persistent-disk-encrypted cloud-filestore-encrypted-check
        elasticsearch-encrypted-at-rest cloud-sql-storage-encrypted cloud-storage-default-encryption-kms
        persistent-disk-attached-encryption-enabled cloud-storage-bucket-default-encryption-enabled
        certificate-manager-certificate-lifecycle-management kms-key-configuration artifactregistry-customer-kms
        bigquery-dataset-cmek bigquery-table-cmek bucket-cmek cloudfunctions-kms-env-vars dataflow-kms
        filestore-cmek compute-instance-encrypted-attached-disk compute-instance-encrypted-boot-disk
        gke-secrets-encryption instance-template-disk-cmek persistent-disk-cmek secretmanager-secret-cmek
        cloud-cdn-origin-tls cloudsql-ssl lb-managed-ssl-certificate instance-template-encrypted-disk
        instance-template-encrypted-boot-disk bucket-customer-managed-kms pubsub-encryption
        persistent-disk-customer-kms bigquery-dataset-kms load-balancer-tls instance-template-customer-kms
        filestore-customer-kms secretmanager-customer-kms
        """
    ),
    "logging": _names(
        """
        security-command-center-enabled cloud-logging-retention-period-365
        compute-engine-instance-detailed-monitoring-enabled elasticsearch-logs-to-cloud-logging
        load-balancer-logging-enabled cloud-sql-logging-enabled cloud-storage-bucket-logging-enabled
        bigquery-audit-logging-enabled cloud-armor-logging-enabled cloud-security-scanner-enabled
        api-gateway-logging-configuration cloud-audit-logs-cloud-logging-enabled cloud-cdn-logging-enabled
        vpc-flow-logs-enabled cloud-armor-security-policy-logging-enabled cloud-audit-logs-security-trail-enabled
        cloud-audit-logs-multi-region-trail-enabled cloud-audit-logs-integrity-monitoring-enabled
        cloud-audit-logs-data-access-events-enabled audit-logs-sink-enabled bigtable-change-streams
        bucket-access-logging cloud-armor-logging cloud-build-logging cloudfunctions-logging
        load-balancer-health-checks subnetwork-flow-logs load-balancer-logging compute-osconfig-vulnerability
        """
    ),
    "resilience": _names(
        """
        kms-key-not-scheduled-for-deletion managed-instance-group-load-balancer-healthcheck-required
        cloud-storage-bucket-versioning-enabled cloud-sql-instance-backup-enabled cloud-firestore-in-backup-plan
        persistent-disk-in-backup-plan cloud-storage-bucket-cross-region-replication-enabled
        compute-engine-optimized-instance cloud-firestore-pitr-enabled cloud-sql-backup-enabled
        cloud-firestore-autoscaling-enabled load-balancer-deletion-protection-enabled
        cloud-sql-instance-deletion-protection-enabled cloud-sql-multi-region-support pubsub-message-retention
        pubsub-dead-letter-queue cloud-sql-high-availability load-balancer-multi-zone bucket-soft-delete-retention
        cloudsql-backup firestore-pitr bucket-multi-region bucket-lifecycle kms-key-lifecycle
        cloud-tasks-retry-configuration bucket-versioning cloudsql-high-availability
        cloud-sql-deletion-protection-required firestore-deletion-protection instance-backup-labeling
        instance-deletion-protection instance-persistent-boot-disk firestore-multi-region-location
        instance-availability-scheduling lb-backend-redundancy
        """
    ),
    "vm": _names(
        """
        compute-engine-os-config-compliance-association-compliant compute-engine-instance-uses-os-login
        compute-engine-os-config-compliance-patch-compliant compute-engine-instance-os-config-managed
        os-config-patch-coverage os-config-patch-deployment-configuration os-config-guest-policy-configuration
        """
    ),
    "database": _names(
        """
        cloud-sql-password-policy-enabled cloud-sql-restricted-usernames cloud-sql-iam-authentication
        cloudsql-patching firestore-native-concurrency-mode
        """
    ),
    "people": _names(
        """
        iam-user-no-direct-policies-check dataproc-kerberos-enabled
        """
    ),
    "inventory": _names(
        """
        compute-engine-instance-proper-configuration app-engine-managed-updates-enabled
        cloud-functions-concurrency-check project-part-of-organization bigquery-maintenance-settings-check
        persistent-disk-unused service-account-restricted-names single-environment-stack
        cloudfunctions-documentation cloudfunctions-execution-time cloudfunctions-runtime-versions
        cloud-sql-ownership-label bucket-dlp-access
        """
    ),
    "supply-chain": _names(
        """
        cloud-build-trigger-source-repo-url-check artifactregistry-immutable-images
        """
    ),
    "no-identity-preferred": _names(
        """
        compute-engine-instance-service-account-attached
        """
    ),
}
PULUMI_IN_SCOPE: Final[dict[str, str]] = {
    "iam-no-broad-roles": "Prohibit overly broad IAM roles on projects, organizations, folders and service accounts",
    "iam-policy-no-statements-with-admin-access": "No IAM bindings with administrative access",
    "iam-policy-no-statements-with-full-access": "No IAM bindings with full access",
    "iam-no-custom-role-excessive-permissions": "No custom roles with excessive permissions",
    "iam-policy-no-wildcard-permissions": "No custom roles with wildcard permissions",
    "bucket-iam-least-privilege": "Least privilege in Cloud Storage bucket IAM",
    "pubsub-topic-iam-least-privilege": "Least privilege in Pub/Sub topic IAM",
    "pubsub-subscription-iam-least-privilege": "Least privilege in Pub/Sub subscription IAM",
    "kms-key-iam": "Access control on Cloud KMS key IAM",
    "cloudfunctions-iam-no-public": "No public access in Cloud Functions IAM bindings",
    "cloud-functions-public-access-prohibited": "Cloud Functions prohibit public access",
    "cloudfunctions-iam-source-restrictions": "Cloud Functions IAM bindings restrict their sources",
    "bucket-public-access-prevention": "Buckets enforce public access prevention",
    "cloud-storage-bucket-level-public-access-prohibited": "Bucket-level public access prohibited",
    "bucket-public-read-prohibited": "No public read on buckets",
    "cloud-storage-bucket-public-read-prohibited": "No public read on buckets",
    "bucket-no-public-read": "No public read on buckets",
    "cloud-storage-bucket-restrict-public-read-access": "Restrict public access to buckets",
    "cloud-storage-bucket-public-write-prohibited": "No public write on buckets",
    "cloud-storage-bucket-iam-policy-grantee-check": "Who bucket IAM policies grant to",
    "bucket-uniform-bucket-level-access": "Buckets use uniform bucket-level access",
    "bucket-uniform-access": "Buckets use uniform bucket-level access",
    "bigquery-dataset-public-access-check": "BigQuery datasets not publicly accessible",
    "persistent-disk-snapshot-not-publicly-restorable": "Disk snapshots not publicly restorable",
    "cloud-run-service-configuration-check": "Cloud Run service configuration",
    "service-account-key": "Service account keys: no insecure authentication",
    "hardcoded-secrets": "No hardcoded secrets in code and configuration",
    "cloud-build-trigger-envvar-gcpcred-check": "No GCP credentials in Cloud Build trigger environment variables",
    "cloudsql-secure-credentials": "Cloud SQL credentials managed securely",
    "cloud-sql-no-hardcoded-passwords": "No hardcoded Cloud SQL root or user passwords",
    "kms-key-rotation": "Cloud KMS keys rotate",
    "kms-key-rotation-enabled": "Cloud KMS key rotation enabled",
    "resource-labeling": "Resources carry labels",
    "environment-label": "Labelable resources carry an environment label",
}
PULUMI_PACK_POLICIES: Final[dict[str, tuple[str, ...]]] = {
    "cis": _names(
        """
        compute-engine-instance-proper-configuration compute-engine-os-config-compliance-association-compliant
        vpc-external-ip-associated vpc-firewall-rule-unused vpc-firewall-rule-associated-to-network
        security-command-center-enabled app-engine-managed-updates-enabled
        managed-instance-group-launch-template-public-ip-disabled cloud-logging-retention-period-365
        database-migration-service-not-publicly-accessible persistent-disk-snapshot-not-publicly-restorable
        compute-engine-instance-service-account-attached compute-engine-instance-in-vpc
        compute-engine-instance-not-publicly-accessible compute-engine-instance-uses-os-login
        gke-cluster-endpoint-restrict-public-access dataproc-cluster-master-nodes-no-public-ip
        dataproc-kerberos-enabled cloud-sql-instance-not-publicly-accessible
        cloud-storage-bucket-restrict-public-read-access iam-no-custom-role-excessive-permissions
        iam-policy-no-statements-with-full-access elasticsearch-in-vpc-only iam-user-no-direct-policies-check
        cloud-functions-public-access-prohibited cloud-functions-inside-vpc bigquery-dataset-public-access-check
        cloud-storage-bucket-level-public-access-prohibited cloud-storage-bucket-iam-policy-grantee-check
        cloud-storage-bucket-public-write-prohibited ai-platform-notebook-no-direct-internet-access
        subnet-auto-assign-external-ip-disabled cloud-run-service-configuration-check
        cloud-storage-bucket-public-read-prohibited compute-engine-instance-detailed-monitoring-enabled
        elasticsearch-logs-to-cloud-logging load-balancer-logging-enabled cloud-functions-concurrency-check
        cloud-sql-logging-enabled cloud-storage-bucket-logging-enabled bigquery-audit-logging-enabled
        cloud-armor-logging-enabled no-unrestricted-route-to-internet-gateway
        load-balancer-http-to-https-redirection load-balancer-managed-ssl-certificate
        load-balancer-tls-https-listeners-only application-load-balancer-managed-ssl-certificate
        cloud-storage-bucket-ssl-requests-only ai-platform-endpoint-configuration-kms-key-configured
        ai-platform-notebook-instance-kms-key-configured secret-manager-using-cmek
        cloud-storage-bucket-encryption-enabled pubsub-encrypted-kms kms-key-not-scheduled-for-deletion
        bigquery-dataset-encryption-enabled cloud-logging-encrypted persistent-disk-encrypted
        cloud-filestore-encrypted-check elasticsearch-encrypted-at-rest cloud-sql-storage-encrypted
        cloud-storage-default-encryption-kms project-part-of-organization bigquery-maintenance-settings-check
        kms-key-rotation-enabled persistent-disk-unused persistent-disk-attached-encryption-enabled
        cloud-storage-bucket-default-encryption-enabled vpc-firewall-rule-restrict-ingress-ssh-all
        managed-instance-group-load-balancer-healthcheck-required cloud-storage-bucket-versioning-enabled
        iam-policy-no-statements-with-admin-access restricted-ssh iam-policy-no-wildcard-permissions
        cloud-security-scanner-enabled compute-engine-os-config-compliance-patch-compliant
        api-gateway-logging-configuration cloud-audit-logs-cloud-logging-enabled cloud-cdn-logging-enabled
        vpc-flow-logs-enabled cloud-armor-security-policy-logging-enabled cloud-audit-logs-security-trail-enabled
        cloud-audit-logs-multi-region-trail-enabled cloud-audit-logs-integrity-monitoring-enabled
        cloud-audit-logs-data-access-events-enabled cloud-sql-instance-backup-enabled cloud-firestore-in-backup-plan
        persistent-disk-in-backup-plan cloud-storage-bucket-cross-region-replication-enabled
        compute-engine-optimized-instance cloud-firestore-pitr-enabled cloud-sql-backup-enabled
        compute-engine-instance-os-config-managed certificate-manager-certificate-lifecycle-management
        cloud-sql-enhanced-networking-enabled cloud-firestore-autoscaling-enabled
        load-balancer-cross-region-load-balancing-enabled load-balancer-deletion-protection-enabled
        cloud-sql-instance-deletion-protection-enabled cloud-sql-multi-region-support
        load-balancer-cloud-armor-enabled cloud-build-trigger-envvar-gcpcred-check
        cloud-build-trigger-source-repo-url-check
        """
    ),
    "nist": _names(
        """
        firewall-restrict-rdp-ingress firewall-restrict-ssh-ingress compute-engine-instance-service-account-attached
        iam-user-no-direct-policies-check service-account-restricted-names
        ai-platform-notebook-no-direct-internet-access bigquery-dataset-public-access-check bucket-dlp-access
        bucket-public-access-prevention bucket-public-read-prohibited bucket-uniform-bucket-level-access
        cloudfunctions-iam-no-public cloud-sql-instance-not-publicly-accessible
        cloud-storage-bucket-iam-policy-grantee-check cloud-storage-bucket-public-write-prohibited
        database-migration-service-not-publicly-accessible dataproc-cluster-master-nodes-no-public-ip
        persistent-disk-snapshot-not-publicly-restorable subnet-auto-assign-external-ip-disabled
        compute-engine-instance-not-publicly-accessible gke-nodes-private
        managed-instance-group-launch-template-public-ip-disabled vpc-external-ip-associated
        bucket-iam-least-privilege iam-no-broad-roles iam-no-custom-role-excessive-permissions
        iam-policy-no-statements-with-admin-access iam-policy-no-wildcard-permissions kms-key-iam
        pubsub-subscription-iam-least-privilege pubsub-topic-iam-least-privilege cloud-logging-retention-period-365
        pubsub-message-retention audit-logs-sink-enabled cloud-audit-logs-multi-region-trail-enabled
        api-gateway-logging-configuration bigquery-audit-logging-enabled bigtable-change-streams
        bucket-access-logging cloud-armor-logging cloud-audit-logs-data-access-events-enabled cloud-build-logging
        cloud-cdn-logging-enabled cloudfunctions-logging cloud-sql-logging-enabled
        elasticsearch-logs-to-cloud-logging load-balancer-logging-enabled vpc-flow-logs-enabled
        pubsub-dead-letter-queue artifactregistry-immutable-images cloud-audit-logs-integrity-monitoring-enabled
        cloud-logging-encrypted load-balancer-health-checks
        managed-instance-group-load-balancer-healthcheck-required security-command-center-enabled
        cloud-run-service-configuration-check single-environment-stack bigquery-maintenance-settings-check
        cloud-build-trigger-source-repo-url-check cloudfunctions-documentation
        compute-engine-instance-os-config-managed compute-engine-instance-proper-configuration environment-label
        persistent-disk-unused project-part-of-organization resource-labeling
        vpc-firewall-rule-associated-to-network vpc-firewall-rule-unused cloud-sql-high-availability
        cloud-sql-instance-deletion-protection-enabled compute-engine-optimized-instance load-balancer-multi-zone
        bucket-soft-delete-retention cloud-firestore-in-backup-plan cloudsql-backup
        cloud-storage-bucket-versioning-enabled firestore-pitr bucket-multi-region persistent-disk-in-backup-plan
        compute-engine-instance-uses-os-login dataproc-kerberos-enabled cloud-build-trigger-envvar-gcpcred-check
        cloudsql-secure-credentials hardcoded-secrets service-account-key bucket-lifecycle
        cloud-security-scanner-enabled compute-osconfig-vulnerability
        certificate-manager-certificate-lifecycle-management kms-key-configuration kms-key-lifecycle
        kms-key-rotation ai-platform-endpoint-configuration-kms-key-configured
        ai-platform-notebook-instance-kms-key-configured artifactregistry-customer-kms bigquery-dataset-cmek
        bigquery-table-cmek bucket-cmek cloudfunctions-kms-env-vars cloud-sql-storage-encrypted dataflow-kms
        elasticsearch-encrypted-at-rest filestore-cmek compute-instance-encrypted-attached-disk
        compute-instance-encrypted-boot-disk gke-secrets-encryption instance-template-disk-cmek persistent-disk-cmek
        pubsub-encrypted-kms secretmanager-secret-cmek cloud-firestore-autoscaling-enabled
        cloud-functions-concurrency-check cloudfunctions-execution-time cloud-tasks-retry-configuration
        lb-connection-draining load-balancer-cross-region-load-balancing-enabled cloud-cdn-armor
        cloud-functions-inside-vpc cloudsql-authorized-networks-restricted compute-engine-instance-in-vpc
        elasticsearch-in-vpc-only firewall-no-http-ingress firewall-no-public-ingress firewall-strict
        gke-private-endpoint lb-cloud-armor-attached no-unrestricted-route-to-internet-gateway
        private-service-connect securitypolicy-has-custom-rules cloud-cdn-origin-tls cloudsql-ssl
        lb-managed-ssl-certificate load-balancer-http-to-https-redirection load-balancer-tls-https-listeners-only
        app-engine-managed-updates-enabled cloudfunctions-runtime-versions
        compute-engine-os-config-compliance-association-compliant
        compute-engine-os-config-compliance-patch-compliant cloudsql-patching
        compute-engine-instance-detailed-monitoring-enabled
        """
    ),
    "hitrust": _names(
        """
        kms-key-iam service-account-restricted-names iam-no-broad-roles pubsub-topic-iam-least-privilege
        pubsub-subscription-iam-least-privilege cloudfunctions-iam-source-restrictions service-account-key
        cloudfunctions-execution-time bucket-iam-least-privilege private-service-connect
        compute-instance-encrypted-attached-disk compute-instance-encrypted-boot-disk
        instance-template-encrypted-disk instance-template-encrypted-boot-disk gke-secrets-encryption
        bucket-customer-managed-kms bucket-versioning pubsub-encryption bucket-lifecycle hardcoded-secrets
        cloudsql-secure-credentials pubsub-message-retention bucket-dlp-access cloudfunctions-documentation
        resource-labeling environment-label single-environment-stack bucket-access-logging gke-private-endpoints
        firewall-ssh-rdp firewall-strict bucket-no-public-read cloudsql-private-ip compute-no-public-ip
        instance-template-no-public-ip bucket-uniform-access cloud-armor cloud-cdn-armor database-network-access
        firewall-no-http-ingress firewall-no-public-ingress subnetwork-flow-logs load-balancer-logging
        cloud-build-logging bigtable-change-streams cloudfunctions-kms-env-vars cloudfunctions-logging cloudsql-ssl
        persistent-disk-customer-kms kms-key-rotation bigquery-dataset-kms load-balancer-tls cloud-cdn-origin-tls
        dataflow-kms kms-key-configuration instance-template-customer-kms artifactregistry-customer-kms
        filestore-customer-kms secretmanager-customer-kms kms-key-lifecycle artifactregistry-immutable-images
        cloudfunctions-runtime-versions cloudsql-patching compute-osconfig-vulnerability bucket-multi-region
        cloudsql-backup cloudsql-high-availability pubsub-dead-letter-queue cloud-tasks-retry-configuration
        load-balancer-multi-zone load-balancer-health-checks firestore-pitr
        """
    ),
    "iso-27001": _names(
        """
        firewall-no-http-ingress cloud-build-trigger-source-repo-url-check cloud-cdn-origin-tls cloudsql-ssl
        lb-managed-ssl-certificate load-balancer-http-to-https-redirection load-balancer-tls-https-listeners-only
        database-migration-service-not-publicly-accessible bucket-uniform-bucket-level-access
        compute-engine-instance-service-account-attached iam-user-no-direct-policies-check
        bucket-iam-least-privilege iam-no-broad-roles iam-no-custom-role-excessive-permissions
        iam-policy-no-wildcard-permissions cloudfunctions-iam-no-public service-account-restricted-names
        compute-engine-instance-uses-os-login cloud-build-trigger-envvar-gcpcred-check
        cloud-sql-no-hardcoded-passwords cloud-sql-password-policy-enabled cloud-sql-restricted-usernames
        hardcoded-secrets service-account-key gke-secrets-encryption dataproc-kerberos-enabled
        cloud-tasks-retry-configuration pubsub-dead-letter-queue cloud-audit-logs-multi-region-trail-enabled
        cloud-audit-logs-integrity-monitoring-enabled cloud-logging-encrypted cloudfunctions-documentation
        cloud-sql-ownership-label environment-label persistent-disk-unused resource-labeling
        vpc-external-ip-associated vpc-firewall-rule-unused bigquery-maintenance-settings-check bucket-lifecycle
        pubsub-message-retention bucket-dlp-access bucket-soft-delete-retention cloud-firestore-in-backup-plan
        cloudsql-backup cloud-sql-deletion-protection-required cloud-storage-bucket-versioning-enabled
        firestore-deletion-protection firestore-pitr instance-backup-labeling instance-deletion-protection
        instance-persistent-boot-disk persistent-disk-in-backup-plan cloud-sql-high-availability
        firestore-multi-region-location bucket-multi-region instance-availability-scheduling lb-backend-redundancy
        lb-external-managed-scheme load-balancer-health-checks load-balancer-multi-zone
        managed-instance-group-load-balancer-healthcheck-required api-gateway-logging-configuration
        audit-logs-sink-enabled bigquery-audit-logging-enabled bigtable-change-streams bucket-access-logging
        cloud-armor-logging cloud-audit-logs-data-access-events-enabled cloud-build-logging
        cloud-cdn-logging-enabled cloudfunctions-logging cloud-logging-retention-period-365
        cloud-sql-logging-enabled elasticsearch-logs-to-cloud-logging load-balancer-logging-enabled
        vpc-flow-logs-enabled compute-engine-instance-detailed-monitoring-enabled security-command-center-enabled
        iam-policy-no-statements-with-admin-access kms-key-iam pubsub-subscription-iam-least-privilege
        pubsub-topic-iam-least-privilege cloud-cdn-armor cloudsql-authorized-networks-restricted
        firewall-restrict-rdp-ingress firewall-restrict-ssh-ingress firewall-explicit-direction
        firewall-explicit-target-scoping firewall-no-unrestricted-egress gke-nodes-private lb-cloud-armor-attached
        no-unrestricted-route-to-internet-gateway securitypolicy-has-custom-rules subnet-private-google-access
        cloud-functions-inside-vpc compute-engine-instance-in-vpc
        ai-platform-endpoint-configuration-kms-key-configured ai-platform-notebook-instance-kms-key-configured
        artifactregistry-customer-kms bigquery-dataset-cmek bigquery-table-cmek bucket-cmek
        certificate-manager-certificate-lifecycle-management cloudfunctions-kms-env-vars cloud-sql-storage-encrypted
        dataflow-kms elasticsearch-encrypted-at-rest filestore-cmek compute-instance-encrypted-attached-disk
        compute-instance-encrypted-boot-disk instance-template-disk-cmek kms-key-configuration kms-key-lifecycle
        kms-key-rotation persistent-disk-cmek pubsub-encrypted-kms secretmanager-secret-cmek
        bigquery-dataset-public-access-check bucket-public-access-prevention bucket-public-read-prohibited
        cloud-storage-bucket-iam-policy-grantee-check cloud-storage-bucket-public-write-prohibited
        dataproc-cluster-master-nodes-no-public-ip elasticsearch-in-vpc-only
        persistent-disk-snapshot-not-publicly-restorable ai-platform-notebook-no-direct-internet-access
        cloud-run-service-configuration-check cloud-sql-instance-not-publicly-accessible
        compute-engine-instance-not-publicly-accessible firewall-no-public-ingress gke-private-endpoint
        managed-instance-group-launch-template-public-ip-disabled private-service-connect
        cloud-sql-iam-authentication firestore-native-concurrency-mode cloud-functions-concurrency-check
        cloudfunctions-execution-time app-engine-managed-updates-enabled cloud-security-scanner-enabled
        compute-engine-instance-os-config-managed cloudsql-patching os-config-patch-coverage
        os-config-patch-deployment-configuration compute-osconfig-vulnerability cloudfunctions-runtime-versions
        compute-engine-os-config-compliance-association-compliant artifactregistry-immutable-images
        lb-forwarding-rule-target-configured os-config-guest-policy-configuration project-part-of-organization
        single-environment-stack vpc-firewall-rule-associated-to-network
        """
    ),
    "pci-dss": _names(
        """
        vpc-firewall-rule-associated-to-network firewall-explicit-direction firewall-explicit-target-scoping
        cloudsql-authorized-networks-restricted firewall-no-public-ingress firewall-restrict-rdp-ingress
        firewall-restrict-ssh-ingress gke-private-endpoint firewall-no-http-ingress cloud-functions-inside-vpc
        firewall-no-unrestricted-egress no-unrestricted-route-to-internet-gateway compute-engine-instance-in-vpc
        ai-platform-notebook-no-direct-internet-access cloud-sql-instance-not-publicly-accessible
        compute-engine-instance-not-publicly-accessible dataproc-cluster-master-nodes-no-public-ip
        elasticsearch-in-vpc-only gke-nodes-private managed-instance-group-launch-template-public-ip-disabled
        database-migration-service-not-publicly-accessible bigquery-dataset-public-access-check
        bucket-public-access-prevention bucket-public-read-prohibited cloudfunctions-iam-no-public
        cloud-run-service-configuration-check cloud-storage-bucket-iam-policy-grantee-check
        cloud-storage-bucket-public-write-prohibited private-service-connect artifactregistry-immutable-images
        bigquery-maintenance-settings-check bucket-lifecycle pubsub-message-retention
        ai-platform-endpoint-configuration-kms-key-configured ai-platform-notebook-instance-kms-key-configured
        artifactregistry-customer-kms bigquery-dataset-cmek bigquery-table-cmek bucket-cmek
        cloudfunctions-kms-env-vars cloud-logging-encrypted cloud-sql-storage-encrypted dataflow-kms
        elasticsearch-encrypted-at-rest filestore-cmek compute-instance-encrypted-attached-disk
        compute-instance-encrypted-boot-disk gke-secrets-encryption instance-template-disk-cmek persistent-disk-cmek
        pubsub-encrypted-kms secretmanager-secret-cmek kms-key-iam kms-key-configuration kms-key-rotation
        kms-key-lifecycle certificate-manager-certificate-lifecycle-management
        cloud-build-trigger-source-repo-url-check cloud-cdn-origin-tls cloudsql-ssl lb-managed-ssl-certificate
        load-balancer-http-to-https-redirection load-balancer-tls-https-listeners-only
        app-engine-managed-updates-enabled cloudfunctions-runtime-versions compute-engine-instance-os-config-managed
        compute-engine-os-config-compliance-association-compliant cloudsql-patching os-config-patch-coverage
        os-config-patch-deployment-configuration compute-osconfig-vulnerability cloud-cdn-armor
        lb-cloud-armor-attached securitypolicy-has-custom-rules bucket-iam-least-privilege iam-no-broad-roles
        iam-no-custom-role-excessive-permissions iam-policy-no-statements-with-admin-access
        iam-policy-no-wildcard-permissions iam-user-no-direct-policies-check pubsub-subscription-iam-least-privilege
        pubsub-topic-iam-least-privilege compute-engine-instance-service-account-attached
        bucket-uniform-bucket-level-access persistent-disk-snapshot-not-publicly-restorable
        cloud-sql-iam-authentication compute-engine-instance-uses-os-login dataproc-kerberos-enabled
        cloud-sql-restricted-usernames service-account-restricted-names service-account-key
        cloud-sql-password-policy-enabled cloud-build-trigger-envvar-gcpcred-check cloud-sql-no-hardcoded-passwords
        hardcoded-secrets api-gateway-logging-configuration bigtable-change-streams bucket-access-logging
        cloud-armor-logging cloud-build-logging cloud-cdn-logging-enabled cloudfunctions-logging
        cloud-sql-logging-enabled load-balancer-logging-enabled vpc-flow-logs-enabled bigquery-audit-logging-enabled
        cloud-audit-logs-data-access-events-enabled audit-logs-sink-enabled elasticsearch-logs-to-cloud-logging
        cloud-audit-logs-integrity-monitoring-enabled cloud-audit-logs-multi-region-trail-enabled
        security-command-center-enabled cloud-logging-retention-period-365 cloud-security-scanner-enabled
        compute-engine-instance-detailed-monitoring-enabled
        """
    ),
}
# How many GCP policies each pack's reference page says it holds (a test holds the lists above to these).
PULUMI_PACK_SIZES: Final[dict[str, int]] = {"cis": 102, "nist": 140, "hitrust": 72, "iso-27001": 153, "pci-dss": 115}

# --- the CIS Google Cloud Platform Foundation Benchmark (v2.0.0) items the pack's policies name --------------------

CIS_ITEMS: Final[dict[str, str]] = {
    "CIS GCP 1.1": "Corporate login credentials are used (no personal accounts such as Gmail)",
    "CIS GCP 1.4": "Only GCP-managed service account keys",
    "CIS GCP 1.5": "Service accounts have no admin privileges",
    "CIS GCP 1.6": "No Service Account User or Token Creator for users at project level",
    "CIS GCP 1.7": "User-managed service account keys rotated within 90 days",
    "CIS GCP 1.9": "Cloud KMS cryptokeys not anonymously or publicly accessible",
    "CIS GCP 1.10": "KMS encryption keys rotated within 90 days",
    "CIS GCP 1.14": "API keys restricted to the APIs the application needs",
    "CIS GCP 1.18": "No secrets in Cloud Functions environment variables (Secret Manager instead)",
    "CIS GCP 2.1": "Cloud Audit Logging configured across all services and all users",
    "CIS GCP 4.1": "Instances not on the default service account",
    "CIS GCP 4.2": "Instances not on the default service account with full access to all Cloud APIs",
    "CIS GCP 5.1": "Cloud Storage buckets not anonymously or publicly accessible",
    "CIS GCP 5.2": "Cloud Storage buckets use uniform bucket-level access",
    "CIS GCP 7.1": "BigQuery datasets not anonymously or publicly accessible",
}

# --- in scope, not covered: what each asks and why the pack does not answer it yet --------------------------------

GAPS: Final[dict[str, str]] = {}

# --- covered, but judged differently: what the pack does instead ------------------------------------------------------

NOTES: Final[dict[str, str]] = {
    "CKV_GCP_42": "by power, not by name: admin roles with no per-resource alternative and no IAM or identity "
    "power pass",
    "CKV2_GCP_5": "exemptions only: which services log Data Access is left to you (cost)",
    "AVD-GCP-0079": "exemptions and an authoritative policy that drops IAM's admin reads; which services log Data "
    "Access is left to you",
    "CIS GCP 2.1": "the 'all users' half: no exemptions",
    "AVD-GCP-0007": "by what a role can do (basic roles, project-wide identity, IAM, code or data power), not by a "
    "list of privileged role names",
    "pulumi:cloud-run-service-configuration-check": "the invoker check kept on, a dedicated identity, ingress noted",
    "pulumi:cloudfunctions-iam-source-restrictions": "who may invoke: no public members, intended callers only",
    "pulumi:hardcoded-secrets": "secret-shaped values in workloads' env (judged by value)",
    "pulumi:resource-labeling": "workloads and data resources, advisory",
    "pulumi:environment-label": "any labels on workloads and data resources, advisory",
    "CIS GCP 1.7": "stricter: no user-managed key at all",
}

PEERS: Final[dict[str, str]] = {
    "checkov": "checkov",
    "trivy": "trivy-checks",
    "pulumi": "Pulumi's pre-built packs",
    "cis": "CIS GCP Benchmark 2.0",
}


def _catalogue() -> tuple[PeerCheck, ...]:
    data = load()
    checks: list[PeerCheck] = []
    for peer, reasons in (("checkov", CHECKOV_REASONS), ("trivy", TRIVY_REASONS)):
        reason_of = {check_id: reason for reason, ids in reasons.items() for check_id in ids}
        for check in data[peer]["checks"]:
            checks.append(PeerCheck(check["id"], peer, check["title"], reason_of.get(check["id"])))
    reason_of = {name: reason for reason, names in PULUMI_REASONS.items() for name in names}
    names = sorted({name for policies in PULUMI_PACK_POLICIES.values() for name in policies})
    for name in names:
        title = PULUMI_IN_SCOPE.get(name, name.replace("-", " "))
        checks.append(PeerCheck(f"pulumi:{name}", "pulumi", title, reason_of.get(name)))
    checks += [PeerCheck(item, "cis", title, None) for item, title in CIS_ITEMS.items()]
    return tuple(checks)


CATALOGUE: Final[tuple[PeerCheck, ...]] = _catalogue()


def covered_by() -> dict[str, list[str]]:
    """Peer check id -> the policies whose Spec names it (in the pack's order)."""
    found: dict[str, list[str]] = {}
    for spec in SPECS:
        for peer in spec.peers:
            found.setdefault(peer, []).append(spec.name)
    return found


def out_of_scope() -> Mapping[str, dict[str, list[str]]]:
    """Reason -> peer -> ids of the checks out of scope for it."""
    found: dict[str, dict[str, list[str]]] = {reason: {} for reason in REASONS}
    for check in CATALOGUE:
        if check.reason is not None:
            found[check.reason].setdefault(check.peer, []).append(check.id)
    return found
