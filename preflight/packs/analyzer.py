"""Evaluate policy packs through their real analyzer process, in the engine's order.

Each pack is started as the Pulumi CLI starts a Python pack (`process`) and spoken to over its gRPC
Analyzer service: GetAnalyzerInfo → config reconciliation and validation → Configure → ConfigureStack →
Analyze on each resource as the program registers it → AnalyzeStack (requests: `protocol`).
"""

from __future__ import annotations

import difflib
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2

from secure_invoke.preflight.engine.records import ProgramRun, Resource
from secure_invoke.preflight.packs.config import LEVELS, PolicyConfig, PolicyConfigError, parse_config_file, reconcile
from secure_invoke.preflight.packs.process import (
    ANALYZE_WINDOW,
    CALL_TIMEOUT,
    STACK_CALL_TIMEOUT,
    PackError,
    PackProcess,
    StackContext,
    engine_server,
    rpc_error,
)
from secure_invoke.preflight.packs.protocol import (
    Exemption,
    UnknownExemption,
    Violation,
    analyze_request,
    analyze_stack_request,
    analyzer_resource,
    configure_request,
    declared_policies,
    diagnostics,
    exemptions_in,
    initial_config,
    root_stack_requests,
    stack_entry_bytes,
)


@dataclass
class PackReport:
    name: str
    version: str
    directory: Path
    policies: dict[str, str]  # policy → effective enforcement level
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[tuple[str, str, str]] = field(default_factory=list)  # (policy, urn, reason)
    logs: list[str] = field(default_factory=list)
    # Config entries naming no policy of the pack: likely typos, which would otherwise be ignored silently
    # (the CLI carries them to the pack, which configures no policy with them; the run goes on).
    unknown_config: list[str] = field(default_factory=list)
    # What the pack exempted (violations it found and did not report), and exemptions naming no resource.
    exemptions: list[Exemption] = field(default_factory=list)
    unknown_exemptions: list[UnknownExemption] = field(default_factory=list)
    # Where preflight ran the pack otherwise than the CLI would (a missing virtualenv), for the report.
    notes: list[str] = field(default_factory=list)

    def closest_policy(self, name: str) -> str | None:
        """The pack's policy a misspelt config entry most likely meant."""
        close = difflib.get_close_matches(name, self.policies, n=1)
        return close[0] if close else None


