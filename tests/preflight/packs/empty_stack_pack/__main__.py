from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)


def needs_a_resource(args: StackValidationArgs, report: ReportViolation) -> None:
    # Written for stacks that hold something besides their root: fails on a stack with nothing else.
    first = next(r for r in args.resources if r.resource_type != "pulumi:pulumi:Stack")
    if not first.urn:
        report("a resource without a URN", first.urn)


PolicyPack(
    name="preflight-empty-stack-pack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name="needs-a-resource", description="Reads the first resource.", validate=needs_a_resource
        )
    ],
)
