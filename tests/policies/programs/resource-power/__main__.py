"""Power over one resource: roles that set a bucket's, topic's, subscription's, secret's, repository's, key's or
account's IAM (open it to anyone) held by workload identities or an account from outside (rejected; a whole
customer is rejected the same way: tests/policies/test_resource_power.py); a role that redeploys a job held by
the scheduler that only starts it (rejected). Accepted: the roles for the task without IAM power, people (a
resource owner; an admin group just in time), the stack's CI deployer (an account GitHub Actions borrows through
workload identity federation, as CI deployers are built), Google's agents.

Shapes from public programs (an app's runtime or builder with roles/storage.admin on "its" bucket, an admin role
on a topic or secret for the service that publishes or reads) and Google's docs (roles/pubsub.publisher,
roles/secretmanager.secretAccessor, roles/run.invoker on the job a scheduler starts)."""

from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_gcp as gcp

PROJECT = "si-pack-1234"
PROJECT_NUMBER = "123456789012"
REGION = "us-central1"
LABELS = {"app": "t"}
POOL = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/github"


def until(days: float) -> str:
    moment = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'request.time < timestamp("{moment}")'


app_sa = gcp.serviceaccount.Account("app", account_id="app-runtime")
ticker_sa = gcp.serviceaccount.Account("ticker", account_id="nightly-ticker")
reports_sa = gcp.serviceaccount.Account("reports", account_id="reports-runtime")
deployer = gcp.serviceaccount.Account("deployer", account_id="ci-deployer")
# GitHub Actions of one repository borrow the CI deployer (workload identity federation).
gcp.serviceaccount.IAMMember("accept-ci-borrows-deployer", service_account_id=deployer.name,
                             role="roles/iam.workloadIdentityUser",
                             member=f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/app")  # fmt: skip

uploads = gcp.storage.Bucket("uploads", name="acme-uploads", location="US", uniform_bucket_level_access=True,
                             public_access_prevention="enforced", labels=LABELS)  # fmt: skip
events = gcp.pubsub.Topic("events", name="events", labels=LABELS)
# A pull subscription the app reads its events from (Pub/Sub's docs: the subscriber role on the subscription).
events_pull = gcp.pubsub.Subscription("events-pull", name="events-pull", topic=events.id, labels=LABELS)
db_password = gcp.secretmanager.Secret(
    "db-password",
    secret_id="db-password",
    replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
    labels=LABELS,
)
images = gcp.artifactregistry.Repository("images", repository_id="images", location=REGION, format="DOCKER",
                                         labels=LABELS)  # fmt: skip
ring = gcp.kms.KeyRing("ring", name="app", location=REGION)
key = gcp.kms.CryptoKey("key", name="app-data", key_ring=ring.id, rotation_period="7776000s", labels=LABELS)

app = gcp.cloudrunv2.Service(
    "app",
    name="app",
    location=REGION,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    deletion_protection=False,
    labels=LABELS,
    template=gcp.cloudrunv2.ServiceTemplateArgs(
        service_account=app_sa.email,
        containers=[
            gcp.cloudrunv2.ServiceTemplateContainerArgs(
                image="us-docker.pkg.dev/cloudrun/container/hello",
                envs=[
                    gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name="BUCKET", value=uploads.name),
                    gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name="TOPIC", value=events.id),
                ],
            )
        ],
    ),
)
nightly = gcp.cloudrunv2.Job(
    "nightly",
    name="nightly",
    location=REGION,
    deletion_protection=False,
    labels=LABELS,
    template=gcp.cloudrunv2.JobTemplateArgs(
        template=gcp.cloudrunv2.JobTemplateTemplateArgs(
            service_account=reports_sa.email,
            containers=[
                gcp.cloudrunv2.JobTemplateTemplateContainerArgs(image="us-docker.pkg.dev/cloudrun/container/job")
            ],
        )
    ),
)
# Google's "execute jobs on a schedule": the scheduler calls the Cloud Run Admin API's run method as its account.
gcp.cloudscheduler.Job(
    "nightly-trigger",
    region=REGION,
    schedule="0 3 * * *",
    http_target=gcp.cloudscheduler.JobHttpTargetArgs(
        http_method="POST",
        uri=f"https://run.googleapis.com/v2/projects/{PROJECT}/locations/{REGION}/jobs/nightly:run",
        oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(service_account_email=ticker_sa.email),
    ),
)

# rejected: a workload's runtime that can open its bucket, topic, secret or key to anyone
gcp.storage.BucketIAMMember("reject-app-bucket-admin", bucket=uploads.name, role="roles/storage.admin",
                            member=app_sa.member)  # fmt: skip
