"""Start the stand-ins, the worker and the relay as real processes on 127.0.0.1.

Used by `make local` (local.demo), the end-to-end tests and the benchmarks, so all of them run the
components exactly the same way: the worker by the Dockerfile's CMD from services/worker/, the
relay by the functions-framework CLI, as on Cloud Functions; the metadata server, the Pub/Sub
publish API and the IAM Credentials API by their stand-ins (local.metadata_server, local.pubsub,
local.iam_credentials).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

from local.plan import Plan

ROOT = Path(__file__).resolve().parent.parent
WORKER_DIR = ROOT / "services" / "worker"
RELAY_SOURCE = ROOT / "functions" / "relay" / "main.py"
BIN = Path(sys.executable).parent
# The worker's command, read from the Dockerfile so local mode cannot drift from the image.
LOCAL_AUDIENCE = "https://worker.secure-invoke.local"
LOCAL_PROJECT = "secure-invoke-local"
LOCAL_DEAD_LETTER_TOPIC = f"projects/{LOCAL_PROJECT}/topics/jobs-local-dead"

# Variables a developer's shell may carry that would change which identity google-auth picks.
_SCRUBBED = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GCE_METADATA_HOST",
    "GCE_METADATA_ROOT",
    "GCE_METADATA_IP",
    "NO_GCE_CHECK",
)


class StartupError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dockerfile_cmd(dockerfile: Path = WORKER_DIR / "Dockerfile") -> list[str]:
    """The exec-form CMD of the worker's Dockerfile."""
    for line in reversed(dockerfile.read_text().splitlines()):
        if line.strip().startswith("CMD "):
            cmd = json.loads(line.strip()[4:])
            if not isinstance(cmd, list) or not all(isinstance(part, str) for part in cmd):
                raise StartupError(f"{dockerfile}: CMD is not an exec-form JSON array")
            return cmd
    raise StartupError(f"{dockerfile}: no CMD line")


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON lines this process wrote (its structured logs)."""
        records = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


def _spawn(name: str, cmd: list[str], env: dict[str, str], cwd: Path, log_dir: Path, url: str) -> Proc:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    popen = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Proc(name, popen, url, log_path, log)


@contextmanager
def stopping() -> Iterator[list[Proc]]:
    """A list to add each started process to; all are stopped, the last started first, when the block ends."""
    procs: list[Proc] = []
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            proc.stop()


def wait_ready(proc: Proc, path: str, timeout: float = 20.0, headers: Mapping[str, str] | None = None) -> None:
    """Polls `path` until it answers (any HTTP status) or the process dies."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartupError(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_text()[-2000:]}")
        try:
            requests.get(proc.url + path, headers=dict(headers or {}), timeout=2)
            return  # any HTTP answer means the server is accepting requests
        except requests.RequestException:
            time.sleep(delay)
            delay = min(delay * 1.5, 0.2)
    proc.stop()
    raise StartupError(f"{proc.name} not ready after {timeout:g}s: {proc.log_text()[-2000:]}")


def start_metadata_server(
    email: str,
    key: Path,
    log_dir: Path,
    token_lifetime: int = 3600,
    certs_max_age: int = 3600,
    name: str = "identity",
    clock_offset: float = 0.0,
) -> Proc:
    port = free_port()
    cmd = [sys.executable, "-m", "local.metadata_server", "--port", str(port), "--email", email, "--key", str(key)]
    cmd += ["--token-lifetime", str(token_lifetime), "--certs-max-age", str(certs_max_age)]
    cmd += ["--clock-offset", str(clock_offset)]
    proc = _spawn(name, cmd, base_env({}), ROOT, log_dir, f"http://127.0.0.1:{port}")
    wait_ready(proc, "/_stats")
    return proc


def start_pubsub(tokeninfo_url: str, publisher: str, log_dir: Path, topic: str = LOCAL_DEAD_LETTER_TOPIC) -> Proc:
    port = free_port()
    cmd = [sys.executable, "-m", "local.pubsub", "--port", str(port), "--tokeninfo", tokeninfo_url]
    cmd += ["--topic", topic, "--publisher", publisher]
    proc = _spawn("pubsub", cmd, base_env({}), ROOT, log_dir, f"http://127.0.0.1:{port}")
    wait_ready(proc, "/_stats")
    return proc


def start_iam_credentials(key: Path, access_file: Path, log_dir: Path, name: str = "iam-credentials") -> Proc:
    """The IAM Credentials API stand-in: operator ID tokens for people with a live grant of `access_file`."""
    port = free_port()
    cmd = [sys.executable, "-m", "local.iam_credentials", "--port", str(port), "--key", str(key)]
    cmd += ["--access", str(access_file)]
    proc = _spawn(name, cmd, base_env({}), ROOT, log_dir, f"http://127.0.0.1:{port}")
    wait_ready(proc, "/_stats")
    return proc


