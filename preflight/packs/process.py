"""A policy pack's analyzer process, started as the Pulumi CLI starts a Python pack.

`python -u -m pulumi.policy <engineAddr> <packDir>`, cwd = the pack, with an Engine service to log to; the
first line it prints is its port. The interpreter is the one the CLI's `pulumi-analyzer-policy-python` would
pick: the virtualenv PulumiPolicy.yaml names (relative to the pack), else the ambient Python, which for
preflight is its own interpreter (it has pulumi-policy, since preflight needs it too).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import grpc
import yaml
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from secure_invoke.preflight.engine.log_service import Engine
from secure_invoke.preflight.engine.records import stack_urn

_MAX_MESSAGE = 1 << 30
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", _MAX_MESSAGE),
]
# Analyze calls kept in flight per pack: hides the per-call round trip without flooding the pack.
ANALYZE_WINDOW = 32
_STARTUP_TIMEOUT = 60.0
# Generous: a pack that takes longer on one call is hung, and CI should say so rather than wait forever.
CALL_TIMEOUT = 120.0
STACK_CALL_TIMEOUT = 600.0  # AnalyzeStack sees every resource at once


class PackError(Exception):
    """A policy pack could not be started, configured or run (one-line message)."""


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


# What grpcio puts before the message of an exception a servicer raised: noise in a one-line cause.
_GRPC_EXCEPTION_PREFIX = "Exception calling application: "


def rpc_error(pack: str, step: str, err: grpc.RpcError) -> PackError:
    details = err.details() if hasattr(err, "details") else str(err)  # type: ignore[attr-defined]
    last = (details or "").strip().splitlines()
    cause = last[-1].removeprefix(_GRPC_EXCEPTION_PREFIX) if last else str(err)
    return PackError(f"policy pack {pack}: {step} failed: {cause}")


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


def _pack_settings(pack_dir: Path) -> tuple[str, str | None, str]:
    """(python executable, version from PulumiPolicy.yaml, a note when preflight could not do as the CLI)."""
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
    python, note = sys.executable, ""
    options = runtime.get("options") if isinstance(runtime, dict) else None
    venv = options.get("virtualenv") if isinstance(options, dict) else None
    if venv:
        venv_dir = (pack_dir / str(venv)).resolve()
        candidate = venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if candidate.exists():
            python = str(candidate)
        elif venv_dir.exists():
            raise PackError(f"{manifest}: virtualenv {venv} has no Python interpreter")
        else:
            # The CLI refuses a missing one in place (`pulumi install` in the pack creates it from the pack's
            # requirements.txt); offline preflight runs the pack on its own interpreter and says so.
            note = (
                f"policy pack {pack_dir.name}: virtualenv {venv} does not exist (`pulumi install` in the pack would "
                f"create it): ran on {sys.executable}"
            )
    version = doc.get("version")
    return python, (str(version) if version is not None else None), note


class PackProcess:
    def __init__(self, pack_dir: Path, engine_address: str, run: StackContext) -> None:
        self.pack_dir = pack_dir
        python, self.manifest_version, self.note = _pack_settings(pack_dir)
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
        self.cpu_seconds = 0.0  # once closed: user + system, where the OS says
        port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_CHANNEL_OPTIONS)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        # AnalyzeStack with a request serialised already (the stub's would serialise it again).
        self.analyze_stack = self.channel.unary_unary(
            "/pulumirpc.Analyzer/AnalyzeStack", response_deserializer=analyzer_pb2.AnalyzeResponse.FromString
        )

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

    def stderr_lines(self) -> list[str]:
        """Everything the pack printed on stderr so far (reading to the end leaves the shared offset there)."""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").splitlines()

    def output(self) -> list[str]:
        """What the pack printed besides its port, for --debug."""
        errors = self.stderr_lines()[-20:]
        return [f"stdout: {line}" for line in self.stdout_tail] + [f"stderr: {line}" for line in errors if line.strip()]

    def last_error(self) -> str:
        self.stderr.seek(0)
        lines = [line.strip() for line in self.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1]
        if self.process.poll() is not None:
            return f"exited with status {self.process.returncode}"
        return "no port announced"

    def _reap(self, block: bool) -> bool:
        """Collect the exited process and its CPU seconds; False while it still runs."""
        if self.process.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(self.process.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (Popen.poll)
            self.process.poll()
            return True
        if not pid:
            return False
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()
        if self.process.returncode is None:
            if not hasattr(os, "wait4"):
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            elif not self._reap(block=False):
                self.process.terminate()  # the pack serves forever otherwise
                deadline = time.monotonic() + 5
                while not self._reap(block=False):
                    if time.monotonic() > deadline:
                        self.process.kill()
                        self._reap(block=True)
                        break
                    time.sleep(0.005)
        self.stderr.close()
