"""Run a Pulumi Python program under the SDK's mock runtime and record what it registers.

The recording is what the Pulumi engine would see: every RegisterResourceRequest with its inputs,
parent, dependencies, property dependencies and provider, with engine-style URNs, plus the default
providers the engine would synthesise.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import runpy
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.errors import RunError
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.rpc import UNKNOWN
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from preflight import mocks
from preflight.config import ConfigError, Project, load_project

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (the SDK's secret marker)
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
STACK_TYPE = "pulumi:pulumi:Stack"

# Inherited from a CLI-launched parent process they would override the config we set.
_SCRUBBED_ENV_PREFIXES = ("PULUMI_CONFIG",)
_SCRUBBED_ENV = ("PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN", "PULUMI_ORGANIZATION")

# The SDK keeps its state in process-wide context variables: one program at a time.
_RUN_LOCK = threading.RLock()


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

    @property
    def provider_urn(self) -> str | None:
        if not self.provider:
            return None
        return self.provider.rsplit("::", 1)[0]


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

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    @property
    def stack_urn(self) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{STACK_TYPE}::{self.project}-{self.stack}"


OnRegister = Callable[[Resource, "Resource | None"], None]
"""Called with each resource (and its provider's record) as it registers, in registration order."""


class ProgramError(Exception):
    """The program, its config or one of its apply callbacks failed; args[0] is a one-line cause."""

    def __init__(self, cause: str, resources: list[Resource] | None = None, details: str = "") -> None:
        super().__init__(cause)
        self.resources = resources or []
        self.details = details  # full traceback, for --debug


def plain(value: Any, secret_mask: str | None = None) -> Any:
    """Engine wire value → plain Python: references as URNs, unknowns as the sentinel, and secrets unwrapped
    or, given `secret_mask`, replaced by it."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return secret_mask if secret_mask is not None else plain(value.get("value"))
        if sig == RESOURCE_SIG:
            return value.get("urn")
        if sig == OUTPUT_VALUE_SIG:
            if secret_mask is not None and value.get("secret"):
                return secret_mask
            return plain(value.get("value", UNKNOWN), secret_mask)
        return {k: plain(v, secret_mask) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, secret_mask) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def _to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def _provider_id(urn: str) -> str:
    # The engine gives providers UUIDs; a stable one keeps provider references reproducible.
    hex_id = mocks.digest("provider", urn, length=32)
    return "-".join((hex_id[:8], hex_id[8:12], hex_id[12:16], hex_id[16:20], hex_id[20:]))


class _NoMocks(pulumi_mocks.Mocks):
    # RecordingMonitor answers every request itself; these are never called.
    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        return {}, None

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        return "", {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A resource monitor that records full registrations and answers like the engine would."""

    def __init__(
        self,
        project: str,
        stack: str,
        preview: bool,
        config: Mapping[str, str],
        on_register: OnRegister | None = None,
    ) -> None:
        super().__init__(_NoMocks())
        self.on_register = on_register
        self.project = project
        self.stack = stack
        self.preview = preview
        self.config = dict(config)
        self.records: dict[str, Resource] = {}
        self._qualified_types: dict[str, str] = {}
        self._default_providers: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()
        # The engine registers the root stack before anything else, even before invokes.
        self.stack_urn = f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"
        self._remember(Resource(self.stack_urn, STACK_TYPE, f"{project}-{stack}", None, False, {}, {}), STACK_TYPE)

    # Engine URNs: the root stack's type is not part of its children's qualified types, and a
    # nested child carries its parent's *whole* qualified type chain.
    def make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        parent_type = self._qualified_types.get(parent, "") if parent else ""
        if parent_type and parent_type != STACK_TYPE:
            qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{name}"

    def _remember(self, resource: Resource, qualified_type: str) -> None:
        if resource.urn in self.records:
            raise RuntimeError(f"Duplicate resource URN '{resource.urn}'; try giving it a unique name")
        self.records[resource.urn] = resource
        self._qualified_types[resource.urn] = qualified_type
        self.resources[resource.urn] = pulumi_mocks.MockMonitor.ResourceRegistration(
            resource.urn, resource.id, plain(resource.wire_outputs)
        )
        if self.on_register is not None:
            # As the engine does: policy packs analyze each resource as it registers.
            self.on_register(resource, self.records.get(resource.provider_urn or ""))

    def _qualified(self, urn: str) -> str:
        return urn.split("::")[2]

    def _default_provider(self, type_or_token: str, version: str) -> str | None:
        package = type_or_token.split(":", 1)[0]
        if package in ("pulumi", ""):
            return None
        key = (package, version)
        with self._lock:
            ref = self._default_providers.get(key)
            if ref is not None:
                return ref
            name = f"default_{version.replace('.', '_').replace('-', '_')}" if version else "default"
            provider_type = f"pulumi:providers:{package}"
            urn = f"urn:pulumi:{self.stack}::{self.project}::{provider_type}::{name}"
            prefix = f"{package}:"
            inputs: dict[str, Any] = {k[len(prefix) :]: v for k, v in self.config.items() if k.startswith(prefix)}
            if version:
                inputs["version"] = version
            provider_id = _provider_id(urn)
            self._remember(
                Resource(
                    urn=urn,
                    type=provider_type,
                    name=name,
                    parent=None,
                    custom=True,
                    inputs=dict(inputs),
                    outputs=dict(inputs),
                    id=provider_id,
                    wire_inputs=inputs,
                    wire_outputs=dict(inputs),
                ),
                provider_type,
            )
            ref = f"{urn}::{provider_id}"
            self._default_providers[key] = ref
            return ref

    def _provider_settings(self, provider_ref: str | None) -> tuple[str, str]:
        inputs: dict[str, Any] = {}
        if provider_ref:
            record = self.records.get(provider_ref.rsplit("::", 1)[0])
            if record is not None:
                inputs = record.inputs
        project = inputs.get("project") or self.config.get("gcp:project") or mocks.DEFAULT_PROJECT
        region = inputs.get("region") or self.config.get("gcp:region") or mocks.DEFAULT_REGION
        return str(project), str(region)

    def _register(
        self,
        type_: str,
        name: str,
        parent: str,
        custom: bool,
        wire_inputs: dict[str, Any],
        provider: str,
        version: str,
        dependencies: list[str],
        property_dependencies: dict[str, list[str]],
        import_id: str = "",
        options: dict[str, Any] | None = None,
    ) -> Resource:
        with self._lock:
            urn = self.make_urn(parent, type_, name)
            if type_ == STACK_TYPE and urn == self.stack_urn:
                return self.records[urn]
            qualified = self._qualified(urn)
            inputs = plain(wire_inputs)
            provider_ref: str | None = provider or None
            if custom and not type_.startswith("pulumi:providers:") and not provider_ref:
                provider_ref = self._default_provider(type_, version)
            resource_id = ""
            wire_outputs: dict[str, Any] = {}
            if type_.startswith("pulumi:providers:"):
                resource_id = _provider_id(urn)
                wire_outputs = dict(wire_inputs)
            elif custom:
                project, region = self._provider_settings(provider_ref)
                ctx = mocks.Context(name, project, region, self.preview)
                resource_id, wire_outputs = mocks.new_resource(type_, wire_inputs, inputs, ctx)
                if ctx.checked:
                    wire_inputs = {**wire_inputs, **ctx.checked}
                    inputs = {**inputs, **ctx.checked}
                if import_id:
                    resource_id = import_id
            resource = Resource(
                urn=urn,
                type=type_,
                name=name,
                parent=parent or None,
                custom=custom,
                inputs=inputs,
                outputs=plain(wire_outputs),
                dependencies=dependencies,
                property_dependencies=property_dependencies,
                provider=provider_ref if custom else (provider or None),
                id=resource_id,
                options=options or {},
                wire_inputs=wire_inputs,
                wire_outputs=wire_outputs,
            )
            self._remember(resource, qualified)
            return resource

    def RegisterResource(self, request: Any) -> Any:
        resource = self._register(
            type_=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            wire_inputs=_to_dict(request.object),
            provider=request.provider,
            version=request.version,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            import_id=request.importId,
            options={
                "protect": bool(request.protect),
                "ignoreChanges": list(request.ignoreChanges),
                "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                "deleteBeforeReplaceDefined": bool(request.deleteBeforeReplaceDefined),
                "additionalSecretOutputs": list(request.additionalSecretOutputs),
            },
        )
        return resource_pb2.RegisterResourceResponse(
            urn=resource.urn, id=resource.id, object=_struct(resource.wire_outputs)
        )

    def ReadResource(self, request: Any) -> Any:
        resource = self._register(
            type_=request.type,
            name=request.name,
            parent=request.parent,
            custom=True,
            wire_inputs=_to_dict(request.properties),
            provider=request.provider,
            version=request.version,
            dependencies=list(request.dependencies),
            property_dependencies={},
            import_id=request.id,
        )
        return resource_pb2.ReadResourceResponse(urn=resource.urn, properties=_struct(resource.wire_outputs))

    def RegisterResourceOutputs(self, request: Any) -> Any:
        with self._lock:
            record = self.records.get(request.urn)
            if record is not None:
                record.wire_outputs = _to_dict(request.outputs)
                record.outputs = plain(record.wire_outputs)
        return super().RegisterResourceOutputs(request)

    def Invoke(self, request: Any) -> Any:
        if request.tok == "pulumi:pulumi:getResource":
            return super().Invoke(request)
        args = plain(_to_dict(request.args))
        provider_ref = request.provider or self._default_provider(request.tok, request.version)
        project, region = self._provider_settings(provider_ref)
        result = mocks.call(request.tok, args, project, region)
        response = resource_pb2.ResourceInvokeResponse()
        getattr(response, "return").CopyFrom(_struct(result))  # `return` is a Python keyword
        return response


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"{record.levelname.lower()}: {record.getMessage()}")


