"""Fixtures: a generated ALF data root (see onecore_nwb.testing) and helpers to read exports back."""

from __future__ import annotations

from pathlib import Path

import pytest
from onecore_nwb.testing import make_session


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_session(root)
    return root
