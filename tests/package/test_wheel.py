"""`pip install` of the built wheel gives a user the components, the settings, preflight and the pack.

One wheel is built from this checkout (as `make dist` builds it), installed into a fresh venv beside a copy
of examples/two-services outside the repository (tools/example.py, what CI's `make example` runs), and
exercised there: the installed `preflight` passes the example and rejects its broken stack; the installed
pack is a pack in place and as `pulumi policy publish` would ship it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tools import example

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("secure_invoke-*-py3-none-any.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[example.Outcome]:
    where = tmp_path_factory.mktemp("outside") / "two-services"
    assert ROOT not in where.parents
    yield example.run(wheel, where)


def _venv_python(outcome: example.Outcome) -> str:
    return str(outcome.directory / "venv" / "bin" / "python")


def test_the_wheel_carries_the_pack_its_data_and_preflights_launcher(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "secure_invoke/policies/PulumiPolicy.yaml",
        "secure_invoke/policies/requirements.txt",
        "secure_invoke/policies/.pulumiignore",
        "secure_invoke/policies/__main__.py",
        "secure_invoke/policies/guardrails/role_table.json",
        # Executed by path on the program's interpreter, never imported.
        "secure_invoke/preflight/engine/launcher.py",
        "secure_invoke/components/private_service.py",
        "secure_invoke/settings/schema.py",
        # The deployer check's tables, and the role data it resolves predefined roles with.
        "secure_invoke/preflight/deployer/provider_methods.json",
        "secure_invoke/preflight/deployer/gcp-api-method-permissions.json.gz",
        "secure_invoke/policies/tools/data/gcp-predefined-roles.json.gz",
    ):
        assert data in names, data
    # Nothing of the repository's own program, tests or tools.
    assert not [n for n in names if n.startswith(("tests/", "stack.py", "local/", "functions/", "services/"))]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = {
        line.split(": ", 1)[1].split(">")[0].split("<")[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist")
    }
    assert {"pulumi", "pulumi-gcp", "pulumi-policy", "grpcio", "protobuf", "jsonschema", "pyyaml", "rich"} <= requires
    assert "common-expression-language" in requires


def test_declared_ranges_cover_what_the_package_imports() -> None:
    # Every third-party module the package's code imports is a declared dependency (or comes with one).
    provided = {
        "pulumi": "pulumi",
        "pulumi_gcp": "pulumi-gcp",
        "pulumi_docker_build": "pulumi-docker-build",
        "pulumiverse_time": "pulumiverse-time",
        "pulumi_policy": "pulumi-policy",
        "jsonschema": "jsonschema",
        "yaml": "pyyaml",
        "rich": "rich",
        "grpc": "grpcio",
        "google": "protobuf",  # google.protobuf only: the package never imports google-auth
        "cel": "common-expression-language",  # the deployer check's IAM conditions
    }
    declared = {
        re.split(r"[<>=~!; ]", d, maxsplit=1)[0]
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    stdlib = sys.stdlib_module_names
    for part in ("components", "settings", "preflight", "policies/guardrails"):
        for path in (ROOT / part).rglob("*.py"):
            for module in _imported(path):
                if module in stdlib or module in ("secure_invoke", "guardrails", "__future__"):
                    continue
                assert module in provided, f"{path.relative_to(ROOT)} imports {module}"
                assert provided[module] in declared, f"{module}: {provided[module]} is not a declared dependency"
    assert "google.auth" not in "".join(p.read_text() for p in (ROOT / "components").rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """Top-level names of the modules a file imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_example_passes_and_its_broken_stack_is_rejected_by_name(installed: example.Outcome) -> None:
    assert example.check(installed) == []
    assert installed.exit_codes == {"dev": 0, "broken": 1}
    [finding] = [v for v in installed.reports["broken"]["violations"] if v["enforcementLevel"] == "mandatory"]
    assert finding["policy"] == "no-plaintext-secrets-in-env"
    assert "DATABASE_URL" in finding["message"] and "'billing'" in finding["message"]
    # The verdict came from the installed pack, at the package's version, on the installed preflight.
    [pack] = installed.reports["dev"]["policyPacks"]
    assert pack["name"] == "secure-invoke-guardrails" and pack["version"] == _version()


def test_the_example_is_what_it_says(installed: example.Outcome) -> None:
    report = installed.reports["dev"]
    invokers = {
        (g["member"].split("@")[0], g["resource"]) for g in report["grants"] if g["role"] == "roles/run.invoker"
    }
    # Four callers of two services, each its own identity, each granted on the one service it calls (the
    # gen2 function's trigger identity is granted on the function's own service, as Eventarc needs).
    assert {
        ("serviceAccount:ingest-runtime", "cloudrunv2/service billing"),
        ("serviceAccount:billing-push", "cloudrunv2/service billing"),
        ("serviceAccount:reports-runtime", "cloudrunv2/service billing"),
        ("serviceAccount:nightly-report", "cloudrunv2/service reports"),
        ("serviceAccount:ingest-trigger-dev", "cloudrunv2/service ingest"),
    } == {(m, r) for m, r in invokers if r.startswith("cloudrunv2/service ")}
    types = {r["type"] for r in report["resources"]}
    assert {
        "gcp:cloudscheduler/job:Job",
        "gcp:pubsub/subscription:Subscription",
        "gcp:cloudfunctionsv2/function:Function",
    } <= types