def _local_module_names(directory: Path) -> set[str]:
    names: set[str] = set()
    for entry in directory.iterdir():
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_file() and entry.suffix == ".py":
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier():
            names.add(entry.name)
    # Never unload ourselves when the program lives beside this package (the repository itself).
    names.discard(__name__.split(".")[0])
    names.discard("__main__")  # runpy swaps the entry module in and out itself
    return names


@contextmanager
def _isolated(project: Project) -> Iterator[None]:
    """cwd, sys.path, sys.modules and environment as a fresh language host would have them."""
    source_dir = project.main.parent
    local_names = _local_module_names(source_dir)
    stashed = {name: module for name, module in sys.modules.items() if name.split(".", 1)[0] in local_names}
    for name in stashed:
        del sys.modules[name]
    saved_env = {k: v for k, v in os.environ.items() if k.startswith(_SCRUBBED_ENV_PREFIXES) or k in _SCRUBBED_ENV}
    for key in saved_env:
        del os.environ[key]
    saved_path = list(sys.path)
    saved_cwd = os.getcwd()
    sys.path.insert(0, str(source_dir))
    os.chdir(project.directory)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        for name in [n for n in sys.modules if n.split(".", 1)[0] in local_names]:
            del sys.modules[name]
        sys.modules.update(stashed)
        os.environ.update(saved_env)


