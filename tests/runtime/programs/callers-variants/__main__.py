"""A private worker made as the stack makes it (PrivateService, its own caller check on) and one caller of each
kind — a Cloud Scheduler job, a Pub/Sub push subscription, a Cloud Tasks queue, a workflow, a workload elsewhere —
three ways, by config `callers-variants:case`:

- `approved`: every caller declared (one `Caller` each): grant, allowlist entry and audience from one place.
- `unlisted`: every caller made by hand, with its own account and its own `roles/run.invoker` grant, none
  declared, so the worker's allowlist does not name it (issue 19's scheduler job added with a bare grant).
- `wrong-audience`: every caller declared by its account only (grant and allowlist entry), and made by hand to
  send the service's URL as its token audience: Cloud Run would take it, the worker checks its own.

tests/runtime/test_pack_agrees.py runs each through preflight (the pack's verdict) and through the Cloud Run
front-end stand-in and the worker (what they answer each caller).
"""

import json

import pulumi

from secure_invoke.components import (
    Caller,
    CallerEnv,
    PrivateService,
    PrivateServiceArgs,
    PushCall,
    QueuedCall,
    ScheduledCall,
    ScopedRole,
    ServiceIdentity,
    ServiceIdentityArgs,
    WorkflowCall,
    grant,
)
from secure_invoke.components.callers import Call, Target, caller_resource

case = pulumi.Config().require("case")
gcp_config = pulumi.Config("gcp")
project, region = gcp_config.require("project"), gcp_config.require("region")
AUDIENCE = f"https://worker-dev.{project}.secure-invoke.internal"
ELSEWHERE = "ledger-runtime@acme-ledger-dev.iam.gserviceaccount.com"
IMAGE = f"{region}-docker.pkg.dev/{project}/worker-dev/worker@sha256:" + "0" * 64
CALLS: dict[str, Call] = {
    "nightly": ScheduledCall(schedule="0 3 * * *", body=json.dumps({"job": {"task": "primes", "limit": 100}})),
    "invoices": PushCall(topic="projects/acme-billing-dev/topics/invoices"),
    "batch": QueuedCall(max_attempts=5),
    "reports": WorkflowCall(),
}
if case not in ("approved", "unlisted", "wrong-audience"):
    raise ValueError(f"callers-variants:case: {case!r} is not approved, unlisted or wrong-audience")


def email(name: str) -> str:
    return f"{name}-dev@{project}.iam.gserviceaccount.com"


worker_identity = ServiceIdentity(
    "worker-runtime", ServiceIdentityArgs(account_id="worker-runtime-dev", display_name="worker", project=project)
)
# The account people borrow: in every case, so the worker always has a caller list.
callers = [Caller("worker-operator", account_id="worker-operator-dev", operator=True)]
if case == "approved":
    callers += [Caller(name, account_id=f"{name}-dev", call=call) for name, call in CALLS.items()]
    callers.append(Caller("ledger", email=ELSEWHERE))
elif case == "wrong-audience":
    callers += [Caller(name, email=email(name)) for name in CALLS]
    callers.append(Caller("ledger", email=ELSEWHERE))

worker = PrivateService(
    "worker",
    PrivateServiceArgs(
        region=region,
        project=project,
        service_name="worker-dev",
        image=IMAGE,
        identity=worker_identity,
        callers=callers,
        caller_env=CallerEnv(),
        custom_audience=AUDIENCE,
        deletion_protection=False,
        labels={"app": "callers-variants"},
    ),
)

if case != "approved":
    # The same Google resources PrivateService would make, made by hand around it.
    audience = worker.uri if case == "wrong-audience" else worker.audience
    target = Target(uri=worker.uri, audience=audience, region=region, project=project, timeout_seconds=300,
                    deletion_protection=False, labels={"app": "callers-variants"})  # fmt: skip
    for name, call in CALLS.items():
        account = ServiceIdentity(
            f"{name}-account", ServiceIdentityArgs(account_id=f"{name}-dev", display_name=name, project=project)
        )
        opts = pulumi.ResourceOptions()
        if case == "unlisted":
            invoker = ScopedRole("roles/run.invoker", "run_service", worker.name, location=region, project=project)
            opts = pulumi.ResourceOptions(depends_on=[grant(f"{name}-invoker", account.member, invoker)])
        caller_resource(Caller(name, identity=account, call=call), account.email, target, opts)
    if case == "unlisted":
        invoker = ScopedRole("roles/run.invoker", "run_service", worker.name, location=region, project=project)
        grant("ledger-invoker", f"serviceAccount:{ELSEWHERE}", invoker)

pulumi.export("worker_url", worker.uri)
pulumi.export("worker_audience", worker.audience)
