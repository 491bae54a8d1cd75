"""docs/design.md stays true: it links to the code (tests/docs resolves every link), every `docs/design.md §N`
citation names a section that exists, and its grant tables (§2) are the IAM the real program registers for
every stack: the ten grants every environment has, and exactly what each stack's config adds."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from secure_invoke.preflight import run_program
from secure_invoke.settings import Settings
from tests.docs.markdown import links, table_with_header
from tests.stack.cases import REPO, STACKS, overrides_as_config, settings_of, stack_config
from tests.stack.expected import expected_grants, registered_grants

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


CONFIGURED_HEADER = ["when", "member", "role", "on", "made by"]
CALLERS = [
    {"name": "nightly", "kind": "scheduler", "schedule": "0 3 * * *", "job": {"task": "primes"}},
    {"name": "billing", "kind": "pubsub-push", "topic": "billing-events"},
    {"name": "batch", "kind": "cloud-tasks"},
    {"name": "orchestrate", "kind": "workflows"},
    {"name": "ledger", "kind": "service-account", "email": "ledger-runtime@other-proj-123.iam.gserviceaccount.com"},
]


@pytest.mark.parametrize("stack", STACKS)
def test_grant_table_is_what_the_program_registers(stack: str) -> None:
    cfg = settings_of(stack)
    run = run_program(REPO, stack)
    expected = expected_grants(cfg, run)
    registered = set(registered_grants(run))
    # What the config adds is exactly what its settings say; the rest is the numbered table.
    assert registered == expected.all
    rows: list[tuple[str, str]] = []
    for member, role, _ in registered - expected.configured:
        account = re.fullmatch(
            rf"serviceAccount:([a-z-]+)-{cfg.environment}@{cfg.project}\.iam\.gserviceaccount\.com", member
        )
        if account:
            rows.append((account.group(1), role))
        else:
            assert re.fullmatch(r"serviceAccount:service-\d+@gcp-sa-secretmanager\.iam\.gserviceaccount\.com", member)
            rows.append(("Secret Manager's service agent", role))
    assert sorted(rows) == sorted(table_grants())


def test_every_kind_of_configured_grant_has_its_row() -> None:
    # Everything the config can add at once: operator access, a caller of each kind, the legacy agent.
    stack = STACKS[0]
    soon = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    overrides = {
        "operatorAccess": [{"principal": "group:oncall@acme.com", "expires": soon, "reason": "INC-1"}],
        "operatorAccessMaxDays": 7,
        "callers": CALLERS,
        "legacyPubsubServiceAgent": True,
    }
    cfg = Settings.from_config(stack_config(stack, **overrides))
    run = run_program(REPO, stack, overrides_as_config(overrides))
    expected = expected_grants(cfg, run)
    assert set(registered_grants(run)) == expected.all
    rows = table_with_header(section(2), CONFIGURED_HEADER)
    assert {row[2].strip("`") for row in rows} == {role for _, role, _ in expected.configured}