_WHILE_PROCESSING = re.compile(r"While processing resource: '([^']*)', type:? '([^']*)'")


def _chain(exc: BaseException) -> list[BaseException]:
    """exc and what caused it, outermost first. The SDK re-raises registration errors `from`
    themselves, so follow __context__ where __cause__ loops."""
    chain, current = [exc], exc
    while (current := _root_cause_step(current, chain)) is not None:
        chain.append(current)
    return chain


def _root_cause_step(exc: BaseException, seen: list[BaseException]) -> BaseException | None:
    return next((e for e in (exc.__cause__, exc.__context__) if e is not None and all(e is not s for s in seen)), None)


def _describe(exc: BaseException, program_dir: Path) -> str:
    """A one-line cause: what failed, where in the program, and for which resource."""
    if isinstance(exc, SystemExit):
        return f"program called sys.exit({exc.code!r})"
    chain = _chain(exc)
    root = chain[-1]
    run_error = next((e for e in chain if isinstance(e, RunError)), None)
    if run_error is not None:
        # Config errors and pulumi.RunError carry a message meant for the user as is.
        root = run_error
    text = str(root).strip()
    # The SDK prefixes wrapped errors with "... has risen: "; the last line is the original message.
    first_line = text.splitlines()[-1].split("has risen: ")[-1].strip() if text else ""
    kind = type(root).__name__
    where = ""
    in_apply = False
    for frame in traceback.extract_tb(root.__traceback__):
        path = Path(frame.filename)
        if path.name == "output.py" and "pulumi" in path.parts:
            in_apply = True
        try:
            relative = path.resolve().relative_to(program_dir)
        except ValueError:
            continue
        if relative.parts and relative.parts[0] in (".venv", "venv"):
            continue
        where = f" ({relative}:{frame.lineno})"
    resource = _WHILE_PROCESSING.search(str(exc))
    context = f" while registering {resource.group(2)} '{resource.group(1)}'" if resource else ""
    if run_error is not None:
        # Meant for the user as written (e.g. every invalid config key, one per line): keep all of it.
        return text
    prefix = "an apply callback raised " if in_apply else ""
    message = f"{kind}: {first_line}" if first_line else kind
    return f"{prefix}{message}{where}{context}"


