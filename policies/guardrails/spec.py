"""What a policy of the pack is: its rule, level, severity, config keys, peer checks and what it catches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pulumi_policy import EnforcementLevel, Severity

from .adapter import ResourceRule, StackRule

MANDATORY: Final = EnforcementLevel.MANDATORY
ADVISORY: Final = EnforcementLevel.ADVISORY
# Severity is how bad a finding is, apart from whether it blocks (level). Critical: anyone on the internet gets
# in (public members or ACLs, no invoker check, an unpinned federation provider). High: an identity gains more
# than it should or a credential can leak (escalation, default accounts, keys, secrets in plain env). Medium:
# access wider or longer than intended, each a step short of that. Low: hygiene and what the pack cannot see.
CRITICAL: Final = Severity.CRITICAL
HIGH: Final = Severity.HIGH
MEDIUM: Final = Severity.MEDIUM
LOW: Final = Severity.LOW


@dataclass(frozen=True)
class Spec:
    name: str
    # One sentence, what the SDK shows (`pulumi preview`, Pulumi Cloud).
    description: str
    level: EnforcementLevel
    severity: Severity
    # The policy table's "what it catches" cell (markdown): every shape the rule rejects.
    catches: str
    resource_rule: ResourceRule | None = None
    stack_rule: StackRule | None = None
    config_keys: tuple[str, ...] = ()
    # Read the config of another policy (its list of outside callers decides between this advisory and
    # that mandatory finding): one list, set in one place.
    settings_from: str | None = None
    # The peer checks this policy covers: checkov ids (CKV_GCP_…, CKV2_GCP_…) and CIS GCP benchmark items.
    peers: tuple[str, ...] = ()
