"""Evaluate policy packs through their real analyzer process, in the engine's order.

Each pack is started exactly as the Pulumi CLI starts a Python pack (`python -u -m pulumi.policy
<engineAddr> <packDir>`, cwd = the pack, the pack's own virtualenv) and spoken to over its gRPC
Analyzer service: GetAnalyzerInfo → config reconciliation and validation → Configure →
ConfigureStack → Analyze on each resource as the program registers it → AnalyzeStack.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from preflight.engine import Engine
from preflight.policyconfig import LEVELS, PolicyConfig, PolicyConfigError, PolicyInfo, parse_config_file, reconcile
from preflight.records import ProgramRun, Resource, stack_urn
from preflight.wire import plain, to_struct, without_references

_LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
_LEVEL_VALUES = {name: value for value, name in _LEVEL_NAMES.items()}
_MAX_MESSAGE = 1 << 30
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
]
# Analyze calls kept in flight per pack: hides the per-call round trip without flooding the pack.
_ANALYZE_WINDOW = 32
_STARTUP_TIMEOUT = 60.0
# Generous: a pack that takes longer on one call is hung, and CI should say so rather than wait forever.
_CALL_TIMEOUT = 120.0
_STACK_CALL_TIMEOUT = 600.0  # AnalyzeStack sees every resource at once


class PackError(Exception):
    """A policy pack could not be started, configured or run (one-line message)."""


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
class PackReport:
    name: str
    version: str
    directory: Path
    policies: dict[str, str]  # policy → effective enforcement level
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[tuple[str, str, str]] = field(default_factory=list)  # (policy, urn, reason)
    logs: list[str] = field(default_factory=list)
    # Config entries naming no policy of the pack: likely typos, which would otherwise be ignored silently.
    unknown_config: list[str] = field(default_factory=list)


@contextlib.contextmanager
def engine_server(root_urn: str) -> Iterator[tuple[str, Engine]]:
    engine = Engine(root_urn)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), options=_CHANNEL_OPTIONS)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", engine
    finally:
        server.stop(grace=None)


def _pack_settings(pack_dir: Path) -> tuple[str, str | None]:
    """(python executable, version from PulumiPolicy.yaml)."""
    manifest = pack_dir / "PulumiPolicy.yaml"
    if not manifest.is_file():
        raise PackError(f"{pack_dir} is not a policy pack (no PulumiPolicy.yaml)")
    try:
        doc = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise PackError(f"{manifest}: invalid YAML") from err
    if not isinstance(doc, dict):
        raise PackError(f"{manifest}: expected a mapping")
    runtime = doc.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name != "python":
        raise PackError(f"{manifest}: only Python policy packs are supported (runtime: {name})")
    python = sys.executable
    options = runtime.get("options") if isinstance(runtime, dict) else None
    venv = options.get("virtualenv") if isinstance(options, dict) else None
    if venv:
        venv_dir = (pack_dir / str(venv)).resolve()
        candidate = venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if candidate.exists():
            python = str(candidate)
        elif venv_dir.exists():
            raise PackError(f"{manifest}: virtualenv {venv} has no Python interpreter")
        # The CLI would create a missing virtualenv and pip-install into it; offline we cannot, so the
        # pack runs on this interpreter, which has pulumi-policy since preflight itself needs it.
    version = doc.get("version")
    return python, (str(version) if version is not None else None)


class _PackProcess:
    def __init__(self, pack_dir: Path, engine_address: str, run: StackContext) -> None:
        self.pack_dir = pack_dir
        python, self.manifest_version = _pack_settings(pack_dir)
        env = dict(os.environ)
        for key in [k for k in env if k.startswith("PULUMI_CONFIG")]:
            del env[key]
        env.update(
            {
                "PULUMI_CONFIG": json.dumps(run.config),
                "PULUMI_CONFIG_SECRET_KEYS": json.dumps(sorted(run.secret_keys)),
                "PULUMI_PROJECT": run.project,
                "PULUMI_STACK": run.stack,
                "PULUMI_DRY_RUN": "true" if run.preview else "false",
                "PULUMI_ORGANIZATION": "organization",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # Closed in close(); a file, not a pipe, so a chatty pack can never block on it.
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            [python, "-u", "-m", "pulumi.policy", engine_address, str(pack_dir)],
            cwd=pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.stdout_tail: deque[str] = deque(maxlen=20)
        port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _read_port(self) -> int:
        announced = threading.Event()
        first: list[str] = []

        def read() -> None:
            # The first stdout line is the port; the rest is the pack's own output, kept for --debug.
            assert self.process.stdout is not None
            for raw in self.process.stdout:
                line = raw.decode(errors="replace").strip()
                if not first:
                    first.append(line)
                    announced.set()
                else:
                    self.stdout_tail.append(line)
            announced.set()  # EOF: the pack exited without announcing a port

        threading.Thread(target=read, name=f"stdout-{self.pack_dir.name}", daemon=True).start()
        announced.wait(_STARTUP_TIMEOUT)
        if not first or not first[0].isdigit():
            self.process.poll()
            cause = self.last_error()
            self.close()
            raise PackError(f"policy pack {self.pack_dir.name} failed to start: {cause}")
        return int(first[0])

    def output(self) -> list[str]:
        """What the pack printed besides its port, for --debug."""
        self.stderr.seek(0)
        errors = self.stderr.read().decode(errors="replace").splitlines()[-20:]
        return [f"stdout: {line}" for line in self.stdout_tail] + [f"stderr: {line}" for line in errors if line.strip()]

    def last_error(self) -> str:
        self.stderr.seek(0)
        lines = [line.strip() for line in self.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1]
        if self.process.poll() is not None:
            return f"exited with status {self.process.returncode}"
        return "no port announced"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()
        if self.process.poll() is None:
            self.process.terminate()  # the pack serves forever otherwise
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def _policies(info: Any) -> list[PolicyInfo]:
    policies = []
    for policy in info.policies:
        schema_properties = plain(json_format.MessageToDict(policy.configSchema.properties))
        policies.append(
            PolicyInfo(
                name=policy.name,
                enforcement_level=_LEVEL_NAMES.get(policy.enforcementLevel, "advisory"),
                description=policy.description,
                schema_properties=schema_properties,
                required=list(policy.configSchema.required),
                has_schema=policy.HasField("configSchema"),
            )
        )
    return policies


def _initial_config(info: Any) -> dict[str, PolicyConfig]:
    # As the CLI converts it: an entry without a level gets the proto default, ADVISORY.
    return {
        name: PolicyConfig(
            _LEVEL_NAMES.get(config.enforcementLevel, "advisory"),
            plain(json_format.MessageToDict(config.properties)) or None,
        )
        for name, config in info.initialConfig.items()
    }


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


def analyze_request(resource: Resource, provider: Resource | None) -> Any:
    """What the engine sends when a resource registers: its (checked) inputs."""
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=to_struct(without_references(resource.wire_inputs)),
        urn=resource.urn,
        name=resource.name,
        options=_options(resource),
        provider=_provider(provider),
    )


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
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=resource.type,
                properties=to_struct(without_references(resource.wire_outputs)),
                urn=resource.urn,
                name=resource.name,
                options=_options(resource),
                provider=_provider(by_urn.get(resource.provider_urn or "")),
                parent=resource.parent or "",
                dependencies=resource.dependencies,
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                    for key, urns in resource.property_dependencies.items()
                },
            )
            for resource in run.resources
        ]
    )


def _diagnostics(response: Any, urn: str, version: str) -> list[Violation]:
    return [
        Violation(
            policy_pack=d.policyPackName,
            policy_pack_version=version or d.policyPackVersion,
            policy=d.policyName,
            enforcement_level=_LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            urn=d.urn or urn,
            message=d.message,
            description=d.description,
        )
        for d in response.diagnostics
    ]


def _rpc_error(pack: str, step: str, err: grpc.RpcError) -> PackError:
    details = err.details() if hasattr(err, "details") else str(err)  # type: ignore[attr-defined]
    last = (details or "").strip().splitlines()
    return PackError(f"policy pack {pack}: {step} failed: {last[-1] if last else err}")


@dataclass
class StackContext:
    """What the engine tells a pack about the stack before the program runs."""

    project: str
    stack: str
    preview: bool
    config: dict[str, str]
    secret_keys: set[str]

    @property
    def stack_urn(self) -> str:
        return stack_urn(self.project, self.stack)


class PackSession:
    """One running pack: configured up front, fed Analyze calls as resources register, then AnalyzeStack."""

    def __init__(self, pack_dir: Path, config_file: Path | None, context: StackContext, engine_address: str) -> None:
        given = parse_config_file(config_file) if config_file is not None else None
        self.process = _PackProcess(pack_dir, engine_address, context)
        self.name = pack_dir.name
        try:
            self._configure(pack_dir, given, context)
        except BaseException:
            self.process.close()
            raise
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._results: list[tuple[str, Any]] = []
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._analyze_all, name=f"analyze-{self.name}", daemon=True)
        self._worker.start()

    def _configure(self, pack_dir: Path, given: dict[str, PolicyConfig] | None, context: StackContext) -> None:
        stub = self.process.stub
        try:
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=_CALL_TIMEOUT)
        except grpc.RpcError as err:
            raise _rpc_error(self.name, "GetAnalyzerInfo", err) from err
        self.name = info.name or self.name
        self.version = self.process.manifest_version or info.version
        policies = _policies(info)
        config = reconcile(self.name, self.version, policies, _initial_config(info), given)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for policy_name, policy_config in config.items():
            entry = request.policyConfig[policy_name]
            entry.enforcementLevel = _LEVEL_VALUES.get(policy_config.enforcement_level, analyzer_pb2.ADVISORY)
            if policy_config.properties:
                entry.properties.update(policy_config.properties)
        try:
            stub.Configure(request, timeout=_CALL_TIMEOUT)
        except grpc.RpcError as err:
            raise _rpc_error(self.name, "Configure", err) from err
        try:
            stub.ConfigureStack(
                analyzer_pb2.AnalyzerStackConfigureRequest(
                    stack=context.stack,
                    project=context.project,
                    organization="organization",
                    dry_run=context.preview,
                    config=context.config,
                    config_secret_keys=sorted(context.secret_keys),
                    tags={"pulumi:project": context.project, "pulumi:runtime": "python"},
                ),
                timeout=_CALL_TIMEOUT,
            )
        except grpc.RpcError as err:
            # Packs built on an older pulumi-policy do not know ConfigureStack; the CLI carries on.
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                raise _rpc_error(self.name, "ConfigureStack", err) from err
        self.report = PackReport(
            name=self.name,
            version=self.version,
            directory=pack_dir,
            policies={
                p.name: config.get(p.name, PolicyConfig(p.enforcement_level)).enforcement_level for p in policies
            },
            unknown_config=sorted(set(given or {}) - {p.name for p in policies} - {"all"}),
        )

    def submit(self, request: Any) -> None:
        """Queue one Analyze call (an AnalyzeRequest, see analyze_request); returns at once."""
        self._queue.put(request)

    def _analyze_all(self) -> None:
        # A window of calls in flight hides the round trip; results keep registration order.
        pending: deque[tuple[str, Any]] = deque()
        ended = False  # the end-of-stream marker was read
        try:
            while True:
                request = self._queue.get()
                if request is None:
                    ended = True
                    break
                pending.append((request.urn, self.process.stub.Analyze.future(request, timeout=_CALL_TIMEOUT)))
                while len(pending) >= _ANALYZE_WINDOW or (pending and pending[0][1].done()):
                    urn, call = pending.popleft()
                    self._results.append((urn, call.result()))
            while pending:
                urn, call = pending.popleft()
                self._results.append((urn, call.result()))
        except BaseException as err:  # reported by finish(), on the caller's thread
            self._error = err
            # Keep consuming until the end marker, so producers never block and finish() can join.
            while not ended:
                ended = self._queue.get() is None

    def finish(self, stack_request: Any) -> PackReport:
        self._queue.put(None)
        self._worker.join()
        if isinstance(self._error, grpc.RpcError):
            raise _rpc_error(self.name, "Analyze", self._error) from self._error
        if self._error is not None:
            raise self._error
        try:
            stack_response = self.process.stub.AnalyzeStack(stack_request, timeout=_STACK_CALL_TIMEOUT)
        except grpc.RpcError as err:
            raise _rpc_error(self.name, "AnalyzeStack", err) from err
        report = self.report
        for urn, response in self._results:
            report.violations.extend(_diagnostics(response, urn, self.version))
            report.not_applicable.extend((n.policy_name, urn, n.reason) for n in response.not_applicable)
        report.logs.extend(f"{self.name} {line}" for line in self.process.output())
        report.violations.extend(_diagnostics(stack_response, "", self.version))
        report.not_applicable.extend((n.policy_name, "", n.reason) for n in stack_response.not_applicable)
        return report

    def close(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
        self.process.close()


class Packs:
    """All packs of one run, started in parallel; feed them with `on_register` while the program runs."""

    def __init__(
        self,
        context: StackContext,
        packs: Sequence[Path],
        config_files: Sequence[Path] = (),
    ) -> None:
        if config_files and len(config_files) != len(packs):
            raise PolicyConfigError(
                'the number of "--policy-pack-config" flags must match the number of "--policy-pack" flags'
            )
        for pack in packs:
            if not pack.is_dir():
                raise PackError(f"policy pack directory {pack} not found")
        self._engine = engine_server(context.stack_urn)
        address, self.engine = self._engine.__enter__()
        self.sessions: list[PackSession] = []
        with futures.ThreadPoolExecutor(max_workers=max(1, len(packs))) as pool:
            jobs = [
                pool.submit(
                    PackSession, pack.resolve(), config_files[i].resolve() if config_files else None, context, address
                )
                for i, pack in enumerate(packs)
            ]
            errors = []
            for job in jobs:
                try:
                    self.sessions.append(job.result())
                except BaseException as err:  # first error wins, every started pack is stopped
                    errors.append(err)
        if errors:
            self.close()
            raise errors[0]

    def on_register(self, resource: Resource, provider: Resource | None) -> None:
        request = analyze_request(resource, provider)
        for session in self.sessions:
            session.submit(request)

    def finish(self, run: ProgramRun) -> list[PackReport]:
        stack_request = analyze_stack_request(run)
        with futures.ThreadPoolExecutor(max_workers=max(1, len(self.sessions))) as pool:
            reports = list(pool.map(lambda session: session.finish(stack_request), self.sessions))
        for report in reports:
            report.logs.extend(self.engine.logs)
        return reports

    def close(self) -> None:
        for session in self.sessions:
            session.close()
        self._engine.__exit__(None, None, None)

    def __enter__(self) -> Packs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def context_of(run: ProgramRun) -> StackContext:
    return StackContext(run.project, run.stack, run.preview, run.config, run.secret_keys)


def evaluate(run: ProgramRun, packs: Sequence[Path], config_files: Sequence[Path] = ()) -> list[PackReport]:
    """Run every pack against an already recorded program; reports in the order given."""
    with Packs(context_of(run), packs, config_files) as sessions:
        by_urn = run.by_urn()
        for resource in run.resources:
            sessions.on_register(resource, by_urn.get(resource.provider_urn or ""))
        return sessions.finish(run)


__all__ = [
    "LEVELS",
    "PackError",
    "PackReport",
    "Packs",
    "PolicyConfigError",
    "StackContext",
    "Violation",
    "evaluate",
]
