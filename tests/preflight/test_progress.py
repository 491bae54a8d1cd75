"""The progress line: live on a terminal once a run takes a while, gone before the report; never on a pipe.
And `--timings`, the phases and CPU seconds the benchmark reads."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from secure_invoke.preflight.report.progress import Progress
from tests.preflight.running import run

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SLOW = HERE / "programs" / "slow"  # pauses 2 s: longer than the line's 1 s delay, whatever the machine's speed
TEST_PACK = HERE / "packs" / "basic_pack"
COMMAND = [sys.executable, "-m", "secure_invoke.preflight", "--program", str(SLOW), "--policy-pack", str(TEST_PACK)]
LINE = "resources registered"


def _environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CI")
    }
    env.update(TERM="xterm-256color", COLUMNS="200", LINES="50")
    return env


def _on_a_terminal() -> tuple[int, bytes]:
    """Run preflight with stdout and stderr on a pseudo-terminal, as in an interactive shell."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(COMMAND, cwd=REPO, env=_environment(), stdin=subprocess.DEVNULL, stdout=terminal,
                               stderr=terminal)  # fmt: skip
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError("preflight printed nothing for 120 s")
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return process.wait(timeout=60), b"".join(chunks)


def test_a_long_run_shows_one_live_line_on_a_terminal_and_removes_it_before_the_report() -> None:
    code, output = _on_a_terminal()
    text = output.decode(errors="replace")
    assert code == 0, text
    assert LINE in text, text
    assert "running the program" in text
    report = text.index("Previewing update")
    assert text.rindex(LINE) < report  # drawn while the run goes, never after the report began
    assert "\x1b[2K" in text[text.rindex(LINE) : report]  # and erased: the line is transient
    assert LINE not in text[report:]
    assert "PASS" in text[report:]


def test_piped_output_has_no_progress_line() -> None:
    done = subprocess.run(COMMAND, cwd=REPO, env=_environment(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert LINE not in done.stdout + done.stderr
    assert "\x1b[" not in done.stdout + done.stderr
    assert done.stderr == ""
    assert "PASS" in done.stdout


def _shown_within(progress: Progress, seconds: float) -> bool:
    with progress:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if progress.shown:
                return True
            time.sleep(0.01)
    return False


@pytest.fixture
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


@pytest.mark.usefixtures("no_ci")
def test_the_line_needs_a_real_terminal_and_no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    controller, terminal = pty.openpty()
    try:
        with open(terminal, "w", closefd=False) as tty:
            assert _shown_within(Progress(Console(file=tty), delay=0.01), 30)  # an interactive shell
            monkeypatch.setenv("CI", "true")  # a CI job that gives its steps a terminal
            assert not _shown_within(Progress(Console(file=tty), delay=0.01), 0.5)
            monkeypatch.setenv("TTY_INTERACTIVE", "1")  # rich's override, asked for explicitly
            assert _shown_within(Progress(Console(file=tty), delay=0.01), 30)
    finally:
        os.close(terminal)
        os.close(controller)


@pytest.mark.usefixtures("no_ci")
def test_forced_colour_on_a_pipe_draws_no_line(monkeypatch: pytest.MonkeyPatch) -> None:
    read_end, write_end = os.pipe()
    try:
        with open(write_end, "w", closefd=False) as pipe:
            monkeypatch.setenv("FORCE_COLOR", "1")  # colour in CI logs: rich then calls the pipe a terminal
            console = Console(file=pipe)
            assert console.is_interactive
            assert not _shown_within(Progress(console, delay=0.01), 0.5)
    finally:
        os.close(write_end)
        os.close(read_end)


def test_timings_name_every_phase_and_process(tmp_path: Path) -> None:
    target = tmp_path / "timings.json"
    code, _, err = run("--program", str(SLOW), "--policy-pack", str(TEST_PACK), "--timings", str(target))
    assert code == 0, err
    timings = json.loads(target.read_text())
    assert list(timings["phases"]) == [
        "starting the policy packs",
        "running the program",
        "finishing Analyze calls",
        "analyzing the stack",
        "writing the report",
    ]
    assert timings["phases"]["running the program"] >= 2.0  # the program's own pause
    assert timings["wall"] >= sum(timings["phases"].values()) - 0.01
    assert set(timings["cpu"]) == {"engine", "program", "packs"}
    assert all(seconds > 0 for seconds in timings["cpu"].values()), timings["cpu"]
    # the stack, its default provider and two topics, each registered and analyzed by the one pack
    assert timings["resources"] == timings["analyzed"] == 4
