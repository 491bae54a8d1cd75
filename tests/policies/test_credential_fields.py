"""Credentials in the fields made for them (judged by where the value came from, which only preflight knows) and
keys stored as data (judged by what they are); GKE's static client credentials. Every credential field's path is
checked against the installed pulumi-gcp, and every compute resource that takes a raw key is covered."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pulumi_gcp
import pytest

from secure_invoke.policies.guardrails import provenance
from secure_invoke.policies.guardrails.credential_fields import CREDENTIAL_FIELDS, RAW_KEY_TYPES
from secure_invoke.policies.guardrails.secret_values import PREFLIGHT_SECRET_MARKER
from tests.policies.guardrail_cases import UNKNOWN_STRING, ctx, from_program, judge

LITERAL = "no-literal-credentials"
STORED = "no-stored-keys"
GKE = "gke-no-static-credentials"
PEM = "-----BEGIN " + "PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
SA_KEY_FILE = json.dumps({"type": "service_account", "private_key": PEM, "client_email": "x@p.iam.gserviceaccount.com"})
USER = "gcp:sql/user:User"
INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
REGIONAL_VERSION = "gcp:secretmanager/regionalSecretVersion:RegionalSecretVersion"
OBJECT = "gcp:storage/bucketObject:BucketObject"
DISK = "gcp:compute/disk:Disk"
VM = "gcp:compute/instance:Instance"
CLUSTER = "gcp:container/cluster:Cluster"

SECURE = {"from": "config", "secure": True}
PLAIN = {"from": "config", "key": "app:dbPassword", "secure": False}
GENERATED = {"from": "resource", "type": "random:index/randomPassword:RandomPassword", "output": "result",
             "secret": True}  # fmt: skip
INVOKED = {"from": "invoke", "token": "gcp:kms/getKMSSecret:getKMSSecret"}
STACK_KEY = {"from": "resource", "type": "gcp:serviceaccount/key:Key", "output": "privateKey", "secret": True}

LITERAL_CASES = [
    (USER, {"password": "Sup3r-S3cret!"}, "password"),
    (USER, {"passwordWo": "Sup3r-S3cret!"}, "passwordWo"),
    (INSTANCE, {"rootPassword": "ChangeMe-2024"}, "rootPassword"),
    (INSTANCE, {"replicaConfiguration": {"username": "repl", "password": "r3pl!"}}, "replicaConfiguration.password"),
    (INSTANCE, {"replicaConfiguration": {"clientKey": PEM}}, "replicaConfiguration.clientKey"),
    ("gcp:alloydb/cluster:Cluster", {"initialUser": {"user": "postgres", "password": "pg!"}}, "initialUser.password"),
    (VERSION, {"secretData": "hunter2-prod"}, "secretData"),
    (REGIONAL_VERSION, {"secretDataWo": "hunter2-prod"}, "secretDataWo"),
    (DISK, {"diskEncryptionKey": {"rawKey": "SGVyZSBpcyBhIDMyLWJ5dGUga2V5IGZvciBBRVMyNTY="}}, "diskEncryptionKey.rawKey"),
    (VM, {"bootDisk": {"diskEncryptionKeyRaw": "SGVyZSBpcyBh"}, "attachedDisks": [{"source": "d"}]},
     "bootDisk.diskEncryptionKeyRaw"),
    (VM, {"attachedDisks": [{"source": "d"}, {"source": "e", "diskEncryptionKeyRaw": "SGVyZSBpcyBh"}]},
     "attachedDisks[1].diskEncryptionKeyRaw"),
    ("gcp:compute/snapshot:Snapshot", {"sourceDiskEncryptionKey": {"rawKey": "SGVyZSBpcyBh"}},
     "sourceDiskEncryptionKey.rawKey"),
    (OBJECT, {"customerEncryption": {"encryptionKey": "SGVyZSBpcyBh"}}, "customerEncryption.encryptionKey"),
    ("gcp:compute/sSLCertificate:SSLCertificate", {"privateKey": PEM, "certificate": "c"}, "privateKey"),
    ("gcp:certificatemanager/certificate:Certificate", {"selfManaged": {"pemPrivateKey": PEM}},
     "selfManaged.pemPrivateKey"),
    ("gcp:compute/vPNTunnel:VPNTunnel", {"sharedSecret": "vpn-s3cret"}, "sharedSecret"),
    ("gcp:kms/secretCiphertext:SecretCiphertext", {"plaintext": "my-api-key"}, "plaintext"),
    ("gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig", {"httpCheck": {"authInfo": {"password": "p"}}},
     "httpCheck.authInfo.password"),
    ("gcp:compute/backendService:BackendService", {"iap": {"oauth2ClientSecret": "GOCSPX-x"}},
     "iap.oauth2ClientSecret"),
]  # fmt: skip


@pytest.mark.parametrize(("rtype", "props", "path"), LITERAL_CASES)
def test_a_credential_written_in_the_program_is_rejected(rtype: str, props: dict, path: str) -> None:
    messages = judge(LITERAL, rtype, {**props, **from_program()}, ctx())
    assert len(messages) == 1, messages
    assert messages[0].startswith(f"{path}: ") and "written in the program" in messages[0]
    assert "'subject'" in messages[0] and "Remove it" in messages[0]


@pytest.mark.parametrize(("rtype", "props", "path"), LITERAL_CASES)
def test_a_credential_from_the_stack_plain_config_is_rejected(rtype: str, props: dict, path: str) -> None:
    messages = judge(LITERAL, rtype, {**props, **from_program(**{path: PLAIN})}, ctx())
    assert len(messages) == 1 and "plain config (app:dbPassword)" in messages[0] and "--secret" in messages[0]


@pytest.mark.parametrize("origin", [SECURE, GENERATED, INVOKED])
@pytest.mark.parametrize(("rtype", "props", "path"), LITERAL_CASES)
def test_a_credential_from_a_secret_a_generator_or_a_function_is_accepted(
    rtype: str, props: dict, path: str, origin: dict
) -> None:
    assert judge(LITERAL, rtype, {**props, **from_program(**{path: origin})}, ctx()) == []


@pytest.mark.parametrize(("rtype", "props", "path"), LITERAL_CASES)
def test_without_provenance_nothing_is_judged(rtype: str, props: dict, path: str) -> None:
    """The Pulumi CLI sends no provenance and pulumi-policy hands a policy secrets unwrapped: a literal and
    `config.require_secret(...)` look the same, so the policy stays silent rather than flag the fix itself."""
    assert judge(LITERAL, rtype, props, ctx()) == []


@pytest.mark.parametrize(
    "props",
    [{"password": ""}, {"password": UNKNOWN_STRING}, {"password": PREFLIGHT_SECRET_MARKER}, {"type": "CLOUD_IAM_USER"},
     {"password": None}],
)  # fmt: skip
def test_empty_unknown_and_secure_config_passwords_accepted(props: dict) -> None:
    assert judge(LITERAL, USER, {**props, **from_program()}, ctx()) == []


def test_kms_key_instead_of_a_raw_key_accepted() -> None:
    props = {"diskEncryptionKey": {"kmsKeySelfLink": "projects/p/locations/l/keyRings/r/cryptoKeys/k"}}
    assert judge(LITERAL, DISK, {**props, **from_program()}, ctx()) == []


# --- keys stored as data -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "holds"),
    [(SA_KEY_FILE, "a service account key file"), (PEM, "a private key"),
     (base64.b64encode(SA_KEY_FILE.encode()).decode(), "a service account key file (base64-encoded)")],
)  # fmt: skip
@pytest.mark.parametrize("rtype", [VERSION, REGIONAL_VERSION])
def test_a_key_in_secret_manager_is_still_a_long_lived_key(rtype: str, data: str, holds: str) -> None:
    for props in ({"secretData": data}, {"secretData": data, **from_program(secretData=SECURE)}):
        messages = judge(STORED, rtype, props, ctx())
        assert len(messages) == 1 and holds in messages[0] and "long-lived" in messages[0]
    # one root cause: the literal key is no-stored-keys' finding, not also no-literal-credentials'
    assert judge(LITERAL, rtype, {"secretData": data, **from_program()}, ctx()) == []


def test_the_copy_of_a_key_this_stack_creates_is_that_keys_finding() -> None:
    data = base64.b64encode(SA_KEY_FILE.encode()).decode()
    assert judge(STORED, VERSION, {"secretData": data, **from_program(secretData=STACK_KEY)}, ctx()) == []
    # under the CLI the pack cannot see where the data came from: the copy is reported too
    assert len(judge(STORED, VERSION, {"secretData": data}, ctx())) == 1


@pytest.mark.parametrize("data", ["an opaque token", "hunter2", UNKNOWN_STRING, "", '{"type": "external_account"}',
                                  "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"])  # fmt: skip
def test_secret_data_that_is_no_key_accepted(data: str) -> None:
    assert judge(STORED, VERSION, {"secretData": data}, ctx()) == []


def test_bucket_objects_judged_by_content_text_assets_and_preflight_files() -> None:
    assert len(judge(STORED, OBJECT, {"content": SA_KEY_FILE}, ctx())) == 1
    archive = {"assets": {"main.py": {"text": "def f(): pass"}, "keys/sa.json": {"text": SA_KEY_FILE}}}
    messages = judge(STORED, OBJECT, {"source": archive}, ctx())  # the CLI sends StringAssets' text
    assert len(messages) == 1 and "keys/sa.json" in messages[0]
    files = {provenance.PROVENANCE_KEY: {"secret": [], "origins": {},
                                         "files": {"source": [{"entry": "fn/keys/sa.json",
                                                               "holds": "a service account key file"}]}}}  # fmt: skip
    messages = judge(STORED, OBJECT, {"source": {"path": "./fn"}, **files}, ctx())
    assert len(messages) == 1 and messages[0].startswith("source: ") and "fn/keys/sa.json" in messages[0]
    assert judge(STORED, OBJECT, {"source": {"path": "./fn"}}, ctx()) == []  # a path the pack cannot read
    assert judge(STORED, OBJECT, {"source": {"path": "./fn"}, **from_program()}, ctx()) == []
    assert judge(STORED, OBJECT, {"content": "print('hello')"}, ctx()) == []


# --- GKE -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "count"),
    [({"masterAuth": {"clientCertificateConfig": {"issueClientCertificate": True}}}, 1),
     ({"masterAuth": {"username": "admin", "password": "p"}}, 1),
     ({"masterAuth": {"username": "admin", "password": "p", "clientCertificateConfig": {"issueClientCertificate": True}}}, 2),
     ({"masterAuth": {"clientCertificateConfig": {"issueClientCertificate": False}}}, 0),
     ({"masterAuth": {"username": "", "password": ""}}, 0),
     ({"masterAuth": {"clientCertificateConfig": {"issueClientCertificate": UNKNOWN_STRING}}}, 0),
     ({}, 0)],
)  # fmt: skip
def test_gke_client_certificates_and_basic_auth(props: dict, count: int) -> None:
    messages = judge(GKE, CLUSTER, props, ctx())
    assert len(messages) == count
    assert all("'subject'" in m and ("Set " in m or "Remove " in m) for m in messages)


# --- the table against the provider ---------------------------------------------------------------------------------

GCP_DIR = Path(pulumi_gcp.__file__).parent


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _module_of(token: str) -> tuple[Path, str]:
    module, name = token.split(":")[1].split("/")[0], token.rsplit(":", 1)[-1]
    return GCP_DIR / module, name


def _input_names(path: Path, cls: str) -> set[str]:
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"\nclass {cls}(?:\(|:)", text)
    assert match, (path, cls)
    body = text[match.end() : text.find("\nclass ", match.end())]
    init = body[body.find("def __init__") : body.find("):", body.find("def __init__"))]
    return {_camel(n) for n in re.findall(r"\n\s+(\w+):", init)}


@pytest.mark.parametrize("field", CREDENTIAL_FIELDS, ids=lambda f: ".".join(f.path))
def test_every_credential_field_is_an_input_of_the_provider(field: Any) -> None:
    for token in sorted(field.types):
        module, name = _module_of(token)
        files = [p for p in module.glob("*.py") if f'@pulumi.type_token("{token}")' in p.read_text(encoding="utf-8")]
        assert files, token
        names = _input_names(files[0], f"{name}Args")
        assert field.path[0] in names, (token, field.path)
        prefix = name
        for step in field.path[1:]:  # nested: the Args class of each block, as pulumi-gcp names them
            prefix += field.path[field.path.index(step) - 1][:1].upper() + field.path[field.path.index(step) - 1][1:]
            assert step in _input_names(module / "_inputs.py", f"{prefix}Args"), (token, field.path)


def test_every_compute_resource_that_takes_a_raw_key_is_judged() -> None:
    text = (GCP_DIR / "compute" / "_inputs.py").read_text(encoding="utf-8")
    takers: set[str] = set()
    for match in re.finditer(r"\nclass (\w+)Args:", text):
        body = text[match.end() : text.find("\nclass ", match.end())]
        init = body[body.find("def __init__") : body.find("):", body.find("def __init__"))]
        if re.search(r"\n\s+(raw_key|raw_key_wo|disk_encryption_key_raw):", init):
            takers.add(match.group(1))
    names = {token.rsplit(":", 1)[-1] for token in RAW_KEY_TYPES}
    # each Args class is named after its resource: the longest resource name it starts with
    owners = {max((n for n in names if cls.startswith(n)), key=len, default=cls) for cls in takers}
    assert owners <= names, owners - names
    assert len(takers) > 20
