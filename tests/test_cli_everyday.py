"""Everyday CLI use (issue 15): --mode/--offline/ONE_MODE, edit-repo/remove-repo, add-repo asking again
only for what the server refused, and messages that tell the truth (0 sessions + nearest values,
CLI wording, -q, dry-run sizes, object.attribute, '#revision#', no locks in --dir, collections)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from onecore.config import Config
from onecore.testing.servers import FileServer

from .conftest import run_cli

S1 = "nicklab/Subjects/NICK_001/2021-01-04/001"


@pytest.fixture
def configured(runner, data_root):
    run_cli(runner, "add-repo", "lab", "--type", "local", "--set", f"root_dir={data_root}")
    return data_root


@pytest.fixture
def served(runner, data_root):
    with FileServer(data_root) as server:
        run_cli(runner, "index", data_root, "--base-url", server.url)
        run_cli(runner, "add-repo", "web", "--type", "http", "--set", f"base_url={server.url}")
        yield server


def _invoke(runner, *args, env=None):
    from onecore.cli import cli

    return runner.invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


# -- --mode, --offline, ONE_MODE ------------------------------------------------------------------
@pytest.mark.parametrize("command", [["search"], ["list", S1], ["download", S1, "spikes.times", "--dry-run"]])
def test_offline_and_mode_local_make_no_request(runner, served, command):
    run_cli(runner, *command)  # builds the catalog
    served.clear_log()
    run_cli(runner, *command, "--offline")
    run_cli(runner, *command, "--mode", "local")
    assert _invoke(runner, *command, env={"ONE_MODE": "local"}).exit_code == 0
    assert served.count(method=None) == 0, [r.path for r in served.requests]
    run_cli(runner, *command, "--mode", "refresh")
    assert served.count(method=None) > 0


def test_offline_works_with_the_server_down(runner, served):
    n = len(json.loads(run_cli(runner, "search", "--json").output))
    served.stop()
    assert len(json.loads(run_cli(runner, "search", "--offline", "--json").output)) == n


def test_offline_conflicts_with_another_explicit_mode_but_wins_over_the_environment(runner, served):
    run_cli(runner, "search")  # the catalog is built
    res = _invoke(runner, "search", "--offline", "--mode", "refresh")
    assert res.exit_code == 2 and "--offline means --mode local" in res.output
    served.clear_log()
    assert _invoke(runner, "search", "--offline", env={"ONE_MODE": "refresh"}).exit_code == 0
    assert served.count(method=None) == 0
    res = _invoke(runner, "search", env={"ONE_MODE": "sometimes"})
    assert res.exit_code == 2 and "ONE_MODE" in res.output


# -- edit-repo, remove-repo -----------------------------------------------------------------------
def test_edit_repo_validates_masks_and_writes_0600(runner, served, isolated_home, tmp_path):
    cfg = isolated_home / "config.yaml"
    out = run_cli(runner, "edit-repo", "web", "--set", "login=me", "--set", "password=hunter2", "--no-check").output
    assert "hunter2" not in out and "password=****" in out
    assert Config.load().get("web").settings["password"] == "hunter2"
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    before = cfg.read_bytes()
    for bad, needle in (
        (["--set", "timeout=soon"], "timeout"),
        (["--set", "colour=blue"], "no field(s) colour"),
        (["--set", "base_url=ftp://x/"], "must start with http"),
        (["--set", "base_url=http://127.0.0.1:9/"], "127.0.0.1:9"),  # the server check fails
    ):
        res = _invoke(runner, "edit-repo", "web", *bad)
        assert res.exit_code == 1 and needle in res.output and "Traceback" not in res.output
        assert cfg.read_bytes() == before  # unchanged, byte for byte
    res = _invoke(runner, "edit-repo", "nope", "--set", "login=x")
    assert res.exit_code == 1 and "unknown repository 'nope'" in res.output
    run_cli(runner, "edit-repo", "web", "--unset", "login", "--unset", "password", "--no-check")
    assert "login" not in Config.load().get("web").settings


def test_remove_repo(runner, served, configured):
    run_cli(runner, "repo", "web")
    out = run_cli(runner, "remove-repo", "web").output
    assert "Removed repository 'web'" in out and "one repo NAME" in out
    c = Config.load()
    assert set(c.repositories) == {"lab"} and c.current is None
    res = _invoke(runner, "remove-repo", "web")
    assert res.exit_code == 1 and "unknown repository 'web'" in res.output


def test_python_functions_of_the_same_names(isolated_home, data_root, tmp_path):
    from onecore import config
    from onecore.errors import ConfigError

    config.add_repo("a", "local", {"root_dir": str(data_root)})
    with pytest.raises(ConfigError, match="already exists"):
        config.add_repo("a", "local", {"root_dir": str(data_root)})
    with pytest.raises(ConfigError, match="is not a folder"):
        config.edit_repo("a", {"root_dir": str(tmp_path / "missing")})
    assert Config.load().get("a").settings["root_dir"] == str(data_root)
    config.edit_repo("a", {"root_dir": str(tmp_path / "missing")}, check=False)
    assert Config.load().get("a").settings["root_dir"] == str(tmp_path / "missing")
    config.remove_repo("a")
    assert Config.load().repositories == {}


# -- interactive add-repo asks again only for what failed ----------------------------------------
def test_interactive_add_repo_asks_again_only_for_the_refused_fields(runner, data_root, monkeypatch):
    monkeypatch.setattr("onecore.cli_helpers.is_terminal", lambda: True)
    with FileServer(data_root, auth=("me", "right")) as server:
        run_cli(runner, "index", data_root, "--base-url", server.url)
        typed = f"web\nhttp\n{server.url}\nme\nwrong\n30\n" + "\nright\n"  # login kept, password again
        from onecore.cli import cli

        res = runner.invoke(cli, ["add-repo"], input=typed)
    assert res.exit_code == 0, res.output
    assert "The check failed" in res.output and "Enter again: login, password" in res.output
    assert res.output.count("base_url (URL") == 1 and res.output.count("timeout (read") == 1  # not asked twice
    assert "right" not in res.output and "wrong" not in res.output
    assert Config.load().get("web").settings["password"] == "right"


# -- messages -------------------------------------------------------------------------------------
def test_no_match_prints_0_sessions_and_nearest_values_on_a_terminal(runner, configured, monkeypatch):
    res = _invoke(runner, "search", "--subject", "NICK_009")
    assert res.exit_code == 0 and res.stderr.strip() == "0 sessions" and res.stdout == ""
    monkeypatch.setattr("onecore.cli._hints_enabled", lambda: True)
    res = _invoke(runner, "search", "--subject", "NICK_009", "--lab", "nicklab")
    assert "no subject 'NICK_009'; did you mean NICK_001, NICK_002?" in res.stderr
    assert "no lab" not in res.stderr  # nicklab exists
    res = _invoke(runner, "search", "spikes.time", "probe00")
    assert "0 sessions" in res.stderr and "no dataset 'spikes.time'; did you mean spikes.times" in res.stderr
    assert "probe00" not in res.stderr.replace("'spikes.time'", "")  # an existing collection: no hint
    res = _invoke(runner, "search", "--subject", "NICK_009", "--json")
    assert json.loads(res.stdout) == [] and res.stderr == ""  # --json stays clean
    assert "1 session\n" in _invoke(runner, "search", "probe01").stderr


def test_cli_errors_use_cli_wording(runner, configured):
    res = _invoke(runner, "list", "nolab/Subjects/X/2020-01-01/001")
    assert res.exit_code == 1 and "'one search'" in res.output and "search()" not in res.output


def test_download_accepts_object_attribute_and_dataset_paths(runner, configured, tmp_path):
    for wanted, n in (("spikes.times", 3), ("alf/probe00/spikes.times.npy", 1), ("spikes.times.npy", 3)):
        out = run_cli(runner, "download", S1, wanted, "--dir", tmp_path / "d", "--dry-run").output
        assert f"Dry run: {n} dataset" in out, (wanted, out)


def test_revision_with_its_hashes_is_accepted(runner, configured):
    plain = json.loads(run_cli(runner, "search", "--revision", "2021-06-01", "--json").output)
    assert plain and json.loads(run_cli(runner, "search", "--revision", "#2021-06-01#", "--json").output) == plain
    listed = run_cli(runner, "list", S1, "--revision", "#2021-06-01#", "--json").output
    assert listed == run_cli(runner, "list", S1, "--revision", "2021-06-01", "--json").output


def test_dry_run_tells_cached_from_to_download_with_sizes(runner, served, tmp_path):
    dest = tmp_path / "d"
    run_cli(runner, "download", S1, "wheel.position", "--collection", "alf", "--dir", dest, "-q")
    out = run_cli(runner, "download", S1, "wheel", "--collection", "alf", "--dir", dest, "--dry-run").output
    assert f"cached {S1}/alf/wheel.position.npy (" in out and f"would download {S1}/alf/wheel.timestamps.npy (" in out
    assert "Dry run: 2 datasets to download (" in out and "1 already cached (" in out and " KB" in out


def test_download_dir_has_no_lock_folder(runner, served, tmp_path, isolated_home):
    dest = tmp_path / "data"
    run_cli(runner, "download", S1, "--dir", dest)
    hidden = [p for p in dest.rglob(".*")]
    assert hidden == [] and (dest / S1 / "alf/wheel.position.npy").is_file()
    assert (isolated_home / "locks").is_dir()


def test_zero_matches_for_a_collection_lists_the_collections(runner, configured, tmp_path):
    res = _invoke(runner, "download", S1, "--collection", "alf/probe99", "--dir", tmp_path / "d")
    assert res.exit_code == 1 and "its collections: alf, alf/probe00, alf/probe01" in res.output
    res = _invoke(runner, "list", S1, "--collection", "alf/probe99")
    assert res.exit_code == 0 and "0 datasets" in res.stderr and "its collections: alf, alf/probe00" in res.stderr


def test_quiet_download_prints_no_line_per_file(runner, served, tmp_path):
    res = _invoke(runner, "download", S1, "--dir", tmp_path / "d", "-q")
    assert res.exit_code == 0 and res.stdout == "" and res.stderr.count("\n") == 1 and "transferred" in res.stderr
    assert "fetched" not in _invoke(runner, "download", S1, "--dir", tmp_path / "e", "--quiet").output


def test_lock_folder_is_under_one_home(tmp_path: Path, isolated_home: Path) -> None:
    from onecore.transfer import _lock_for

    lock = _lock_for(tmp_path / "dest", "a/b.npy")
    assert isolated_home in lock.path.parents and tmp_path / "dest" not in lock.path.parents
