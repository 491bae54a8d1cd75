"""The intended-caller rule over whole stacks, generic in names; the URN reported is the grant at fault."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from secure_invoke.policies.guardrails.config import ConfigError, parse_settings
from secure_invoke.policies.guardrails.invokers import only_intended_invokers, unverified_invokers
from secure_invoke.policies.guardrails.pack import build_policies
from secure_invoke.policies.guardrails.public_access import no_public_members
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import UNKNOWN_OBJECT, UNKNOWN_STRING, ctx, project_stack, urn

RUN_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"


def named(resources: list[dict], name: str) -> dict:
    return next(r for r in resources if r["name"] == name)


def grant(name: str, target: str, member: str, role: str = "roles/run.invoker", rtype: str = RUN_MEMBER) -> dict:
    return {"urn": urn("dev", rtype, name), "type": rtype, "name": name,
            "props": {"name": target, "location": "us-central1", "role": role, "member": member}}  # fmt: skip


def emails(resources: list[dict]) -> dict[str, str]:
    relay = named(resources, "relay")["props"]
    return {
        "relay": relay["serviceConfig"]["serviceAccountEmail"],
        "trigger": relay["eventTrigger"]["serviceAccountEmail"],
        "worker": named(resources, "worker")["props"]["template"]["serviceAccount"],
        "build": relay["buildConfig"]["serviceAccount"].rsplit("/", 1)[-1],
    }


def test_project_stack_accepted() -> None:
    assert only_intended_invokers(StackModel(project_stack()), ctx()) == []


def test_email_case_does_not_matter_but_prefix_case_does() -> None:
    stack = project_stack()
    member = named(stack, "worker-invoker-relay")["props"]
    member["member"] = "serviceAccount:" + emails(stack)["relay"].upper()
    assert only_intended_invokers(StackModel(stack), ctx()) == []
    member["member"] = "serviceaccount:" + emails(stack)["relay"]
    found = only_intended_invokers(StackModel(stack), ctx())
    assert [at for at, _ in found] == [named(stack, "worker-invoker-relay")["urn"]]
    assert "is not a service account" in found[0][1]


@pytest.mark.parametrize(
    "member_of",
    [
        lambda e: "serviceAccount:" + e["worker"],  # a workload that does not call the worker
        lambda e: "serviceAccount:" + e["trigger"],  # the relay's trigger identity, not its runtime
        lambda e: "serviceAccount:" + e["build"],  # the relay's build identity
    ],
)
def test_identities_of_this_stack_that_do_not_call_rejected(member_of) -> None:
    stack = project_stack()
    extra = grant("extra-invoker", "worker-dev", member_of(emails(stack)))
    stack.append(extra)
    found = only_intended_invokers(StackModel(stack), ctx())
    assert [at for at, _ in found] == [extra["urn"]]
    assert f"serviceAccount:{emails(stack)['relay']}" in found[0][1]  # the exact fix
    assert unverified_invokers(StackModel(stack), ctx()) == []


def test_caller_outside_the_stack_is_advisory_until_allowed_invokers_is_set() -> None:
    stack = project_stack()
    extra = grant("outside", "worker-dev", "serviceAccount:someone-else@other-project.iam.gserviceaccount.com")
    stack.append(extra)
    assert only_intended_invokers(StackModel(stack), ctx()) == []
    noted = unverified_invokers(StackModel(stack), ctx())
    assert [at for at, _ in noted] == [extra["urn"]] and "allowedInvokers" in noted[0][1]
    listed = _allowed(FRONTEND)  # a list that does not name it: now provably not an intended caller
    assert [at for at, _ in only_intended_invokers(StackModel(stack), listed)] == [extra["urn"]]
    assert unverified_invokers(StackModel(stack), listed) == []


@pytest.mark.parametrize("member", ["user:alice@example.com", "group:devs@example.com", "allUsers",
                                    "domain:example.com", "serviceAccount:1234-compute@developer.gserviceaccount.com",
                                    "projectViewer:si-dev-1234"])  # fmt: skip
def test_members_other_policies_own_are_not_reported_twice(member: str) -> None:
    stack = project_stack()
    stack.append(grant("other", "worker-dev", member))
    assert (
        only_intended_invokers(StackModel(stack), ctx()) == [] and unverified_invokers(StackModel(stack), ctx()) == []
    )


def test_gen2_function_service_only_invoked_by_its_trigger_identity() -> None:
    stack = project_stack()
    extra = grant("relay-opened", "relay-dev", "serviceAccount:" + emails(stack)["relay"])
    stack.append(extra)
    found = only_intended_invokers(StackModel(stack), ctx())
    assert [at for at, _ in found] == [extra["urn"]]
    assert emails(stack)["trigger"] in found[0][1]


@pytest.mark.parametrize("role", ["roles/run.servicesInvoker", "roles/run.developer", "roles/run.admin"])
def test_other_invoke_capable_roles_checked(role: str) -> None:
    stack = project_stack()
    extra = grant("other-role", "worker-dev", "serviceAccount:" + emails(stack)["worker"], role)
    stack.append(extra)
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [extra["urn"]]


@pytest.mark.parametrize("role", ["roles/run.developer", "roles/run.admin"])
def test_intended_caller_with_manage_role_told_to_use_invoker(role: str) -> None:
    stack = project_stack()
    named(stack, "worker-invoker-relay")["props"]["role"] = role
    found = only_intended_invokers(StackModel(stack), ctx())
    assert len(found) == 1 and "grant roles/run.invoker on the service to serviceAccount:" in found[0][1]
    assert f"instead of {role}" in found[0][1]


def test_custom_role_with_invoke_permission_is_an_invoker_role() -> None:
    stack = project_stack()
    role_props = {
        "roleId": "callers",
        "name": "projects/si-dev-1234/roles/callers",
        "permissions": ["run.routes.invoke"],
    }
    stack.append({"urn": "urn:pulumi:dev::secure-invoke::gcp:projects/iAMCustomRole:IAMCustomRole::callers",
                  "type": "gcp:projects/iAMCustomRole:IAMCustomRole", "name": "callers", "props": role_props})  # fmt: skip
    extra = grant(
        "custom", "worker-dev", "serviceAccount:" + emails(stack)["worker"], "projects/si-dev-1234/roles/callers"
    )
    stack.append(extra)
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [extra["urn"]]
    # the intended caller through the custom role is fine
    extra["props"]["member"] = "serviceAccount:" + emails(stack)["relay"]
    assert only_intended_invokers(StackModel(stack), ctx()) == []


def test_binding_and_policy_data_checked_per_member() -> None:
    stack = project_stack()
    relay_member = "serviceAccount:" + emails(stack)["relay"]
    stranger = "serviceAccount:" + emails(stack)["worker"]  # in the stack, calls nothing
    binding = {"urn": "urn:b", "type": "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding", "name": "b",
               "props": {"name": "projects/si-dev-1234/locations/us-central1/services/worker-dev",
                         "role": "roles/run.invoker", "members": [relay_member, stranger]}}  # fmt: skip
    policy = {"urn": "urn:p", "type": "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", "name": "p",
              "props": {"name": "worker-dev", "policyData": json.dumps(
                  {"bindings": [{"role": "roles/run.invoker", "members": [relay_member, stranger]}]})}}  # fmt: skip
    stack += [binding, policy]
    found = only_intended_invokers(StackModel(stack), ctx())
    assert sorted(at for at, _ in found) == ["urn:b", "urn:p"]


def test_caller_found_through_custom_audience() -> None:
    stack = project_stack()
    worker = named(stack, "worker")["props"]
    worker["customAudiences"] = ["https://worker.secure-invoke.example"]
    env = named(stack, "relay")["props"]["serviceConfig"]["environmentVariables"]
    env["WORKER_URL"] = "https://worker.secure-invoke.example"
    env["WORKER_AUDIENCE"] = "https://worker.secure-invoke.example"
    assert only_intended_invokers(StackModel(stack), ctx()) == []
    env["WORKER_URL"] = env["WORKER_AUDIENCE"] = "https://worker.secure-invoke.example.evil"
    assert len(only_intended_invokers(StackModel(stack), ctx())) == 1


def test_generic_names_cloud_run_to_cloud_run() -> None:
    a = "caller@p.iam.gserviceaccount.com"
    b = "callee@p.iam.gserviceaccount.com"
    api_url = "https://api-xyz-ew.a.run.app"
    stack = [
        {"urn": "urn:front", "type": "gcp:cloudrunv2/service:Service", "name": "front",
         "props": {"name": "front", "uri": "https://front-xyz-ew.a.run.app",
                   "template": {"serviceAccount": a, "containers": [{"envs": [{"name": "API", "value": api_url + "/v1"}]}]}}},
        {"urn": "urn:api", "type": "gcp:cloudrunv2/service:Service", "name": "api",
         "props": {"name": "api", "uri": api_url, "template": {"serviceAccount": b}}},
        grant("api-invoker", "api", f"serviceAccount:{a}"),
    ]  # fmt: skip
    assert only_intended_invokers(StackModel(stack), ctx()) == []
    stack[0]["props"]["template"]["containers"][0]["envs"][0]["value"] = "https://elsewhere.example"
    assert len(only_intended_invokers(StackModel(stack), ctx())) == 1


def test_unknown_values_are_not_violations() -> None:
    preview = project_stack()
    named(preview, "worker-invoker-relay")["props"]["member"] = UNKNOWN_STRING
    assert only_intended_invokers(StackModel(preview), ctx()) == []

    unknown_uri = project_stack()
    named(unknown_uri, "worker")["props"]["uri"] = UNKNOWN_STRING
    named(unknown_uri, "worker")["props"]["urls"] = UNKNOWN_STRING
    named(unknown_uri, "relay")["props"]["serviceConfig"]["environmentVariables"] = UNKNOWN_OBJECT
    worker_identity = "serviceAccount:" + named(unknown_uri, "worker")["props"]["template"]["serviceAccount"]
    unknown_uri.append(grant("x", "worker-dev", worker_identity))
    assert (
        only_intended_invokers(StackModel(unknown_uri), ctx()) == []
    )  # could be a caller: judged once values are known

    # known parts still checked: a malformed member can never be an intended caller; an identity of no
    # workload here cannot be one of the unknown callers either (advisory: it may call from outside)
    known = copy.deepcopy(unknown_uri)
    known.append(grant("y", "worker-dev", "serviceaccount:alice@example.com"))
    known.append(grant("z", "worker-dev", "serviceAccount:stranger@p.iam.gserviceaccount.com"))
    assert [at.rsplit("::", 1)[1] for at, _ in only_intended_invokers(StackModel(known), ctx())] == ["y"]
    assert [at.rsplit("::", 1)[1] for at, _ in unverified_invokers(StackModel(known), ctx())] == ["z"]


def test_grants_on_services_outside_the_stack_ignored() -> None:
    stack = project_stack()
    stack.append(grant("external", "someone-elses-service", "serviceAccount:x@p.iam.gserviceaccount.com"))
    assert only_intended_invokers(StackModel(stack), ctx()) == []


CALLER_SA = "pusher@si-dev-1234.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("rtype", "props_for"),
    [
        ("gcp:pubsub/subscription:Subscription",
         lambda url: {"pushConfig": {"pushEndpoint": url + "/jobs", "oidcToken": {"serviceAccountEmail": CALLER_SA}}}),
        ("gcp:pubsub/subscription:Subscription",
         lambda url: {"pushConfig": {"pushEndpoint": "https://lb.example/jobs",
                                     "oidcToken": {"serviceAccountEmail": CALLER_SA, "audience": url}}}),
        ("gcp:cloudscheduler/job:Job",
         lambda url: {"httpTarget": {"uri": url + "/tick", "oidcToken": {"serviceAccountEmail": CALLER_SA}}}),
        ("gcp:eventarc/trigger:Trigger",
         lambda url: {"serviceAccount": CALLER_SA, "destination": {"cloudRunService": {"service": "worker-dev"}}}),
    ],
)  # fmt: skip
def test_non_workload_callers_are_intended_invokers(rtype: str, props_for) -> None:
    stack = project_stack()
    worker_url = named(stack, "worker")["props"]["uri"]
    stack.append({"urn": urn("dev", rtype, "caller"), "type": rtype, "name": "caller", "props": props_for(worker_url)})
    extra = grant("caller-invoker", "worker-dev", f"serviceAccount:{CALLER_SA}")
    stack.append(extra)
    assert only_intended_invokers(StackModel(stack), ctx()) == []
    # the same caller aimed elsewhere no longer justifies the grant
    stack[-2]["props"] = props_for("https://elsewhere-xyz-uc.a.run.app")
    if rtype == "gcp:eventarc/trigger:Trigger":
        stack[-2]["props"]["destination"]["cloudRunService"]["service"] = "elsewhere"
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [extra["urn"]]


def test_unauthenticated_push_subscription_is_no_caller() -> None:
    stack = project_stack()
    worker_url = named(stack, "worker")["props"]["uri"]
    sub = {"pushConfig": {"pushEndpoint": worker_url}}
    stack.append({"urn": "urn:s", "type": "gcp:pubsub/subscription:Subscription", "name": "s", "props": sub})
    stack.append(grant("stranger", "worker-dev", f"serviceAccount:{CALLER_SA}"))
    assert only_intended_invokers(StackModel(stack), ctx()) == []  # nothing here runs as it: the pack can't place it
    assert len(unverified_invokers(StackModel(stack), ctx())) == 1
    assert len(only_intended_invokers(StackModel(stack), _allowed(FRONTEND))) == 1


# --- allowedInvokers: callers that live outside the stack --------------------------------------------------

FRONTEND = "serviceAccount:frontend@other-project.iam.gserviceaccount.com"
FEDERATED = "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/subject/deploy"


def _allowed(*members: str):
    settings = parse_settings("only-intended-invokers", {"allowedInvokers": list(members)})
    return ctx(allowed_invokers=settings.allowed_invokers)


@pytest.mark.parametrize(
    ("configured", "granted"),
    [
        (FRONTEND, FRONTEND),
        ("serviceAccount:Frontend@Other-Project.iam.gserviceaccount.com", FRONTEND),  # emails: any case
        (FRONTEND, "serviceAccount:FRONTEND@other-project.iam.gserviceaccount.com"),
        (FEDERATED, FEDERATED),
    ],
)
def test_configured_outside_invoker_accepted(configured: str, granted: str) -> None:
    stack = project_stack()
    extra = grant("outside-caller", "worker-dev", granted)
    stack.append(extra)
    assert only_intended_invokers(StackModel(stack), ctx()) == []  # without config: noted, and told about the key
    found = unverified_invokers(StackModel(stack), ctx())
    assert [at for at, _ in found] == [extra["urn"]] and "allowedInvokers" in found[0][1]
    assert only_intended_invokers(StackModel(stack), _allowed(configured)) == []
    assert unverified_invokers(StackModel(stack), _allowed(configured)) == []


@pytest.mark.parametrize(
    ("configured", "granted"),
    [
        (FRONTEND, "serviceAccount:backend@other-project.iam.gserviceaccount.com"),  # another identity
        (FRONTEND, "serviceaccount:frontend@other-project.iam.gserviceaccount.com"),  # prefixes are exact
        (FEDERATED, FEDERATED.replace("/deploy", "/deploy-other")),
    ],
)
def test_configured_invoker_does_not_open_the_door_to_others(configured: str, granted: str) -> None:
    stack = project_stack()
    extra = grant("outside-caller", "worker-dev", granted)
    stack.append(extra)
    assert [at for at, _ in only_intended_invokers(StackModel(stack), _allowed(configured))] == [extra["urn"]]


@pytest.mark.parametrize("role", ["roles/run.developer", "roles/run.admin"])
def test_configured_invoker_with_manage_role_told_to_use_invoker(role: str) -> None:
    stack = project_stack()
    stack.append(grant("outside-admin", "worker-dev", FRONTEND, role))
    found = only_intended_invokers(StackModel(stack), _allowed(FRONTEND))
    assert len(found) == 1 and f"instead of {role}" in found[0][1]


@pytest.mark.parametrize(
    "member",
    [
        "allUsers",
        "allAuthenticatedUsers",
        "domain:acme.com",
        "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/*",
        "serviceAccount:*@other-project.iam.gserviceaccount.com",
        "serviceaccount:frontend@other-project.iam.gserviceaccount.com",
        "frontend@other-project.iam.gserviceaccount.com",
        "group:",
    ],
)
def test_public_broad_or_malformed_allowed_invokers_are_a_config_error(member: str) -> None:
    with pytest.raises(ConfigError, match=r"only-intended-invokers\.allowedInvokers: .* is not one identity"):
        parse_settings("only-intended-invokers", {"allowedInvokers": [FRONTEND, member]})


def test_public_member_stays_rejected_with_any_valid_config_once() -> None:
    stack = project_stack()
    extra = grant("public", "worker-dev", "allUsers")
    stack.append(extra)
    # One finding per root cause: the public rule's, which has no allowedInvokers key to widen.
    assert only_intended_invokers(StackModel(stack), _allowed(FRONTEND)) == []
    assert no_public_members(extra["type"], extra["props"], ctx())


@pytest.mark.parametrize("member", ["user:alice@acme.com", "group:oncall@acme.com"])
def test_people_are_not_allowed_invokers(member: str) -> None:
    with pytest.raises(ConfigError, match=r"is a person or group; people get time-bound grants"):
        parse_settings("only-intended-invokers", {"allowedInvokers": [FRONTEND, member]})


def test_allowed_invokers_schema_refuses_what_the_pack_refuses() -> None:
    policy = next(p for p in build_policies() if p.name == "only-intended-invokers")
    assert policy.config_schema is not None
    schema = {"type": "object", "properties": policy.config_schema.properties}
    jsonschema.validate({"allowedInvokers": [FRONTEND, FEDERATED]}, schema)
    for bad in ("allUsers", "allAuthenticatedUsers", "domain:acme.com", "serviceAccount:*@p.iam.gserviceaccount.com",
                "user:alice@acme.com", "group:oncall@acme.com",
                "serviceaccount:frontend@p.iam.gserviceaccount.com", "principalSet://iam.googleapis.com/x/*"):  # fmt: skip
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"allowedInvokers": [bad]}, schema)


# --- operator accounts: created here, borrowed only by people through time-bound grants -----------------------

OPERATOR = "worker-operator-dev@si-dev-1234.iam.gserviceaccount.com"


def _with_operator(*borrowers: tuple[str, str]) -> list[dict]:
    stack = project_stack()
    stack.append({"urn": urn("dev", "gcp:serviceaccount/account:Account", "worker-operator"),
                  "type": "gcp:serviceaccount/account:Account", "name": "worker-operator",
                  "props": {"accountId": "worker-operator-dev", "email": OPERATOR,
                            "name": f"projects/si-dev-1234/serviceAccounts/{OPERATOR}"}})  # fmt: skip
    for index, (member, role) in enumerate(borrowers):
        rtype = "gcp:serviceaccount/iAMMember:IAMMember"
        stack.append({"urn": urn("dev", rtype, f"borrow-{index}"), "type": rtype, "name": f"borrow-{index}",
                      "props": {"serviceAccountId": f"projects/si-dev-1234/serviceAccounts/{OPERATOR}",
                                "role": role, "member": member,
                                "condition": {"title": "t", "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")'}}})  # fmt: skip
    stack.append(grant("worker-invoker-operator", "worker-dev", f"serviceAccount:{OPERATOR}"))
    return stack


@pytest.mark.parametrize(
    "borrowers",
    [
        [("group:oncall@acme.com", "roles/iam.serviceAccountOpenIdTokenCreator")],
        [("principalSet://iam.googleapis.com/locations/global/workforcePools/acme/group/oncall",
          "roles/iam.serviceAccountOpenIdTokenCreator"),
         ("user:alice@acme.com", "roles/iam.serviceAccountTokenCreator")],
    ],
)  # fmt: skip
def test_operator_account_borrowed_only_by_people_is_a_caller_by_design(borrowers) -> None:
    stack = _with_operator(*borrowers)
    assert (
        only_intended_invokers(StackModel(stack), ctx()) == [] and unverified_invokers(StackModel(stack), ctx()) == []
    )
    assert only_intended_invokers(StackModel(stack), _allowed(FRONTEND)) == []  # whatever the outside list says


def test_operator_account_borrowed_by_a_workload_or_by_nobody_cannot_be_placed() -> None:
    workload = _with_operator(
        ("serviceAccount:ci@other.iam.gserviceaccount.com", "roles/iam.serviceAccountTokenCreator")
    )
    assert [at.rsplit("::", 1)[1] for at, _ in unverified_invokers(StackModel(workload), ctx())] == [
        "worker-invoker-operator"
    ]
    nobody = _with_operator()
    found = unverified_invokers(StackModel(nobody), ctx())
    assert len(found) == 1 and "created here but nothing here runs as it or may borrow it" in found[0][1]


def _name_in_worker_env(stack: list[dict], *emails: str) -> list[dict]:
    worker = named(stack, "worker")
    envs = worker["props"]["template"]["containers"][0].setdefault("envs", [])
    envs.append({"name": "ALLOWED_INVOKERS", "value": ",".join(emails)})
    return stack


def test_an_account_the_service_names_as_its_caller_is_a_caller_by_design() -> None:
    # No borrower yet (operator access is just in time), but the worker's own allow-list names it.
    stack = _name_in_worker_env(_with_operator(), "relay@x.iam.gserviceaccount.com", OPERATOR.upper())
    assert (
        only_intended_invokers(StackModel(stack), ctx()) == [] and unverified_invokers(StackModel(stack), ctx()) == []
    )


def test_being_named_does_not_excuse_a_workload_identity_or_another_service() -> None:
    # A workload of this stack that does not call the worker stays provably wrong, named or not.
    stack = project_stack()
    worker_identity = emails(stack)["worker"]
    stack.append(grant("worker-invoker-itself", "worker-dev", f"serviceAccount:{worker_identity}"))
    _name_in_worker_env(stack, worker_identity)
    assert [at.rsplit("::", 1)[1] for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [
        "worker-invoker-itself"
    ]
    # Named by one service, granted on another: still unplaced there.
    other = _name_in_worker_env(_with_operator(), OPERATOR)
    other[-1] = grant("relay-invoker-operator", "relay-dev", f"serviceAccount:{OPERATOR}")
    assert [at.rsplit("::", 1)[1] for at, _ in unverified_invokers(StackModel(other), ctx())] == [
        "relay-invoker-operator"
    ]


# --- "can invoke" by permission; project grants confined to one service ---------------------------------------


@pytest.mark.parametrize(
    ("role", "judged"),
    [
        ("roles/run.editor", True),  # carries run.routes.invoke (and redeploys)
        ("roles/run.sourceDeveloper", True),
        ("roles/cloudfunctions.developer", True),
        ("roles/run.viewer", False),  # no invoke permission
        ("roles/cloudfunctions.invoker", False),  # invokes functions, not Cloud Run services
    ],
)
def test_invoke_power_is_read_from_the_role_permissions(role: str, judged: bool) -> None:
    stack = project_stack()
    extra = grant("by-permission", "worker-dev", "serviceAccount:" + emails(stack)["worker"], role)
    stack.append(extra)
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == ([extra["urn"]] if judged else [])


PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"


def _confined(name: str, member: str, expression: str, role: str = "roles/run.invoker") -> dict:
    return {"urn": urn("dev", PROJECT_MEMBER, name), "type": PROJECT_MEMBER, "name": name,
            "props": {"project": "si-dev-1234", "role": role, "member": member,
                      "condition": {"title": "t", "expression": expression}}}  # fmt: skip


def test_a_project_grant_confined_to_one_service_is_judged_as_a_grant_on_it() -> None:
    stack = project_stack()
    on_worker = 'resource.name == "projects/si-dev-1234/locations/europe-west1/services/worker-dev"'
    stray = _confined("stray", "serviceAccount:" + emails(stack)["worker"], on_worker)
    caller = _confined("caller", "serviceAccount:" + emails(stack)["relay"], on_worker)
    elsewhere = _confined("elsewhere", "serviceAccount:" + emails(stack)["worker"],
                          'resource.name == "projects/p/locations/l/services/not-in-this-stack"')  # fmt: skip
    unknown = _confined("unknown", "serviceAccount:" + emails(stack)["worker"], UNKNOWN_STRING)
    stack += [stray, caller, elsewhere, unknown]
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [stray["urn"]]


def _caller(containers: list[dict], account: str = "api@p.iam.gserviceaccount.com") -> dict:
    return {"urn": urn("dev", "gcp:cloudrunv2/service:Service", "api"), "type": "gcp:cloudrunv2/service:Service",
            "name": "api", "props": {"name": "api", "uri": "https://api-xyz-ew.a.run.app",
                                     "template": {"serviceAccount": account, "containers": containers}}}  # fmt: skip


@pytest.mark.parametrize(
    "containers",
    [
        lambda url: [{"args": ["--worker-url", url]}],
        lambda url: [{"commands": ["/app", f"--worker={url}/jobs"]}],
        lambda url: [{"envs": [{"name": "CONFIG", "value": json.dumps({"upstreams": {"worker": url}})}]}],
        lambda url: [{"envs": [{"name": "UPSTREAMS", "value": f"a=https://x.example,worker={url}"}]}],
    ],
)
def test_a_workload_naming_the_url_anywhere_in_its_config_is_a_caller(containers) -> None:
    stack = project_stack()
    worker_url = named(stack, "worker")["props"]["uri"]
    stack.append(_caller(containers(worker_url)))
    extra = grant("api-invoker", "worker-dev", "serviceAccount:api@p.iam.gserviceaccount.com")
    stack.append(extra)
    assert (
        only_intended_invokers(StackModel(stack), ctx()) == [] and unverified_invokers(StackModel(stack), ctx()) == []
    )
    # the same workload naming another service only (a longer host is another host): provably not a caller
    stack[-2] = _caller(containers(worker_url + ".evil.example"))
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [extra["urn"]]


def test_a_workload_with_configuration_from_secret_manager_is_advisory_not_mandatory() -> None:
    stack = project_stack()
    secret_env = {"name": "WORKER_URL", "valueSource": {"secretKeyRef": {"secret": "worker-url", "version": "1"}}}
    stack.append(_caller([{"envs": [secret_env]}]))
    extra = grant("api-invoker", "worker-dev", "serviceAccount:api@p.iam.gserviceaccount.com")
    stack.append(extra)
    assert only_intended_invokers(StackModel(stack), ctx()) == []
    noted = unverified_invokers(StackModel(stack), ctx())
    assert [at for at, _ in noted] == [extra["urn"]] and "Secret Manager" in noted[0][1]
    # fully known and naming the worker nowhere: provably wrong
    stack[-2] = _caller([{"envs": [{"name": "WORKER_URL", "value": "https://elsewhere.example"}]}])
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [extra["urn"]]


def test_a_workflow_calling_the_service_is_a_caller() -> None:
    stack = project_stack()
    worker_url = named(stack, "worker")["props"]["uri"]
    source = f"main:\n  steps:\n  - call:\n      call: http.post\n      args:\n        url: {worker_url}/jobs\n        auth:\n          type: OIDC\n"
    wf_sa = "wf@si-dev-1234.iam.gserviceaccount.com"
    stack.append({"urn": "urn:wf", "type": "gcp:workflows/workflow:Workflow", "name": "wf",
                  "props": {"serviceAccount": wf_sa, "sourceContents": source}})  # fmt: skip
    stack.append(grant("wf-invoker", "worker-dev", f"serviceAccount:{wf_sa}"))
    assert (
        only_intended_invokers(StackModel(stack), ctx()) == [] and unverified_invokers(StackModel(stack), ctx()) == []
    )


FUNCTION_V1_MEMBER = "gcp:cloudfunctions/functionIamMember:FunctionIamMember"


def test_first_gen_functions_are_judged_by_their_invoke_permission() -> None:
    caller_sa, other_sa = "caller@p.iam.gserviceaccount.com", "other@p.iam.gserviceaccount.com"
    url = "https://europe-west1-p.cloudfunctions.net/hook"
    stack = [
        {"urn": "urn:hook", "type": "gcp:cloudfunctions/function:Function", "name": "hook",
         "props": {"name": "hook", "httpsTriggerUrl": url, "serviceAccountEmail": "hook@p.iam.gserviceaccount.com"}},
        {"urn": "urn:caller", "type": "gcp:cloudrunv2/job:Job", "name": "caller",
         "props": {"template": {"template": {"serviceAccount": caller_sa,
                                             "containers": [{"envs": [{"name": "HOOK", "value": url}]}]}}}},
        {"urn": "urn:other", "type": "gcp:cloudrunv2/job:Job", "name": "other",
         "props": {"template": {"template": {"serviceAccount": other_sa}}}},
    ]  # fmt: skip

    def on_hook(name: str, member: str, role: str) -> dict:
        return {"urn": urn("dev", FUNCTION_V1_MEMBER, name), "type": FUNCTION_V1_MEMBER, "name": name,
                "props": {"cloudFunction": "hook", "role": role, "member": member}}  # fmt: skip

    stack += [
        on_hook("intended", f"serviceAccount:{caller_sa}", "roles/cloudfunctions.invoker"),
        on_hook("stray", f"serviceAccount:{other_sa}", "roles/cloudfunctions.invoker"),
        on_hook("no-invoke", f"serviceAccount:{other_sa}", "roles/cloudfunctions.viewer"),
    ]
    found = only_intended_invokers(StackModel(stack), ctx())
    assert [at.rsplit("::", 1)[1] for at, _ in found] == ["stray"]
    assert "roles/cloudfunctions.invoker on the function" in found[0][1]