def test_the_installed_package_is_used_not_the_source_tree(installed: example.Outcome) -> None:
    done = subprocess.run(
        [
            _venv_python(installed),
            "-c",
            "import secure_invoke, secure_invoke.preflight as p; print(secure_invoke.__file__, p.__file__)",
        ],
        cwd=installed.directory,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    for path in done.stdout.split():
        assert Path(path).is_relative_to(installed.directory / "venv"), path
    version = subprocess.run(
        [str(installed.directory / "venv" / "bin" / "preflight"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.strip() == f"preflight (secure-invoke {_version()})"


def _installed_pack(outcome: example.Outcome) -> Path:
    done = subprocess.run(
        [
            _venv_python(outcome),
            "-c",
            "import secure_invoke, pathlib; print(pathlib.Path(secure_invoke.__file__).parent / 'policies')",
        ],
        cwd=outcome.directory,  # not the repository: `-c` puts the working directory first on sys.path
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(done.stdout.strip())


def _published(pack: Path, into: Path) -> Path:
    """The pack as `pulumi policy publish` tars it and the CLI installs it: the folder less .pulumiignore's
    entries (plain names here), with `virtualenv: venv` set and requirements.txt installed into it."""
    ignored = [line.strip().rstrip("/") for line in (pack / ".pulumiignore").read_text().splitlines()]
    ignored = [name for name in ignored if name and not name.startswith("#")]
    assert all(re.fullmatch(r"[\w.-]+", name) for name in ignored), "only plain names are emulated"
    shutil.copytree(pack, into, ignore=shutil.ignore_patterns(*ignored))
    manifest = yaml.safe_load((into / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"] == "python"  # no option pointing anywhere; the CLI adds its own venv
    manifest["runtime"] = {"name": "python", "options": {"virtualenv": "venv"}}
    (into / "PulumiPolicy.yaml").write_text(yaml.safe_dump(manifest))
    subprocess.run([sys.executable, "-m", "venv", str(into / "venv")], check=True, timeout=300)
    subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(into / "venv" / "bin" / "python"),
         "--require-hashes", "-r", str(into / "requirements.txt")],
        check=True,
        timeout=600,
    )  # fmt: skip
    return into


def test_the_pack_as_published_runs_on_its_own_requirements_alone(installed: example.Outcome, tmp_path: Path) -> None:
    pack = _installed_pack(installed)
    assert pack.is_relative_to(installed.directory / "venv")
    published = _published(pack, tmp_path / "secure-invoke-guardrails")
    assert not (published / "tools").exists() and (published / "guardrails" / "role_table.json").is_file()
    # Its venv holds pulumi-policy's closure and nothing of secure-invoke: the pack needs nothing else.
    listed = subprocess.run(
        [str(published / "venv" / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert "pulumi-policy" in names and "secure-invoke" not in names and "pulumi-gcp" not in names
    out = tmp_path / "broken.json"
    done = subprocess.run(
        [str(installed.directory / "venv" / "bin" / "preflight"), "--stack", "broken", "--policy-pack", str(published),
         "--json", str(out)],
        cwd=installed.directory,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = json.loads(out.read_text())
    assert {v["policy"] for v in report["violations"] if v["enforcementLevel"] == "mandatory"} == {
        "no-plaintext-secrets-in-env"
    }
    # Run on its own venv, not preflight's interpreter: no note that the venv was missing.
    assert not [note for note in report["engine"] if "virtualenv" in note]


def test_an_in_place_pack_whose_virtualenv_is_missing_runs_here_and_says_so(
    installed: example.Outcome, tmp_path: Path
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(_installed_pack(installed), pack, ignore=shutil.ignore_patterns("__pycache__"))
    (pack / "PulumiPolicy.yaml").write_text(
        yaml.safe_dump({"runtime": {"name": "python", "options": {"virtualenv": "venv"}}, "version": _version()})
    )
    out = tmp_path / "dev.json"
    done = subprocess.run(
        [str(installed.directory / "venv" / "bin" / "preflight"), "--policy-pack", str(pack), "--json", str(out)],
        cwd=installed.directory,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    notes = json.loads(out.read_text())["engine"]
    assert any(n.startswith("policy pack pack: virtualenv venv does not exist (`pulumi install`") for n in notes), notes


def _version() -> str:
    text = (ROOT / "secure_invoke" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    assert match
    return match.group(1)
