"""run_program against small real programs run as their own processes by preflight's engine."""

import os
from pathlib import Path

import pytest
from pulumi.runtime.rpc import UNKNOWN

from secure_invoke.preflight.engine.program import ProgramError, run_program
from secure_invoke.preflight.engine.project import SECRET_PLACEHOLDER

PROGRAMS = Path(__file__).parent / "programs"

BASIC = PROGRAMS / "basic"
STACK = "urn:pulumi:dev::basic::pulumi:pulumi:Stack::basic-dev"


def test_records_engine_urns_parents_and_providers():
    run = run_program(BASIC, "dev")
    urns = [r.urn for r in run.resources]
    assert urns[0] == STACK
    assert urns[1] == "urn:pulumi:dev::basic::pulumi:providers:gcp::default_10_2_0"
    by_urn = run.by_urn()
    account = by_urn["urn:pulumi:dev::basic::basic:index:Pair$gcp:serviceaccount/account:Account::p0-sa"]
    assert account.parent == "urn:pulumi:dev::basic::basic:index:Pair::p0"
    assert account.custom
    assert account.provider is not None
    assert account.provider_urn == urns[1]
    assert by_urn["urn:pulumi:dev::basic::basic:index:Pair::p0"].parent == STACK
    assert not by_urn["urn:pulumi:dev::basic::basic:index:Pair::p0"].custom
    provider = by_urn[urns[1]]
    assert provider.inputs == {"project": "demo-project", "region": "europe-west1", "version": "10.2.0"}


def test_full_registration_request_is_recorded():
    run = run_program(BASIC, "dev")
    by_urn = run.by_urn()
    sa = "urn:pulumi:dev::basic::basic:index:Pair$gcp:serviceaccount/account:Account::p0-sa"
    service = "urn:pulumi:dev::basic::basic:index:Pair$gcp:cloudrunv2/service:Service::p0-svc"
    grant = by_urn[
        "urn:pulumi:dev::basic::basic:index:Pair$gcp:cloudrunv2/serviceIamMember:ServiceIamMember::p0-invoker"
    ]
    assert set(grant.dependencies) == {sa, service}
    assert grant.property_dependencies["member"] == [sa]
    assert grant.property_dependencies["name"] == [service]
    assert grant.inputs["member"] == "serviceAccount:p0-sa@demo-project.iam.gserviceaccount.com"
    assert grant.inputs["role"] == "roles/run.invoker"
    svc = by_urn[service]
    assert svc.inputs["template"]["serviceAccount"] == "p0-sa@demo-project.iam.gserviceaccount.com"
    assert svc.outputs["uri"].startswith("https://p0-svc-")
    assert svc.outputs["uri"].endswith("-ew.a.run.app")
    account = by_urn[sa]
    assert account.outputs["email"] == "p0-sa@demo-project.iam.gserviceaccount.com"
    assert account.id == account.outputs["name"] == "projects/demo-project/serviceAccounts/" + account.outputs["email"]


def test_config_namespacing_structured_values_secrets_and_invokes():
    run = run_program(BASIC, "dev")
    assert run.config["basic:labels"] == '{"team":"platform","tier":1}'
    assert run.config["basic:workers"] == "2"
    assert run.config["basic:greeting"] == "hello"  # Pulumi.yaml default
    assert run.config["gcp:project"] == "demo-project"
    assert run.secret_keys == {"basic:apiKey"}
    assert run.outputs["key"] == SECRET_PLACEHOLDER
    assert run.outputs["greeting"] == "hello"
    assert run.outputs["project_number"].isdigit() and len(run.outputs["project_number"]) == 12
    topic = run.by_urn()["urn:pulumi:dev::basic::gcp:pubsub/topic:Topic::jobs"]
    assert topic.inputs["labels"] == {"team": "platform"}
    assert len([r for r in run.resources if r.type == "basic:index:Pair"]) == 2


def test_overrides_and_scrubbed_environment(monkeypatch):
    # A stray PULUMI_CONFIG from a parent process must not leak into the run.
    monkeypatch.setenv("PULUMI_CONFIG", '{"basic:workers": "5", "basic:greeting": "from-env"}')
    run = run_program(BASIC, "dev", overrides={"workers": "3"})
    assert len([r for r in run.resources if r.type == "basic:index:Pair"]) == 3
    assert run.outputs["greeting"] == "hello"
    assert os.environ["PULUMI_CONFIG"].startswith("{")  # restored afterwards


def test_preview_leaves_computed_outputs_unknown():
    run = run_program(BASIC, "dev", preview=True)
    by_urn = run.by_urn()
    account = by_urn["urn:pulumi:dev::basic::basic:index:Pair$gcp:serviceaccount/account:Account::p0-sa"]
    assert account.outputs["email"] == UNKNOWN
    assert account.outputs["accountId"] == "p0-sa"
    grant = by_urn[
        "urn:pulumi:dev::basic::basic:index:Pair$gcp:cloudrunv2/serviceIamMember:ServiceIamMember::p0-invoker"
    ]
    assert grant.inputs["member"] == UNKNOWN
    assert run.outputs["url"] == UNKNOWN


def test_reentrant_and_isolated_between_programs():
    first = run_program(BASIC, "dev")
    other = run_program(PROGRAMS / "subdir_main", "dev")
    again = run_program(BASIC, "dev")
    # Registration order is concurrent, as in the engine; the set of URNs is not.
    assert sorted(r.urn for r in first.resources) == sorted(r.urn for r in again.resources)
    # The second program's own `helpers` module, not basic's.
    assert other.outputs["marker"] == "subdir"
    assert all(
        r.parent in (None, "urn:pulumi:dev::subdir-main::pulumi:pulumi:Stack::subdir-main-dev") for r in other.resources
    )
    assert all(r.parent is None or r.parent.startswith("urn:pulumi:dev::basic::") for r in again.resources)


