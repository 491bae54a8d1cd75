"""The command, `python -m secure_invoke.preflight` and `preflight`: exit codes, one-line errors, help, real subprocess runs."""

import subprocess
import sys
from pathlib import Path

import pytest

from secure_invoke.preflight.__main__ import main
from secure_invoke.preflight.outputs.wire import UNKNOWN
from tests.preflight.running import run, run_json

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
PACKS = HERE / "packs"
REPO = HERE.parents[1]
TEST_PACK = PACKS / "basic_pack"


# --- broken inputs: exit 2 with a one-line cause --------------------------------------------------


def test_apply_that_raises_exits_2_with_the_cause():
    # The callback reads the program's own input, known in a preview too: a preview raises the same, so exit 2.
    code, out, err = run("--program", str(PROGRAMS / "apply_raises"), "--policy-pack", str(TEST_PACK))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "an apply callback raised ValueError: audience for worker is not allowed (__main__.py:5)" in err
    assert "Traceback" not in err
    code, _, err = run("--program", str(PROGRAMS / "apply_raises"), "--policy-pack", str(TEST_PACK), "--debug")
    assert code == 2
    assert "Traceback" in err


def _no_google_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no application default credentials file


def test_an_apply_a_preview_would_not_run_leaves_its_output_unknown_and_the_run_gives_a_verdict(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_google_credentials(monkeypatch, tmp_path)
    code, document, output = run_json(
        tmp_path, "--program", str(PROGRAMS / "apply_calls_google"), "--policy-pack", str(TEST_PACK)
    )
    assert code == 0, output  # a verdict, where the callbacks used to stop the run with exit 2
    by_callback = {entry["callback"]: entry for entry in document["unknownApplies"]}
    assert set(by_callback) == {"<lambda> (__main__.py:22)", "<lambda> (__main__.py:23)"}
    google = by_callback["<lambda> (__main__.py:22)"]  # google.auth.default() inside the apply
    assert google["resources"] == ["gcp:serviceaccount/account:Account 'runner'"]
    assert google["error"].startswith("DefaultCredentialsError: ")
    assert "credentials" in google["why"]
    parsed = by_callback["<lambda> (__main__.py:23)"]  # int() of a part of the URL Cloud Run would assign
    assert parsed["resources"] == ["gcp:cloudrunv2/service:Service 'worker'"]
    assert parsed["error"].startswith("ValueError: invalid literal for int()")
    assert "gcp:cloudrunv2/service:Service 'worker'.uri, which a preview does not know" in parsed["why"]
    # Their outputs are unknown, as in a preview: the topics' labels.
    labels = {r["name"]: r["inputs"]["labels"] for r in document["resources"] if r["type"].endswith(":Topic")}
    assert labels == {"jobs": UNKNOWN, "audit": UNKNOWN}
    # The report says which callback, on which resource, and why.
    assert (
        "warning: apply callback <lambda> (__main__.py:22) on an output of gcp:serviceaccount/account:Account "
        "'runner' left unknown, as in a preview: it calls a cloud API, which needs credentials" in output
    )
    assert "apply callback <lambda> (__main__.py:23) on an output of gcp:cloudrunv2/service:Service 'worker'" in output
    assert any("left unknown, as in a preview" in note for note in document["engine"])


def test_the_same_program_in_preview_mode_runs_neither_callback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_google_credentials(monkeypatch, tmp_path)
    code, document, output = run_json(
        tmp_path, "--program", str(PROGRAMS / "apply_calls_google"), "--policy-pack", str(TEST_PACK), "--preview"
    )
    assert code == 0, output
    assert document["unknownApplies"] == []
    assert "left unknown" not in output


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--stack", "no-such-stack"], "Pulumi.no-such-stack.yaml not found"),
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


# --- a few real subprocess runs: what `make preview` and CI do -------------------------------------


def test_module_entry_point_exit_codes_and_plain_output(tmp_path):
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
    # The plain report counts the grants the JSON report lists (tests/stack asserts which they are).
    _, document, _ = run_json(tmp_path, "--stack", "dev")
    assert f"IAM grants ({len(document['grants'])})" in passing.stdout


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
        (["--stack", "no-such-stack"], "stack config Pulumi.no-such-stack.yaml not found in"),
    ],
)
def test_a_bad_program_or_stack_is_named(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0 no mandatory violation" in help_text
    assert "1 at least one mandatory violation" in help_text and "2 the program, its config" in help_text


def test_a_provider_config_key_the_sdk_does_not_declare_is_warned_with_a_fix(tmp_path: Path) -> None:
    argv = ["--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK), "--set", "gcp:projct=x"]
    code, document, output = run_json(tmp_path, *argv, "--set", "gcp:zone=europe-west1-b")
    assert code == 0, output
    warning = "warning: gcp:projct: the gcp provider's SDK declares no such config key; did you mean gcp:project?"
    assert warning in document["engine"]
    assert f"Engine:\n    {warning}\n" in output
    # declared keys (gcp:zone, the stack's own gcp:project) and the project's own namespace are not judged
    assert [note for note in document["engine"] if note.startswith("warning:")] == [warning]
