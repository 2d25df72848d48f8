"""The plugin author's kit: the example plugin found through its entry point, and the fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from onecore import hookimpl
from onecore.cli import cli
from onecore.errors import PluginError

EXAMPLE = {"name": "example", "distribution": "onecore-example-plugin", "version": "0.1.0"}
EXAMPLE_HOOKS = ["one_register_commands", "one_register_loaders", "one_register_repository_types"]


def _one_executable() -> str:
    return str(Path(sys.executable).with_name("one"))


def test_example_plugin_is_found_through_its_entry_point(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ONE_PLUGINS"}
    env["ONE_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [_one_executable(), "plugins", "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    found = {p["name"]: p for p in json.loads(out)}
    assert "example" in found, out
    assert {k: found["example"][k] for k in EXAMPLE} == EXAMPLE
    assert found["example"]["hooks"] == EXAMPLE_HOOKS
    text = subprocess.run(
        [_one_executable(), "plugins"], env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "example (onecore-example-plugin 0.1.0)" in text and "zipfile (example)" in text


def test_one_plugins_restricted_by_env(one_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONE_PLUGINS", "none")
    res = CliRunner().invoke(cli, ["plugins", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == []
    monkeypatch.setenv("ONE_PLUGINS", "example")
    from onecore.plugins import set_registry

    set_registry(None)
    res = CliRunner().invoke(cli, ["plugins", "--json"])
    assert [p["name"] for p in json.loads(res.stdout)] == ["example"]


def test_one_home_is_isolated(one_home: Path) -> None:
    from onecore.config import home

    assert home() == one_home and one_home.is_dir() and not any(one_home.iterdir())
    assert os.environ["ONE_RETRY_BASE_DELAY"] == "0.01"


def test_alf_data_root_is_generated(alf_data_root: Path) -> None:
    from onecore.scan import check, scan

    paths = list(scan(alf_data_root))
    assert len(paths) == 85
    assert [p for p, _ in check(alf_data_root)] == ["nicklab/Subjects/NICK_001/2021-01-04/001/notes.txt"]


def test_plugin_registry_has_only_the_named_plugins(one_home: Path, plugin_registry) -> None:
    from onecore.plugins import get_registry

    bare = plugin_registry()
    assert set(bare.repository_types) == {"local", "http"}
    assert get_registry() is bare, "the registry is installed process-wide for the test"
    reg = plugin_registry("example")
    assert set(reg.repository_types) == {"local", "http", "zipfile"}
    assert reg.loader("npz") is not None


def test_plugin_registry_reports_conflicts_by_name(one_home: Path, plugin_registry) -> None:
    class Twin:
        @hookimpl
        def one_register_loaders(self, register: Callable) -> None:
            register("npz", lambda path, **_: None)

    reg = plugin_registry("example", Twin())  # the conflict disables '.npz' only
    with pytest.raises(PluginError, match="npz"):
        reg.loader("npz")
    assert reg.loader("npy") is not None


def test_pytest_plugin_imports_stay_light() -> None:
    code = (
        "import sys, onecore.testing.pytest_plugin; "
        "heavy = [m for m in ('numpy', 'requests', 'sqlite3', 'yaml', 'onecore.api') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