class PackSession:
    """One running pack: configured up front, fed Analyze calls as resources register, then AnalyzeStack."""

    def __init__(self, pack_dir: Path, config_file: Path | None, context: StackContext, engine_address: str) -> None:
        given = parse_config_file(config_file) if config_file is not None else None
        self.process = PackProcess(pack_dir, engine_address, context)
        self.name = pack_dir.name
        try:
            self._configure(pack_dir, given, context)
        except BaseException:
            self.process.close()
            raise
        # What the pack printed so far answered preflight's config check (a root-only stack, which every
        # exemption misses): only what it prints from here on is about the program.
        self._printed_before = len(self.process.stderr_lines())
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._results: list[tuple[str, Any]] = []
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._analyze_all, name=f"analyze-{self.name}", daemon=True)
        self._worker.start()

    def _check_config_early(self, given: dict[str, PolicyConfig], context: StackContext) -> None:
        """pulumi-policy's Configure only stores the config; a policy checks it when it first runs. Running every
        policy once on the bare root stack (results discarded) lets a bad config file — a misspelt key a stack
        policy would reject only in AnalyzeStack — stop the run before the program does. The CLI makes no such
        call, so only a failure about config that names something the file sets counts: a pack that merely
        cannot handle an empty stack is judged by the real run, as the CLI would judge it."""
        analyze, analyze_stack = root_stack_requests(context.stack_urn, f"{context.project}-{context.stack}")
        try:
            self.process.stub.Analyze(analyze, timeout=CALL_TIMEOUT)
            self.process.stub.AnalyzeStack(analyze_stack, timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            details = str(err.details() or "")  # type: ignore[attr-defined]
            named = set(given) | {key for entry in given.values() for key in (entry.properties or {})}
            names_a_key = any(f"'{key}'" in details or f"{key}:" in details or f"{key}." in details for key in named)
            if names_a_key and "config" in details.lower():
                raise rpc_error(self.name, "checking its config", err) from err

    def _configure(self, pack_dir: Path, given: dict[str, PolicyConfig] | None, context: StackContext) -> None:
        stub = self.process.stub
        try:
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            raise rpc_error(self.name, "GetAnalyzerInfo", err) from err
        self.name = info.name or self.name
        self.version = self.process.manifest_version or info.version
        policies = declared_policies(info)
        config = reconcile(self.name, self.version, policies, initial_config(info), given)
        try:
            stub.Configure(configure_request(config), timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            raise rpc_error(self.name, "Configure", err) from err
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
                timeout=CALL_TIMEOUT,
            )
        except grpc.RpcError as err:
            # Packs built on an older pulumi-policy do not know ConfigureStack; the CLI carries on.
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                raise rpc_error(self.name, "ConfigureStack", err) from err
        if given:
            self._check_config_early(given, context)
        self.report = PackReport(
            name=self.name,
            version=self.version,
            directory=pack_dir,
            policies={
                p.name: config.get(p.name, PolicyConfig(p.enforcement_level)).enforcement_level for p in policies
            },
            unknown_config=sorted(set(given or {}) - {p.name for p in policies} - {"all"}),
            notes=[self.process.note] if self.process.note else [],
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
                pending.append((request.urn, self.process.stub.Analyze.future(request, timeout=CALL_TIMEOUT)))
                while len(pending) >= ANALYZE_WINDOW or (pending and pending[0][1].done()):
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

    def drain(self) -> None:
        """Wait for the answers of every Analyze call made so far (the pack may lag behind the program)."""
        self._queue.put(None)
        self._worker.join()
        if isinstance(self._error, grpc.RpcError):
            raise rpc_error(self.name, "Analyze", self._error) from self._error
        if self._error is not None:
            raise self._error

    def finish(self, stack_request: bytes) -> PackReport:
        """The Analyze results and the AnalyzeStack call (`stack_request` serialised: see stack_entry_bytes)."""
        self.drain()
        try:
            stack_response = self.process.analyze_stack(stack_request, timeout=STACK_CALL_TIMEOUT)
        except grpc.RpcError as err:
            raise rpc_error(self.name, "AnalyzeStack", err) from err
        report = self.report
        for urn, response in self._results:
            report.violations.extend(diagnostics(response, urn, self.version))
            report.not_applicable.extend((n.policy_name, urn, n.reason) for n in response.not_applicable)
        printed = self.process.stderr_lines()[self._printed_before :]
        report.exemptions, report.unknown_exemptions = exemptions_in(printed)
        report.logs.extend(f"{self.name} {line}" for line in self.process.output())
        report.violations.extend(diagnostics(stack_response, "", self.version))
        report.not_applicable.extend((n.policy_name, "", n.reason) for n in stack_response.not_applicable)
        return report

    def close(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
        self.process.close()


class Packs:
    """All packs of one run; feed them with `on_register` while the program runs.

    The packs start in the background, in parallel with each other and with the program (whose interpreter
    start and imports take as long): what registers meanwhile waits in a queue, so each pack still sees
    GetAnalyzerInfo, Configure and ConfigureStack before its first Analyze, in the engine's order. A pack that
    fails to start fails the next registration, which stops the program; `started()` then raises the pack's
    error, which wins over the program's. One feeder thread builds each resource's requests off the
    registration path: its Analyze request, and for a custom resource its AnalyzeStack entry (its outputs are
    final once registered), so the stack request is mostly built when the program ends.
    """

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
        self.count = len(packs)
        self._engine = engine_server(context.stack_urn)
        address, self.engine = self._engine.__enter__()
        self.sessions: list[PackSession] = []
        self._start_error: BaseException | None = None
        self._starter = futures.ThreadPoolExecutor(max_workers=max(1, len(packs)), thread_name_prefix="pack-start")
        # the config file as given, so that its errors name it as the user wrote it
        configs = list(config_files) or [None] * len(packs)
        jobs = [
            self._starter.submit(PackSession, pack.resolve(), config, context, address)
            for pack, config in zip(packs, configs, strict=True)
        ]
        self._started = threading.Thread(target=self._collect, args=(jobs,), name="packs-start", daemon=True)
        self._started.start()
        self._queue: queue.SimpleQueue[tuple[Resource, Resource | None] | None] = queue.SimpleQueue()
        self._stack_entries: dict[str, tuple[dict[str, Any], Any]] = {}  # urn → (the outputs it was built from, entry)
        self._feeder = threading.Thread(target=self._feed, name="packs-feed", daemon=True)
        self._feeder.start()

    def _collect(self, jobs: list[futures.Future[PackSession]]) -> None:
        for job in jobs:
            try:
                self.sessions.append(job.result())
            except BaseException as err:  # first error wins, every started pack is stopped by close()
                self._start_error = self._start_error or err

    def started(self) -> None:
        """Wait until every pack is configured; raise the first pack's error if one failed to start."""
        self._started.join()
        if self._start_error is not None:
            raise self._start_error

    def _feed(self) -> None:
        self._started.join()
        while (item := self._queue.get()) is not None:
            resource, provider = item
            if self._start_error is not None:
                continue  # keep draining, so producers never block
            request = analyze_request(resource, provider)
            for session in self.sessions:
                session.submit(request)
            if resource.custom:
                entry = stack_entry_bytes(analyzer_resource(resource, provider))
                self._stack_entries[resource.urn] = (resource.wire_outputs, entry)

    def analyzed(self) -> int:
        """Analyze answers received so far, every pack."""
        return sum(len(session._results) for session in self.sessions)

    @property
    def cpu_seconds(self) -> float:
        """The packs' processes, user + system, once closed."""
        return sum(session.process.cpu_seconds for session in self.sessions)

    def on_register(self, resource: Resource, provider: Resource | None) -> None:
        if self._start_error is not None:
            # Stops the program: the pack's error is what the run reports (see started()).
            raise PackError(f"policy pack failed: {self._start_error}")
        self._queue.put((resource, provider))

    def _stack_request(self, run: ProgramRun) -> bytes:
        """The AnalyzeStack request, serialised: the entries built as resources registered, the rest now."""
        by_urn = run.by_urn()
        entries = []
        for resource in run.resources:
            built = self._stack_entries.get(resource.urn)
            if built is None or built[0] is not resource.wire_outputs:  # not prebuilt, or outputs set since
                entries.append(stack_entry_bytes(analyzer_resource(resource, by_urn.get(resource.provider_urn or ""))))
            else:
                entries.append(built[1])
        return b"".join(entries)

    def finish(self, run: ProgramRun, on_stack: Callable[[], None] | None = None) -> list[PackReport]:
        """Every pack's report; `on_stack` is called once every Analyze call is answered, as AnalyzeStack starts."""
        self._queue.put(None)
        self._feeder.join()
        self.started()
        stack_request = self._stack_request(run)  # built while the packs catch up with their Analyze calls
        for session in self.sessions:
            session.drain()
        if on_stack is not None:
            on_stack()
        with futures.ThreadPoolExecutor(max_workers=max(1, len(self.sessions))) as pool:
            reports = list(pool.map(lambda session: session.finish(stack_request), self.sessions))
        for report in reports:
            report.logs.extend(self.engine.logs)
        return reports

    def close(self) -> None:
        self._queue.put(None)
        self._started.join()
        self._starter.shutdown(wait=True)
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
        sessions.started()
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
    "analyze_request",
    "analyze_stack_request",
    "evaluate",
]
