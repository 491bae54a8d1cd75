"""Credentials in the fields made for them, and keys stored as data: a Cloud SQL user's password and an instance's
root password written in the program or the stack's plain config, a secret version with literal data, a raw disk
encryption key and a certificate's private key in the program (rejected; taken from a Pulumi secret, generated, or
read with a provider function: accepted); a service account key file or a private key in Secret Manager, a key file
inside a function's source archive and a key file uploaded as an object (rejected; the copy of a key this stack
creates is that key's finding); a GKE cluster that issues client certificates (rejected).

Key material is assembled at run time and written to a temporary directory, so that none sits in the repository."""

import atexit
import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random
import pulumi_tls as tls

cfg = pulumi.Config()
REGION = "us-central1"
LABELS = {"app": "t"}
PRIVATE_KEY = (
    "-----BEGIN "
    + "PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
)
SA_KEY_FILE = json.dumps(
    {"type": "service_account", "project_id": "si-pack-1234", "private_key_id": "0" * 40,
     "private_key": PRIVATE_KEY, "client_email": "ci@si-pack-1234.iam.gserviceaccount.com"}
)  # fmt: skip

# A function's source as people leave it: the code, and a key file someone dropped next to it.
work = Path(tempfile.mkdtemp(prefix="credentials-stored-"))
atexit.register(shutil.rmtree, work, True)  # the engine reads the files as each object registers
(work / "with-key").mkdir()
(work / "with-key" / "main.py").write_text((Path(__file__).parent / "fn" / "main.py").read_text())
(work / "with-key" / "keys").mkdir()
(work / "with-key" / "keys" / "deployer.json").write_text(SA_KEY_FILE)
zipped = io.BytesIO()
with zipfile.ZipFile(zipped, "w") as archive:
    archive.writestr("main.py", "def handler(request):\n    return 'ok'\n")
    archive.writestr("certs/server.key", PRIVATE_KEY)
(work / "source.zip").write_bytes(zipped.getvalue())
(work / "sa.json").write_text(SA_KEY_FILE)

bucket = gcp.storage.Bucket(
    "sources", location="US", uniform_bucket_level_access=True, public_access_prevention="enforced", labels=LABELS
)


def source(name: str, archive: pulumi.Archive | pulumi.Asset) -> gcp.storage.BucketObject:
    return gcp.storage.BucketObject(name, bucket=bucket.name, source=archive)


def function(name: str, obj: gcp.storage.BucketObject) -> gcp.cloudfunctionsv2.Function:
    runtime = gcp.serviceaccount.Account(f"{name}-runtime", account_id=f"{name}-run"[:28])
    build = gcp.serviceaccount.Account(f"{name}-build", account_id=f"{name}-bld"[:28])
    return gcp.cloudfunctionsv2.Function(
        name,
        location=REGION,
        labels=LABELS,
        build_config=gcp.cloudfunctionsv2.FunctionBuildConfigArgs(
            runtime="python312", entry_point="handler", service_account=build.id,
            source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceArgs(
                storage_source=gcp.cloudfunctionsv2.FunctionBuildConfigSourceStorageSourceArgs(
                    bucket=bucket.name, object=obj.name)),
        ),
        service_config=gcp.cloudfunctionsv2.FunctionServiceConfigArgs(
            service_account_email=runtime.email, ingress_settings="ALLOW_INTERNAL_ONLY"),
    )  # fmt: skip


instance = gcp.sql.DatabaseInstance(
    "reject-sql-root-plain-config",
    database_version="POSTGRES_16",
    region=REGION,
    deletion_protection=False,
    root_password=cfg.require("rootPassword"),  # from the stack's plain config
    settings=gcp.sql.DatabaseInstanceSettingsArgs(tier="db-f1-micro"),
)
secret = gcp.secretmanager.Secret(
    "app-secret", secret_id="app-secret", labels=LABELS,
    replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
)  # fmt: skip
kms_plaintext = gcp.kms.get_kms_secret_output(
    crypto_key="projects/si-pack-1234/locations/global/keyRings/app/cryptoKeys/db",
    ciphertext="CiQAz8vN3Qm5x2Rr0k1LwT7pYbGdHfJ4sUeVaWcXiZoKlMnBqEgSAOh8dK3FjP9vY2wT",
).plaintext

# --- rejected ----------------------------------------------------------------------------------------------------

