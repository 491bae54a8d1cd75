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
