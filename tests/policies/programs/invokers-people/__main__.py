"""Who may invoke a private service: a caller in another stack (noted), an operator account people borrow
for a few days, people with expiring grants (accepted); standing or far-off access for people, project-wide
impersonation and an identity of this stack that calls nothing (rejected); a lapsed grant (noted)."""

from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_gcp as gcp


def until(days: float) -> str:
    moment = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'request.time < timestamp("{moment}")'


api_sa = gcp.serviceaccount.Account("api", account_id="api-runtime")
batch_sa = gcp.serviceaccount.Account("batch", account_id="batch-runtime")
operator = gcp.serviceaccount.Account("operator", account_id="api-operator")
api = gcp.cloudrunv2.Service(
    "api",
    name="api",
    location="us-central1",
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    deletion_protection=False,
    labels={"app": "t"},
    template=gcp.cloudrunv2.ServiceTemplateArgs(
        service_account=api_sa.email,
        containers=[gcp.cloudrunv2.ServiceTemplateContainerArgs(image="us-docker.pkg.dev/cloudrun/container/hello")],
    ),
)
batch = gcp.cloudrunv2.Job(
    "batch",
    name="batch",
    location="us-central1",
    deletion_protection=False,
    labels={"app": "t"},
    template=gcp.cloudrunv2.JobTemplateArgs(
        template=gcp.cloudrunv2.JobTemplateTemplateArgs(
            service_account=batch_sa.email,
            containers=[
                gcp.cloudrunv2.JobTemplateTemplateContainerArgs(image="us-docker.pkg.dev/cloudrun/container/job")
            ],
        )
    ),
)


def invoker(name: str, member: pulumi.Input[str], condition: str | None = None) -> None:
    gcp.cloudrunv2.ServiceIamMember(
        name,
        name=api.name,
        location="us-central1",
        role="roles/run.invoker",
        member=member,
        condition=gcp.cloudrunv2.ServiceIamMemberConditionArgs(title=name, expression=condition) if condition else None,
    )


# accepted
invoker("accept-operator", operator.member)
gcp.serviceaccount.IAMMember(
    "accept-oncall-borrows-operator",
    service_account_id=operator.name,
    role="roles/iam.serviceAccountOpenIdTokenCreator",
    member="principalSet://iam.googleapis.com/locations/global/workforcePools/acme/group/oncall",
    condition=gcp.serviceaccount.IAMMemberConditionArgs(title="on-call", expression=until(3)),
)
invoker("accept-person-until-friday", "user:alice@acme.com", until(2))
invoker("accept-workforce-group-expiring",
        "principalSet://iam.googleapis.com/locations/global/workforcePools/acme/group/sre", until(5))  # fmt: skip

# noted (advisory)
invoker("note-caller-in-another-stack", "serviceAccount:frontend@other-project.iam.gserviceaccount.com")
invoker("note-lapsed-grant", "user:bob@acme.com", until(-1))

# rejected
invoker("reject-batch-calls-nothing", batch_sa.member)
invoker("reject-standing-person", "user:mallory@acme.com")
invoker("reject-far-off-person", "group:devs@acme.com", until(30))
gcp.serviceaccount.IAMMember(
    "reject-borrow-operator-for-good",
    service_account_id=operator.name,
    role="roles/iam.serviceAccountOpenIdTokenCreator",
    member="group:devs@acme.com",
)
gcp.serviceaccount.IAMMember(
    "reject-borrow-operator-for-a-month",
    service_account_id=operator.name,
    role="roles/iam.serviceAccountOpenIdTokenCreator",
    member="user:carol@acme.com",
    condition=gcp.serviceaccount.IAMMemberConditionArgs(title="month", expression=until(30)),
)
gcp.projects.IAMMember("reject-project-token-creator", project="si-pack-1234",
                       role="roles/iam.serviceAccountTokenCreator", member="group:oncall@acme.com")  # fmt: skip

# A workflow that calls the service (its source names the URL) and a job that reads its config from Secret
# Manager (the pack cannot see whether the URL is there: noted, not rejected).
flow_sa = gcp.serviceaccount.Account("flow", account_id="flow-runtime")
gcp.workflows.Workflow(
    "flow", region="us-central1", deletion_protection=False, service_account=flow_sa.id,
    source_contents=api.uri.apply(lambda uri: f"main:\n  steps:\n  - call:\n      call: http.get\n      args:\n"
                                              f"        url: {uri}/health\n        auth:\n          type: OIDC\n"),
)  # fmt: skip
invoker("accept-workflow-caller", flow_sa.member)
secret_job_sa = gcp.serviceaccount.Account("secret-job", account_id="secret-job")
gcp.cloudrunv2.Job(
    "secret-job", name="secret-job", location="us-central1", deletion_protection=False, labels={"app": "t"},
    template=gcp.cloudrunv2.JobTemplateArgs(template=gcp.cloudrunv2.JobTemplateTemplateArgs(
        service_account=secret_job_sa.email,
        containers=[gcp.cloudrunv2.JobTemplateTemplateContainerArgs(
            image="us-docker.pkg.dev/cloudrun/container/job",
            envs=[gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs(
                name="API_URL", value_source=gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceArgs(
                    secret_key_ref=gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs(
                        secret="api-url", version="latest")))])],
    )),
)  # fmt: skip
invoker("note-caller-with-secret-config", secret_job_sa.member)
# A project-wide run.invoker that its condition confines to the service: judged as a grant on the service.
gcp.projects.IAMMember(
    "reject-project-invoker-for-batch", project="si-pack-1234", role="roles/run.invoker", member=batch_sa.member,
    condition=gcp.projects.IAMMemberConditionArgs(
        title="api-only",
        expression=api.name.apply(lambda n: f'resource.name == "projects/si-pack-1234/locations/us-central1/services/{n}"')),
)  # fmt: skip
