"""Shared identities, judged by what sharing adds. Noted (a judgement call): the two Cloud Scheduler jobs that
start and stop a development VM through the Compute Engine API as one account (Google's "start and stop VMs on a
schedule"), and a Cloud Run service and its migration job reading the same database password. Rejected: sharing
that gives one workload a grant only the other uses, a scheduler running as the job it starts, and sharing the
pack cannot tell anything about."""

import pulumi
import pulumi_gcp as gcp

PROJECT = "si-pack-1234"
REGION = "us-central1"
ZONE = "us-central1-a"
LABELS = {"app": "t"}


def account(name: str) -> gcp.serviceaccount.Account:
    return gcp.serviceaccount.Account(name, account_id=name)


# (name, value, from Secret Manager)
Env = tuple[str, pulumi.Input[str], bool]


def service_envs(envs: list[Env]) -> list[gcp.cloudrunv2.ServiceTemplateContainerEnvArgs]:
    out = []
    for name, value, secret in envs:
        if not secret:
            out.append(gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=name, value=value))
            continue
        ref = gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(secret=value, version="latest")
        source = gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(secret_key_ref=ref)
        out.append(gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=name, value_source=source))
    return out


def job_envs(envs: list[Env]) -> list[gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs]:
    out = []
    for name, value, secret in envs:
        if not secret:
            out.append(gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs(name=name, value=value))
            continue
        ref = gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs(secret=value, version="latest")
        source = gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceArgs(secret_key_ref=ref)
        out.append(gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs(name=name, value_source=source))
    return out


def service(name: str, runtime: gcp.serviceaccount.Account, envs: list[Env]) -> None:
    gcp.cloudrunv2.Service(
        name, name=name, location=REGION, ingress="INGRESS_TRAFFIC_INTERNAL_ONLY", deletion_protection=False,
        labels=LABELS,
        template=gcp.cloudrunv2.ServiceTemplateArgs(service_account=runtime.email, containers=[
            gcp.cloudrunv2.ServiceTemplateContainerArgs(image="us-docker.pkg.dev/cloudrun/container/hello",
                                                        envs=service_envs(envs))
        ]),
    )  # fmt: skip


def job(name: str, runtime: gcp.serviceaccount.Account, envs: list[Env]) -> gcp.cloudrunv2.Job:
    return gcp.cloudrunv2.Job(
        name, name=name, location=REGION, deletion_protection=False, labels=LABELS,
        template=gcp.cloudrunv2.JobTemplateArgs(template=gcp.cloudrunv2.JobTemplateTemplateArgs(
            service_account=runtime.email,
            containers=[gcp.cloudrunv2.JobTemplateTemplateContainerArgs(
                image="us-docker.pkg.dev/cloudrun/container/job", envs=job_envs(envs))],
        )),
    )  # fmt: skip


def scheduler(name: str, uri: str, runtime: gcp.serviceaccount.Account) -> None:
    gcp.cloudscheduler.Job(
        name, region=REGION, schedule="0 8 * * 1-5",
        http_target=gcp.cloudscheduler.JobHttpTargetArgs(http_method="POST", uri=uri,
            oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(service_account_email=runtime.email)),
    )  # fmt: skip


def bucket(name: str) -> gcp.storage.Bucket:
    return gcp.storage.Bucket(name, name=name, location="US", uniform_bucket_level_access=True,
                              public_access_prevention="enforced", labels=LABELS)  # fmt: skip


# noted: start and stop a development VM on a schedule, one account holding only start/stop on that VM
box_sa, vm_scheduler = account("dev-box"), account("vm-scheduler")
box = gcp.compute.Instance(
    "dev-box", name="dev-box", zone=ZONE, machine_type="e2-small", labels=LABELS,
    boot_disk=gcp.compute.InstanceBootDiskArgs(initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
        image="debian-cloud/debian-12")),
    network_interfaces=[gcp.compute.InstanceNetworkInterfaceArgs(network="default")],
    service_account=gcp.compute.InstanceServiceAccountArgs(email=box_sa.email, scopes=["cloud-platform"]),
)  # fmt: skip
start_stop = gcp.projects.IAMCustomRole("start-stop", project=PROJECT, role_id="instanceStartStop", title="Start/stop",
                                        permissions=["compute.instances.start", "compute.instances.stop"])  # fmt: skip
gcp.compute.InstanceIAMMember("accept-scheduler-starts-and-stops", instance_name=box.name, zone=ZONE,
                              role=f"projects/{PROJECT}/roles/instanceStartStop", member=vm_scheduler.member,
                              opts=pulumi.ResourceOptions(depends_on=[start_stop]))  # fmt: skip
vm = f"https://compute.googleapis.com/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/dev-box"
scheduler("accept-start-dev-box", f"{vm}/start", vm_scheduler)
scheduler("note-stop-dev-box", f"{vm}/stop", vm_scheduler)

# noted: a service and its database migration job, one account reading the same password
shop_sa = account("shop-runtime")
auto = gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs())
password = gcp.secretmanager.Secret("shop-db-password", secret_id="shop-db-password", replication=auto, labels=LABELS)
gcp.secretmanager.SecretIamMember("accept-shop-reads-password", secret_id=password.secret_id,
                                  role="roles/secretmanager.secretAccessor", member=shop_sa.member)  # fmt: skip
gcp.projects.IAMMember("accept-shop-sql-client", project=PROJECT, role="roles/cloudsql.client", member=shop_sa.member)
service("accept-shop", shop_sa, [("DB_PASSWORD", password.secret_id, True)])
job("note-shop-migrate", shop_sa, [("DB_PASSWORD", password.secret_id, True)])

# rejected: the storefront shares the report job's account and with it the report bucket it never reads
store_sa = account("store-runtime")
reports = bucket("sales-reports")
gcp.storage.BucketIAMMember("accept-report-reads-bucket", bucket=reports.name, role="roles/storage.objectViewer",
                            member=store_sa.member)  # fmt: skip
job("nightly-report", store_sa, [("REPORT_BUCKET", reports.name, False)])
service("reject-storefront-shares-report-account", store_sa, [("GREETING", "hello", False)])

# rejected: the scheduler runs as the job it starts (a common shape): the job's bucket is the scheduler's too
export_sa = account("export-runtime")
exports = bucket("exports-bucket")
gcp.storage.BucketIAMMember("accept-export-writes", bucket=exports.name, role="roles/storage.objectCreator",
                            member=export_sa.member)  # fmt: skip
export = job("export", export_sa, [("EXPORT_BUCKET", exports.name, False)])
gcp.cloudrunv2.JobIamMember("accept-export-scheduler-runs", name=export.name, location=REGION,
                            role="roles/run.invoker", member=export_sa.member)  # fmt: skip
scheduler("reject-export-nightly-as-the-job",
          f"https://run.googleapis.com/v2/projects/{PROJECT}/locations/{REGION}/jobs/export:run", export_sa)  # fmt: skip

# rejected: two services on one account the stack grants nothing: nothing shows that sharing adds nothing
blank_sa = account("blank-runtime")
service("blank-a", blank_sa, [])
service("reject-blank-b", blank_sa, [])
