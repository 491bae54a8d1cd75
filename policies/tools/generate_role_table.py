"""Generate policies/guardrails/role_table.json: what every predefined GCP role can do, by its permissions.

    python -m policies.tools.generate_role_table [--data FILE] [--check]

The input is the predefined-roles data set (`{"source": ..., "roles": {"roles/x": {"permissions": [...],
"title": ..., "stage": ...}}}`, gzip or plain JSON): by default the copy committed in `policies/tools/data/`,
or the file $GCP_PREDEFINED_ROLES names (to regenerate from newer data). Every role is classified by
`policies.guardrails.power.classify`, the same function that judges custom roles, and written one line per
role so a data update diffs by role.
`--check` exits 1 if the committed table differs from what the data gives.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from secure_invoke.policies.guardrails.power import (
    PROJECT_SCOPED_BY_NATURE,
    TABLE_FORMAT,
    TABLE_PATH,
    classify,
    to_record,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_NAME = "gcp-predefined-roles.json.gz"
# A copy of the data set (MIT licence; source and licence inside the file), so the table's test runs anywhere.
COMMITTED_DATA = Path(__file__).resolve().parent / "data" / DATA_NAME
ENV_VAR = "GCP_PREDEFINED_ROLES"


class DataError(Exception):
    """The roles data is missing or not in the expected shape (one line)."""


def find_data() -> Path:
    """$GCP_PREDEFINED_ROLES, else the copy committed beside this tool (`policies/tools/data/`)."""
    return Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else COMMITTED_DATA


def load_data(path: Path) -> tuple[dict[str, Any], str]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from error
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        document = json.loads(text)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not gzip/JSON ({error})") from error
    roles = document.get("roles") if isinstance(document, dict) else None
    if not isinstance(roles, dict) or not roles:
        raise DataError(f"{path}: no 'roles' object")
    for name, entry in roles.items():
        if (
            not name.startswith("roles/")
            or not isinstance(entry, dict)
            or not isinstance(entry.get("permissions"), list)
        ):
            raise DataError(f"{path}: roles[{name!r}] is not a role with a permissions list")
    return document, digest


def render(document: dict[str, Any], digest: str) -> str:
    """The table as text: a header, then one role per line (sorted), so updates diff by role."""
    roles: dict[str, Any] = document["roles"]
    records = {
        name: to_record(classify(entry["permissions"], name, str(entry.get("title", ""))))
        for name, entry in sorted(roles.items())
    }
    for name in PROJECT_SCOPED_BY_NATURE:
        if name not in records or records[name]:
            raise DataError(f"{name} is listed as project-scoped by nature but classifies as {records.get(name)}")
    source = str(document.get("source", "unknown"))
    header = {
        "format": TABLE_FORMAT,
        "version": f"{len(records)}-roles-{digest[:12]}",
        "source": source,
        "dataSha256": digest,
        "generator": "python -m policies.tools.generate_role_table",
    }
    lines = ["{"]
    for key, value in header.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines.append('  "roles": {')
    body = [f"    {json.dumps(name)}: {json.dumps(record, sort_keys=True)}" for name, record in records.items()]
    lines.append(",\n".join(body))
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policies.tools.generate_role_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", type=Path, help=f"roles data (default: ${ENV_VAR}, else policies/tools/data/{DATA_NAME})"
    )
    parser.add_argument("--check", action="store_true", help="compare with the committed table instead of writing")
    args = parser.parse_args(argv)
    path = args.data or find_data()
    try:
        text = render(*load_data(path))
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        if TABLE_PATH.read_text(encoding="utf-8") != text:
            print(
                f"{TABLE_PATH.name} is out of date: rerun python -m policies.tools.generate_role_table", file=sys.stderr
            )
            return 1
        print(f"{TABLE_PATH.name} matches {path.name}")
        return 0
    TABLE_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {TABLE_PATH.name} from {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
