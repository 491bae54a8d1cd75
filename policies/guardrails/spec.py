"""What a policy of the pack is, declared whole: its rule, the resource types it judges, the settings it takes,
its level, severity, peer checks and what it catches."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import EnforcementLevel, Severity

from .config import SETTINGS
from .context import RuleContext
from .iam import is_grant_type
from .stack import StackModel

__all__ = [
    "ADVISORY",
    "CRITICAL",
    "GRANTS",
    "HIGH",
    "LOW",
    "MANDATORY",
    "MEDIUM",
    "ResourceRule",
    "Spec",
    "StackRule",
    "Types",
    "types",
]

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

# A resource rule: (type token, plain properties, context) -> messages. Called only for the Spec's types.
ResourceRule = Callable[[str, Mapping[str, Any], RuleContext], list[str]]
# A stack rule: (the stack's model, built once per AnalyzeStack; context) -> (urn, message) pairs.
StackRule = Callable[[StackModel, RuleContext], list[tuple[str, str]]]


@dataclass(frozen=True)
class Types:
    """The resource types a resource policy judges: pulumi-gcp type tokens, and/or every IAM grant type
    (`*IamMember`/`*IamBinding`/`*IamPolicy` of any module, recognised as iam.py recognises them)."""

    tokens: frozenset[str] = frozenset()
    grants: bool = False

    def __contains__(self, resource_type: object) -> bool:
        return resource_type in self.tokens or (self.grants and is_grant_type(resource_type))


GRANTS: Final = Types(grants=True)


def types(*groups: Iterable[str]) -> Types:
    """The types of the given groups of type tokens (a token is a group of one: pass it in a tuple)."""
    return Types(frozenset(token for group in groups for token in group))


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
    # The resource types a resource rule judges; the rule is never called for another one.
    types: Types = Types()
    # The config keys the policy takes besides `exemptions` (each a field of config.PolicySettings).
    settings: tuple[str, ...] = ()
    # The rule reads whether the resource's provider sets default labels (ctx.provider_default_labels).
    reads_provider_labels: bool = False
    # The peer checks this policy covers: checkov ids (CKV_GCP_…, CKV2_GCP_…) and CIS GCP benchmark items.
    peers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.resource_rule is None) == (self.stack_rule is None):
            raise ValueError(f"{self.name}: a policy has exactly one rule, a resource rule or a stack rule")
        if self.resource_rule is not None and not (self.types.tokens or self.types.grants):
            raise ValueError(f"{self.name}: a resource policy lists the resource types it judges")
        unknown = [key for key in self.settings if key not in SETTINGS]
        if unknown:
            raise ValueError(f"{self.name}: {', '.join(unknown)} is no setting of config.PolicySettings")

    def judges(self, resource_type: object) -> bool:
        """Is a resource of this type one the policy judges? (A stack policy judges the whole stack.)"""
        return self.stack_rule is not None or resource_type in self.types
