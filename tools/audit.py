"""`make audit`: known vulnerabilities in every locked set, from PyPI's advisory data; a new one fails.

pip-audit (pinned in requirements.txt) reads each lock as it is (`--disable-pip --require-hashes`: nothing
is installed or resolved) and asks PyPI's per-release JSON API. Where an index serves only the project
JSON (`/pypi/<name>/json`, this repository's own CI machine among them), pip-audit cannot find a release;
for those this tool reads the project JSON, whose `vulnerabilities` are the latest release's: exact for a
pin that is the latest, and nothing for an older pin, which is then reported as not audited (`--strict`
makes that a failure, as in the GitHub workflow, where PyPI serves both). A yanked pin fails too.

Accepted risks live in .ci/audit-accepted.txt, one `<advisory id> <reason>` a line; an entry without a
reason is refused, one that no longer matches anything is reported so it can go.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = (
    "requirements.txt",
    "policies/requirements.txt",
    "examples/two-services/requirements.lock",
    "functions/relay/requirements.txt",
    "examples/two-services/functions/ingest/requirements.txt",
    "services/worker/requirements.txt",
)
ACCEPTED = ROOT / ".ci" / "audit-accepted.txt"
PROJECT_JSON = "https://pypi.org/pypi/{name}/json"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


class AuditError(Exception):
    """The audit could not run (one-line cause)."""


@dataclass(frozen=True)
class Finding:
    name: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]

    def line(self) -> str:
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fix = f"; fixed in {', '.join(self.fixed_in)}" if self.fixed_in else "; no fixed release"
        return f"{self.name}=={self.version}: {self.id}{also}{fix}"


def pins(lock: Path) -> dict[str, str]:
    """name → version of every requirement of a lock file."""
    found = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def accepted(path: Path) -> dict[str, str]:
    """advisory id → reason, from the accepted-risk list."""
    entries = {}
    if not path.is_file():
        return entries
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        advisory, _, reason = line.partition(" ")
        if not reason.strip():
            raise AuditError(f"{path.name}:{number}: {advisory} is accepted without a reason")
        entries[advisory] = reason.strip()
    return entries


def pip_audit(locks: list[Path]) -> dict:
    command = [sys.executable, "-m", "pip_audit", "--disable-pip", "--require-hashes", "--progress-spinner", "off"]
    command += ["--format", "json", "--output", "-"]
    for lock in locks:
        command += ["-r", str(lock)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as err:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise AuditError(f"pip-audit gave no report: {last}") from err


def project_json(name: str) -> dict:
    try:
        with urllib.request.urlopen(PROJECT_JSON.format(name=name), timeout=60) as response:  # noqa: S310
            return json.load(response)
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as err:
        raise AuditError(f"cannot read PyPI's JSON for {name}: {err}") from err


def _findings_of(name: str, version: str, vulns: list[dict]) -> list[Finding]:
    return [
        Finding(
            name,
            version,
            str(v.get("id")),
            tuple(v.get("aliases") or ()),
            tuple(v.get("fix_versions") or v.get("fixed_in") or ()),
        )
        for v in vulns
        if not v.get("withdrawn")
    ]


def audit(locks: list[Path]) -> tuple[list[Finding], list[str], list[str], int]:
    """(findings, yanked pins, pins not audited, pins audited)."""
    wanted: dict[str, str] = {}
    for lock in locks:
        for name, version in pins(lock).items():
            if wanted.setdefault(name, version) != version:
                # Two locks at two versions: audit both, pip-audit would see only one per run.
                wanted[f"{name}@{version}"] = version
    report = pip_audit(locks)
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    for dependency in report.get("dependencies", []):
        if "skip_reason" in dependency:
            skipped[dependency["name"].lower()] = dependency.get("version") or wanted.get(
                dependency["name"].lower(), ""
            )
        else:
            findings += _findings_of(dependency["name"], dependency["version"], dependency.get("vulns", []))
    checked = {f"{name}=={version}" for name, version in wanted.items()}
    yanked: list[str] = []
    unaudited: list[str] = []
    names = sorted({key.split("@", 1)[0] for key in wanted})
    with ThreadPoolExecutor(max_workers=8) as pool:
        documents = dict(zip(names, pool.map(project_json, names), strict=True))
    for key, version in sorted(wanted.items()):
        name = key.split("@", 1)[0]
        document = documents[name]
        files = document.get("releases", {}).get(version, [])
        if files and all(f.get("yanked") for f in files):
            yanked.append(f"{name}=={version}")
        if name in skipped and skipped[name] in ("", version):
            if document.get("info", {}).get("version") == version:
                findings += _findings_of(name, version, document.get("vulnerabilities") or [])
            else:
                latest = document.get("info", {}).get("version")
                unaudited.append(f"{name}=={version} (latest {latest})")
    return findings, yanked, unaudited, len(checked) - len(unaudited)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.audit", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("locks", nargs="*", type=Path, help="lock files (default: every lock of the repository)")
    parser.add_argument("--accepted", type=Path, default=ACCEPTED, help="accepted-risk list")
    parser.add_argument("--strict", action="store_true", help="fail when a pin cannot be audited")
    args = parser.parse_args(argv)
    locks = args.locks or [ROOT / lock for lock in LOCKS]
    try:
        risks = accepted(args.accepted)
        findings, yanked, unaudited, audited = audit(locks)
    except AuditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    new = [f for f in findings if f.id not in risks and not set(f.aliases) & set(risks)]
    known = {f.id for f in findings} | {a for f in findings for a in f.aliases}
    for finding in findings:
        if finding not in new:
            reason = risks.get(finding.id) or next(risks[a] for a in finding.aliases if a in risks)
            print(f"accepted: {finding.line()} — {reason}")
    for advisory in sorted(set(risks) - known):
        print(f"note: {args.accepted.name}: {advisory} matches no locked release any more; remove it")
    for pin in unaudited:
        print(f"not audited: {pin}: this index serves no per-release JSON and the pin is not the latest release")
    print(f"audit: {audited} locked releases audited, {len(unaudited)} not, {len(new)} with a new known vulnerability")
    for finding in new:
        print(f"vulnerable: {finding.line()}", file=sys.stderr)
    for pin in yanked:
        print(f"yanked: {pin} was withdrawn from PyPI by its maintainers", file=sys.stderr)
    if new or yanked:
        return 1
    return 1 if args.strict and unaudited else 0


if __name__ == "__main__":
    sys.exit(main())
