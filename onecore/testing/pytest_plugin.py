"""pytest plugin (entry point ``pytest11: onecore``): fixtures for testing onecore and its plugins.

- ``one_home``: an isolated ``$ONE_HOME`` in a temporary folder (never the real ``~/.one``), with
  fast retries (``ONE_RETRY_BASE_DELAY=0.01``); returns its path.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def one_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``$ONE_HOME`` at a fresh temporary folder and make retries fast."""
    home = tmp_path / "one_home"
    home.mkdir()
    monkeypatch.setenv("ONE_HOME", str(home))
    monkeypatch.setenv("ONE_RETRY_BASE_DELAY", "0.01")
    return home