gcp.sql.User("reject-sql-user-literal", instance=instance.name, name="app", password="Sup3r-S3cret!")
gcp.secretmanager.SecretVersion("reject-version-literal", secret=secret.id, secret_data="hunter2-prod")
gcp.secretmanager.SecretVersion("reject-version-sa-key-file", secret=secret.id, secret_data=SA_KEY_FILE)
deploy_key = tls.PrivateKey("deploy-key", algorithm="ED25519")
gcp.secretmanager.SecretVersion("reject-version-private-key", secret=secret.id, secret_data=deploy_key.private_key_pem)
gcp.compute.Disk(
    "reject-disk-raw-key", zone="us-central1-a", size=10,
    disk_encryption_key=gcp.compute.DiskDiskEncryptionKeyArgs(raw_key="SGVyZSBpcyBhIDMyLWJ5dGUga2V5IGZvciBBRVMyNTY="),
)  # fmt: skip
gcp.compute.SSLCertificate(
    "reject-cert-key-in-program", private_key=PRIVATE_KEY,
    certificate="-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
)  # fmt: skip
function("fn-with-key", source("reject-source-dir-with-key", pulumi.FileArchive(str(work / "with-key"))))
function("fn-zipped", source("reject-source-zip-with-key", pulumi.FileArchive(str(work / "source.zip"))))
source("reject-object-key-file", pulumi.FileAsset(str(work / "sa.json")))
sa = gcp.serviceaccount.Account("ci", account_id="ci-deployer")
key = gcp.serviceaccount.Key("reject-sa-key", service_account_id=sa.name)
gcp.container.Cluster(
    "reject-gke-client-cert",
    location=REGION,
    initial_node_count=1,
    remove_default_node_pool=True,
    deletion_protection=False,
    master_auth=gcp.container.ClusterMasterAuthArgs(
        client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
            issue_client_certificate=True
        )
    ),
)

# --- accepted ----------------------------------------------------------------------------------------------------

gcp.sql.User(
    "accept-sql-user-secret-config", instance=instance.name, name="app2", password=cfg.require_secret("dbPassword")
)
generated = random.RandomPassword("db-password", length=24)
gcp.sql.User("accept-sql-user-generated", instance=instance.name, name="app3", password=generated.result)
gcp.sql.User("accept-sql-user-kms-decrypted", instance=instance.name, name="app4", password=kms_plaintext)
gcp.sql.User("accept-sql-iam-user", instance=instance.name, name="app@si-pack-1234.iam",
             type="CLOUD_IAM_SERVICE_ACCOUNT")  # fmt: skip
gcp.secretmanager.SecretVersion("accept-version-generated", secret=secret.id, secret_data=generated.result)
gcp.secretmanager.SecretVersion(
    "accept-version-secret-config", secret=secret.id, secret_data=cfg.require_secret("dbPassword")
)
# A copy of the key this stack creates: one root cause, the key itself (reject-sa-key).
gcp.secretmanager.SecretVersion("accept-copy-of-stack-key", secret=secret.id, secret_data=key.private_key)
gcp.compute.Disk(
    "accept-disk-kms", zone="us-central1-a", size=10,
    disk_encryption_key=gcp.compute.DiskDiskEncryptionKeyArgs(
        kms_key_self_link="projects/si-pack-1234/locations/us-central1/keyRings/app/cryptoKeys/disks"),
)  # fmt: skip
gcp.compute.Disk(
    "accept-disk-raw-key-secret-config", zone="us-central1-a", size=10,
    disk_encryption_key=gcp.compute.DiskDiskEncryptionKeyArgs(raw_key=cfg.require_secret("diskKey")),
)  # fmt: skip
tls_key = tls.PrivateKey("tls-key", algorithm="ECDSA", ecdsa_curve="P256")
tls_cert = tls.SelfSignedCert(
    "tls-cert", private_key_pem=tls_key.private_key_pem, allowed_uses=["server_auth"], validity_period_hours=720,
    subject=tls.SelfSignedCertSubjectArgs(common_name="internal.example.com"),
)  # fmt: skip
gcp.compute.SSLCertificate("accept-cert-generated-key", private_key=tls_key.private_key_pem,
                           certificate=tls_cert.cert_pem)  # fmt: skip
function("fn-clean", source("accept-source-code-only", pulumi.FileArchive(str(Path(__file__).parent / "fn"))))
source(
    "accept-source-asset-archive",
    pulumi.AssetArchive({"main.py": pulumi.StringAsset("def handler(r):\n    return 'ok'\n")}),
)
gcp.container.Cluster(
    "accept-gke-no-client-cert",
    location=REGION,
    initial_node_count=1,
    remove_default_node_pool=True,
    deletion_protection=False,
    master_auth=gcp.container.ClusterMasterAuthArgs(
        client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
            issue_client_certificate=False
        )
    ),
)
