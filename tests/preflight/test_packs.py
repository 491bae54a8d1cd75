"""Policy packs through their analyzer process, as the command runs them: the engine's sequence, `--preview`
advisories, `--policy-pack-config` reconciliation and validation, broken packs (small packs of the tests' own)."""

import json
from pathlib import Path

import pytest

from tests.preflight.running import mandatory, run, run_json

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
PACKS = HERE / "packs"
CONFIGS = HERE / "configs"
TEST_PACK = PACKS / "basic_pack"


# --- the engine's sequence, seen from a pack ------------------------------------------------------


def test_preview_reports_what_cannot_run_as_advisory(tmp_path):
    argv = ("--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK), "--set", "extraInvoker=true")
    code, document, output = run_json(tmp_path, *argv, "--preview")
    assert code == 0, output
    cannot_run = [v for v in document["violations"] if "during preview" in v["message"]]
    assert {v["policy"] for v in cannot_run} == {"one-invoker-per-service", "no-public-members"}
    assert all(v["enforcementLevel"] == "advisory" for v in cannot_run)
    assert "can't run policy 'one-invoker-per-service' from policy pack 'preflight-test-pack@v0.0.1'" in output


def test_stack_resource_and_default_providers_reach_analyze_stack(tmp_path):
    # `sees-the-stack` reports a mandatory violation if either is missing or parents are lost.
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK))
    assert code == 0, output
    types = [r["type"] for r in document["resources"]]
    assert types[0] == "pulumi:pulumi:Stack"
    assert "pulumi:providers:gcp" in types


# --- policy pack config, as the CLI reconciles and validates it ---------------------------------


def test_config_file_sets_properties_and_level(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"allowed-roles": {"enforcementLevel": "mandatory", "roles": ["roles/pubsub.publisher"]}})
    )
    code, document, _ = run_json(
        tmp_path,
        "--program",
        str(PROGRAMS / "basic"),
        "--policy-pack",
        str(TEST_PACK),
        "--policy-pack-config",
        str(config),
    )
    assert code == 1
    assert {v[1].rsplit("::", 1)[-1] for v in mandatory(document) if v[0] == "allowed-roles"} == {
        "p0-invoker",
        "p1-invoker",
    }


def test_all_key_disables_every_policy(tmp_path):
    config = tmp_path / "all.json"
    config.write_text(json.dumps({"all": "disabled"}))
    argv = ("--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK), "--set", "extraInvoker=true")
    code, document, _ = run_json(tmp_path, *argv, "--policy-pack-config", str(config))
    assert code == 0
    assert document["violations"] == []
    assert set(document["policyPacks"][0]["policies"].values()) == {"disabled"}


def test_broken_config_names_policy_and_field():
    code, out, err = run(
        "--program",
        str(PROGRAMS / "basic"),
        "--policy-pack",
        str(TEST_PACK),
        "--policy-pack-config",
        str(CONFIGS / "bad-type.json"),
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: validating policy config: preflight-test-pack 1.2.3  ")
    assert "allowed-roles: maxGrants: Must be greater than or equal to 1" in err
    assert "allowed-roles: roles: Invalid type. Expected: array, given: string" in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"allowed-roles": {"enforcementLevel": "strict"}}, 'parsing enforcement level for "allowed-roles": "strict"'),
        ({"allowed-roles": 3}, 'parsing "allowed-roles": 3 is not a valid value; must be a string or object'),
        ("{bad", "invalid JSON: Expecting property name enclosed in double quotes at line 1"),
    ],
)
def test_malformed_config_file(tmp_path, content, expected):
    config = tmp_path / "configs" / "config.json"
    config.parent.mkdir()
    config.write_text(content if isinstance(content, str) else json.dumps(content))
    code, _, err = run(
        "--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK), "--policy-pack-config", str(config)
    )
    assert code == 2
    assert expected in err
    assert err.startswith(f"error: {config}: ")  # the path as given, not only its base name


def test_config_files_pair_with_packs_in_order(tmp_path):
    disabled = tmp_path / "disabled.json"
    disabled.write_text('{"all": "disabled"}')
    empty = tmp_path / "empty.json"
    empty.write_text("")
    argv = ["--program", str(PROGRAMS / "basic"), "--set", "extraInvoker=true"]
    argv += ["--policy-pack", str(PACKS / "labels_pack"), "--policy-pack", str(TEST_PACK)]
    code, document, _ = run_json(
        tmp_path, *argv, "--policy-pack-config", str(disabled), "--policy-pack-config", str(empty)
    )
    assert code == 1  # the test pack got the empty config, the labels pack was disabled
    assert [p["name"] for p in document["policyPacks"]] == ["preflight-labels-pack", "preflight-test-pack"]
    code, _, err = run(*argv, "--policy-pack-config", str(disabled))
    assert code == 2
    assert 'the number of "--policy-pack-config" flags must match the number of "--policy-pack" flags' in err


def test_a_lone_policy_pack_config_configures_the_default_pack(tmp_path: Path) -> None:
    # The default pack is this repository's policies/; disabling all its policies must turn a reject into a pass.
    program = PROGRAMS / "public-invoker"
    code, _, _ = run("--program", str(program))
    assert code == 1
    disabled = tmp_path / "all-disabled.json"
    disabled.write_text('{"all": "disabled"}')
    code, out, err = run("--program", str(program), "--policy-pack-config", str(disabled))
    assert code == 0, out + err


def test_a_config_entry_for_no_such_policy_is_reported_not_silently_ignored(tmp_path: Path) -> None:
    config = tmp_path / "typo.json"
    config.write_text('{"no-public-memberz": "disabled"}')
    code, out, _ = run("--program", str(PROGRAMS / "public-invoker"), "--policy-pack-config", str(config))
    assert code == 1  # the typo disabled nothing; not an error, as in the CLI (which passes it on to the pack)
    assert (
        "--policy-pack-config names 'no-public-memberz', which is not a policy of this pack; "
        "did you mean 'no-public-members'?" in out
    )


def test_an_unknown_key_in_a_policys_config_stops_the_run_before_the_program(tmp_path: Path) -> None:
    config = tmp_path / "invokers.json"
    config.write_text('{"only-intended-invokers": {"allowedInvoker": ["serviceAccount:a@b.iam.gserviceaccount.com"]}}')
    # apply_raises fails as soon as it runs: the config error must come first, from the pack's config check
    code, out, err = run("--program", str(PROGRAMS / "apply_raises"), "--policy-pack-config", str(config))
    assert code == 2
    assert out == ""
    assert err == (
        "error: policy pack secure-invoke-guardrails: checking its config failed: only-intended-invokers: "
        "unknown config key 'allowedInvoker' (did you mean 'allowedInvokers'?)\n"
    )


def test_a_pack_that_cannot_handle_an_empty_stack_is_judged_by_the_real_run(tmp_path: Path) -> None:
    # The early config check is a call the CLI never makes: a pack failing on it for a reason that is not its
    # config must not stop a run the CLI would complete.
    config = tmp_path / "levels.json"
    config.write_text('{"needs-a-resource": "advisory"}')
    code, out, err = run(
        "--program", str(PROGRAMS / "public-invoker"),
        "--policy-pack", str(PACKS / "empty_stack_pack"),
        "--policy-pack-config", str(config),
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "preflight-empty-stack-pack" in out
