"""Shared fixtures of the core tests: every test gets its own $ONE_HOME (the real ~/.one is never touched)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(one_home: Path) -> Path:
    """onecore's ``one_home`` fixture (onecore.testing.fixtures), for every core test."""
    return one_home


@pytest.fixture
def home(one_home: Path) -> Path:
    """The test's ``$ONE_HOME`` (the same folder as ``one_home``), for tests that name it so."""
    return one_home


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    from onecore.testing import make_data_root

    root = tmp_path / "root"
    make_data_root(root, n=200)
    return root


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


def run_cli(runner, *args: str, code: int = 0):  # noqa: ANN001
    from onecore.cli import cli

    result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}"
    return result
