"""Rules small enough to read in a test: one per kind of check preflight must carry to the pack."""

import os

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PUBLIC = {"allUsers", "allAuthenticatedUsers"}


def no_public_members(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type.endswith(("IamMember", "IAMMember")) and args.props.get("member") in PUBLIC:
        report(f"{args.props['member']} may not be granted {args.props.get('role')}", None)


def allowed_roles(args: ResourceValidationArgs, report: ReportViolation) -> None:
    allowed = args.get_config()["roles"]
    if args.resource_type.endswith(("IamMember", "IAMMember")) and args.props.get("role") not in allowed:
        report(f"role {args.props.get('role')} is not in {sorted(allowed)}", None)


def one_invoker_per_service(args: StackValidationArgs, report: ReportViolation) -> None:
    # Needs known outputs: the service's name and the granted member's email.
    invokers: dict[str, list[str]] = {}
    for resource in args.resources:
        if resource.resource_type == "gcp:cloudrunv2/serviceIamMember:ServiceIamMember":
            invokers.setdefault(resource.props["name"], []).append(resource.props["member"])
    for resource in args.resources:
        if resource.resource_type == "gcp:cloudrunv2/service:Service":
            members = invokers.get(resource.props["name"], [])
            if len(members) > 1:
                report(f"service {resource.props['name']} has {len(members)} invokers", resource.urn)


def sees_the_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    # The stack's config reaches the pack through PULUMI_CONFIG, as the CLI passes it.
    if os.environ.get("PULUMI_PROJECT") == "basic" and pulumi.Config("basic").get("greeting") != "hello":
        report("the stack's config did not reach the pack", None)
    types = {r.resource_type for r in args.resources}
    if "pulumi:pulumi:Stack" not in types or not any(t.startswith("pulumi:providers:") for t in types):
        report("the stack resource or its providers are missing from AnalyzeStack", None)
    for resource in args.resources:
        if resource.resource_type.endswith("IamMember") and resource.parent is None:
            report("an IAM member lost its parent", resource.urn)


PolicyPack(
    name="preflight-test-pack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="no-public-members", description="No public IAM members.", validate=no_public_members
        ),
        ResourceValidationPolicy(
            name="allowed-roles",
            description="Only allow-listed roles.",
            validate=allowed_roles,
            enforcement_level=EnforcementLevel.ADVISORY,
            config_schema=PolicyConfigSchema(
                properties={
                    "roles": {
                        "type": "array",
                        "items": {"type": "string"},
                        "default": ["roles/run.invoker", "roles/pubsub.publisher"],
                    },
                    "maxGrants": {"type": "integer", "minimum": 1},
                },
            ),
        ),
        StackValidationPolicy(
            name="one-invoker-per-service", description="A service has one invoker.", validate=one_invoker_per_service
        ),
        StackValidationPolicy(
            name="sees-the-stack", description="AnalyzeStack sees everything.", validate=sees_the_stack
        ),
    ],
)
