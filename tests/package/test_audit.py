"""`make audit` (tools/audit.py) against PyPI's advisory data: a known vulnerability fails, an accepted one
with its reason passes, an acceptance without a reason is refused. The vulnerable release is real:
pycrypto 2.6.1, its last release, with advisories that were never fixed; it is only read, never installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools import audit

ROOT = Path(__file__).resolve().parents[2]
PYCRYPTO = "pycrypto==2.6.1 \\\n    --hash=sha256:f2ce1e989b272cfcb677616763e0a2e7ec659effa67a88aa92b3a65528f60a3c\n"
pytestmark = pytest.mark.slow


def _audit(tmp_path: Path, accepted: str) -> subprocess.CompletedProcess[str]:
    lock = tmp_path / "vulnerable.txt"
    lock.write_text(PYCRYPTO)
    (tmp_path / "accepted.txt").write_text(accepted)
    return subprocess.run(
        [sys.executable, "-m", "tools.audit", str(lock), "--accepted", str(tmp_path / "accepted.txt")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_known_vulnerability_fails_the_audit_naming_it(tmp_path: Path) -> None:
    done = _audit(tmp_path, "")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "vulnerable: pycrypto==2.6.1: PYSEC-2017-94 (CVE-2013-7459" in done.stderr
    assert "no fixed release" in done.stderr


def test_an_accepted_vulnerability_passes_with_its_reason(tmp_path: Path) -> None:
    reasons = "CVE-2013-7459 never imported, only read by this test\nCVE-2018-6594 never imported either\n"
    done = _audit(tmp_path, reasons + "CVE-0000-0001 stale entry\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted: pycrypto==2.6.1: PYSEC-2017-94" in done.stdout and "never imported, only read" in done.stdout
    assert "CVE-0000-0001 matches no locked release any more" in done.stdout


def test_an_acceptance_needs_a_reason(tmp_path: Path) -> None:
    (tmp_path / "accepted.txt").write_text("# comment\nCVE-2013-7459\n")
    with pytest.raises(audit.AuditError, match=r"accepted.txt:2: CVE-2013-7459 is accepted without a reason"):
        audit.accepted(tmp_path / "accepted.txt")


def test_the_repository_accepts_nothing_without_a_reason() -> None:
    for advisory, reason in audit.accepted(audit.ACCEPTED).items():
        assert len(reason.split()) >= 3, advisory


def test_every_lock_is_audited() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    locks = {p for p in tracked if p.endswith(("requirements.txt", "requirements.lock"))}
    locks -= {p for p in locks if p.startswith("tests/")}
    # The example names secure-invoke itself (the wheel), no third-party pin: requirements.lock is its lock.
    locks.discard("examples/two-services/requirements.txt")
    assert locks == set(audit.LOCKS)
