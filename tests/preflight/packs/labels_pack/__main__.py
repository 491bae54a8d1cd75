from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)


def topics_labelled(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "gcp:pubsub/topic:Topic" and not args.props.get("labels"):
        report("topic has no labels", None)


PolicyPack(
    name="preflight-labels-pack",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=[
        ResourceValidationPolicy(name="topics-labelled", description="Topics carry labels.", validate=topics_labelled)
    ],
)