gcp.pubsub.TopicIAMMember("reject-app-topic-admin", topic=events.name, role="roles/pubsub.admin", member=app_sa.member)
gcp.secretmanager.SecretIamMember("reject-app-secret-admin", secret_id=db_password.secret_id,
                                  role="roles/secretmanager.admin", member=app_sa.member)  # fmt: skip
gcp.kms.CryptoKeyIAMMember("reject-app-key-admin", crypto_key_id=key.id, role="roles/cloudkms.admin",
                           member=app_sa.member)  # fmt: skip
gcp.pubsub.SubscriptionIAMMember("reject-app-subscription-admin", subscription=events_pull.name,
                                 role="roles/pubsub.admin", member=app_sa.member)  # fmt: skip
# rejected: the same power through a project grant a condition confines to the bucket
gcp.projects.IAMMember(
    "reject-confined-bucket-admin",
    project=PROJECT,
    role="roles/storage.admin",
    member=reports_sa.member,
    condition=gcp.projects.IAMMemberConditionArgs(
        title="uploads-only",
        expression='resource.name == "projects/_/buckets/acme-uploads" || '
        'resource.name.startsWith("projects/_/buckets/acme-uploads/objects/")',
    ),
)
# rejected: a workload that can grant itself the token roles on another account
gcp.serviceaccount.IAMMember("reject-app-administers-reports", service_account_id=reports_sa.name,
                             role="roles/iam.serviceAccountAdmin", member=app_sa.member)  # fmt: skip
# rejected: an account from outside the stack that can open the repository to anyone
gcp.artifactregistry.RepositoryIamMember(
    "reject-outside-repo-admin",
    repository=images.name,
    location=REGION,
    role="roles/artifactregistry.admin",
    member="serviceAccount:pipeline@other-project-4321.iam.gserviceaccount.com",
)
# rejected: the scheduler that starts the job could replace what it runs (run.jobs.update)
gcp.cloudrunv2.JobIamMember("reject-ticker-redeploys-job", name=nightly.name, location=REGION,
                            role="roles/run.developer", member=ticker_sa.member)  # fmt: skip

# accepted: the roles for the task, without IAM power
gcp.storage.BucketIAMMember("accept-app-objects", bucket=uploads.name, role="roles/storage.objectUser",
                            member=app_sa.member)  # fmt: skip
gcp.pubsub.TopicIAMMember("accept-app-publishes", topic=events.name, role="roles/pubsub.publisher",
                          member=app_sa.member)  # fmt: skip
gcp.pubsub.SubscriptionIAMMember("accept-app-subscribes", subscription=events_pull.name, role="roles/pubsub.subscriber",
                                 member=app_sa.member)  # fmt: skip
gcp.secretmanager.SecretIamMember("accept-app-reads-secret", secret_id=db_password.secret_id,
                                  role="roles/secretmanager.secretAccessor", member=app_sa.member)  # fmt: skip
gcp.kms.CryptoKeyIAMMember("accept-app-uses-key", crypto_key_id=key.id, role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
                           member=app_sa.member)  # fmt: skip
gcp.cloudrunv2.JobIamMember("accept-ticker-runs-job", name=nightly.name, location=REGION, role="roles/run.invoker",
                            member=ticker_sa.member)  # fmt: skip
# accepted: storage.objectAdmin's setIamPolicy sets object ACLs only, which uniform access switches off
gcp.storage.BucketIAMMember("accept-reports-object-admin", bucket=uploads.name, role="roles/storage.objectAdmin",
                            member=reports_sa.member)  # fmt: skip
# accepted: people — the secret's owner, and the platform's admin group just in time
gcp.secretmanager.SecretIamMember("accept-owner-secret-admin", secret_id=db_password.secret_id,
                                  role="roles/secretmanager.admin", member="user:dana@example.com")  # fmt: skip
gcp.storage.BucketIAMMember(
    "accept-admins-until-friday",
    bucket=uploads.name,
    role="roles/storage.admin",
    member="group:platform-admins@example.com",
    condition=gcp.storage.BucketIAMMemberConditionArgs(title="break-glass", expression=until(3)),
)
# accepted: the stack's CI deployer, which sets the IAM of what it deploys
gcp.storage.BucketIAMMember("accept-deployer-bucket-admin", bucket=uploads.name, role="roles/storage.admin",
                            member=deployer.member)  # fmt: skip
gcp.serviceaccount.IAMMember("accept-deployer-administers-app", service_account_id=app_sa.name,
                             role="roles/iam.serviceAccountAdmin", member=deployer.member)  # fmt: skip
# accepted: Google's Cloud Storage agent publishes the bucket's notifications (Google's docs)
gcp.pubsub.TopicIAMMember(
    "accept-storage-agent-publishes",
    topic=events.name,
    role="roles/pubsub.publisher",
    member=f"serviceAccount:service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com",
)
pulumi.export("app_url", app.uri)
