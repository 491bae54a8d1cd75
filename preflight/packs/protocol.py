"""What the engine sends a policy pack and how it reads the answers: requests built from the recorded
resources, diagnostics turned into violations, the pack's declared policies and initial config."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from secure_invoke.policies.guardrails.provenance import PROVENANCE_KEY
from secure_invoke.preflight.engine.records import STACK_TYPE, ProgramRun, Resource
from secure_invoke.preflight.outputs.wire import plain, to_struct, without_references
from secure_invoke.preflight.packs.config import PolicyConfig, PolicyInfo

LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
LEVEL_VALUES = {name: value for value, name in LEVEL_NAMES.items()}


@dataclass
class Violation:
    policy_pack: str
    policy_pack_version: str
    policy: str
    enforcement_level: str
    urn: str
    message: str
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "policyPack": self.policy_pack,
            "policyPackVersion": self.policy_pack_version,
            "policy": self.policy,
            "enforcementLevel": self.enforcement_level,
            "urn": self.urn,
            "message": self.message,
        }


@dataclass
class Exemption:
    """A violation the pack found and did not report, because its config exempts that resource from that policy."""

    policy: str
    urn: str
    reason: str

    def as_json(self, pack: str) -> dict[str, Any]:
        return {"policyPack": pack, "policy": self.policy, "urn": self.urn, "reason": self.reason}


@dataclass
class UnknownExemption:
    """An exemption naming no resource of the stack: a typo exempts nothing."""

    policy: str
    urn: str
    did_you_mean: str | None

    def as_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "urn": self.urn, "didYouMean": self.did_you_mean}


# How a pack says what it exempted: one line each on its output, which the Pulumi CLI shows as a diagnostic of
# the stack (an analyzer's stdout and stderr lines become info diagnostics) and preflight reads back. pulumi-policy
# runs a Python pack without an engine connection, so `pulumi.log.info`/`warn` print `info: `/`warning: ` there.
EXEMPTED = re.compile(r"^(?:info: )?exempted from (?P<policy>[^\s:]+): (?P<urn>\S.*?) \(reason: (?P<reason>.*)\)$")
UNKNOWN_EXEMPTION = re.compile(
    r"^(?:warning: )?(?P<policy>[^\s:]+): the exemption of (?P<urn>\S.*?) names no resource of this stack"
    r"(?:; did you mean (?P<close>\S.*)\?)?$"
)


def exemptions_in(lines: list[str]) -> tuple[list[Exemption], list[UnknownExemption]]:
    """The exemption lines among what a pack printed, each once, in the order printed."""
    exempted: dict[tuple[str, str], Exemption] = {}
    unknown: dict[tuple[str, str], UnknownExemption] = {}
    for line in lines:
        text = line.strip()
        if match := EXEMPTED.match(text):
            exempted.setdefault(
                (match["policy"], match["urn"]), Exemption(match["policy"], match["urn"], match["reason"])
            )
        elif match := UNKNOWN_EXEMPTION.match(text):
            unknown.setdefault(
                (match["policy"], match["urn"]), UnknownExemption(match["policy"], match["urn"], match["close"])
            )
    return list(exempted.values()), list(unknown.values())


def declared_policies(info: Any) -> list[PolicyInfo]:
    policies = []
    for policy in info.policies:
        schema_properties = plain(json_format.MessageToDict(policy.configSchema.properties))
        policies.append(
            PolicyInfo(
                name=policy.name,
                enforcement_level=LEVEL_NAMES.get(policy.enforcementLevel, "advisory"),
                description=policy.description,
                schema_properties=schema_properties,
                required=list(policy.configSchema.required),
                has_schema=policy.HasField("configSchema"),
            )
        )
    return policies


def initial_config(info: Any) -> dict[str, PolicyConfig]:
    # As the CLI converts it: an entry without a level gets the proto default, ADVISORY.
    return {
        name: PolicyConfig(
            LEVEL_NAMES.get(config.enforcementLevel, "advisory"),
            plain(json_format.MessageToDict(config.properties)) or None,
        )
        for name, config in info.initialConfig.items()
    }


def configure_request(config: dict[str, PolicyConfig]) -> Any:
    """The Configure call for a reconciled config: each policy's level and properties."""
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for policy_name, policy_config in config.items():
        entry = request.policyConfig[policy_name]
        entry.enforcementLevel = LEVEL_VALUES.get(policy_config.enforcement_level, analyzer_pb2.ADVISORY)
        if policy_config.properties:
            entry.properties.update(policy_config.properties)
    return request


