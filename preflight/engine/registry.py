"""The engine's bookkeeping of one run: URNs, the root stack, default providers, every registration.

Thread-safe: the monitor's gRPC threads register concurrently, in the order the program's SDK sends them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from secure_invoke.preflight.engine import provenance
from secure_invoke.preflight.engine.offline_provider import OfflineProvider
from secure_invoke.preflight.engine.records import PROVIDER_PREFIX, STACK_TYPE, OnRegister, Resource, stack_urn
from secure_invoke.preflight.outputs.formats import digest
from secure_invoke.preflight.outputs.wire import plain


class RegistrationError(Exception):
    """A registration the engine refuses (e.g. a duplicate URN): the program sees it as the call's error."""


@dataclass
class Registration:
    """What a RegisterResource or ReadResource request asks for, already converted from protobuf."""

    type: str
    name: str
    parent: str
    custom: bool
    wire_inputs: dict[str, Any]
    provider: str = ""
    version: str = ""
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    import_id: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    remote: bool = False  # a multi-language component, constructed by its provider


def provider_id(urn: str) -> str:
    # The engine gives providers UUIDs; a stable one keeps provider references reproducible.
    hex_id = digest("provider", urn, length=32)
    return "-".join((hex_id[:8], hex_id[8:12], hex_id[12:16], hex_id[16:20], hex_id[20:]))


class Registry:
    def __init__(
        self,
        project: str,
        stack: str,
        config: dict[str, str],
        provider: OfflineProvider,
        on_register: OnRegister | None = None,
    ) -> None:
        self.project = project
        self.stack = stack
        self.config = config
        self.provider = provider
        self._plain_config = provenance.plain_config_values(config)
        self.on_register = on_register
        self.records: dict[str, Resource] = {}
        self._qualified: dict[str, str] = {}
        self._defaults: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()
        # The engine registers the root stack before anything else, even before invokes.
        self.stack_urn = stack_urn(project, stack)
        self._remember(Resource(self.stack_urn, STACK_TYPE, f"{project}-{stack}", None, False, {}, {}), STACK_TYPE)

    # Engine URNs: the root stack's type is not part of its children's qualified types, and a
    # nested child carries its parent's *whole* qualified type chain.
    def make_urn(self, parent: str, type_: str, name: str) -> tuple[str, str]:
        qualified = type_
        parent_type = self._qualified.get(parent, "") if parent else ""
        if parent_type and parent_type != STACK_TYPE:
            qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{name}", qualified

    def _remember(self, resource: Resource, qualified_type: str) -> None:
        if resource.urn in self.records:
            where = f" ({resource.source})" if resource.source else ""
            raise RegistrationError(f"Duplicate resource URN '{resource.urn}'; try giving it a unique name{where}")
        self.records[resource.urn] = resource
        self._qualified[resource.urn] = qualified_type
        if self.on_register is not None:
            # As the engine does: policy packs analyze each resource as it registers.
            self.on_register(resource, self.records.get(resource.provider_urn or ""))

    def provider_inputs(self, reference: str | None) -> dict[str, Any]:
        record = self.records.get(reference.rsplit("::", 1)[0]) if reference else None
        return record.inputs if record is not None else {}

    def default_provider(self, type_or_token: str, version: str) -> str | None:
        package = type_or_token.split(":", 1)[0]
        if package in ("pulumi", ""):
            return None
        key = (package, version)
        with self._lock:
            if key in self._defaults:
                return self._defaults[key]
            name = f"default_{version.replace('.', '_').replace('-', '_')}" if version else "default"
            provider_type = f"{PROVIDER_PREFIX}{package}"
            urn = f"urn:pulumi:{self.stack}::{self.project}::{provider_type}::{name}"
            prefix = f"{package}:"
            inputs: dict[str, Any] = {k[len(prefix) :]: v for k, v in self.config.items() if k.startswith(prefix)}
            if version:
                inputs["version"] = version
            resource = Resource(urn, provider_type, name, None, True, dict(inputs), dict(inputs), id=provider_id(urn))
            resource.wire_inputs, resource.wire_outputs = inputs, dict(inputs)
            self._remember(resource, provider_type)
            self._defaults[key] = f"{urn}::{resource.id}"
            return self._defaults[key]

    def register(self, request: Registration) -> Resource:
        with self._lock:
            urn, qualified = self.make_urn(request.parent, request.type, request.name)
            if request.type == STACK_TYPE and urn == self.stack_urn:
                return self.records[urn]
            resource = self._resource(urn, request)
            self._remember(resource, qualified)
            return resource

    def _resource(self, urn: str, request: Registration) -> Resource:
        type_, wire_inputs = request.type, request.wire_inputs
        inputs = plain(wire_inputs)
        provider_ref: str | None = request.provider or None
        is_provider = type_.startswith(PROVIDER_PREFIX)
        if request.custom and not is_provider and not provider_ref:
            provider_ref = self.default_provider(type_, request.version)
        resource_id, wire_outputs = "", {}
        if is_provider:
            resource_id, wire_outputs = provider_id(urn), dict(wire_inputs)
        elif request.custom:
            checked = self.provider.check(type_, request.name, inputs)
            if checked:
                wire_inputs, inputs = {**wire_inputs, **checked}, {**inputs, **checked}
            resource_id, wire_outputs = self.provider.create(
                type_, request.name, wire_inputs, inputs, self.provider_inputs(provider_ref)
            )
            if request.import_id:
                resource_id = request.import_id
        elif request.remote:
            # Its provider would construct the children; offline, the component stands alone with the
            # outputs its SDK declares.
            wire_outputs = self.provider.component_outputs(type_, request.name, wire_inputs, inputs)
        return Resource(
            urn=urn,
            type=type_,
            name=request.name,
            parent=request.parent or None,
            custom=request.custom,
            inputs=inputs,
            outputs=plain(wire_outputs),
            dependencies=request.dependencies,
            property_dependencies=request.property_dependencies,
            provider=provider_ref if request.custom else (request.provider or None),
            id=resource_id,
            options=request.options,
            wire_inputs=wire_inputs,
            wire_outputs=wire_outputs,
            source=request.source,
            provenance=self._provenance(request),
        )

    def _provenance(self, request: Registration) -> dict[str, Any]:
        """Where the program's inputs came from, as it sent them (before Check's autonames)."""
        provider = self.provider
        return provenance.provenance(
            request.wire_inputs,
            request.property_dependencies,
            self.records,
            self._plain_config,
            provider.handed,
            provider.handed_long,
            provider.program_dir,
        )

    def record_read(self, request: Registration, outputs: dict[str, Any], resource_id: str) -> Resource:
        """A resource read rather than created (a StackReference): outputs as given."""
        with self._lock:
            urn, qualified = self.make_urn(request.parent, request.type, request.name)
            resource = Resource(
                urn, request.type, request.name, request.parent or None, True, plain(request.wire_inputs),
                plain(outputs), request.dependencies, id=resource_id, wire_inputs=request.wire_inputs,
                wire_outputs=outputs, source=request.source,
            )  # fmt: skip
            self._remember(resource, qualified)
            return resource

    def set_outputs(self, urn: str, wire_outputs: dict[str, Any]) -> None:
        with self._lock:
            record = self.records.get(urn)
            if record is not None:
                record.wire_outputs = wire_outputs
                record.outputs = plain(wire_outputs)
