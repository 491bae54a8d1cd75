"""Measure which project-level grants a policy pack rejects: one `gcp.projects.IAMMember` per role, to a
dedicated service account, in a throwaway program run through `python -m secure_invoke.preflight`.

    python -m policies.tools.measure_roles --roles FILE [--policy-pack DIR ...]

FILE holds the roles to try: one per line, or a Python file whose first list/tuple of `roles/...` strings
is taken (e.g. a peer's check module, read in place, never copied here). Prints, per pack, how many grants
draw a mandatory finding, which roles pass, and which draw more than one (one finding per root cause).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """import pulumi_gcp as gcp

ROLES = {roles!r}
member = "serviceAccount:measured@si-measure-1234.iam.gserviceaccount.com"
for index, role in enumerate(ROLES):
    gcp.projects.IAMMember(f"grant-{{index}}", project="si-measure-1234", role=role, member=member)
"""


class RolesError(Exception):
    """The --roles file cannot be read or names no role."""


def read_roles(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RolesError(f"{path}: cannot read ({error.strerror})") from error
    except UnicodeDecodeError as error:
        raise RolesError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from error
    if path.suffix == ".py":
        try:
            tree = ast.parse(text)
        except SyntaxError as error:
            raise RolesError(f"{path}:{error.lineno}: not Python ({error.msg})") from error
        for node in ast.walk(tree):
            if isinstance(node, ast.List | ast.Tuple | ast.Set):
                values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if values and all(v.startswith("roles/") for v in values):
                    return values
        raise RolesError(f"{path}: no list of roles/... strings")
    roles = [line.strip() for line in text.splitlines() if line.strip().startswith("roles/")]
    if not roles:
        raise RolesError(f"{path}: no line starts with roles/")
    return roles


def rejected_roles(roles: list[str], pack: Path) -> dict[str, int]:
    """Role -> number of mandatory findings its grant draws (roles that draw none are absent)."""
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp)
        (program / "Pulumi.yaml").write_text("name: measure-roles\nruntime: python\n")
        (program / "Pulumi.measure.yaml").write_text("config:\n  gcp:project: si-measure-1234\n")
        (program / "__main__.py").write_text(PROGRAM.format(roles=roles))
        report = program / "report.json"
        subprocess.run(
            [sys.executable, "-m", "secure_invoke.preflight", "--program", str(program), "--stack", "measure",
             "--policy-pack", str(pack), "--json", str(report)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if not report.exists():
            raise SystemExit(f"error: preflight wrote no report for pack {pack}")
        document = json.loads(report.read_text())
    hits: dict[str, int] = {}
    for violation in document["violations"]:
        if violation["enforcementLevel"] == "mandatory" and "::grant-" in violation["urn"]:
            role = roles[int(violation["urn"].rsplit("::grant-", 1)[1])]
            hits[role] = hits.get(role, 0) + 1
    return hits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policies.tools.measure_roles",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--roles",
        type=Path,
        required=True,
        metavar="FILE",
        help="roles to try: one roles/... per line, or a Python file (see above)",
    )
    parser.add_argument(
        "--policy-pack",
        dest="packs",
        action="append",
        type=Path,
        metavar="DIR",
        help="a policy pack directory; repeat to compare packs (default: policies)",
    )
    args = parser.parse_args(argv)
    try:
        roles = read_roles(args.roles)
    except RolesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for pack in args.packs or [REPO_ROOT / "policies"]:
        rejected = rejected_roles(roles, pack)
        twice = sorted(role for role, count in rejected.items() if count > 1)
        print(f"{pack}: {len(rejected)} of {len(roles)} project-level grants rejected, {len(twice)} more than once")
        for role in roles:
            if role not in rejected:
                print(f"  passes: {role}")
        for role in twice:
            print(f"  {rejected[role]} findings: {role}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
