"""tools/provider_methods: the table of provider calls derived from a provider's own definitions — run on a small
magic-modules-shaped repository, pulumi-gcp metadata and a discovery wheel written here — and the committed table."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tools import provider_methods

TOPIC_YAML = """
name: Topic
base_url: projects/{{project}}/topics
update_url: projects/{{project}}/topics/{{name}}
create_verb: PUT
update_verb: PATCH
iam_policy:
  method_name_separator: ':'
  parent_resource_attribute: topic
properties:
  - name: name
  - name: schemaSettings
    update_url: projects/{{project}}/topics/{{name}}:setSchema
    update_verb: POST
"""
PRODUCT_YAML = "name: Pubsub\nversions:\n  - name: ga\n    base_url: https://pubsub.googleapis.com/v1/\n"
ACCOUNT_GO = """package resourcemanager

func ResourceGoogleServiceAccount() *schema.Resource {
\treturn &schema.Resource{
\t\tCreate: resourceAccountCreate,
\t\tRead:   resourceAccountRead,
\t\tDelete: resourceAccountDelete,
\t\tTimeouts: &schema.ResourceTimeout{
\t\t\tCreate: schema.DefaultTimeout(5 * time.Minute),
\t\t},
\t}
}

func resourceAccountCreate(d *schema.ResourceData, meta interface{}) error {
\tclient := iambeta.NewClient(config, userAgent)
\t_, err := client.Projects.ServiceAccounts.Create("projects/"+project, r).Do()
\treturn resourceAccountRead(d, meta)
}

func resourceAccountRead(d *schema.ResourceData, meta interface{}) error {
\t_, err := iambeta.NewClient(config, userAgent).Projects.ServiceAccounts.Get(d.Id()).Do()
\treturn err
}

func resourceAccountDelete(d *schema.ResourceData, meta interface{}) error {
\t_, err := iambeta.NewClient(config, userAgent).Projects.ServiceAccounts.Delete(d.Id()).Do()
\treturn err
}

