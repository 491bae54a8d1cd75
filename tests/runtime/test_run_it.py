"""The "Run it" commands of the relay's and the worker's READMEs, run as written (ports aside): each starts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from local.processes import ROOT, free_port


def run_it_block(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    section = text.split("\n## Run it\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, f"{readme}: no sh block under Run it"
    return match.group(1)


def answer(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0][-2000:]
        try:
            return requests.get(url, timeout=2)
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("readme", "path", "status", "body"),
    [("services/worker/README.md", "/healthz", 200, "ok"), ("functions/relay/README.md", "/", 405, None)],
)
def test_readme_run_it_command_starts_the_part(readme: str, path: str, status: int, body: str | None) -> None:
    port = free_port()
    # The worker takes $PORT (default 8080), the relay --port 8081: both moved to a free port.
    script = run_it_block(ROOT / readme).replace("--port 8081", f"--port {port}")
    env = {**os.environ, "PORT": str(port)}
    process = subprocess.Popen(
        ["bash", "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        response = answer(f"http://127.0.0.1:{port}{path}", process)
        assert response.status_code == status
        if body is not None:
            assert response.text.strip() == body
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)
