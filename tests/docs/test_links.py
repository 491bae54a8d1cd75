"""Every relative link of every tracked markdown file resolves, as GitHub resolves it: to a tracked file or
folder, and a `#fragment` to a heading of that file (GitHub's anchors)."""

from __future__ import annotations

import posixpath
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.docs.markdown import anchors, links, slug

REPO = Path(__file__).resolve().parents[2]


def _tracked() -> set[str]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    return {path for path in listing.stdout.split("\0") if path}


def _link_problem(source: str, target: str, tracked: set[str]) -> str | None:
    """Why `target`, a link in the tracked file `source`, does not resolve; None when it does."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None  # a URL, not a file of this repository
    path_part, _, fragment = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if not path_part:
        resolved = source
    else:
        # As GitHub resolves it: against the file's folder, or the repository root for "/…"; no symlinks followed.
        base = "" if path_part.startswith("/") else posixpath.dirname(source)
        resolved = posixpath.normpath(posixpath.join(base, path_part.lstrip("/")))
        if resolved == ".." or resolved.startswith("../"):
            return "points outside the repository"
    is_file = resolved in tracked and (REPO / resolved).is_file()
    is_dir = (REPO / resolved).is_dir() and any(t.startswith(resolved.rstrip("/") + "/") for t in tracked)
    if not (is_file or is_dir or resolved == "."):
        return f"{resolved} is not a tracked file or directory"
    if fragment:
        if not resolved.endswith(".md") or not is_file:
            return f"#{fragment}: {resolved} is not a markdown file with headings"
        if unquote(fragment) not in anchors((REPO / resolved).read_text(encoding="utf-8")):
            return f"#{fragment}: no such heading in {resolved}"
    return None


def test_every_relative_link_of_every_tracked_markdown_file_resolves() -> None:
    tracked = _tracked()
    markdown = sorted(p for p in tracked if p.endswith(".md") and (REPO / p).is_file())
    assert "README.md" in markdown and "policies/README.md" in markdown
    broken = []
    for source in markdown:
        for target in links((REPO / source).read_text(encoding="utf-8")):
            problem = _link_problem(source, target, tracked)
            if problem is not None:
                broken.append(f"{source}: ({target}) {problem}")
    assert broken == []


def test_the_link_check_rejects_what_github_would_not_resolve() -> None:
    tracked = _tracked()
    assert _link_problem("README.md", "policies/README.md", tracked) is None
    assert _link_problem("README.md", "policies/README.md#peer-checks", tracked) is None
    assert _link_problem("policies/README.md", "#role-power-from-data", tracked) is None
    assert _link_problem("policies/README.md", "../README.md#configuration", tracked) is None
    assert _link_problem("policies/README.md", "/Makefile", tracked) is None
    assert _link_problem("README.md", "policies/", tracked) is None
    assert _link_problem("README.md", "https://example.com/missing.md", tracked) is None
    assert (
        _link_problem("README.md", "policies/READNE.md", tracked)
        == "policies/READNE.md is not a tracked file or directory"
    )
    assert _link_problem("README.md", "#no-such-heading", tracked) == "#no-such-heading: no such heading in README.md"
    assert _link_problem("README.md", "../outside.md", tracked) == "points outside the repository"
    assert _link_problem("README.md", ".venv/", tracked) == ".venv is not a tracked file or directory"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        # Headings of this repository's READMEs, with the anchors GitHub gives them.
        ("Policy pack: `secure-invoke-guardrails`", "policy-pack-secure-invoke-guardrails"),
        ("Judging a grant: class \u00d7 scope \u00d7 member", "judging-a-grant-class--scope--member"),
        ("Deploys (`.github/workflows/deploy.yml`)", "deploys-githubworkflowsdeployyml"),
        ("Where the code corrected DESIGN.md", "where-the-code-corrected-designmd"),
        ("snake_case and — dashes", "snake_case-and--dashes"),
    ],
)
def test_anchors_follow_githubs_slug_rules(heading, anchor) -> None:
    assert slug(heading) == anchor


def test_repeated_headings_get_numbered_anchors() -> None:
    assert {"tests", "tests-1", "tests-2"} <= anchors("# Tests\n\n## Tests\n\n### Tests\n")
    assert "a-b" in anchors("## A [b](x.md)\n") and "x" in anchors('<a id="x"></a>\n')
