"""The plugin's `one zip-root` command, then the new type used from the CLI like any other."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from onecore.cli import cli


def test_zip_root_then_add_repo_search_download(
    alf_data_root: Path, one_home: Path, tmp_path: Path, plugin_registry
) -> None:
    plugin_registry("example")  # one_register_commands is read by the CLI from this registry
    runner = CliRunner()
    archive = tmp_path / "data.zip"
    res = runner.invoke(cli, ["zip-root", str(alf_data_root), str(archive)])
    assert res.exit_code == 0, res.output
    assert "datasets" in res.output and archive.is_file()
    res = runner.invoke(cli, ["add-repo", "shared", "--type", "zipfile", "--set", f"archive={archive}"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["search", "spikes.times", "--json"])
    assert res.exit_code == 0, res.output
    eids = json.loads(res.stdout)
    assert len(eids) == 8
    res = runner.invoke(cli, ["download", eids[0], "wheel", "--dir", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 0, res.output
    assert list((tmp_path / "out").rglob("wheel.position.npy"))


def test_add_repo_refuses_a_missing_archive(one_home: Path, tmp_path: Path, plugin_registry) -> None:
    plugin_registry("example")
    res = CliRunner().invoke(
        cli, ["add-repo", "shared", "--type", "zipfile", "--set", f"archive={tmp_path / 'nope.zip'}"]
    )
    assert res.exit_code == 1
    assert "nope.zip" in res.output and "is not a file" in res.output and "Traceback" not in res.output
