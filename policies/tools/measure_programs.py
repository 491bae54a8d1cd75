"""Measure what a policy pack finds on public Pulumi programs (not ours): each program copied to a throwaway
directory, given a throwaway stack, and run through `python -m secure_invoke.preflight` with known outputs.

    python -m policies.tools.measure_programs PROGRAM_DIR ... [--policy-pack DIR ...] [--python PATH]
        [--set KEY=VALUE ...] [--secret KEY ...]

A template's `${PROJECT}`/`${DESCRIPTION}` placeholders are filled and its `template.config` defaults become the
stack's config; gcp:project, gcp:region and gcp:zone are set to a made-up project; `--set` adds config a
program's README asks for, `--secret` a `secure:` value (as `pulumi config set --secret` leaves it; preflight
cannot decrypt it and says so where it lands). USER is set when the environment has none. Prints, per pack and program,
preflight's exit code and the findings counted once per policy and resource (mandatory / advisory), then the totals;
with two packs, the findings the second adds and removes. Read every finding before calling it right or wrong:
the tool counts, a reviewer judges.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = ["Run", "main", "run_program", "stack_config"]

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK: Final = "measure"
BASE_CONFIG: Final = {"gcp:project": "si-measure-1234", "gcp:region": "us-central1", "gcp:zone": "us-central1-a"}

# (level, policy, resource name)
Finding = tuple[str, str, str]


class ProgramError(Exception):
    """A program directory cannot be read (one line)."""


class Run:
    """One program under one pack: preflight's exit code, its findings, and its error line when it failed."""

    def __init__(self, code: int, found: set[Finding], error: str = "") -> None:
        self.code, self.found, self.error = code, found, error

    def count(self, level: str) -> int:
        return sum(1 for f in self.found if f[0] == level)


def stack_config(
    project: dict[str, Any], values: dict[str, Any] | None = None, secrets: list[str] | None = None
) -> dict[str, Any]:
    """The throwaway stack's config: the made-up project, each `template.config` default, the given values and
    secrets (bare keys in the project's namespace, as Pulumi reads them)."""
    name = str(project.get("name") or "program")

    def full(key: str) -> str:
        return key if ":" in key else f"{name}:{key}"

    config: dict[str, Any] = dict(BASE_CONFIG)
    template = project.get("template") or {}
    for key, spec in (template.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            config[full(key)] = spec["default"]
    config.update({full(key): value for key, value in (values or {}).items()})
    config.update({full(key): {"secure": "v1:bWVhc3VyZWQ=:bWVhc3VyZWQ="} for key in secrets or []})
    return config


def _prepare(source: Path, target: Path, values: dict[str, Any], secrets: list[str]) -> None:
    manifest = source / "Pulumi.yaml"
    if not manifest.is_file():
        raise ProgramError(f"{source}: no Pulumi.yaml")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("venv", ".venv", "__pycache__", "Pulumi.*.yaml"))
    text = manifest.read_text(encoding="utf-8")
    text = text.replace("${PROJECT}", source.name).replace("${DESCRIPTION}", "measured by secure-invoke")
    try:
        project = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ProgramError(f"{manifest}: not YAML ({str(error).splitlines()[0]})") from error
    (target / "Pulumi.yaml").write_text(text, encoding="utf-8")
    (target / f"Pulumi.{STACK}.yaml").write_text(
        yaml.safe_dump({"config": stack_config(project, values, secrets)}), encoding="utf-8"
    )


def run_program(
    source: Path, pack: Path, python: str, values: dict[str, Any] | None = None, secrets: list[str] | None = None
) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        program, report = Path(tmp) / source.name, Path(tmp) / "report.json"
        _prepare(source, program, values or {}, secrets or [])
        done = subprocess.run(
            [sys.executable, "-m", "secure_invoke.preflight", "--program", str(program), "--stack", STACK,
             "--policy-pack", str(pack), "--python", python, "--json", str(report)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False,
            env={"USER": "measure", **os.environ},
        )  # fmt: skip
        if done.returncode == 2 or not report.exists():
            lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
            return Run(done.returncode, set(), lines[-1])
        document = json.loads(report.read_text(encoding="utf-8"))
    found = {(v["enforcementLevel"], v["policy"], v["urn"].rsplit("::", 1)[1]) for v in document["violations"]}
    return Run(done.returncode, found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policies.tools.measure_programs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("programs", nargs="+", type=Path, metavar="PROGRAM_DIR", help="a Pulumi Python program")
    parser.add_argument(
        "--policy-pack",
        dest="packs",
        action="append",
        type=Path,
        metavar="DIR",
        help="a policy pack directory; repeat to compare packs (default: policies)",
    )
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run the programs on")
    parser.add_argument(
        "--set",
        dest="values",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config value for every program (bare keys: the program's namespace)",
    )
    parser.add_argument(
        "--secret",
        dest="secrets",
        action="append",
        default=[],
        metavar="KEY",
        help="a secure: config value for every program",
    )
    args = parser.parse_args(argv)
    if bad := [value for value in args.values if "=" not in value]:
        print(f"error: --set {bad[0]}: expected KEY=VALUE", file=sys.stderr)
        return 2
    # A value is read as YAML, so a list or a number can be given as Pulumi's --path config would hold it.
    values = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.values)}
    packs: list[Path] = args.packs or [REPO_ROOT / "policies"]
    runs: dict[Path, dict[Path, Run]] = {}
    for pack in packs:
        print(f"{pack}:")
        runs[pack] = {}
        for program in args.programs:
            try:
                run = runs[pack][program] = run_program(program, pack, args.python, values, args.secrets)
            except ProgramError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            if run.error:
                print(f"  {program.name}: exit {run.code}: {run.error}")
                continue
            print(f"  {program.name}: exit {run.code}, {run.count('mandatory')} mandatory, "
                  f"{run.count('advisory')} advisory")  # fmt: skip
            for level, policy, name in sorted(run.found):
                print(f"    {level} {policy} {name}")
        done = [run for run in runs[pack].values() if not run.error]
        flagged = sum(1 for run in done if run.count("mandatory"))
        print(f"  total: {sum(run.count('mandatory') for run in done)} mandatory in {flagged} of {len(done)} "
              f"programs run, {sum(run.count('advisory') for run in done)} advisory")  # fmt: skip
    if len(packs) == 2:
        before, after = packs
        for program in args.programs:
            old, new = runs[before][program].found, runs[after][program].found
            for sign, findings in (("+", new - old), ("-", old - new)):
                for level, policy, name in sorted(findings):
                    print(f"{sign} {program.name}: {level} {policy} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
