"""Where each input came from, as preflight's engine records it for policy packs: Pulumi secrets as the program
sent them, values computed from other resources or provider functions, the stack's config, and key files inside
assets and archives (bounded, links not followed). Values never enter the provenance; the Analyze request carries
it under the pack's key and drops any other top-level `__` key, as the CLI's engine does."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from secure_invoke.policies.guardrails.provenance import PROVENANCE_KEY
from secure_invoke.preflight.engine import provenance as engine
from secure_invoke.preflight.engine.project import SECRET_PLACEHOLDER
from secure_invoke.preflight.engine.records import Resource
from secure_invoke.preflight.outputs.wire import OUTPUT_VALUE_SIG, SIG_KEY, UNKNOWN, from_struct, secret
from secure_invoke.preflight.packs.protocol import analyze_request

PEM = "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
SA_KEY_FILE = json.dumps({"type": "service_account", "private_key": PEM, "client_email": "x@p.iam.gserviceaccount.com"})
RANDOM_URN = "urn:pulumi:dev::p::random:index/randomPassword:RandomPassword::pw"
SECRET_URN = "urn:pulumi:dev::p::my:component:Thing$gcp:secretmanager/secret:Secret::s"


def record(urn: str, outputs: dict[str, Any], id_: str = "") -> Resource:
    resource = Resource(urn, urn.split("::")[2].rsplit("$", 1)[-1], urn.rsplit("::", 1)[1], None, True, {}, {}, id=id_)
    resource.wire_outputs = outputs
    return resource


RECORDS = {
    RANDOM_URN: record(RANDOM_URN, {"result": secret("aB3dE5fG7hJ9kL1m"), "length": 16.0}),
    SECRET_URN: record(SECRET_URN, {"secretId": "db-password", "name": "projects/p/secrets/db-password"}, "sid-1"),
}


def of(
    inputs: dict[str, Any],
    dependencies: dict[str, list[str]] | None = None,
    config: dict[str, str] | None = None,
    handed: dict[str, str] | None = None,
    program_dir: Path | None = None,
) -> dict[str, Any]:
    handed = handed or {}
    return engine.provenance(
        inputs, dependencies or {}, RECORDS, engine.plain_config_values(config or {}), handed,
        [(s, t) for s, t in handed.items() if len(s) >= 12], program_dir,
    )  # fmt: skip


def test_secret_wrappers_are_recorded_where_the_program_put_them() -> None:
    inputs = {
        "password": secret("hunter2"),
        "template": {"containers": [{"envs": [{"name": "A", "value": secret("x")}, {"name": "B", "value": "y"}]}]},
        "settings": secret({"tier": "db-f1-micro"}),
        "labels": {SIG_KEY: OUTPUT_VALUE_SIG, "value": {"a": "b"}, "secret": True},
        "name": "plain",
    }
    assert of(inputs)["secret"] == ["password", "template.containers[0].envs[0].value", "settings", "labels"]


def test_values_computed_from_a_dependency_name_its_type_and_output() -> None:
    inputs = {
        "password": secret("aB3dE5fG7hJ9kL1m"),
        "template": {"containers": [{"envs": [
            {"name": "DB_PASSWORD_SECRET", "value": "db-password"},
            {"name": "DB_URL", "value": "postgres://app:aB3dE5fG7hJ9kL1m@10.0.0.3/app"},
            {"name": "LITERAL", "value": "hunter2-literal"},
        ]}]},
    }  # fmt: skip
    deps = {"password": [RANDOM_URN], "template": [RANDOM_URN, SECRET_URN]}
    origins = of(inputs, deps)["origins"]
    assert origins["password"] == {"from": "resource", "type": "random:index/randomPassword:RandomPassword",
                                   "output": "result", "secret": True}  # fmt: skip
    assert origins["template.containers[0].envs[0].value"] == {
        "from": "resource",
        "type": "gcp:secretmanager/secret:Secret",
        "output": "secretId",
        "secret": False,
    }
    assert origins["template.containers[0].envs[1].value"]["output"] == "result"  # contained in a longer value
    assert "template.containers[0].envs[2].value" not in origins  # written in the program
    # without the dependency the program's SDK reports, nothing is attributed to the resource
    assert "password" not in of(inputs)["origins"]


def test_config_and_provider_functions() -> None:
    inputs = {"a": SECRET_PLACEHOLDER, "b": f"--key={SECRET_PLACEHOLDER}", "c": "ChangeMe-2024",
              "d": "kms-plaintext-value-123", "e": "prefix kms-plaintext-value-123 suffix", "f": "us-central1"}  # fmt: skip
    config = {"app:rootPassword": "ChangeMe-2024", "app:apiKey": SECRET_PLACEHOLDER, "gcp:region": "us-central1"}
    handed = {"kms-plaintext-value-123": "gcp:kms/getKMSSecret:getKMSSecret"}
    origins = of(inputs, config=config, handed=handed)["origins"]
    assert origins["a"] == origins["b"] == {"from": "config", "secure": True}
    assert origins["c"] == {"from": "config", "key": "app:rootPassword", "secure": False}
    assert origins["d"] == origins["e"] == {"from": "invoke", "token": "gcp:kms/getKMSSecret:getKMSSecret"}
    assert origins["f"] == {"from": "config", "key": "gcp:region", "secure": False}


def test_pure_functions_hand_back_what_the_program_gave_them() -> None:
    assert list(engine.handed_strings("std:index:file", {"result": SA_KEY_FILE})) == []
    assert list(engine.handed_strings("gcp:kms/getKMSSecret:getKMSSecret", {"plaintext": "abcdefgh", "x": "ab"})) == [
        "abcdefgh"
    ]


def test_no_value_enters_the_provenance(tmp_path: Path) -> None:
    (tmp_path / "key.json").write_text(SA_KEY_FILE)
    inputs = {"password": secret("hunter2-unique"), "content": "Sup3r-S3cret!", "plain": "ChangeMe-2024",
              "source": {SIG_KEY: engine.ASSET_SIG, "path": "key.json"}}  # fmt: skip
    seen = of(inputs, {"password": [RANDOM_URN]}, {"app:p": "ChangeMe-2024"}, program_dir=tmp_path)
    text = json.dumps(seen)
    for value in ("hunter2", "Sup3r", "ChangeMe", "BEGIN", "service_account", "aB3dE5fG"):
        assert value not in text


# --- key files inside assets and archives --------------------------------------------------------------------------


def archive(path: str) -> dict[str, Any]:
    return {SIG_KEY: engine.ARCHIVE_SIG, "path": path}


def asset(path: str) -> dict[str, Any]:
    return {SIG_KEY: engine.ASSET_SIG, "path": path}


def files(seen: dict[str, Any], where: str = "source") -> list[tuple[str, str]]:
    return [(f["entry"], f["holds"]) for f in seen.get("files", {}).get(where, [])]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "fn"
    (root / "keys").mkdir(parents=True)
    (root / "main.py").write_text("def handler(request):\n    return 'ok'\n")
    (root / "keys" / "deployer.json").write_text(SA_KEY_FILE)
    (root / "tls.p12").write_bytes(b"0\x82\x03\x00binary")
    return root


def test_a_directory_archive(source: Path) -> None:
    seen = of({"source": archive("fn")}, program_dir=source.parent)
    assert sorted(files(seen)) == [("keys/deployer.json", "a service account key file"),
                                   ("tls.p12", "a PKCS #12 key store")]  # fmt: skip
    assert "unread" not in seen


def test_links_are_not_followed_out_of_the_archive(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key.pem").write_text(PEM)
    root = tmp_path / "fn"
    root.mkdir()
    (root / "main.py").write_text("print(1)")
    os.symlink(outside / "key.pem", root / "key.pem")
    os.symlink(outside, root / "linked-dir")
    seen = of({"source": archive(str(root))})  # an absolute path
    assert files(seen) == []
    assert "is a link (links are not followed)" in seen["unread"]["source"]


def test_zip_and_tar_archives_and_single_assets(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("main.py", "print(1)")
        zipped.writestr("certs/server.key", PEM)
        link = zipfile.ZipInfo("link.pem")
        link.external_attr = 0o120777 << 16  # a symbolic link member: not read
        zipped.writestr(link, "/etc/ssl/private/key.pem")
    (tmp_path / "src.zip").write_bytes(buffer.getvalue())
    with tarfile.open(tmp_path / "src.tgz", "w:gz") as tarred:
        data = SA_KEY_FILE.encode()
        info = tarfile.TarInfo("app/sa.json")
        info.size = len(data)
        tarred.addfile(info, io.BytesIO(data))
    (tmp_path / "plain.json").write_text(SA_KEY_FILE)
    seen = of({"a": archive("src.zip"), "b": archive("src.tgz"), "c": asset("plain.json"),
               "d": asset("missing.json"), "e": {SIG_KEY: engine.ARCHIVE_SIG, "uri": "https://x/a.zip"}},
              program_dir=tmp_path)  # fmt: skip
    assert files(seen, "a") == [("src.zip/certs/server.key", "a private key")]
    assert files(seen, "b") == [("src.tgz/app/sa.json", "a service account key file")]
    assert files(seen, "c") == [("plain.json", "a service account key file")]
    assert seen["unread"] == {"d": "missing.json not found", "e": "a remote asset or archive (not fetched offline)"}


def test_asset_archives_nest(tmp_path: Path, source: Path) -> None:
    nested = {SIG_KEY: engine.ARCHIVE_SIG, "assets": {
        ".": archive("fn"), "extra/readme.txt": {SIG_KEY: engine.ASSET_SIG, "text": "hello"},
        "extra/key.pem": {SIG_KEY: engine.ASSET_SIG, "text": PEM}}}  # fmt: skip
    seen = of({"source": nested}, program_dir=source.parent)
    assert sorted(files(seen)) == [("extra/key.pem", "a private key"),
                                   ("keys/deployer.json", "a service account key file"),
                                   ("tls.p12", "a PKCS #12 key store")]  # fmt: skip


def test_bounded_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_ARCHIVE_ENTRIES", 3)
    root = tmp_path / "many"
    root.mkdir()
    for index in range(10):
        (root / f"f{index:02}.txt").write_text("x")
    (root / "z-key.pem").write_text(PEM)  # sorted last: beyond the budget
    seen = of({"source": archive("many")}, program_dir=tmp_path)
    assert files(seen) == [] and "the rest was not read" in seen["unread"]["source"]


# --- the request ------------------------------------------------------------------------------------------------


def test_the_analyze_request_carries_provenance_and_no_other_internal_key() -> None:
    resource = Resource("urn:pulumi:dev::p::gcp:sql/user:User::u", "gcp:sql/user:User", "u", None, True, {}, {})
    resource.wire_inputs = {"password": secret("hunter2"), "__defaults": ["name"], "__forged": {"origins": {}}}
    resource.provenance = of(resource.wire_inputs)
    sent = from_struct(analyze_request(resource, None).properties)
    assert set(sent) == {"password", PROVENANCE_KEY}
    assert sent[PROVENANCE_KEY]["secret"] == ["password"]


def test_an_unknown_value_has_no_origin() -> None:
    assert of({"a": UNKNOWN})["origins"] == {}
