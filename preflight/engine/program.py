"""Run a Pulumi Python program as its own process against preflight's engine, and record what it registers.

As the Pulumi CLI does: preflight serves the ResourceMonitor and Engine gRPC services, and the program runs
on the interpreter its Pulumi.yaml selects (see `interpreter`), started through `launcher.py` the way the
Python language host starts `pulumi-language-python-exec`. The recording is what the engine would see:
every registration with its inputs, parent, dependencies, property dependencies and provider, engine URNs,
the default providers the engine synthesises, and outputs of the shape the providers would give.
Each run has its own server and process: runs leave nothing behind and may run concurrently.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from pulumi.runtime.proto import engine_pb2_grpc, resource_pb2_grpc

from secure_invoke.preflight.engine import interpreter as interpreters
from secure_invoke.preflight.engine.failures import describe
from secure_invoke.preflight.engine.log_service import Engine
from secure_invoke.preflight.engine.monitor import Monitor
from secure_invoke.preflight.engine.offline_provider import OfflineProvider
from secure_invoke.preflight.engine.project import ConfigError, Project, load_project
from secure_invoke.preflight.engine.records import OnRegister, ProgramRun, Resource
from secure_invoke.preflight.engine.registry import Registry
from secure_invoke.preflight.engine.stack_references import StackReferences
from secure_invoke.preflight.outputs.schema import Sdks, undeclared_keys
from secure_invoke.preflight.providers.gcp_config import gcp_settings

LAUNCHER = Path(__file__).with_name("launcher.py")
PARALLEL = 8  # the SDK runs 4x this many registrations at once
_MAX_MESSAGE = 1 << 30
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE)]
# Inherited from a CLI-launched parent process they would override what preflight passes.
_SCRUBBED_PREFIXES = ("PULUMI_CONFIG",)
_SCRUBBED = (
    "PULUMI_PROJECT",
    "PULUMI_STACK",
    "PULUMI_DRY_RUN",
    "PULUMI_ORGANIZATION",
    "PULUMI_MONITOR",
    "PULUMI_ENGINE",
)

__all__ = ["ProgramError", "ProgramRun", "Resource", "run_program"]


class ProgramError(Exception):
    """The program, its config or one of its apply callbacks failed; args[0] is a one-line cause."""

    def __init__(self, cause: str, resources: list[Resource] | None = None, details: str = "") -> None:
        super().__init__(cause)
        self.resources = resources or []
        self.details = details  # full traceback, for --debug


@dataclass
class _Engine:
    address: str
    monitor: Monitor
    engine: Engine
    registry: Registry


@contextmanager
def _serve(project: Project, stack: str, preview: bool, provider: OfflineProvider, on_register: OnRegister | None,
           stack_references: StackReferences) -> Iterator[_Engine]:  # fmt: skip
    registry = Registry(project.name, stack, project.config, provider, on_register)
    deployment = {
        "project": project.name,
        "stack": stack,
        "organization": "organization",
        "dryRun": preview,
        "parallel": PARALLEL,
        "config": project.config,
        "configSecretKeys": sorted(project.secret_keys),
    }
    monitor = Monitor(registry, provider, stack_references, deployment, project.directory)
    engine = Engine(registry.stack_urn)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=PARALLEL), options=CHANNEL_OPTIONS)
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield _Engine(f"127.0.0.1:{port}", monitor, engine, registry)
    finally:
        server.stop(grace=None)


def _environment(project: Project, interpreter: interpreters.Interpreter) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED}
    env = interpreter.environment(env)
    # What the language host passes: the stack's config as JSON, and which keys are secret.
    env["PULUMI_CONFIG"] = json.dumps(project.config)
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(sorted(project.secret_keys))
    env.setdefault("GRPC_VERBOSITY", "ERROR")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait(process: subprocess.Popen[Any]) -> float:
    """Wait for `process` to exit; the CPU seconds (user + system) it used, 0.0 where the OS does not say."""
    if not hasattr(os, "wait4"):
        process.wait()
        return 0.0
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def _launch(project: Project, stack: str, preview: bool, python: str, env: dict[str, str], address: str,
            report: Path, output: Any) -> tuple[int, float]:  # fmt: skip
    """The program's exit status and CPU seconds."""
    argv = [python, "-u", str(LAUNCHER), "--monitor", address, "--engine", address, "--project", project.name]
    argv += ["--root_directory", str(project.directory), "--stack", stack, "--pwd", str(project.directory)]
    argv += ["--dry_run", "true" if preview else "false", "--parallel", str(PARALLEL), "--organization", "organization"]
    argv += ["--report", str(report), project.entry_point]
    try:
        process = subprocess.Popen(
            argv, cwd=project.directory, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
    except OSError as err:
        raise ProgramError(f"cannot start the program's interpreter {python}: {err.strerror}") from err
    try:
        cpu = wait(process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process.returncode, cpu


def run_program(
    program_dir: Path | str,
    stack: str,
    overrides: Mapping[str, str] | None = None,
    preview: bool = False,
    on_register: OnRegister | None = None,
    *,
    python: Path | None = None,
    stack_references: Mapping[str, dict[str, Any]] | None = None,
    project: Project | None = None,
) -> ProgramRun:
    """Run the program in `program_dir` for `stack`; see the module docstring. `project`, when the caller
    has loaded it already, is used instead of reading Pulumi.yaml again."""
    try:
        project = project or load_project(Path(program_dir), stack, overrides)
        interpreter = interpreters.resolve(project, python)
        search_path = interpreters.search_path(interpreter.python, project.directory, os.environ.get("PYTHONPATH"))
    except ConfigError as err:
        raise ProgramError(str(err)) from err
    sdks = Sdks([project.main.parent, *search_path])
    settings = gcp_settings(project.config, os.environ, sdks)
    provider = OfflineProvider(sdks, settings, preview, project.directory)
    references = StackReferences(dict(stack_references or {}))
    env = _environment(project, interpreter)
    with (
        tempfile.TemporaryDirectory(prefix="preflight-run-") as scratch,
        _serve(project, stack, preview, provider, on_register, references) as served,
    ):
        report_file, output_file = Path(scratch) / "report.json", Path(scratch) / "output.txt"
        with output_file.open("wb") as output:
            code, cpu = _launch(project, stack, preview, interpreter.python, env, served.address, report_file, output)
        printed = output_file.read_text(encoding="utf-8", errors="replace")
        report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.exists() else None
    resources = list(served.registry.records.values())
    if code != 0 or report is not None:
        cause = describe(report, code, printed, project.directory, served.monitor.failures)
        details = (report or {}).get("traceback") or printed
        raise ProgramError(cause, resources=resources, details=details)
    notes = [interpreter.note] if interpreter.note else []
    notes += undeclared_keys(project.config, project.name, sdks)
    notes += settings.notes(r.type for r in resources)
    notes += references.notes() + served.monitor.notes
    stack_record = served.registry.records[served.registry.stack_urn]
    logs = served.engine.logs + [f"output: {line}" for line in printed.splitlines() if line.strip()]
    return ProgramRun(
        project=project.name,
        stack=stack,
        preview=preview,
        resources=resources,
        outputs=dict(stack_record.outputs),
        config=dict(project.config),
        secret_keys=set(project.secret_keys),
        program_dir=project.directory,
        logs=logs,
        notes=notes,
        cpu_seconds=cpu,
        unknown_applies=list(served.monitor.unknown_applies),
        invokes=list(served.monitor.invokes),
    )
