"""What a program run leaves behind: every resource as the engine records it, and the run itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_PREFIX = "pulumi:providers:"


def stack_urn(project: str, stack: str) -> str:
    """The root stack resource's URN, as the engine names it."""
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


@dataclass(eq=False)
class Resource:
    """One registered resource, as the engine would record it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str | None = None  # provider reference `<provider urn>::<provider id>`
    id: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # protect, ignoreChanges, ...
    # Engine wire form (secret markers, unknown sentinels): what the analyzer receives.
    wire_inputs: dict[str, Any] = field(default_factory=dict, repr=False)
    wire_outputs: dict[str, Any] = field(default_factory=dict, repr=False)
    source: str = ""  # `file:line` of the program statement that created it, when the SDK says
    # Where each input came from (engine/provenance.py): sent to policy packs with the inputs, never shown.
    provenance: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def provider_urn(self) -> str | None:
        if not self.provider:
            return None
        return self.provider.rsplit("::", 1)[0]


@dataclass(frozen=True)
class Invoke:
    """A provider function the program called (`gcp:organizations/getProject:getProject`), with its arguments
    and the inputs of the provider that answered it."""

    token: str
    args: dict[str, Any]
    provider_inputs: dict[str, Any]


@dataclass
class ProgramRun:
    project: str
    stack: str
    preview: bool
    resources: list[Resource]
    outputs: dict[str, Any]
    config: dict[str, str]
    secret_keys: set[str]
    program_dir: Path
    logs: list[str] = field(default_factory=list)
    # What preflight assumed where the CLI would have known: one line each, shown in the report.
    notes: list[str] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the program's process, user + system
    # Apply callbacks whose output known mode left unknown, as a preview would: callback, resources, error, why.
    unknown_applies: list[dict[str, Any]] = field(default_factory=list)
    invokes: list[Invoke] = field(default_factory=list)

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    @property
    def stack_urn(self) -> str:
        return stack_urn(self.project, self.stack)


OnRegister = Callable[[Resource, "Resource | None"], None]
"""Called with each resource (and its provider's record) as it registers, in registration order."""