def run_program(
    program_dir: Path | str,
    stack: str,
    overrides: Mapping[str, str] | None = None,
    preview: bool = False,
    on_register: OnRegister | None = None,
) -> ProgramRun:
    """Run the program in `program_dir` for `stack` under mocks; see module docstring."""
    try:
        project = load_project(Path(program_dir), stack, overrides)
    except ConfigError as err:
        raise ProgramError(str(err)) from err
    with _RUN_LOCK:
        return _run(project, stack, preview, on_register)


def _run(project: Project, stack: str, preview: bool, on_register: OnRegister | None) -> ProgramRun:
    logs: list[str] = []
    logger = logging.getLogger("preflight.program.engine")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(_ListHandler(logs))

    monitor = RecordingMonitor(project.name, stack, preview, project.config, on_register)
    previous_loop = _current_loop()
    loop = asyncio.new_event_loop()
    # Outputs of a failed registration hold the same exception we report once, as ProgramError.
    loop.set_exception_handler(lambda _loop, context: logs.append(f"debug: {context.get('message', '')}"))
    asyncio.set_event_loop(loop)
    try:
        with _isolated(project):
            # A second run in one process would otherwise parent everything to the previous stack.
            pulumi_settings.ROOT.set(None)
            set_all_config(project.config, sorted(project.secret_keys))
            pulumi_mocks.set_mocks(
                _NoMocks(), project=project.name, stack=stack, preview=preview, logger=logger, monitor=monitor
            )
            # Context properties the static types don't describe as plain attributes.
            setattr(pulumi_settings.SETTINGS, "root_directory", str(project.directory))  # noqa: B010
            getattr(pulumi_settings.SETTINGS, "outputs").clear()  # noqa: B009
            root = pulumi_settings.get_root_resource()
            # set_mocks registers the stack's (empty) outputs at once; register them after the
            # program instead, as the language host does.
            root._outputs_registered = False  # type: ignore[attr-defined]
            main = str(project.main)

            async def program() -> None:
                try:
                    runpy.run_path(main, run_name="__main__")
                    async_program = root._take_async_program()  # type: ignore[attr-defined]
                    if async_program is not None:
                        root._add_program_outputs(await async_program())  # type: ignore[attr-defined]
                finally:
                    root._finish()  # type: ignore[attr-defined]

            _sync_await(run_pulumi_func(program))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a program can raise anything, SystemExit included
        raise ProgramError(
            _describe(exc, project.directory),
            resources=list(monitor.records.values()),
            details="".join(traceback.format_exception(exc)),
        ) from exc
    finally:
        _close_loop(loop)
        asyncio.set_event_loop(previous_loop)
        logger.handlers.clear()

    resources = list(monitor.records.values())
    stack_record = monitor.records.get(f"urn:pulumi:{stack}::{project.name}::{STACK_TYPE}::{project.name}-{stack}")
    return ProgramRun(
        project=project.name,
        stack=stack,
        preview=preview,
        resources=resources,
        outputs=dict(stack_record.outputs) if stack_record else {},
        config=dict(project.config),
        secret_keys=set(project.secret_keys),
        program_dir=project.directory,
        logs=logs,
    )


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    # Work a failed program left behind must not run during the next program.
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