def test_explicit_provider_and_main_directory():
    run = run_program(PROGRAMS / "subdir_main", "dev")
    by_type = {r.type: r for r in run.resources}
    provider = by_type["pulumi:providers:gcp"]
    assert provider.urn == "urn:pulumi:dev::subdir-main::pulumi:providers:gcp::explicit"
    account = by_type["gcp:serviceaccount/account:Account"]
    assert account.provider == f"{provider.urn}::{provider.id}"
    # The explicit provider's project wins over the stack's gcp:project.
    assert run.outputs["email"] == "runner@provider-project.iam.gserviceaccount.com"
    assert not any(r.name.startswith("default") for r in run.resources)


def test_apply_exception_is_a_program_error_with_a_one_line_cause():
    with pytest.raises(ProgramError) as caught:
        run_program(PROGRAMS / "apply_raises", "dev")
    cause = caught.value.args[0]
    assert "\n" not in cause
    assert "ValueError: audience for worker is not allowed" in cause
    assert "__main__.py:5" in cause
    assert any(r.type == "gcp:cloudrunv2/service:Service" for r in caught.value.resources)
    # The process stays usable afterwards.
    assert run_program(BASIC, "dev").outputs["greeting"] == "hello"


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        ("nope", {}, "Pulumi.nope.yaml not found"),
        ("dev", {"workers": "many"}, "basic:workers"),
    ],
)
def test_bad_config_is_a_one_line_program_error(stack, overrides, expected):
    with pytest.raises(ProgramError) as caught:
        run_program(BASIC, stack, overrides=overrides)
    assert expected in caught.value.args[0]
    assert "\n" not in caught.value.args[0]


def test_missing_project_file(tmp_path: Path):
    with pytest.raises(ProgramError, match=r"no Pulumi\.yaml"):
        run_program(tmp_path, "dev")


def test_autonames_are_checked_inputs():
    topic = run_program(BASIC, "dev").by_urn()["urn:pulumi:dev::basic::gcp:pubsub/topic:Topic::jobs"]
    assert topic.inputs["name"] == topic.outputs["name"]
    assert topic.inputs["name"].startswith("jobs-")
    assert len(topic.inputs["name"]) == len("jobs-") + 7


def test_on_register_sees_resources_as_the_engine_registers_them():
    seen: list[tuple[str, str | None]] = []
    run = run_program(BASIC, "dev", on_register=lambda r, p: seen.append((r.urn, p.urn if p else None)))
    assert [urn for urn, _ in seen] == [r.urn for r in run.resources]
    assert seen[0] == (STACK, None)
    provider = "urn:pulumi:dev::basic::pulumi:providers:gcp::default_10_2_0"
    positions = {urn: i for i, (urn, _) in enumerate(seen)}
    for urn, provider_urn in seen:
        if provider_urn is not None:
            assert provider_urn == provider
            assert positions[provider] < positions[urn]


def _program(directory: Path, source: str, runtime: str = "python") -> Path:
    (directory / "Pulumi.yaml").write_text(f"name: scratch\nruntime: {runtime}\n")
    (directory / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: scratch-project\n")
    (directory / "__main__.py").write_text(source)
    return directory


@pytest.mark.parametrize(
    ("source", "runtime", "expected"),
    [
        ("", "nodejs", "runtime 'nodejs' is not supported, only Python programs"),
        (
            "import pulumi_gcp as gcp\ngcp.pubsub.Topic('t')\ngcp.pubsub.Topic('t')\n",
            "python",
            "Duplicate resource URN 'urn:pulumi:dev::scratch::gcp:pubsub/topic:Topic::t'",
        ),
        ("import sys\nsys.exit(3)\n", "python", "program called sys.exit(3)"),
        ("import missing_module_for_preflight\n", "python", "ModuleNotFoundError: No module named"),
    ],
)
def test_broken_programs_are_one_line_errors(tmp_path: Path, source: str, runtime: str, expected: str):
    with pytest.raises(ProgramError) as caught:
        run_program(_program(tmp_path, source, runtime), "dev")
    assert expected in caught.value.args[0]
    assert "\n" not in caught.value.args[0]


def test_stack_values_reach_the_program_as_the_cli_reads_them(tmp_path: Path):
    # go-yaml v3 (the CLI's parser) keeps an unquoted timestamp or date as written and reads only true/false
    # as booleans; PyYAML's defaults would hand a datetime (a traceback when encoded) and turn `on` into true.
    import shutil

    from secure_invoke.preflight.engine.project import load_project

    program = tmp_path / "basic"
    shutil.copytree(BASIC, program)
    stack_file = program / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text()
        + "  basic:expires: 2030-01-31T18:00:00Z\n  basic:day: 2030-01-31\n  basic:switch: on\n"
        + "  basic:access:\n    - expires: 2030-01-31T18:00:00Z\n"
    )
    config = load_project(program, "dev").config
    assert config["basic:expires"] == "2030-01-31T18:00:00Z"
    assert config["basic:day"] == "2030-01-31"
    assert config["basic:switch"] == "on"
    assert config["basic:access"] == '[{"expires":"2030-01-31T18:00:00Z"}]'
    assert config["basic:workers"] == "2"
