"""The deployer check's figures: coverage of resource types, and its own time, on this repository's stacks and on
the fixture programs shaped after public programs (tests/policies/programs, tests/preflight/programs).

    .venv/bin/python benchmarks/deployer.py [--repeat N] [--narrow ROLE]...

For each program: its Google resource types, how many the provider table covers with every step resolved, the
check's own time (median of N, the program run excluded) and, for a deliberately narrow deployer (default:
roles/run.developer and roles/iam.serviceAccountUser on the project), how many permissions would be missing on how
many resources. Prints Markdown tables (preflight/README.md carries the figures).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from secure_invoke.preflight.deployer import UP, Backend, IdentitySpec, check_identity  # noqa: E402
from secure_invoke.preflight.deployer.data import provider_methods  # noqa: E402
from secure_invoke.preflight.engine.program import ProgramError, run_program  # noqa: E402

NARROW = ("roles/run.developer", "roles/iam.serviceAccountUser")


def programs() -> list[tuple[str, Path, str]]:
    found = [("this stack (dev)", REPO, "dev"), ("this stack (prod)", REPO, "prod")]
    found.append(("bootstrap", REPO / "bootstrap", "github"))
    for folder in ("tests/policies/programs", "tests/preflight/programs"):
        for program in sorted((REPO / folder).iterdir()):
            if (program / "Pulumi.dev.yaml").exists():
                found.append((f"{folder.split('/')[1]}/{program.name}", program, "dev"))
    return found


def covered(token: str) -> bool:
    entry = provider_methods().get(token)
    return entry is not None and not entry.get("unresolved") and bool(entry.get("create") or entry.get("read"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="checks per program, the median shown (default: 3)")
    parser.add_argument(
        "--narrow",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"a role of the narrow deployer, repeatable (default: {', '.join(NARROW)})",
    )
    args = parser.parse_args()
    narrow = tuple(args.narrow) or NARROW
    table = provider_methods()
    full = sum(1 for token in table if covered(token))
    print(f"provider table: {len(table)} types, {full} with every call resolved ({full / len(table):.0%})\n")
    print("| program | Google types | covered | unknown types | check (s, median) | narrow deployer: would fail |")
    print("| --- | --- | --- | --- | --- | --- |")
    all_types: set[str] = set()
    all_covered: set[str] = set()
    for label, directory, stack in programs():
        try:
            run = run_program(directory, stack)
        except ProgramError as error:
            print(f"| {label} | program error: {error.args[0][:60]} | | | | |")
            continue
        types = {r.type for r in run.resources if r.custom and r.type.startswith("gcp:")}
        good = {t for t in types if covered(t)}
        all_types |= types
        all_covered |= good
        spec = IdentitySpec("--deployer", UP, None, narrow)
        times = []
        verdict = None
        for _ in range(args.repeat):
            started = time.perf_counter()
            verdict = check_identity(run, spec, {}, [], Backend())
            times.append(time.perf_counter() - started)
        assert verdict is not None
        resources = len({m.need.urn for m in verdict.missing if m.need.urn})
        unknown = sorted({u.label.split(" ")[0] for u in verdict.plan.unknown if u.urn})
        print(
            f"| {label} | {len(types)} | {len(good)} | {', '.join(unknown) or '—'} | {statistics.median(times):.3f} | "
            f"{len(verdict.missing)} on {resources} resources |"
        )
    print(f"\nall programs: {len(all_types)} Google types, {len(all_covered)} covered with every call resolved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
