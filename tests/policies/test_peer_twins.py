"""The peer coverage policies/README.md claims, checked on twins (programs/peer-twins, through preflight and the
pack's analyzer process): every in-scope check of checkov, trivy-checks and Pulumi's packs has a twin; a check a
policy declares (Spec.peers) is caught on each of its twins by such a policy; a check listed as a gap is caught on
none (when it is, move it from GAPS to the policy's peers); every twin draws exactly one finding, every `accept-*`
resource none. This program keeps every class the pack covers from regressing unnoticed."""

from __future__ import annotations

import pytest

from secure_invoke.policies.tools import measure_twins, peers
from secure_invoke.policies.tools.measure_twins import TWINS, Findings, caught

pytestmark = pytest.mark.slow

IN_SCOPE = {c.id for c in peers.CATALOGUE if c.peer in measure_twins.MEASURED_PEERS and c.reason is None}


@pytest.fixture(scope="module")
def found() -> Findings:
    return measure_twins.findings(measure_twins.REPO_ROOT / "policies")


def test_every_in_scope_check_has_twins_and_only_those() -> None:
    assert set(TWINS) == IN_SCOPE
    assert all(twins for twins in TWINS.values())


def test_every_twin_exists_and_draws_exactly_one_finding(found: Findings) -> None:
    twins = {twin for names in TWINS.values() for twin in names}
    assert twins <= set(found), sorted(twins - set(found))
    gaps = {twin for check in peers.GAPS if check in TWINS for twin in TWINS[check]}
    for twin in sorted(twins - gaps):
        assert len(found[twin]) == 1, (twin, found[twin])  # one finding per root cause
    assert {name for name in found if name.startswith("twin-")} == twins  # no twin without a check


def test_sound_forms_draw_nothing(found: Findings) -> None:
    accepted = {name: f for name, f in found.items() if name.startswith("accept-")}
    assert len(accepted) >= 10
    assert {name: f for name, f in accepted.items() if f} == {}


@pytest.mark.parametrize("check", sorted(TWINS))
def test_a_declared_check_is_caught_by_its_policy_and_a_gap_by_none(found: Findings, check: str) -> None:
    declared = set(peers.covered_by().get(check, []))
    for twin in TWINS[check]:
        policies = {policy for _, policy in found[twin]}
        if check in peers.GAPS:
            assert policies == set(), f"{check} is listed as a gap, yet {twin} draws {policies}"
        else:
            assert policies & declared, f"{twin} ({check}) draws {policies or 'nothing'}, declared by {declared}"
    assert (caught(found, check) is None) == (check in peers.GAPS)


def test_caught_needs_every_twin_and_says_the_level() -> None:
    twins = TWINS["CKV_GCP_28"]
    both = {twins[0]: {("mandatory", "no-public-members")}, twins[1]: {("advisory", "x")}}
    assert caught(both, "CKV_GCP_28") == "advisory"
    assert caught({**both, twins[1]: {("mandatory", "no-public-members")}}, "CKV_GCP_28") == "mandatory"
    assert caught({twins[0]: {("mandatory", "no-public-members")}, twins[1]: set()}, "CKV_GCP_28") is None
