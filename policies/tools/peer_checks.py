"""The GCP checks of checkov and trivy-checks, by id and title, read from their repositories (a checkout or the bare
git directory a mirror is): what policies/README.md's peer coverage tables are held against.

    python -m policies.tools.peer_checks --checkov DIR --trivy DIR [--check]

Writes `policies/tools/data/peer_checks.json` (each repository's commit, each check's id, title and the
resource types or service it reads), or with `--check` exits 1 when the committed file differs. Only ids, titles
and resource types are kept: no check's code. Pulumi's pre-built packs are not a repository; their GCP policies are
listed in `peers.py` from the packs' published reference pages.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent / "data" / "peer_checks.json"
CHECKOV_DIRS = ("checkov/terraform/checks/resource/gcp", "checkov/terraform/checks/data/gcp")
CHECKOV_GRAPH_DIR = "checkov/terraform/checks/graph_checks/gcp"
TRIVY_DIR = "checks/cloud/google"


class PeerError(Exception):
    """A repository cannot be read as expected (one line)."""


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PeerError(f"{repo}: git {' '.join(args[:2])} failed: {result.stderr.strip()[:200]}")
    return result.stdout


def _files(repo: Path, folder: str, suffix: str) -> list[str]:
    names = _git(repo, "ls-tree", "-r", "--name-only", "HEAD", folder).split()
    return sorted(n for n in names if n.endswith(suffix))


def _number(check_id: str) -> tuple[bool, int]:
    return check_id.startswith("CKV2"), int(check_id.rsplit("_", 1)[1])


def checkov_checks(repo: Path) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    for folder in CHECKOV_DIRS:
        for path in _files(repo, folder, ".py"):
            text = _git(repo, "show", f"HEAD:{path}")
            ids = re.findall(r'\b(?:check_)?id\s*=\s*"(CKV2?_GCP_\d+)"', text)
            if not ids:
                continue
            names = re.findall(r'\bname\s*=\s*"([^"]+)"', text)
            supported = re.findall(r"supported_(?:resources|data)\s*=\s*[(\[]([^)\]]*)", text)
            resources = re.findall(r"['\"]([^'\"]+)['\"]", supported[0]) if supported else []
            checks.append({"id": ids[0], "title": names[0].strip() if names else "", "reads": sorted(set(resources))})
    for path in _files(repo, CHECKOV_GRAPH_DIR, ".yaml"):
        document = yaml.safe_load(_git(repo, "show", f"HEAD:{path}")) or {}
        metadata = document.get("metadata") or {}
        types: set[str] = set()

        def walk(node: object, found: set[str] = types) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "resource_types":
                        found.update(value if isinstance(value, list) else [value])
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(document.get("definition"))
        checks.append({"id": metadata["id"], "title": str(metadata.get("name", "")).strip(), "reads": sorted(types)})
    if not checks:
        raise PeerError(f"{repo}: no checkov GCP check under {CHECKOV_DIRS[0]}")
    checks.sort(key=lambda c: _number(c["id"]))
    return {"repository": "bridgecrewio/checkov", "commit": _git(repo, "rev-parse", "HEAD").strip(),
            "paths": [*CHECKOV_DIRS, CHECKOV_GRAPH_DIR], "checks": checks}  # fmt: skip


def trivy_checks(repo: Path) -> dict[str, Any]:
    checks: list[dict[str, Any]] = []
    for path in _files(repo, TRIVY_DIR, ".rego"):
        if path.endswith("_test.rego"):
            continue
        text = _git(repo, "show", f"HEAD:{path}")
        header = re.search(r"^# METADATA\n((?:#.*\n)+)", text, re.M)
        if header is None:
            continue
        meta = header.group(1)
        alias = re.search(r"^#\s+- (AVD-GCP-\d+)$", meta, re.M)
        own = re.search(r"^#\s+id: (GCP-\d+)$", meta, re.M)
        title = re.search(r"^# title: (.*)$", meta, re.M)
        service = re.search(r"^#\s+service: (\S+)$", meta, re.M)
        if own is None or title is None or service is None:
            raise PeerError(f"{path}: no id, title or service in its METADATA")
        checks.append({"id": alias.group(1) if alias else f"AVD-{own.group(1)}", "title": title.group(1).strip(),
                       "reads": [service.group(1)], "deprecated": "deprecated: true" in meta})  # fmt: skip
    if not checks:
        raise PeerError(f"{repo}: no trivy GCP check under {TRIVY_DIR}")
    checks.sort(key=lambda c: c["id"])
    return {"repository": "aquasecurity/trivy-checks", "commit": _git(repo, "rev-parse", "HEAD").strip(),
            "paths": [TRIVY_DIR], "checks": checks}  # fmt: skip


def load() -> dict[str, Any]:
    """The committed lists: {"checkov": {...}, "trivy": {...}}."""
    return json.loads(DATA.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkov", type=Path, required=True, help="checkov's repository (checkout or git dir)")
    parser.add_argument("--trivy", type=Path, required=True, help="trivy-checks' repository (checkout or git dir)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the committed file differs")
    args = parser.parse_args(argv)
    try:
        text = json.dumps({"checkov": checkov_checks(args.checkov), "trivy": trivy_checks(args.trivy)}, indent=1)
    except (PeerError, KeyError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text += "\n"
    if args.check:
        if DATA.read_text(encoding="utf-8") != text:
            print(f"{DATA.name} differs from what the repositories give: run without --check", file=sys.stderr)
            return 1
        print(f"up to date: {DATA.name}")
        return 0
    DATA.write_text(text, encoding="utf-8")
    print(f"wrote {DATA.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
