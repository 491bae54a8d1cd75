"""The engine on programs shaped like public ones: each in its own process and environment (its own
interpreter, virtualenv and `components/` folder), stack references, concurrent runs, failures named by
file and line; every fixture gets a verdict in both modes (known outputs, `--preview`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from concurrent import futures
from pathlib import Path

import pytest

from secure_invoke.preflight.engine.program import ProgramError, run_program
from secure_invoke.preflight.outputs.wire import UNKNOWN
from tests.preflight.running import CONNECTION, MODES, outputs, run, run_json

PROGRAMS = Path(__file__).parent / "programs"


@pytest.mark.parametrize("mode", MODES, ids=["known", "preview"])
@pytest.mark.parametrize(
    "program", ["cloudsql-run", "gke-kubeconfig", "random-tls", "own-components", "stack-reference", "invokes"]
)
def test_every_fixture_gets_a_verdict_in_both_modes(tmp_path: Path, program: str, mode: list[str]) -> None:
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / program), *mode)
    assert code in (0, 1), output
    assert document["preview"] is bool(mode)


def test_a_program_with_its_own_components_folder_is_not_shadowed(tmp_path: Path) -> None:
    # This repository has a `components` package too; the program's namespace package must win.
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "own-components"))
    assert code in (0, 1), output
    assert document["outputs"]["marker"] == "own-components"
    assert re.fullmatch(r"gs://media-[0-9a-f]{7}", document["outputs"]["bucket_url"])


def test_stack_reference_without_and_with_its_outputs(tmp_path: Path) -> None:
    program = PROGRAMS / "stack-reference"
    code, document, output = run_json(tmp_path, "--program", str(program))
    assert code in (0, 1), output
    assert document["outputs"] == {"subnet": UNKNOWN, "range": UNKNOWN}
    assert any("StackReference 'acme/network/prod' not supplied" in note for note in document["engine"])
    assert "StackReference 'acme/network/prod' not supplied" in output
    supplied = ("--stack-reference", f"acme/network/prod={program / 'network-outputs.json'}")
    code, document, output = run_json(tmp_path, "--program", str(program), *supplied)
    assert code in (0, 1), output
    assert document["outputs"] == {
        "subnet": "projects/net-project/regions/europe-west1/subnetworks/apps",
        "range": "10.8.0.0/28",
    }
    service = outputs(document, "gcp:cloudrunv2/service:Service")
    assert service["template"]["vpcAccess"]["networkInterfaces"][0]["subnetwork"] == document["outputs"]["subnet"]
    assert not any("StackReference" in note for note in document["engine"])


def test_a_stack_reference_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out, err = run(
        "--program", str(PROGRAMS / "stack-reference"), "--stack-reference", f"acme/network/prod={broken}"
    )
    assert code == 2 and out == ""
    assert f"--stack-reference acme/network/prod={broken}: broken.json is not JSON" in err


def _virtualenv(program: Path) -> Path:
    """The program's own virtualenv: this interpreter's pulumi SDK, and stub provider SDKs ahead of it."""
    venv = program / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "preflight-sdk.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for package in (program / "stubs").iterdir():
        if package.is_dir():
            shutil.copytree(package, site / package.name)
    return venv


def test_a_program_runs_on_its_own_virtualenv_and_its_sdk_versions(tmp_path: Path) -> None:
    program = tmp_path / "own-venv"
    shutil.copytree(PROGRAMS / "own-venv", program)
    _virtualenv(program)
    for mode in MODES:
        code, document, output = run_json(tmp_path, "--program", str(program), *mode)
        assert code in (0, 1), output
    code, document, output = run_json(tmp_path, "--program", str(program))
    stack = document["outputs"]
    assert stack["gcp_version"] == "6.0.0"
    assert "pulumi:providers:gcp" in {r["type"] for r in document["resources"]}
    assert any(r["urn"].endswith("::pulumi:providers:gcp::default_6_0_0") for r in document["resources"])
    # Outputs typed from the stub's own declarations: a self link, a nested int, a provider preflight never saw.
    assert (
        stack["bucket_link"]
        == "https://www.googleapis.com/storage/v1/b/"
        + outputs(document, "gcp:storage/legacyBucket:LegacyBucket")["name"]
    )
    assert stack["retention_days"] == 1
    assert stack["db_url"].startswith("https://orders-") and stack["db_port"] == 443
    # On preflight's own interpreter, the program breaks where the versions differ, and says where.
    code, out, err = run("--program", str(program), "--python", sys.executable)
    assert code == 2 and out == ""
    assert "AttributeError: module 'pulumi_gcp.storage' has no attribute 'LegacyBucket' (__main__.py:6)" in err


def test_a_missing_virtualenv_falls_back_to_this_interpreter_and_says_so(tmp_path: Path) -> None:
    program = tmp_path / "no-venv"
    shutil.copytree(PROGRAMS / "cloudsql-run", program)
    (program / "Pulumi.yaml").write_text(
        "name: cloudsql-run\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n"
    )
    run_ = run_program(program, "dev")
    assert any(
        note.startswith("virtualenv venv does not exist (`pulumi install` would create it)") for note in run_.notes
    )
    (program / "venv").mkdir()
    with pytest.raises(ProgramError, match="has no Python interpreter"):
        run_program(program, "dev")


def test_an_interpreter_without_the_sdk_is_named(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    with pytest.raises(ProgramError) as caught:
        run_program(PROGRAMS / "basic", "dev", python=bare / "bin" / "python")
    assert "cannot import the Pulumi SDK" in caught.value.args[0]
    assert "\n" not in caught.value.args[0]


def test_stacks_run_concurrently_and_independently() -> None:
    jobs = [
        ("basic", "dev", {}),
        ("basic", "dev", {"workers": "3"}),
        ("invokes", "dev", {}),
        ("cloudsql-run", "dev", {}),
    ]
    with futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        runs = list(pool.map(lambda job: run_program(PROGRAMS / job[0], job[1], job[2]), jobs))
    assert [len([r for r in run_.resources if r.type == "basic:index:Pair"]) for run_ in runs[:2]] == [2, 3]
    assert runs[2].outputs["region"] == "europe-west4"
    assert CONNECTION.match(runs[3].outputs["connection_name"])


def test_an_exception_in_an_export_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: scratch\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: scratch-project\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi\nimport pulumi_gcp as gcp\n\ncluster = gcp.container.Cluster('c', location='europe-west1-b')\n"
        "pulumi.export('ip', cluster.location.apply(lambda e: e.load_balancer.ip))\n"
    )
    # `location` is the program's own input, known in a preview too: a preview raises the same.
    with pytest.raises(ProgramError) as caught:
        run_program(tmp_path, "dev")
    assert caught.value.args[0] == (
        "an apply callback raised AttributeError: 'str' object has no attribute 'load_balancer' (__main__.py:5)"
    )


def test_the_same_exception_on_a_computed_output_leaves_it_unknown_as_a_preview_would(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: scratch\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  gcp:project: scratch-project\n")
    (tmp_path / "__main__.py").write_text(
        "import pulumi\nimport pulumi_gcp as gcp\n\ncluster = gcp.container.Cluster('c', location='europe-west1-b')\n"
        "pulumi.export('ip', cluster.endpoint.apply(lambda e: e.load_balancer.ip))\n"
    )
    # The endpoint is computed by Google: unknown in a preview, which never runs this callback.
    run = run_program(tmp_path, "dev")
    assert run.outputs["ip"] == UNKNOWN
    (entry,) = run.unknown_applies
    assert entry["callback"] == "<lambda> (__main__.py:5)"
    assert entry["resources"] == ["gcp:container/cluster:Cluster 'c'"]
    assert entry["error"] == "AttributeError: 'str' object has no attribute 'load_balancer'"
    assert entry["why"].startswith("its input holds gcp:container/cluster:Cluster 'c'.endpoint, which a preview")
    assert any(note.startswith("warning: apply callback <lambda> (__main__.py:5)") for note in run.notes)
    # In preview mode the callback does not run at all.
    assert run_program(tmp_path, "dev", preview=True).unknown_applies == []
