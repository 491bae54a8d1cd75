"""What the providers would answer, on programs shaped like public ones, in both modes (known outputs,
`--preview`): outputs of the declared shape and Google's formats (`outputs/`), the values providers compute
(`providers/`: Google Cloud, random, tls, invokes), autonames, provider config from the environment."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest

from secure_invoke.preflight.outputs.wire import UNKNOWN
from tests.preflight.running import CONNECTION, MODES, outputs, run_json

PROGRAMS = Path(__file__).parent / "programs"


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
