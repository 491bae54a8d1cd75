"""The ResourceMonitor gRPC service (`pulumi.runtime.proto`) a program's SDK talks to, as to the engine.

Requests are converted once, handed to the registry (registrations) or the offline provider (invokes),
and answered in the engine's wire form. What the engine refuses is answered with a gRPC error the SDK
raises in the program, and kept in `failures` with the program's file and line for the one-line cause.
"""

from __future__ import annotations

import functools
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2, resource_pb2, resource_pb2_grpc

from secure_invoke.preflight.engine.offline_provider import OfflineProvider
from secure_invoke.preflight.engine.records import Invoke
from secure_invoke.preflight.engine.registry import Registration, RegistrationError, Registry
from secure_invoke.preflight.engine.stack_references import STACK_REFERENCE_TYPE, StackReferences
from secure_invoke.preflight.outputs.wire import UNKNOWN, from_struct, plain, to_struct

_FEATURES = {
    "secrets": resource_pb2.RESOURCE_MONITOR_FEATURE_SECRETS,
    "resourceReferences": resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES,
    "deletedWith": resource_pb2.RESOURCE_MONITOR_FEATURE_DELETED_WITH,
    "aliasSpecs": resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS,
}


_MIN_COMPUTED = 6  # shorter computed values ("1", "true") say nothing about where a string came from


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _computed(record: Any) -> list[tuple[str, str]]:
    """(value, what it is) of each string output of `record` that its provider computed."""
    if not record.custom or record.type.startswith("pulumi:"):
        return []
    what = f"{record.type} '{record.name}'"
    found = [(record.id, f"the id of {what}")] if len(record.id) >= _MIN_COMPUTED else []
    for key, value in record.outputs.items():
        if key in record.inputs or value == UNKNOWN:
            continue
        found += [(s, f"{what}.{key}") for s in _strings(value) if len(s) >= _MIN_COMPUTED and s != UNKNOWN]
    return found


class Failure:
    """Something the engine refused, with where in the program it was asked for."""

    def __init__(self, message: str, source: str, subject: str) -> None:
        self.message, self.source, self.subject = message, source, subject


def _options(request: Any) -> dict[str, Any]:
    return {
        "protect": bool(request.protect),
        "ignoreChanges": list(request.ignoreChanges),
        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
        "deleteBeforeReplaceDefined": bool(request.deleteBeforeReplaceDefined),
        "additionalSecretOutputs": list(request.additionalSecretOutputs),
    }