def start_worker(
    audience: str,
    allowed_invokers: str,
    certs_url: str,
    log_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    name: str = "worker",
    behind_front_end: Path | None = None,
) -> Proc:
    """The worker by the Dockerfile's CMD on a loopback port; or, with `behind_front_end` (a directory), as on
    Cloud Run behind its IAM invoker check: on a unix socket in that directory (0700: only the front-end
    stand-in, local.cloud_run, reaches it), with the deployment's CLOUD_RUN_INVOKER_IAM_CHECK and K_SERVICE."""
    port = free_port()
    listen: dict[str, str] = {"HOST": "127.0.0.1", "PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    if behind_front_end is not None:
        behind_front_end.mkdir(mode=0o700, parents=True, exist_ok=True)
        behind_front_end.chmod(0o700)
        socket_path = behind_front_end / f"{name}.sock"
        listen = {"UNIX_SOCKET": str(socket_path), "CLOUD_RUN_INVOKER_IAM_CHECK": "enforced", "K_SERVICE": name}
        url = f"unix:{socket_path}"
    # The upstream key only as the caller of this function gives it (a developer's shell may carry one).
    env = {k: v for k, v in base_env({}).items() if k != "UPSTREAM_API_KEY_FILE"}
    env |= {
        **listen,
        "INVOKER_AUDIENCE": audience,
        "ALLOWED_INVOKERS": allowed_invokers,
        "GOOGLE_CERTS_URL": certs_url,
        "GOOGLE_CLOUD_PROJECT": LOCAL_PROJECT,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **(extra_env or {}),
    }
    cmd = dockerfile_cmd()
    cmd[0] = str(BIN / cmd[0])  # the repository venv's interpreter
    proc = _spawn(name, cmd, env, WORKER_DIR, log_dir, url)
    if behind_front_end is None:
        wait_ready(proc, "/healthz")
    else:
        wait_unix_ready(proc, Path(url.removeprefix("unix:")))
    return proc


def wait_unix_ready(proc: Proc, path: Path, timeout: float = 20.0) -> None:
    """Waits until the unix socket at `path` answers GET /healthz (any status), or the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartupError(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_text()[-2000:]}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(str(path))
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n\r\n")
                if sock.recv(16).startswith(b"HTTP/"):
                    return
        except OSError:
            time.sleep(0.05)
    proc.stop()
    raise StartupError(f"{proc.name} not ready after {timeout:g}s: {proc.log_text()[-2000:]}")


def start_cloud_run(
    worker: Proc, certs_url: str, audience: str, invokers: Path, log_dir: Path, name: str = "cloud-run"
) -> Proc:
    """The front-end stand-in (local.cloud_run) of a worker started `behind_front_end`: the only way to it."""
    if not worker.url.startswith("unix:"):
        raise StartupError(f"{worker.name} is not behind a front end (it listens on {worker.url})")
    port = free_port()
    cmd = [sys.executable, "-m", "local.cloud_run", "--port", str(port), "--upstream-socket", worker.url[5:]]
    cmd += ["--certs", certs_url, "--audience", audience, "--invokers", str(invokers)]
    proc = _spawn(name, cmd, base_env({}), ROOT, log_dir, f"http://127.0.0.1:{port}")
    wait_ready(proc, "/_frontend/stats")
    return proc


def start_planned_worker(
    plan: Plan, certs_url: str, log_dir: Path, key_file: Path | None = None, name: str = "worker"
) -> Proc:
    """The worker with the environment the plan gives its container, behind the front-end stand-in as on Cloud
    Run (K_SERVICE the planned service's name); its upstream key file, if given, where the plan mounts a secret."""
    env = {k: v for k, v in plan.env.items() if k not in ("INVOKER_AUDIENCE", "ALLOWED_INVOKERS")}
    env.pop("UPSTREAM_API_KEY_FILE", None)  # /secrets/… on Cloud Run; here, a file of the caller's, if any
    if key_file is not None:
        env["UPSTREAM_API_KEY_FILE"] = str(key_file)
    env["K_SERVICE"] = plan.service_name
    audience, allowed = plan.env.get("INVOKER_AUDIENCE"), plan.env.get("ALLOWED_INVOKERS")
    if not audience or not allowed:
        raise StartupError(f"the plan gives {plan.service_name} no INVOKER_AUDIENCE or ALLOWED_INVOKERS")
    return start_worker(
        audience, allowed, certs_url, log_dir, extra_env=env, name=name, behind_front_end=log_dir / "run"
    )


def start_planned_cloud_run(
    worker: Proc, certs_url: str, report: Path, log_dir: Path, service: str = "worker", name: str = "cloud-run"
) -> Proc:
    """The front-end stand-in with the invoker members and audiences the report plans for `service`."""
    if not worker.url.startswith("unix:"):
        raise StartupError(f"{worker.name} is not behind a front end (it listens on {worker.url})")
    port = free_port()
    cmd = [sys.executable, "-m", "local.cloud_run", "--port", str(port), "--upstream-socket", worker.url[5:]]
    cmd += ["--certs", certs_url, "--plan", str(report), "--service", service]
    proc = _spawn(name, cmd, base_env({}), ROOT, log_dir, f"http://127.0.0.1:{port}")
    wait_ready(proc, "/_frontend/stats")
    return proc


def plan_report(stack: str, out: Path, program: Path = ROOT, *extra: str) -> Path:
    """What `stack` of `program` plans: `python -m secure_invoke.preflight --json` (offline; the pack runs too,
    and its verdict is in the report). StartupError if preflight could not run the program."""
    cmd = [sys.executable, "-m", "secure_invoke.preflight", "--program", str(program), "--stack", stack]
    done = subprocess.run(
        [*cmd, "--json", str(out), *extra], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode not in (0, 1) or not out.is_file():  # 1: the pack rejected the plan, which still exists
        raise StartupError(f"preflight --stack {stack} exited with {done.returncode}: {done.stderr.strip()[-800:]}")
    return out


def write_invokers(path: Path, emails: list[str]) -> Path:
    """The invoker members the front end enforces, as the stack's run.invoker grants name them."""
    path.write_text("".join(f"serviceAccount:{email}\n" for email in emails))
    return path


def start_relay(
    worker_url: str,
    audience: str,
    metadata_url: str,
    log_dir: Path,
    timeout_seconds: float = 10.0,
    name: str = "relay",
    pubsub_url: str = "",
    dead_letter_topic: str = LOCAL_DEAD_LETTER_TOPIC,
    extra_env: Mapping[str, str] | None = None,
) -> Proc:
    port = free_port()
    metadata_host = metadata_url.removeprefix("http://")
    runtime_dir = log_dir / f"{name}-run"
    runtime_dir.mkdir(parents=True, exist_ok=True)
    env = base_env(
        {
            "WORKER_URL": worker_url,
            "WORKER_AUDIENCE": audience,
            "WORKER_TIMEOUT_SECONDS": str(timeout_seconds),
            "DEAD_LETTER_TOPIC": dead_letter_topic,
            # Where the Pub/Sub REST API is: the stand-in (loopback http is allowed, nothing else is).
            "PUBSUB_ENDPOINT": pubsub_url,
            # google-auth's metadata client: requests go to GCE_METADATA_HOST, the "am I on
            # Google Cloud" ping to GCE_METADATA_IP; both must be the stand-in.
            "GCE_METADATA_HOST": metadata_host,
            "GCE_METADATA_IP": metadata_host,
            # functions-framework's gunicorn puts its control socket here, not in $HOME.
            "XDG_RUNTIME_DIR": str(runtime_dir),
            **(extra_env or {}),
        }
    )
    cmd = [str(BIN / "functions-framework"), "--target", "relay", "--source", str(RELAY_SOURCE)]
    cmd += ["--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(port)]
    proc = _spawn(name, cmd, env, RELAY_SOURCE.parent, log_dir, f"http://127.0.0.1:{port}")
    wait_ready(proc, "/")  # GET on a CloudEvent function answers 405 once the server is up
    return proc


def rfc3339(moment: datetime.datetime | None = None) -> str:
    """Pub/Sub's timestamp format: UTC, milliseconds, `Z`."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pubsub_event(
    job: Any,
    message_id: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    raw_data: bytes | None = None,
    published: datetime.datetime | None = None,
) -> tuple[dict[str, str], bytes]:
    """A binary-mode CloudEvent as Eventarc delivers a Pub/Sub message: (headers, body).

    `published` defaults to now: the relay dead-letters a message that has failed for almost
    Eventarc's whole 24-hour retry window, and it reads the age from the publish time.
    """
    message_id = message_id or str(uuid.uuid4().int)[:16]
    data = raw_data if raw_data is not None else json.dumps(job).encode()
    publish_time = rfc3339(published)
    body = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": dict(attributes or {}),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": publish_time,
            "publish_time": publish_time,
        },
        "subscription": f"projects/{LOCAL_PROJECT}/subscriptions/eventarc-relay",
    }
    return cloudevent_headers(message_id, publish_time), json.dumps(body).encode()


def cloudevent_headers(event_id: str, time: str | None = None) -> dict[str, str]:
    """Binary-mode CloudEvent headers of a Pub/Sub delivery, as Eventarc sends them."""
    return {
        "Content-Type": "application/json",
        "ce-id": event_id,
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": f"//pubsub.googleapis.com/projects/{LOCAL_PROJECT}/topics/jobs-local",
        "ce-time": time or rfc3339(),
    }


def get_json(url: str, headers: Mapping[str, str] | None = None) -> Any:
    response = requests.get(url, headers=dict(headers or {}), timeout=10)
    response.raise_for_status()
    return response.json()
