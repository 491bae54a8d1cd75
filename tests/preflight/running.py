"""`python -m secure_invoke.preflight` in-process, as the tests call it: exit code, report and stderr; and what
the tests read from its `--json` document."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from rich.console import Console

from secure_invoke.preflight.__main__ import main

MODES = [[], ["--preview"]]  # known outputs, as `pulumi up` enforces; a real preview
# The Cloud SQL connection name of tests/preflight/programs/cloudsql-run, autonamed instance included.
CONNECTION = re.compile(r"^shop-project:europe-west1:orders-db-[0-9a-f]{7}$")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv),
        stdout=Console(file=out, width=240, highlight=False),
        stderr=Console(file=err, width=240, highlight=False),
    )
    return code, out.getvalue(), err.getvalue()


def run_json(tmp_path: Path, *argv: str) -> tuple[int, dict, str]:
    target = tmp_path / "result.json"
    code, out, err = run(*argv, "--json", str(target))
    return code, (json.loads(target.read_text()) if target.exists() else {}), out + err


def mandatory(document: dict) -> set[tuple[str, str]]:
    """(policy, URN) of each mandatory violation in a `--json` document."""
    return {(v["policy"], v["urn"]) for v in document["violations"] if v["enforcementLevel"] == "mandatory"}


def urn(program: str, qualified_type: str, name: str) -> str:
    return f"urn:pulumi:dev::{program}::{qualified_type}::{name}"


def outputs(document: dict, type_: str) -> dict:
    """The outputs of the one resource of `type_` in a `--json` document."""
    (resource,) = [r for r in document["resources"] if r["type"] == type_]
    return resource["outputs"]