class Monitor(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(
        self,
        registry: Registry,
        provider: OfflineProvider,
        stack_references: StackReferences,
        deployment: dict[str, Any],
        program_dir: Path,
    ) -> None:
        self.registry = registry
        self.provider = provider
        self.stack_references = stack_references
        self.deployment = deployment  # project, stack, config, ... for GetDeploymentInfo
        self.program_dir = program_dir
        self.failures: list[Failure] = []
        self.notes: list[str] = []  # what the report should say preflight could not do
        self.unknown_applies: list[dict[str, Any]] = []  # apply callbacks whose output known mode left unknown
        self.invokes: list[Invoke] = []  # provider functions called, in order (what a deployer must be allowed)
        self._lock = threading.Lock()

    def source(self, request: Any) -> str:
        """`file:line` of the program statement behind a request, relative to the program directory."""
        if not request.HasField("sourcePosition") or not request.sourcePosition.uri:
            return ""
        return f"{self._file(request.sourcePosition.uri)}:{request.sourcePosition.line}"

    @functools.lru_cache(maxsize=256)  # noqa: B019 (one monitor per run; a program has few files)
    def _file(self, uri: str) -> str:
        path = Path(unquote(urlparse(uri).path))
        if path.is_relative_to(self.program_dir):
            path = path.relative_to(self.program_dir)
        return str(path)

    def _refuse(self, context: Any, message: str, source: str, subject: str) -> None:
        with self._lock:
            self.failures.append(Failure(message, source, subject))
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, message)

    def SupportsFeature(self, request: Any, context: Any) -> Any:
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in _FEATURES)

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:
        return resource_pb2.DeploymentInfo(**self.deployment, supportedFeatures=list(_FEATURES.values()))

    def SignalAndWaitForShutdown(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    def RegisterPackage(self, request: Any, context: Any) -> Any:
        return resource_pb2.RegisterPackageResponse(ref=str(uuid.uuid5(uuid.NAMESPACE_URL, request.name)))

    def RegisterResource(self, request: Any, context: Any) -> Any:
        source = self.source(request)
        if request.remote:
            with self._lock:
                self.notes.append(
                    f"{request.type} '{request.name}' is a multi-language component: its provider does not run "
                    "offline, so the resources it would create are not registered"
                )
        registration = Registration(
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            wire_inputs=from_struct(request.object),
            provider=request.provider,
            version=request.version,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            import_id=request.importId,
            options=_options(request),
            source=source,
            remote=bool(request.remote),
        )
        resource = self._register(registration, context)
        return resource_pb2.RegisterResourceResponse(
            urn=resource.urn, id=resource.id, object=to_struct(resource.wire_outputs)
        )

    def _register(self, registration: Registration, context: Any) -> Any:
        try:
            return self.registry.register(registration)
        except RegistrationError as err:
            self._refuse(context, str(err), registration.source, f"{registration.type} '{registration.name}'")
        except Exception as err:  # a bug of preflight's, reported with the resource, not as a hang
            message = f"preflight could not register {registration.type} '{registration.name}': {err!r}"
            self._refuse(context, message, registration.source, f"{registration.type} '{registration.name}'")
        raise AssertionError("unreachable: context.abort raises")

    def ReadResource(self, request: Any, context: Any) -> Any:
        registration = Registration(
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=True,
            wire_inputs=from_struct(request.properties),
            provider=request.provider,
            version=request.version,
            dependencies=list(request.dependencies),
            import_id=request.id,
            source=self.source(request),
        )
        if request.type == STACK_REFERENCE_TYPE:
            return self._read_stack_reference(request, registration, context)
        resource = self._register(registration, context)
        return resource_pb2.ReadResourceResponse(
            urn=resource.urn, id=resource.id, properties=to_struct(resource.wire_outputs)
        )

    def _read_stack_reference(self, request: Any, registration: Registration, context: Any) -> Any:
        state, supplied = self.stack_references.read(request.id or request.name)
        try:
            resource = self.registry.record_read(registration, state, request.id)
        except RegistrationError as err:
            self._refuse(context, str(err), registration.source, f"StackReference '{request.name}'")
            raise
        # Without the other stack's outputs, the read is "unknown": the SDK resolves every output of the
        # reference as unknown, even outside a preview, so the program's applies on them do not run.
        properties = resource.wire_outputs if supplied else {"name": state["name"]}
        return resource_pb2.ReadResourceResponse(
            urn=resource.urn, id=resource.id, properties=to_struct(properties), unknown=not supplied
        )

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:
        self.registry.set_outputs(request.urn, from_struct(request.outputs))
        return empty_pb2.Empty()

    def Invoke(self, request: Any, context: Any) -> Any:
        args = plain(from_struct(request.args))
        response = resource_pb2.ResourceInvokeResponse()
        if request.tok in _INTERNAL:
            result = _INTERNAL[request.tok](self, args)
        elif request.tok == "pulumi:pulumi:getResource":
            record = self.registry.records.get(str(args.get("urn")))
            if record is None:
                self._refuse(context, f"unknown resource {args.get('urn')}", self.source(request), request.tok)
                raise AssertionError("unreachable")
            result = {"urn": record.urn, "id": record.id, "state": record.wire_outputs}
        else:
            reference = request.provider or self.registry.default_provider(request.tok, request.version)
            provider_inputs = self.registry.provider_inputs(reference)
            with self._lock:
                self.invokes.append(Invoke(request.tok, args, provider_inputs))
            try:
                result = self.provider.invoke(request.tok, args, provider_inputs)
            except (OSError, ValueError, TypeError, KeyError) as err:
                reason = f"{type(err).__name__}: {err}"
                with self._lock:
                    self.failures.append(
                        Failure(f"invoke of {request.tok} failed: {reason}", self.source(request), request.tok)
                    )
                response.failures.append(provider_pb2.CheckFailure(property="", reason=reason))
                return response
        getattr(response, "return").CopyFrom(to_struct(result))  # `return` is a Python keyword
        return response

    # The launcher's questions (engine/launcher.py, known mode only) ------------------------------------------

    def computed_values(self, args: dict[str, Any]) -> dict[str, Any]:
        """Which values in `args["value"]` only known mode knows: outputs a provider computes, which a preview
        leaves unknown (every output a program did not give as an input, and the id)."""
        strings = [s for s in _strings(args.get("value")) if len(s) >= _MIN_COMPUTED]
        found: list[str] = []
        if strings:
            for record in list(self.registry.records.values()):
                for value, what in _computed(record):
                    if any(value in s for s in strings):
                        found.append(what)
                        break
                if found:
                    break
        return {"computed": found}

    def unknown_apply(self, args: dict[str, Any]) -> dict[str, Any]:
        """An apply callback known mode treated as a preview does (its output unknown): kept for the report."""
        resources = [str(r) for r in args.get("resources") or []]
        entry = {
            "callback": str(args.get("callback", "")),
            "resources": resources,
            "error": str(args.get("error", "")),
            "why": str(args.get("why", "")),
        }
        on = f" on an output of {', '.join(resources)}" if resources else ""
        with self._lock:
            self.unknown_applies.append(entry)
            self.notes.append(
                f"warning: apply callback {entry['callback']}{on} left unknown, as in a preview: {entry['why']} "
                f"({entry['error']})"
            )
        return {}

    def Call(self, request: Any, context: Any) -> Any:
        # Methods of resources (multi-language components' calls) have no offline implementation.
        self._refuse(context, f"method call {request.tok} is not supported offline", self.source(request), request.tok)


_INTERNAL = {
    "preflight:internal:computedValues": Monitor.computed_values,
    "preflight:internal:unknownApply": Monitor.unknown_apply,
}
