from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)


def crash_on_topics(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == "gcp:pubsub/topic:Topic":
        raise KeyError("labels")


PolicyPack(
    name="preflight-crashing-pack",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name="crashes", description="Raises on topics.", validate=crash_on_topics)],
)