func init() {
\tregistry.Schema{
\t\tName:        "google_service_account",
\t\tProductName: "resourcemanager",
\t\tType:        registry.SchemaTypeResource,
\t\tSchema:      ResourceGoogleServiceAccount(),
\t}.Register()
}
"""


def _method(method_id: str, verb: str, flat: str, path: str | None = None) -> dict[str, str]:
    return {"id": method_id, "httpMethod": verb, "flatPath": flat, "path": path or flat}


def _git(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(directory), *command], check=True)
    return directory


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path, Path]:
    mm = _git(
        tmp_path / "mm",
        {
            "mmv1/products/pubsub/product.yaml": PRODUCT_YAML,
            "mmv1/products/pubsub/Topic.yaml": TOPIC_YAML,
            "mmv1/third_party/terraform/services/resourcemanager/resource_google_service_account.go": ACCOUNT_GO,
            "mmv1/third_party/terraform/services/resourcemanager/resource_google_service_account_meta.yaml": (
                "resource: google_service_account\napi_service_name: iam.googleapis.com\n"
            ),
        },
    )
    tokens = {
        "google_pubsub_topic": "gcp:pubsub/topic:Topic",
        "google_pubsub_topic_iam_member": "gcp:pubsub/topicIAMMember:TopicIAMMember",
        "google_service_account": "gcp:serviceaccount/account:Account",
    }
    metadata = {"auto-aliasing": {"resources": {name: {"current": token} for name, token in tokens.items()}}}
    pulumi_gcp = _git(tmp_path / "pg", {"provider/cmd/pulumi-resource-gcp/bridge-metadata.json": json.dumps(metadata)})
    topics = "v1/projects/{projectsId}/topics/{topicsId}"
    pubsub = {
        "name": "pubsub",
        "version": "v1",
        "servicePath": "",
        "resources": {
            "projects": {
                "resources": {
                    "topics": {
                        "methods": {
                            "create": _method("pubsub.projects.topics.create", "PUT", topics, "v1/{+name}"),
                            "get": _method("pubsub.projects.topics.get", "GET", topics, "v1/{+topic}"),
                            "patch": _method("pubsub.projects.topics.patch", "PATCH", topics, "v1/{+name}"),
                            "delete": _method("pubsub.projects.topics.delete", "DELETE", topics, "v1/{+topic}"),
                            "getIamPolicy": _method(
                                "pubsub.projects.topics.getIamPolicy", "GET", topics + ":getIamPolicy"
                            ),
                            "setIamPolicy": _method(
                                "pubsub.projects.topics.setIamPolicy", "POST", topics + ":setIamPolicy"
                            ),
                            "setSchema": _method("pubsub.projects.topics.setSchema", "POST", topics + ":setSchema"),
                        }
                    }
                }
            }
        },
    }
    accounts = "v1/projects/{projectsId}/serviceAccounts"
    iam = {
        "name": "iam",
        "version": "v1",
        "servicePath": "",
        "resources": {
            "projects": {
                "resources": {
                    "serviceAccounts": {
                        "methods": {
                            "create": _method("iam.projects.serviceAccounts.create", "POST", accounts),
                            "get": _method(
                                "iam.projects.serviceAccounts.get", "GET", accounts + "/{serviceAccountsId}"
                            ),
                            "delete": _method(
                                "iam.projects.serviceAccounts.delete", "DELETE", accounts + "/{serviceAccountsId}"
                            ),
                        }
                    }
                }
            }
        },
    }
    wheel = tmp_path / "google_api_python_client-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "google_api_python_client-9.9.9.dist-info/METADATA", "Name: google-api-python-client\nVersion: 9.9.9\n"
        )
        archive.writestr("googleapiclient/discovery_cache/documents/pubsub.v1.json", json.dumps(pubsub))
        archive.writestr("googleapiclient/discovery_cache/documents/iam.v1.json", json.dumps(iam))
    return mm, pulumi_gcp, wheel


def test_the_table_says_what_the_provider_calls(
    sources: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mm, pulumi_gcp, wheel = sources
    table = tmp_path / "out" / "provider_methods.json"
    monkeypatch.setattr(provider_methods, "TABLE_PATH", table)
    monkeypatch.setattr(provider_methods, "REPO_ROOT", tmp_path)
    assert (
        provider_methods.main(["--magic-modules", str(mm), "--pulumi-gcp", str(pulumi_gcp), "--discovery", str(wheel)])
        == 0
    )
    written = json.loads(table.read_text())
    assert "9.9.9" in written["sources"]["discovery"]
    assert written["sources"]["magic-modules"].startswith("github.com/GoogleCloudPlatform/magic-modules commit ")
    topic = written["types"]["gcp:pubsub/topic:Topic"]
    # PUT on the topic's own name is its create; the read after it; PATCH its update; the per-field update only
    # when the program sets that field.
    assert topic["create"] == ["pubsub.projects.topics.create", "pubsub.projects.topics.get"]
    assert topic["update"] == ["pubsub.projects.topics.patch", "pubsub.projects.topics.get"]
    assert topic["updateWhenSet"] == {"schemaSettings": ["pubsub.projects.topics.setSchema"]}
    assert topic["delete"] == ["pubsub.projects.topics.delete"]
    assert topic["name"] == "projects/{{project}}/topics/{{name}}" and topic["service"] == "pubsub.googleapis.com"
    member = written["types"]["gcp:pubsub/topicIAMMember:TopicIAMMember"]
    assert member["target"] == "topic"
    assert member["create"] == ["pubsub.projects.topics.getIamPolicy", "pubsub.projects.topics.setIamPolicy"]
    assert member["read"] == ["pubsub.projects.topics.getIamPolicy"]
    account = written["types"]["gcp:serviceaccount/account:Account"]
    # From the handwritten Go: Create calls create and then Read's get (`Timeouts: {Create: ...}` is not a function).
    assert account["create"] == ["iam.projects.serviceAccounts.create", "iam.projects.serviceAccounts.get"]
    assert account["read"] == ["iam.projects.serviceAccounts.get"]
    assert account["delete"] == ["iam.projects.serviceAccounts.delete"]
    assert account["update"] == [] and "no Update" in account["notes"][0]
    # --check compares with what was written.
    args = ["--magic-modules", str(mm), "--pulumi-gcp", str(pulumi_gcp), "--discovery", str(wheel), "--check"]
    assert provider_methods.main(args) == 0
    table.write_text(table.read_text().replace("topics.patch", "topics.update"))
    assert provider_methods.main(args) == 1


def test_a_call_that_matches_no_method_is_kept_unresolved(sources: tuple[Path, Path, Path], tmp_path: Path) -> None:
    mm, pulumi_gcp, wheel = sources
    discovery = provider_methods.Discovery(wheel)
    assert (
        discovery.match("pubsub", "v1", "GET", "v1/projects/{{project}}/topics/{{name}}")
        == "pubsub.projects.topics.get"
    )
    assert discovery.match("pubsub", "v1", "POST", "v1/projects/{{project}}/topics/{{name}}:publish") is None
    generator = provider_methods.Generator(
        provider_methods.GitTree(mm), provider_methods.GitTree(pulumi_gcp), discovery
    )
    generator.generated()
    assert not generator.types["gcp:pubsub/topic:Topic"].unresolved


def test_bad_sources_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "not-a-wheel.whl").write_text("x")
    code = provider_methods.main(
        [
            "--magic-modules",
            str(tmp_path),
            "--pulumi-gcp",
            str(tmp_path),
            "--discovery",
            str(tmp_path / "not-a-wheel.whl"),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_the_committed_table_covers_our_stacks_and_records_its_sources() -> None:
    document = json.loads(provider_methods.TABLE_PATH.read_text())
    assert document["format"] == provider_methods.TABLE_FORMAT
    for source in ("magic-modules", "pulumi-gcp", "discovery"):
        assert "commit" in document["sources"][source] or "google-api-python-client" in document["sources"][source]
    types = document["types"]
    for token in (
        "gcp:cloudrunv2/service:Service",
        "gcp:cloudfunctionsv2/function:Function",
        "gcp:serviceaccount/account:Account",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "gcp:projects/iAMMember:IAMMember",
        "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
    ):
        assert types[token]["create"] and not types[token].get("unresolved"), token
