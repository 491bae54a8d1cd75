"""docs/design.md stays true: it links to the code (tests/docs resolves every link), every `docs/design.md §N`
citation names a section that exists, and its grant table (§2) is the IAM the real program registers."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from secure_invoke.preflight import grants_of, run_program
from tests.docs.markdown import links
from tests.stack.cases import REPO

DESIGN = REPO / "docs" / "design.md"
TEXT = DESIGN.read_text(encoding="utf-8")
SECTION = re.compile(r"^## (\d+)\. ", re.M)
CITATION = re.compile(r"docs/design\.md §(\d+)")


def sections() -> list[int]:
    return [int(n) for n in SECTION.findall(TEXT)]


def section(number: int) -> str:
    start = re.search(rf"^## {number}\. .*$", TEXT, re.M)
    assert start, f"no section {number}"
    following = SECTION.search(TEXT, start.end())
    return TEXT[start.end() : following.start() if following else len(TEXT)]


def test_sections_are_numbered_in_order() -> None:
    assert sections() == list(range(1, len(sections()) + 1))
    assert len(sections()) >= 8


def test_the_design_links_to_the_code_it_describes() -> None:
    # That every link resolves, this one included, is tests/docs/test_links.py's check of every markdown file.
    assert [target for target in links(TEXT) if "://" not in target and not target.startswith("#")]


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "*.py", "*.md", "*.yml", "*.yaml", "*.toml"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [REPO / name for name in listed if (REPO / name).is_file()]


def test_every_citation_names_an_existing_section() -> None:
    known = set(sections())
    cited: list[tuple[str, int]] = []
    for path in tracked_text_files():
        for number in CITATION.findall(path.read_text(encoding="utf-8", errors="replace")):
            cited.append((str(path.relative_to(REPO)), int(number)))
    assert cited, "nothing cites docs/design.md"
    assert [(where, n) for where, n in cited if n not in known] == []


def test_no_citation_of_the_blueprint_outside_the_repository() -> None:
    # The blueprint lives outside the repository; code and tests cite docs/design.md instead.
    stale = re.compile(r"\bDESIGN §\d|CONTRACTS\.md")
    offenders = [
        str(path.relative_to(REPO))
        for path in tracked_text_files()
        if path.name != "README.md" and stale.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def table_grants() -> list[tuple[str, str]]:
    """(who, role) of each numbered row of §2's grant table; who is an account id prefix or an agent's name."""
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \| `([^`]+)` \|", section(2), re.M)
    assert [int(n) for n, _, _ in rows] == list(range(1, len(rows) + 1))
    return [(who.strip().strip("`"), role) for _, who, role in rows]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_grant_table_is_what_the_program_registers(stack: str) -> None:
    run = run_program(REPO, stack)
    registered: list[tuple[str, str]] = []
    for grant in grants_of(run.resources):
        account = re.fullmatch(rf"serviceAccount:([a-z-]+)-{stack}@[a-z0-9-]+\.iam\.gserviceaccount\.com", grant.member)
        if account:
            registered.append((account.group(1), grant.role))
        else:
            assert re.fullmatch(
                r"serviceAccount:service-\d+@gcp-sa-secretmanager\.iam\.gserviceaccount\.com", grant.member
            )
            registered.append(("Secret Manager's service agent", grant.role))
    assert sorted(registered) == sorted(table_grants())
