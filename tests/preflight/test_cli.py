"""`python -m secure_invoke.preflight` end to end: real programs, the real analyzer processes, exit codes, JSON."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from secure_invoke.preflight.__main__ import main
from tests.preflight.running import run, run_json

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
PACKS = HERE / "packs"
CONFIGS = HERE / "configs"
REPO = HERE.parents[1]
TEST_PACK = PACKS / "basic_pack"


def mandatory(document: dict) -> set[tuple[str, str]]:
    return {(v["policy"], v["urn"]) for v in document["violations"] if v["enforcementLevel"] == "mandatory"}


def urn(program: str, qualified_type: str, name: str) -> str:
    return f"urn:pulumi:dev::{program}::{qualified_type}::{name}"


# --- the real policy pack on small programs: reject and accept cases ---------------------------


@pytest.mark.parametrize(
    ("program", "policy", "violating"),
    [
        ("public-invoker", "no-public-members", "gcp:cloudrunv2/serviceIamMember:ServiceIamMember::public"),
        ("service-account-key", "no-service-account-keys", "gcp:serviceaccount/key:Key::ci-key"),
        # roles/editor hidden in policyData that came from organizations.get_iam_policy
        ("basic-role-policy", "no-basic-roles", "gcp:projects/iAMPolicy:IAMPolicy::project-policy"),
        # a stack policy names the resource at fault
        # a stack policy names one of the two services that share the identity: the one registered second,
        # and registrations are concurrent, as in the engine
        ("shared-identity", "workload-identities-not-shared", "gcp:cloudrunv2/service:Service::api|jobs"),
    ],
)
def test_real_pack_rejects(tmp_path, program, policy, violating):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / program))
    assert code == 1, output
    qualified, names = violating.rsplit("::", 1)
    found = {urn for name, urn in mandatory(document) if name == policy}
    assert len(found & {f"urn:pulumi:dev::{program}::{qualified}::{n}" for n in names.split("|")}) == 1, found
    assert "✘ FAIL" in output


def test_real_pack_accepts_a_private_service(tmp_path):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "private-service"))
    assert code == 0, output
    assert mandatory(document) == set()
    assert document["outputs"]["url"].endswith("-ew.a.run.app")
    assert "✔ PASS" in output


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_our_stack_passes_the_real_pack(tmp_path, stack):
    code, document, output = run_json(tmp_path, "--stack", stack)
    assert code == 0, output
    assert document["project"] == "secure-invoke"
    assert document["stack"] == stack
    grants = {(g["member"], g["role"], g["resource"]) for g in document["grants"]}
    # The worker has exactly two invokers, the relay and the operator account, and nothing is public.
    outputs = document["outputs"]
    assert {g for g in grants if g[2] == f"cloudrunv2/service worker-{stack}"} == {
        (f"serviceAccount:{outputs[key]}", "roles/run.invoker", f"cloudrunv2/service worker-{stack}")
        for key in ("relay_runtime_email", "worker_operator_email")
    }
    assert not any(g[0] in ("allUsers", "allAuthenticatedUsers") for g in grants)
    assert all(p["name"] == "secure-invoke-guardrails" for p in document["policyPacks"])


def test_our_stack_in_preview_mode(tmp_path):
    code, document, output = run_json(tmp_path, "--stack", "dev", "--preview")
    assert code == 0, output
    assert document["preview"] is True
    account = next(r for r in document["resources"] if r["type"] == "gcp:serviceaccount/account:Account")
    assert account["outputs"]["email"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


# --- the engine's sequence, seen from a pack ------------------------------------------------------


def test_json_shape_and_violation_urn(tmp_path):
    code, document, _ = run_json(
        tmp_path, "--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK), "--set", "extraInvoker=true"
    )
    assert code == 1
    assert set(document) >= {"project", "stack", "resources", "violations", "grants"}
    for resource in document["resources"]:
        assert set(resource) >= {"urn", "type", "name", "parent", "inputs", "outputs", "dependencies"}
    for violation in document["violations"]:
        assert set(violation) >= {"policyPack", "policy", "enforcementLevel", "urn", "message"}
    for grant in document["grants"]:
        assert set(grant) >= {"member", "role", "resource"}
    # The stack policy reports the service with two invokers, by its engine URN.
    assert mandatory(document) == {
        ("one-invoker-per-service", urn("basic", "basic:index:Pair$gcp:cloudrunv2/service:Service", "p0-svc"))
    }
    assert document["violations"][0]["policyPack"] == "preflight-test-pack"
    # Secrets are masked in the JSON, as the CLI masks them.
    assert document["outputs"]["key"] == "[secret]"


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


# --- broken inputs: exit 2 with a one-line cause --------------------------------------------------


def test_apply_that_raises_exits_2_with_the_cause():
    code, out, err = run("--program", str(PROGRAMS / "apply_raises"), "--policy-pack", str(TEST_PACK))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "an apply callback raised ValueError: audience for https://worker-" in err
    assert "Traceback" not in err
    code, _, err = run("--program", str(PROGRAMS / "apply_raises"), "--policy-pack", str(TEST_PACK), "--debug")
    assert code == 2
    assert "Traceback" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--stack", "staging"], "Pulumi.staging.yaml not found"),
        (["--set", "workers=many"], "Configuration 'basic:workers' value 'many' is not a valid 'int'"),
        (["--policy-pack", str(PACKS / "broken_pack")], "failed to start: RuntimeError: this pack cannot start"),
        (["--policy-pack", str(PACKS / "missing")], "policy pack directory"),
        (["--policy-pack", str(PACKS / "crashing_pack")], "policy pack preflight-crashing-pack: Analyze failed:"),
    ],
)
def test_broken_program_config_or_pack(argv, expected):
    if "--policy-pack" not in argv:
        argv = [*argv, "--policy-pack", str(TEST_PACK)]
    code, out, err = run("--program", str(PROGRAMS / "basic"), *argv)
    assert code == 2
    assert out == ""
    assert expected in err
    assert err.count("\n") == 1


def test_graph_shows_identities_and_grants(tmp_path):
    graph = tmp_path / "graph.mmd"
    code, _, _ = run(
        "--program", str(PROGRAMS / "public-invoker"), "--policy-pack", str(TEST_PACK), "--graph", str(graph)
    )
    assert code == 1
    text = graph.read_text()
    assert text.startswith("flowchart LR\n")
    assert '(["allUsers"])' in text
    assert '-- "roles/run.invoker" -->' in text
    assert '-. "runs as: template.serviceAccount" .->' in text
    assert "class " in text and " public" in text


# --- a few real subprocess runs: what `make preview` and CI do -------------------------------------


def test_module_entry_point_exit_codes_and_plain_output():
    failing = subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--program", str(PROGRAMS / "public-invoker")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failing.returncode == 1, failing.stderr
    assert "no-public-members" in failing.stdout
    assert "\x1b[" not in failing.stdout  # not a TTY: no colour
    passing = subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--stack", "dev"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "✔ PASS" in passing.stdout
    assert "IAM grants (10)" in passing.stdout


def test_json_to_stdout_replaces_the_report(capsys):
    code, out, _ = run("--program", str(PROGRAMS / "private-service"), "--policy-pack", str(TEST_PACK), "--json", "-")
    assert code == 0
    assert out == ""  # no terminal report
    document = json.loads(capsys.readouterr().out)
    assert document["project"] == "private-service"


VARIANT_CASES = [
    ("public-acl", "no-public-acls", "gcp:storage/bucketAccessControl:BucketAccessControl::public-read"),
    ("domain-member", "no-broad-principals", "gcp:pubsub/topicIAMMember:TopicIAMMember::domain-subscribers"),
    ("invoker-check-off", "invoker-iam-check-enabled", "gcp:cloudrunv2/service:Service::worker"),
    ("hmac-key", "no-hmac-keys", "gcp:storage/hmacKey:HmacKey::legacy-hmac"),
    ("unrestricted-api-key", "api-keys-restricted", "gcp:projects/apiKey:ApiKey::maps"),
    ("plaintext-secret", "no-plaintext-secrets-in-env", "gcp:cloudrunv2/service:Service::worker"),
    ("no-identity", "workload-identity-set", "gcp:cloudrunv2/service:Service::worker"),
    ("project-invoker", "no-high-scope-privileged-roles", "gcp:projects/iAMMember:IAMMember::project-wide-invoker"),
    ("key-minting", "no-key-minting-grants", "gcp:serviceaccount/iAMMember:IAMMember::key-admin"),
    ("privileged-custom-role", "no-privileged-custom-roles", "gcp:projects/iAMCustomRole:IAMCustomRole::deployer"),
    (
        "unintended-invoker",
        "only-intended-invokers",
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember::stranger-invoker",
    ),
]


@pytest.mark.parametrize(("case", "policy", "violating"), VARIANT_CASES, ids=[c[0] for c in VARIANT_CASES])
def test_real_pack_rejects_each_variant_exactly(tmp_path, case, policy, violating):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "variants"), "--set", f"case={case}")
    assert code == 1, output
    # Exactly the one offending resource, under exactly the one policy: the accept case below is the
    # same program without it.
    assert mandatory(document) == {(policy, f"urn:pulumi:dev::variants::{violating}")}


def test_real_pack_accepts_the_variant_baseline(tmp_path):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "variants"))
    assert code == 0, output
    assert document["violations"] == []


def test_report_reads_like_a_preview():
    code, out, _ = run("--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK))
    assert code == 0
    assert out.startswith("Previewing update (dev)")
    assert "+ pulumi:pulumi:Stack  basic-dev" in out
    assert "+ gcp:cloudrunv2:Service  p0-svc" in out
    assert "Diagnostics:\n    warning: only 2 pairs: no spare capacity" in out
    assert "+ 12 to create (9 custom, 3 components)" in out
    assert "key            : [secret]" in out
    assert "IAM grants (3):" in out
    assert out.rstrip().splitlines()[-1].startswith("✔ PASS  no mandatory violations")


def test_disabled_invoker_check_shows_as_a_public_grant(tmp_path):
    code, document, output = run_json(
        tmp_path,
        "--program",
        str(PROGRAMS / "variants"),
        "--set",
        "case=invoker-check-off",
        "--graph",
        str(tmp_path / "graph.mmd"),
    )
    assert code == 1, output
    service = next(r for r in document["resources"] if r["type"] == "gcp:cloudrunv2/service:Service")
    assert {
        "member": "allUsers",
        "role": "roles/run.invoker (invoker IAM check disabled)",
        "resource": f"cloudrunv2/service {service['outputs']['name']}",
        "urn": service["urn"],
    } in document["grants"]
    assert '(["allUsers"])' in (tmp_path / "graph.mmd").read_text()
    code, document, _ = run_json(tmp_path, "--program", str(PROGRAMS / "variants"))
    assert code == 0
    assert document["grants"] == []


def test_a_lone_policy_pack_config_configures_the_default_pack(tmp_path: Path) -> None:
    # The default pack is this repository's policies/; disabling all its policies must turn a reject into a pass.
    program = PROGRAMS / "public-invoker"
    code, _, _ = run("--program", str(program))
    assert code == 1
    disabled = tmp_path / "all-disabled.json"
    disabled.write_text('{"all": "disabled"}')
    code, out, err = run("--program", str(program), "--policy-pack-config", str(disabled))
    assert code == 0, out + err


def test_a_config_error_names_every_bad_key_and_registers_nothing() -> None:
    code, out, err = run("--stack", "dev", "--set", "secure-invoke:workerCpu=3", "--set", "secure-invoke:bogus=1")
    assert code == 2
    assert "invalid stack config:" in err
    assert 'secure-invoke:workerCpu: "3" is not one of' in err
    assert "secure-invoke:bogus: unknown key" in err
    assert "Traceback" not in err + out


def test_one_stack_config_typo_is_one_line_with_the_fix() -> None:
    code, out, err = run("--stack", "dev", "--set", "secure-invoke:workerCpuu=1")
    assert code == 2
    assert out == ""
    assert (
        err
        == "error: invalid stack config: secure-invoke:workerCpuu: unknown key; did you mean secure-invoke:workerCpu?\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--program", "does-not-exist"], "program directory"),
        (["--stack", "../Pulumi"], "invalid stack name '../Pulumi'"),
        (["--stack", "staging"], "stack config Pulumi.staging.yaml not found in"),
    ],
)
def test_a_bad_program_or_stack_is_named(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_a_config_entry_for_no_such_policy_is_reported_not_silently_ignored(tmp_path: Path) -> None:
    config = tmp_path / "typo.json"
    config.write_text('{"no-public-memberz": "disabled"}')
    code, out, _ = run("--program", str(PROGRAMS / "public-invoker"), "--policy-pack-config", str(config))
    assert code == 1  # the typo disabled nothing; not an error, as in the CLI (which passes it on to the pack)
    assert (
        "--policy-pack-config names 'no-public-memberz', which is not a policy of this pack; "
        "did you mean 'no-public-members'?" in out
    )


def test_json_carries_unknown_config_entries_and_the_programs_diagnostics(tmp_path: Path) -> None:
    config = tmp_path / "typo.json"
    config.write_text('{"no-broad-principalz": "disabled", "zzzz": "disabled", "no-public-members": "advisory"}')
    code, document, output = run_json(tmp_path, "--stack", "dev", "--policy-pack-config", str(config))
    assert code == 0, output
    assert document["policyPacks"][0]["unknownConfig"] == [
        {"name": "no-broad-principalz", "didYouMean": "no-broad-principals"},
        {"name": "zzzz", "didYouMean": None},
    ]
    # the program's pulumi.log warnings, exactly the lines of the report's Diagnostics: section
    shown = output.split("Diagnostics:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert document["diagnostics"] == [line.removeprefix("    ") for line in shown]
    assert any(
        line.startswith("warning: secret upstream-api-key-dev gets no version") for line in document["diagnostics"]
    )
    code, document, _ = run_json(tmp_path, "--program", str(PROGRAMS / "public-invoker"))
    assert document["diagnostics"] == [] and document["policyPacks"][0]["unknownConfig"] == []


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


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0 no mandatory violation" in help_text
    assert "1 at least one mandatory violation" in help_text and "2 the program, its config" in help_text


def _column_texts(report: str, headers: tuple[str, ...]) -> list[str]:
    """Each column of the IAM table read top to bottom, whitespace removed: folded cells joined again."""
    lines = report.split("IAM grants", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    header = lines[0]
    starts = [header.index(h) for h in headers]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return ["".join("".join(line[a:b].split()) for line in lines[1:]) for a, b in bounds]


@pytest.mark.parametrize("width", [60, 100, 140])
def test_iam_table_folds_never_cuts_on_a_narrow_plain_console(tmp_path: Path, width: int) -> None:
    out = io.StringIO()
    target = tmp_path / "result.json"
    code = main(
        ["--stack", "dev", "--json", str(target)],
        stdout=Console(file=out, width=width, highlight=False, force_terminal=False),
        stderr=Console(file=io.StringIO(), width=width),
    )
    report = out.getvalue()
    assert code == 0, report
    assert all(len(line) <= width for line in report.split("IAM grants", 1)[1].split("Policies:", 1)[0].splitlines())
    assert "…" not in report
    grants = json.loads(target.read_text())["grants"]
    members, roles, resources = _column_texts(report, ("member", "role", "resource"))
    for grant in grants:
        role = grant["role"] + (f" (if {grant['condition']})" if grant.get("condition") else "")
        assert "".join(grant["member"].split()) in members
        assert "".join(role.split()) in roles
        assert "".join(grant["resource"].split()) in resources


def test_graph_of_a_conditional_grant_says_its_condition(tmp_path: Path) -> None:
    # Our dev stack grants the relay's build account storage.objectViewer on the project, only on the
    # gcf-v2-sources-* buckets: drawn as a plain project edge it would read as project-wide read.
    graph = tmp_path / "graph.mmd"
    code, document, output = run_json(tmp_path, "--stack", "dev", "--graph", str(graph))
    assert code == 0, output
    conditional = [g for g in document["grants"] if g.get("condition")]
    assert conditional, "the dev stack has a conditional grant"
    text = graph.read_text()
    assert text.startswith("flowchart LR\n")  # not a .md file: no fence
    edges = [line for line in text.splitlines() if " --> " in line]
    for grant in conditional:
        assert sum(f'"{grant["role"]} (if {grant["condition"]})"' in e for e in edges) == 1
    assert not any(e.endswith(f'"{g["role"]}" --> ') for g in conditional for e in edges)
    dashed = [i for i, e in enumerate(edges) if " (if " in e]
    assert f"  linkStyle {','.join(map(str, dashed))} stroke-dasharray:6 4" in text.splitlines()
    markdown = tmp_path / "graph.md"
    code, _, _ = run("--stack", "dev", "--graph", str(markdown))
    fenced = markdown.read_text()
    assert fenced.startswith("```mermaid\nflowchart LR\n") and fenced.endswith("\n```\n")
    # the same diagram (registration order, and so node numbering, varies between runs)
    assert len(fenced.splitlines()) == len(text.splitlines()) + 2


def test_a_provider_config_key_the_sdk_does_not_declare_is_warned_with_a_fix(tmp_path: Path) -> None:
    argv = ["--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK), "--set", "gcp:projct=x"]
    code, document, output = run_json(tmp_path, *argv, "--set", "gcp:zone=europe-west1-b")
    assert code == 0, output
    warning = "warning: gcp:projct: the gcp provider's SDK declares no such config key; did you mean gcp:project?"
    assert warning in document["engine"]
    assert f"Engine:\n    {warning}\n" in output
    # declared keys (gcp:zone, the stack's own gcp:project) and the project's own namespace are not judged
    assert [note for note in document["engine"] if note.startswith("warning:")] == [warning]


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
