"""`make example`: the wheel as a user gets it, on examples/two-services, outside this repository.

Copies the example to a fresh directory, creates its venv (where its Pulumi.yaml says), installs
secure-invoke's dependencies hash-checked from the example's requirements.lock and then the wheel through
the example's own requirements.txt with pip, as `pulumi install` would (no index: the wheel built from
this checkout), checks that the wheel's
declared ranges hold (`pip check`), and runs the installed `preflight` there: stack `dev` must pass, stack
`broken` must be rejected with the policy it breaks named. Exit 0 when both hold.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "two-services"
# What the broken stack breaks (its Pulumi.broken.yaml says why).
BROKEN_POLICY = "no-plaintext-secrets-in-env"
_BIN = "bin"


class ExampleError(Exception):
    """A step failed (one-line cause)."""


@dataclass
class Outcome:
    directory: Path
    timings: dict[str, float] = field(default_factory=dict)
    reports: dict[str, dict] = field(default_factory=dict)  # stack → preflight's JSON result
    exit_codes: dict[str, int] = field(default_factory=dict)


def _run(step: str, command: list[str], cwd: Path, outcome: Outcome, ok: tuple[int, ...] = (0,)) -> int:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    outcome.timings[step] = time.perf_counter() - started
    if done.returncode not in ok:
        last = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}").splitlines()[-1]
        raise ExampleError(f"{step}: {last}")
    return done.returncode


def install(wheel: Path, where: Path, outcome: Outcome) -> Path:
    """The example copied to `where`, with its venv holding the locked dependencies and the wheel."""
    shutil.copytree(EXAMPLE, where, ignore=shutil.ignore_patterns("venv", "__pycache__"))
    venv = where / "venv"
    _run("venv", [sys.executable, "-m", "venv", str(venv)], where, outcome)
    python = str(venv / _BIN / "python")
    # uv (pinned in the repository's lock) installs the locked set hash-checked, from its cache when warm.
    uv = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", python]
    _run("dependencies (hash-checked)", [*uv, "--require-hashes", "-r", "requirements.lock"], where, outcome)
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # The example's requirements.txt names secure-invoke; the wheel built from this checkout is the only source.
    wheels = ["--no-index", "--no-deps", "--find-links", str(wheel.parent)]
    _run("secure-invoke wheel", [*pip, *wheels, "-r", "requirements.txt"], where, outcome)
    _run("pip check", [python, "-m", "pip", "check"], where, outcome)
    return venv


def preflight(venv: Path, where: Path, stack: str, outcome: Outcome, out: Path | None) -> None:
    report = (out or where) / f"preflight-example-{stack}.json"
    command = [str(venv / _BIN / "preflight"), "--stack", stack, "--json", str(report)]
    outcome.exit_codes[stack] = _run(f"preflight {stack}", command, where, outcome, ok=(0, 1))
    outcome.reports[stack] = json.loads(report.read_text(encoding="utf-8"))


def check(outcome: Outcome) -> list[str]:
    """What is wrong with the outcome: dev must pass, broken must fail on BROKEN_POLICY."""
    problems = []
    if outcome.exit_codes.get("dev") != 0:
        found = sorted({v["policy"] for v in outcome.reports.get("dev", {}).get("violations", [])})
        problems.append(f"stack dev: expected a pass, got exit {outcome.exit_codes.get('dev')} ({found})")
    broken = [
        v for v in outcome.reports.get("broken", {}).get("violations", []) if v.get("enforcementLevel") == "mandatory"
    ]
    if outcome.exit_codes.get("broken") != 1 or {v["policy"] for v in broken} != {BROKEN_POLICY}:
        found = sorted({v["policy"] for v in broken})
        problems.append(
            f"stack broken: expected exit 1 on {BROKEN_POLICY} alone, "
            f"got exit {outcome.exit_codes.get('broken')} {found}"
        )
    return problems


def run(wheel: Path, where: Path, out: Path | None = None) -> Outcome:
    outcome = Outcome(where)
    venv = install(wheel, where, outcome)
    # The two stacks at once, each its own preflight process.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(preflight, venv, where, stack, outcome, out) for stack in ("dev", "broken")]:
            done.result()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.example", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, required=True, help="the built wheel (make dist)")
    parser.add_argument("--out", type=Path, help="where to write preflight's JSON results (default: the copy)")
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        print(f"error: --wheel {args.wheel}: no such file (make dist builds it)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="secure-invoke-example-") as temporary:
        try:
            outcome = run(args.wheel.resolve(), Path(temporary) / "two-services", args.out and args.out.resolve())
        except ExampleError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for step, seconds in outcome.timings.items():
        print(f"{step}: {seconds:.1f} s")
    for stack in ("dev", "broken"):
        policies = sorted(
            {v["policy"] for v in outcome.reports[stack]["violations"] if v.get("enforcementLevel") == "mandatory"}
        )
        print(f"preflight {stack}: exit {outcome.exit_codes[stack]}, mandatory findings: {policies or 'none'}")
    problems = check(outcome)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
