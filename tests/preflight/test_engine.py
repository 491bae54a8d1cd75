"""The engine on programs shaped like public ones: each in its own process and environment, with outputs
of the shape the provider would give, in both modes (known outputs, `--preview`)."""

from __future__ import annotations

import base64
import json
import os
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
from tests.preflight.running import run, run_json

PROGRAMS = Path(__file__).parent / "programs"
MODES = [[], ["--preview"]]
CONNECTION = re.compile(r"^shop-project:europe-west1:orders-db-[0-9a-f]{7}$")


def outputs(document: dict, type_: str) -> dict:
    (resource,) = [r for r in document["resources"] if r["type"] == type_]
    return resource["outputs"]


@pytest.mark.parametrize("mode", MODES, ids=["known", "preview"])
@pytest.mark.parametrize(
    "program", ["cloudsql-run", "gke-kubeconfig", "random-tls", "own-components", "stack-reference", "invokes"]
)
def test_every_fixture_gets_a_verdict_in_both_modes(tmp_path: Path, program: str, mode: list[str]) -> None:
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / program), *mode)
    assert code in (0, 1), output
    assert document["preview"] is bool(mode)


def test_connection_name_in_an_f_string_and_typed_sql_outputs(tmp_path: Path) -> None:
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "cloudsql-run"))
    assert code in (0, 1), output
    stack = document["outputs"]
    assert CONNECTION.match(stack["connection_name"])
    assert re.fullmatch(
        r"postgresql://app@10\.\d+\.\d+\.\d+/orders\?host=/cloudsql/" + stack["connection_name"], stack["database_url"]
    )
    assert re.fullmatch(r"https://orders-api-[0-9a-f]{7}-[0-9a-f]{10}-ew\.a\.run\.app", stack["api_url"])
    instance = outputs(document, "gcp:sql/databaseInstance:DatabaseInstance")
    assert instance["ipAddresses"][0] == {"ipAddress": stack["first_ip"], "type": "PRIMARY"}
    assert instance["serviceAccountEmailAddress"].endswith("@gcp-sa-cloud-sql.iam.gserviceaccount.com")
    assert instance["selfLink"].startswith("https://www.googleapis.com/sql/v1beta4/projects/shop-project/")
    assert instance["settings"]["tier"] == "db-f1-micro"  # the program's input block, echoed
    # The Cloud Run v2 service's connection to the instance names the same instance, not `None`.
    worker = outputs(document, "gcp:cloudrunv2/service:Service")
    assert worker["template"]["volumes"][0]["cloudSqlInstance"]["instances"] == [stack["connection_name"]]


def test_preview_keeps_computed_outputs_unknown(tmp_path: Path) -> None:
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "cloudsql-run"), "--preview")
    assert code in (0, 1), output
    instance = outputs(document, "gcp:sql/databaseInstance:DatabaseInstance")
    assert instance["connectionName"] == UNKNOWN
    assert instance["name"].startswith("orders-db-")  # autonamed during Check: known in a preview
    assert document["outputs"]["database_url"] == UNKNOWN


def test_gke_cluster_is_autonamed_and_its_kubeconfig_is_built(tmp_path: Path) -> None:
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "gke-kubeconfig"))
    assert code in (0, 1), output
    cluster = outputs(document, "gcp:container/cluster:Cluster")
    assert re.fullmatch(r"primary-[0-9a-f]{7}", cluster["name"])
    assert document["outputs"]["cluster_name"] == cluster["name"]
    assert re.fullmatch(r"34\.\d+\.\d+\.\d+", cluster["endpoint"])
    pem = base64.b64decode(cluster["masterAuth"]["clusterCaCertificate"]).decode()
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n") and pem.endswith("-----END CERTIFICATE-----\n")
    assert document["outputs"]["kubeconfig"] == "[secret]"
    # The node pool's identity is the program's service account, echoed as given.
    assert cluster["nodeConfig"]["serviceAccount"] == "gke-nodes@k8s-project.iam.gserviceaccount.com"


def test_random_and_tls_outputs_honour_their_inputs(tmp_path: Path) -> None:
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "random-tls"))
    assert code in (0, 1), output
    stack = document["outputs"]
    suffix = outputs(document, "random:index/randomString:RandomString")["result"]
    assert stack["bucket"] == f"assets-{suffix}"
    assert re.fullmatch(r"[0-9a-f]{8}", stack["bucket_hex"])
    assert outputs(document, "random:index/randomPassword:RandomPassword")["result"] == "[secret]"
    assert stack["cert_head"] == "-----BEGIN CERTIFICATE-----"
    assert stack["key_head"] == "-----BEGIN RSA PRIVATE KEY-----"
    key = outputs(document, "tls:index/privateKey:PrivateKey")
    assert key["publicKeyOpenssh"].startswith("ssh-rsa ")
    assert key["publicKeyFingerprintSha256"].startswith("SHA256:")


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


def test_google_project_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_PROJECT", "env-project")
    monkeypatch.setenv("GOOGLE_REGION", "asia-east1")
    for mode in MODES:
        code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "project-from-env"), *mode)
        assert code in (0, 1), output
        assert "gcp:project = env-project (from GOOGLE_PROJECT)" in document["engine"]
        assert "gcp:region = asia-east1 (from GOOGLE_REGION)" in document["engine"]
    code, document, _ = run_json(tmp_path, "--program", str(PROGRAMS / "project-from-env"))
    assert document["outputs"]["email"] == "reporter@env-project.iam.gserviceaccount.com"
    assert document["outputs"]["topic"].startswith("projects/env-project/topics/reports-")
    assert outputs(document, "gcp:pubsub/topic:Topic")["project"] == "env-project"


def test_invokes_return_their_declared_result_types(tmp_path: Path) -> None:
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "invokes"))
    assert code in (0, 1), output
    stack = document["outputs"]
    assert stack["first_project"] == "fn-project"
    assert stack["region"] == "europe-west4"
    assert json.loads(stack["policy_data"]) == {
        "bindings": [{"members": ["group:ops@example.com"], "role": "roles/viewer"}]
    }
    assert re.fullmatch(r"\d{12}-compute@developer\.gserviceaccount\.com", stack["compute_email"])
    assert base64.b64decode(stack["base64"]) == b"hello preflight"
    assert stack["sha256"] == "c40dbab128bc703e8ac00c7aea7f917ab44bf83bebe07e45f5b9d82fce3b6a4a"
    assert stack["pid"] != os.getpid()  # the program ran in a process of its own
    grants = {(g["member"], g["role"]) for g in document["grants"]}
    assert ("group:ops@example.com", "roles/viewer") in grants


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
        "pulumi.export('ip', cluster.endpoint.apply(lambda e: e.load_balancer.ip))\n"
    )
    with pytest.raises(ProgramError) as caught:
        run_program(tmp_path, "dev")
    assert caught.value.args[0] == (
        "an apply callback raised AttributeError: 'str' object has no attribute 'load_balancer' (__main__.py:5)"
    )
