"""Measure how many of the peers' in-scope checks a policy pack catches, on their twins: the shapes each check
rejects, written in our own program (tests/policies/programs/peer-twins) from the check's title and description,
run through `python -m secure_invoke.preflight`.

    python -m policies.tools.measure_twins [--policy-pack DIR ...]

`TWINS` says which twin resources stand for which peer check (checkov, trivy-checks, Pulumi's pre-built packs;
every check policies/tools/peers.py counts in scope). A check is caught when each of its twins draws a finding
(mandatory, or advisory only). Prints, per pack and per peer, how many of the in-scope checks are caught and which
are not; with several packs (a previous pack's folder, say) the same twins are judged by each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from secure_invoke.policies.tools import peers

__all__ = ["PROGRAM", "TWINS", "Findings", "caught", "findings", "main"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRAM: Final = REPO_ROOT / "tests" / "policies" / "programs" / "peer-twins"
MEASURED_PEERS: Final = ("checkov", "trivy", "pulumi")


def _twins(names: str) -> tuple[str, ...]:
    return tuple(f"twin-{name}" for name in names.split())


# Peer check -> the twin resources of the program that stand for it.
TWINS: Final[dict[str, tuple[str, ...]]] = {
    "CKV_GCP_13": _twins("gke-client-certificate"),
    "CKV_GCP_15": _twins("dataset-public-access"),
    "CKV_GCP_28": _twins("bucket-public-reader bucket-public-binding"),
    "CKV_GCP_29": _twins("bucket-fine-grained"),
    "CKV_GCP_30": _twins("vm-default-account"),
    "CKV_GCP_31": _twins("vm-default-account-full"),
    "CKV_GCP_41": _twins("project-person-sa-user"),
    "CKV_GCP_42": _twins("project-admin-role project-iam-admin"),
    "CKV_GCP_43": _twins("key-never-rotated"),
    "CKV_GCP_44": _twins("folder-token-creator"),
    "CKV_GCP_45": _twins("org-token-creator"),
    "CKV_GCP_46": _twins("project-grant-to-default"),
    "CKV_GCP_47": _twins("org-grant-to-default"),
    "CKV_GCP_48": _twins("folder-grant-to-default"),
    "CKV_GCP_49": _twins("project-token-creator"),
    "CKV_GCP_98": _twins("dataproc-public"),
    "CKV_GCP_99": _twins("topic-public"),
    "CKV_GCP_100": _twins("table-public"),
    "CKV_GCP_101": _twins("repository-public"),
    "CKV_GCP_102": _twins("run-v1-public"),
    "CKV_GCP_107": _twins("function-v1-public function-public"),
    "CKV_GCP_112": _twins("crypto-key-policy-public"),
    "CKV_GCP_113": _twins("topic-policy-public"),
    "CKV_GCP_114": _twins("bucket-prevention-inherited"),
    "CKV_GCP_115": _twins("org-editor"),
    "CKV_GCP_116": _twins("folder-editor"),
    "CKV_GCP_117": _twins("project-editor"),
    "CKV_GCP_118": _twins("federation-no-condition"),
    "CKV_GCP_124": _twins("function-all-ingress"),
    "CKV_GCP_125": _twins("github-any-owner"),
    "CKV2_GCP_1": _twins("gke-default-nodes"),
    "CKV2_GCP_3": _twins("service-account-key"),
    "CKV2_GCP_5": _twins("audit-exemption"),
    "CKV2_GCP_6": _twins("crypto-key-public"),
    "CKV2_GCP_8": _twins("key-ring-public"),
    "CKV2_GCP_9": _twins("registry-bucket-public"),
    "AVD-GCP-0001": _twins("bucket-public-reader bucket-public-binding"),
    "AVD-GCP-0002": _twins("bucket-fine-grained"),
    "AVD-GCP-0004": _twins("folder-grant-to-default"),
    "AVD-GCP-0005": _twins("folder-person-sa-user"),
    "AVD-GCP-0006": _twins("project-grant-to-default"),
    "AVD-GCP-0007": _twins("project-owner project-iam-admin"),
    "AVD-GCP-0008": _twins("org-grant-to-default"),
    "AVD-GCP-0009": _twins("org-person-sa-user"),
    "AVD-GCP-0011": _twins("project-person-sa-user"),
    "AVD-GCP-0037": _twins("disk-raw-key"),
    "AVD-GCP-0044": _twins("vm-default-account"),
    "AVD-GCP-0046": _twins("dataset-public-access"),
    "AVD-GCP-0050": _twins("node-pool-default"),
    "AVD-GCP-0064": _twins("gke-client-certificate"),
    "AVD-GCP-0065": _twins("key-never-rotated"),
    "AVD-GCP-0068": _twins("federation-no-condition"),
    "AVD-GCP-0069": _twins("personal-account"),
    "AVD-GCP-0079": _twins("audit-exemption"),
    "pulumi:bigquery-dataset-public-access-check": _twins("dataset-public-access dataset-iam-public"),
    "pulumi:bucket-iam-least-privilege": _twins("bucket-admin-to-workload"),
    "pulumi:bucket-no-public-read": _twins("bucket-public-reader bucket-acl-public-read"),
    "pulumi:bucket-public-access-prevention": _twins("bucket-prevention-inherited"),
    "pulumi:bucket-public-read-prohibited": _twins("bucket-public-reader bucket-acl-public-read"),
    "pulumi:bucket-uniform-access": _twins("bucket-fine-grained"),
    "pulumi:bucket-uniform-bucket-level-access": _twins("bucket-fine-grained"),
    "pulumi:cloud-build-trigger-envvar-gcpcred-check": _twins("build-env-credentials"),
    "pulumi:cloud-functions-public-access-prohibited": _twins("function-public function-v1-public"),
    "pulumi:cloud-run-service-configuration-check": _twins("run-invoker-check-off"),
    "pulumi:cloud-sql-no-hardcoded-passwords": _twins("sql-user-password"),
    "pulumi:cloud-storage-bucket-iam-policy-grantee-check": _twins("bucket-domain-member"),
    "pulumi:cloud-storage-bucket-level-public-access-prohibited": _twins("bucket-prevention-inherited"),
    "pulumi:cloud-storage-bucket-public-read-prohibited": _twins("bucket-public-reader"),
    "pulumi:cloud-storage-bucket-public-write-prohibited": _twins("bucket-public-writer"),
    "pulumi:cloud-storage-bucket-restrict-public-read-access": _twins("bucket-public-binding bucket-acl-public-read"),
    "pulumi:cloudfunctions-iam-no-public": _twins("function-public function-v1-public"),
    "pulumi:cloudfunctions-iam-source-restrictions": _twins("function-public"),
    "pulumi:cloudsql-secure-credentials": _twins("sql-user-password"),
    "pulumi:environment-label": _twins("unlabelled-service"),
    "pulumi:hardcoded-secrets": _twins("env-token"),
    "pulumi:iam-no-broad-roles": _twins("project-editor project-owner"),
    "pulumi:iam-no-custom-role-excessive-permissions": _twins("custom-role-iam-power"),
    "pulumi:iam-policy-no-statements-with-admin-access": _twins("project-admin-role project-iam-admin"),
    "pulumi:iam-policy-no-statements-with-full-access": _twins("project-owner"),
    "pulumi:iam-policy-no-wildcard-permissions": _twins("custom-role-wildcard"),
    "pulumi:kms-key-iam": _twins("crypto-key-admin-to-workload"),
    "pulumi:kms-key-rotation": _twins("key-never-rotated"),
    "pulumi:kms-key-rotation-enabled": _twins("key-never-rotated"),
    "pulumi:persistent-disk-snapshot-not-publicly-restorable": _twins("snapshot-public"),
    "pulumi:pubsub-subscription-iam-least-privilege": _twins("subscription-admin-to-workload"),
    "pulumi:pubsub-topic-iam-least-privilege": _twins("topic-admin-to-workload"),
    "pulumi:resource-labeling": _twins("unlabelled-service"),
    "pulumi:service-account-key": _twins("service-account-key"),
}

# Resource name -> the (enforcement level, policy) pairs found on it.
Findings = dict[str, set[tuple[str, str]]]


class MeasureError(Exception):
    """preflight gave no report (one line)."""


def findings(pack: Path) -> Findings:
    """Run the twins program through preflight with this pack; every resource's findings (none: an empty set)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = subprocess.run(
            [sys.executable, "-m", "secure_invoke.preflight", "--program", str(PROGRAM), "--stack", "dev",
             "--policy-pack", str(pack), "--json", str(report)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if not report.exists():
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise MeasureError(f"preflight wrote no report for pack {pack}: {last}")
        document = json.loads(report.read_text(encoding="utf-8"))
    found: Findings = {r["urn"].rsplit("::", 1)[1]: set() for r in document["resources"]}
    for violation in document["violations"]:
        found.setdefault(violation["urn"].rsplit("::", 1)[1], set()).add(
            (violation["enforcementLevel"], violation["policy"])
        )
    return found


def caught(found: Mapping[str, set[tuple[str, str]]], check: str) -> str | None:
    """'mandatory' when every twin of the check draws a mandatory finding, 'advisory' when every twin draws some
    finding but not all a mandatory one, None when a twin draws nothing."""
    levels = [{level for level, _ in found.get(twin, set())} for twin in TWINS[check]]
    if not all(levels):
        return None
    return "mandatory" if all("mandatory" in level for level in levels) else "advisory"


def _report(pack: Path, found: Findings) -> list[str]:
    lines = [f"{pack}:"]
    for peer in MEASURED_PEERS:
        checks = [c.id for c in peers.CATALOGUE if c.peer == peer and c.reason is None]
        verdicts = {check: caught(found, check) for check in checks}
        hit = [check for check, verdict in verdicts.items() if verdict]
        mandatory = sum(1 for verdict in verdicts.values() if verdict == "mandatory")
        lines.append(
            f"  {peers.PEERS[peer]}: {len(hit)} of {len(checks)} in-scope checks caught "
            f"({mandatory} mandatory, {len(hit) - mandatory} advisory only)"
        )
        lines += [f"    missed: {check}" for check, verdict in verdicts.items() if verdict is None]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policies.tools.measure_twins",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    for pack in args.packs or [REPO_ROOT / "policies"]:
        try:
            found = findings(pack)
        except MeasureError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print("\n".join(_report(pack, found)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
