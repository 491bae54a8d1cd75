"""The pack's reading of preflight's provenance: paths, origins, secret wrappers and key files, and what a rule
sees when the property is absent (the Pulumi CLI); the adapter hands it to rules and keeps it out of their props,
and turns assets and archives into the plain form the engine sends."""

from __future__ import annotations

import pulumi
import pytest

from secure_invoke.policies.guardrails import provenance
from secure_invoke.policies.guardrails.adapter import to_plain
from secure_invoke.policies.guardrails.provenance import NO_PROVENANCE, PROVENANCE_KEY, Provenance, path_of, split, walk


def test_paths_join_keys_with_dots_and_positions_in_brackets() -> None:
    assert path_of("template", "containers", 0, "envs", 1, "value") == "template.containers[0].envs[1].value"
    assert path_of(0, "a") == "[0].a"
    assert path_of() == ""


def test_walk_yields_every_leaf_with_its_steps() -> None:
    leaves = dict(walk({"a": [{"b": 1}, 2], "c": {"d": None}}))
    assert leaves == {("a", 0, "b"): 1, ("a", 1): 2, ("c", "d"): None}


def test_split_keeps_the_provenance_out_of_the_props() -> None:
    props = {"password": "x", PROVENANCE_KEY: {"secret": [], "origins": {}}}
    rest, origins = split(props)
    assert rest == {"password": "x"} and origins.available
    rest, origins = split({"password": "x"})
    assert rest == {"password": "x"} and origins is NO_PROVENANCE and not origins.available


def test_origins() -> None:
    seen = Provenance(
        {
            "secret": ["template", "rootPassword"],
            "origins": {
                "a": {"from": "config", "secure": True},
                "b": {"from": "config", "key": "app:pw", "secure": False},
                "c": {"from": "resource", "type": "random:index/randomPassword:RandomPassword", "output": "result",
                      "secret": True},
                "d": {"from": "invoke", "token": "gcp:kms/getKMSSecret:getKMSSecret"},
                "e": {"from": "something preflight may add later"},
            },
        }
    )  # fmt: skip
    assert seen.origin("a").kind == "secure-config" and not seen.origin("a").written_in_plain
    assert (seen.origin("b").kind, seen.origin("b").source) == ("plain-config", "app:pw")
    assert seen.origin("b").written_in_plain
    c = seen.origin("c")
    assert (c.kind, c.source, c.secret_output) == (
        "resource",
        "random:index/randomPassword:RandomPassword.result",
        True,
    )
    assert (seen.origin("d").kind, seen.origin("d").source) == ("invoke", "gcp:kms/getKMSSecret:getKMSSecret")
    assert seen.origin("e").kind == "program" and seen.origin("not listed").written_in_plain
    assert NO_PROVENANCE.origin("a").kind == "unknown" and not NO_PROVENANCE.origin("a").written_in_plain


@pytest.mark.parametrize(
    ("path", "secret"),
    [("template", True), ("template.containers[0].envs[1].value", True), ("rootPassword", True),
     ("templates", False), ("root", False), ("env", False)],
)  # fmt: skip
def test_a_secret_wrapper_covers_everything_below_it(path: str, secret: bool) -> None:
    assert Provenance({"secret": ["template", "rootPassword"]}).sent_secret(path) is secret
    assert not NO_PROVENANCE.sent_secret(path)


def test_key_files_under_a_path() -> None:
    seen = Provenance({"files": {"source": [{"entry": "keys/sa.json", "holds": "a service account key file"}],
                                 "sourceb": [{"entry": "x", "holds": "y"}], "other": "junk"}})  # fmt: skip
    found = seen.files_under("source")
    assert [(where, f.entry, f.holds) for where, f in found] == [
        ("source", "keys/sa.json", "a service account key file")
    ]


@pytest.mark.parametrize("junk", [None, "text", 3, ["list"]])
def test_malformed_provenance_reads_as_none_or_empty(junk: object) -> None:
    seen = Provenance(junk)
    assert seen.available is isinstance(junk, dict)
    assert not seen.sent_secret("a") and seen.files_under("a") == []


def test_assets_and_archives_become_what_the_engine_sends() -> None:
    archive = pulumi.AssetArchive(
        {"main.py": pulumi.StringAsset("print(1)"), "lib": pulumi.FileArchive("./lib"),
         "data.bin": pulumi.FileAsset("./data.bin"), "remote": pulumi.RemoteArchive("https://x/a.zip")}
    )  # fmt: skip
    assert to_plain({"source": archive}) == {
        "source": {"assets": {"main.py": {"text": "print(1)"}, "lib": {"path": "./lib"},
                              "data.bin": {"path": "./data.bin"}, "remote": {"uri": "https://x/a.zip"}}}
    }  # fmt: skip


def test_the_key_is_one_the_cli_never_sends() -> None:
    """The Pulumi CLI's engine drops every top-level property whose key starts with `__` from what analyzers get
    (MarshalOptions.SkipInternalKeys): only preflight can put provenance there."""
    assert PROVENANCE_KEY.startswith("__")
    assert provenance.PROVENANCE_KEY == "__provenance"
