from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
PACKS = Path(__file__).parent / "packs"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def programs() -> Path:
    return PROGRAMS
