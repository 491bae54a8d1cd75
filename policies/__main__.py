"""secure-invoke-guardrails: the CrossGuard pack (`pulumi up --policy-pack policies`). Assembles only."""

from guardrails import analyzer_cache
from guardrails.pack import PACK_NAME, build_policies, initial_config
from pulumi_policy import EnforcementLevel, PolicyPack

analyzer_cache.install()

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    initial_config=initial_config(),
    description="Rejects public invokers, long-lived or reused credentials, default/shared identities and "
    "broad roles on GCP.",
)