def _options(resource: Resource) -> Any:
    options = resource.options
    return analyzer_pb2.AnalyzerResourceOptions(
        parent=resource.parent or "",
        protect=bool(options.get("protect")),
        ignoreChanges=list(options.get("ignoreChanges") or []),
        deleteBeforeReplace=bool(options.get("deleteBeforeReplace")),
        deleteBeforeReplaceDefined=bool(options.get("deleteBeforeReplaceDefined")),
        additionalSecretOutputs=list(options.get("additionalSecretOutputs") or []),
    )


def _inputs_with_provenance(resource: Resource) -> dict[str, Any]:
    """The inputs as the engine sends them (resource references as ids, no top-level `__` key: the CLI's engine
    drops them, `SkipInternalKeys`), plus the one such key only preflight adds: where each input came from."""
    inputs = without_references(resource.wire_inputs)
    sent = {key: value for key, value in inputs.items() if not key.startswith("__")}
    sent[PROVENANCE_KEY] = resource.provenance
    return sent


def analyze_request(resource: Resource, provider: Resource | None) -> Any:
    """What the engine sends when a resource registers: its (checked) inputs, and preflight's provenance."""
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=to_struct(_inputs_with_provenance(resource)),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(provider),
    )


def root_stack_requests(stack_urn: str, name: str) -> tuple[Any, Any]:
    """Analyze and AnalyzeStack of a stack that holds only its root resource: what preflight sends right after
    Configure, so a policy that checks its config when it runs rejects a bad config before the program runs."""
    root = Resource(urn=stack_urn, type=STACK_TYPE, name=name, parent=None, custom=False, inputs={}, outputs={})
    return analyze_request(root, None), analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_resource(root, None)])


def _provider(provider: Resource | None) -> Any:
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type,
        properties=to_struct(without_references(provider.wire_inputs)),
        urn=provider.urn,
        name=provider.name,
    )


def analyze_stack_request(run: ProgramRun) -> Any:
    """What the engine sends once the program is done: every resource's outputs and relations."""
    by_urn = run.by_urn()
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[analyzer_resource(r, by_urn.get(r.provider_urn or "")) for r in run.resources]
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def stack_entry_bytes(entry: Any) -> bytes:
    """One AnalyzerResource as its part of a serialised AnalyzeStackRequest (`repeated resources = 1`): the
    request is the concatenation of its entries, so entries serialised as resources register need no copy and
    no serialisation of the whole request once the program is done."""
    data = entry.SerializeToString()
    return b"\n" + _varint(len(data)) + data  # field 1, wire type 2 (length-delimited)


def analyzer_resource(resource: Resource, provider: Resource | None) -> Any:
    """One resource of the AnalyzeStack request: its outputs, relations and provider."""
    return analyzer_pb2.AnalyzerResource(
        type=resource.type,
        properties=to_struct(without_references(resource.wire_outputs)),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(provider),
        parent=resource.parent or "",
        dependencies=resource.dependencies,
        propertyDependencies={
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
            for key, urns in resource.property_dependencies.items()
        },
    )


def diagnostics(response: Any, urn: str, version: str) -> list[Violation]:
    return [
        Violation(
            policy_pack=d.policyPackName,
            policy_pack_version=version or d.policyPackVersion,
            policy=d.policyName,
            enforcement_level=LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            urn=d.urn or urn,
            message=d.message,
            description=d.description,
        )
        for d in response.diagnostics
    ]
