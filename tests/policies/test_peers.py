"""The peer coverage the README shows is the pack's: every GCP check of checkov, trivy-checks and Pulumi's pre-built
packs (and the CIS items named) is in scope or out of scope with a reason; every peer id a policy declares is a real
in-scope check; every in-scope check is covered by a policy or listed as a gap; the lists match their sources."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from secure_invoke.policies.guardrails.pack import SPECS
from secure_invoke.policies.tools import peers
from secure_invoke.policies.tools.peer_checks import DATA, main
from tools import docs

CATALOGUE = {check.id: check for check in peers.CATALOGUE}


def test_every_check_is_listed_once_and_every_reason_is_used() -> None:
    assert len(CATALOGUE) == len(peers.CATALOGUE)
    assert {check.reason for check in peers.CATALOGUE if check.reason} == set(peers.REASONS)


@pytest.mark.parametrize(("reasons", "peer"), [(peers.CHECKOV_REASONS, "checkov"), (peers.TRIVY_REASONS, "trivy")])
def test_checkov_and_trivy_reasons_name_only_their_checks_each_once(reasons: dict, peer: str) -> None:
    named = [check_id for ids in reasons.values() for check_id in ids]
    assert [i for i, n in Counter(named).items() if n > 1] == []
    assert {i for i in named if CATALOGUE.get(i) is None or CATALOGUE[i].peer != peer} == set()
    assert set(reasons) <= set(peers.REASONS)


def test_pulumi_lists_hold_each_pack_whole() -> None:
    """Each pack's list has exactly as many distinct policies as its reference page says; every policy of the packs
    is in scope or has a reason, never both."""
    for pack, policies in peers.PULUMI_PACK_POLICIES.items():
        assert len(policies) == len(set(policies)) == peers.PULUMI_PACK_SIZES[pack], pack
    every = {name for policies in peers.PULUMI_PACK_POLICIES.values() for name in policies}
    reasoned = [name for names in peers.PULUMI_REASONS.values() for name in names]
    assert len(reasoned) == len(set(reasoned))
    assert set(reasoned) | set(peers.PULUMI_IN_SCOPE) == every
    assert set(reasoned) & set(peers.PULUMI_IN_SCOPE) == set()


def test_every_peer_a_policy_declares_is_a_known_check_in_scope() -> None:
    for spec in SPECS:
        for peer in spec.peers:
            assert peer in CATALOGUE, f"{spec.name}: {peer} is no known peer check"
            assert CATALOGUE[peer].reason is None, f"{spec.name}: {peer} is out of scope ({CATALOGUE[peer].reason})"


def test_every_check_in_scope_is_covered_or_a_listed_gap() -> None:
    covered = peers.covered_by()
    for check in peers.CATALOGUE:
        if check.reason is None:
            assert (check.id in covered) != (check.id in peers.GAPS), check.id
    assert set(peers.GAPS) <= set(CATALOGUE) and set(peers.NOTES) <= set(covered)
    assert all(why.strip() for why in (*peers.GAPS.values(), *peers.NOTES.values()))


def test_the_check_lists_are_what_the_repositories_gave() -> None:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    for peer, pattern in (("checkov", r"^CKV2?_GCP_\d+$"), ("trivy", r"^AVD-GCP-\d{4}$")):
        assert re.fullmatch(r"[0-9a-f]{40}", data[peer]["commit"])
        ids = [check["id"] for check in data[peer]["checks"]]
        assert len(ids) == len(set(ids)) and all(re.match(pattern, i) for i in ids)
        assert all(check["title"].strip() for check in data[peer]["checks"])
    assert len(data["checkov"]["checks"]) == 162 and len(data["trivy"]["checks"]) == 75


def test_the_generator_names_a_missing_repository_in_one_line(tmp_path, capsys) -> None:
    assert main(["--checkov", str(tmp_path / "nowhere"), "--trivy", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "nowhere" in err


def test_the_summary_counts_add_up() -> None:
    rows = [line.split(" | ") for line in docs.peer_summary_table().splitlines()[2:]]
    for row in rows:
        total, in_scope, covered, out = (int(cell.strip(" |")) for cell in row[2:6])
        assert in_scope + out == total and covered <= in_scope
    covered_here = {check_id for check_id in peers.covered_by() if CATALOGUE[check_id].peer == "trivy"}
    assert str(len(covered_here)) in rows[1][4]


@pytest.mark.parametrize(
    ("ids", "shown"),
    [
        (["CKV_GCP_28", "CKV_GCP_99", "CKV2_GCP_6"], "CKV_GCP_28, 99; CKV2_GCP_6"),
        (["AVD-GCP-0001", "AVD-GCP-0046"], "AVD-GCP-0001, 0046"),
        (["pulumi:iam-no-broad-roles", "pulumi:kms-key-rotation"], "iam-no-broad-roles, kms-key-rotation"),
        (["CIS GCP 1.9", "CIS GCP 5.1"], "1.9, 5.1"),
        ([], "—"),
    ],
)
def test_ids_are_shortened_as_the_tables_show_them(ids: list[str], shown: str) -> None:
    assert docs._compact(ids) == shown
