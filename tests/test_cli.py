"""The `one` CLI: configuration commands, search/list/download, upload, and error reporting."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from onecore.config import Config

from .conftest import run_cli

S1 = "nicklab/Subjects/NICK_001/2021-01-04/001"


@pytest.fixture
def configured(runner, data_root):
    run_cli(runner, "add-repo", "lab", "--type", "local", "--set", f"root_dir={data_root}")
    return data_root


def test_add_repo_non_interactive(runner, data_root, isolated_home):
    out = run_cli(runner, "add-repo", "lab", "--type", "local", "--set", f"root_dir={data_root}").output
    assert "Added repository 'lab' (type local)" in out
    c = Config.load()
    assert c.current == "lab" and c.get("lab").settings == {"root_dir": str(data_root)}
    assert stat.S_IMODE(os.stat(isolated_home / "config.yaml").st_mode) == 0o600
    # the underscore alias, http defaults filled in, booleans/ints converted, secrets masked
    run_cli(
        runner,
        "add_repo",
        "web",
        "--type",
        "http",
        "--set",
        "base_url=http://127.0.0.1:9/data",
        "--set",
        "login=me",
        "--set",
        "password=hunter2",
        "--no-check",
        "--no-current",
    )
    web = Config.load().get("web").settings
    assert web == {"base_url": "http://127.0.0.1:9/data/", "login": "me", "password": "hunter2", "timeout": 60}
    assert Config.load().current == "lab"
    out = run_cli(runner, "repos").output
    assert "hunter2" not in out and "password=****" in out and "* lab (local)" in out
    data = json.loads(run_cli(runner, "repos", "--json").output)
    assert data[1]["settings"]["password"] == "****"


@pytest.mark.parametrize(
    "args, message",
    [
        (["lab", "--type", "local"], "the field 'root_dir' is required"),
        (["lab", "--type", "local", "--set", "root=/x"], "has no field(s) root"),
        (["lab", "--type", "nope", "--set", "a=b"], "no installed plugin provides the repository type 'nope'"),
        (["bad name", "--type", "local", "--set", "root_dir=/"], "invalid repository name"),
        (["lab", "--type", "http", "--set", "base_url=ftp://x"], "must start with http"),
        (["lab", "--type", "http", "--set", "base_url=http://x", "--set", "timeout=soon"], "timeout"),
        (["lab", "--type", "local", "--set", "root_dir"], "is not key=value"),
    ],
)
def test_add_repo_errors(runner, args, message):
    from onecore.cli import cli

    res = runner.invoke(cli, ["add-repo", *args])
    assert res.exit_code in (1, 2), res.output
    assert message in res.output
    assert "Traceback" not in res.output


def test_add_repo_checks_local_root_and_refuses_duplicates(runner, data_root, tmp_path):
    from onecore.cli import cli

    res = runner.invoke(cli, ["add-repo", "x", "--type", "local", "--set", f"root_dir={tmp_path / 'missing'}"])
    assert res.exit_code == 1 and "is not a folder" in res.output
    run_cli(runner, "add-repo", "x", "--type", "local", "--set", f"root_dir={data_root}")
    res = runner.invoke(cli, ["add-repo", "x", "--type", "local", "--set", f"root_dir={data_root}"])
    assert res.exit_code == 1 and "already exists" in res.output


def test_add_repo_interactive_prompts_for_each_field(runner, data_root, monkeypatch):
    from onecore.cli import cli

    monkeypatch.setattr("onecore.cli_helpers.is_terminal", lambda: True)
    res = runner.invoke(cli, ["add_repo"], input="web\nhttp\nhttp://127.0.0.1:9/\nme\nsecret\n30\n")
    # the http check fails (nothing listens on port 9) — but only after every field was prompted
    assert "Repository name" in res.output and "Type" in res.output and "base_url" in res.output
    assert "password" in res.output and "secret" not in res.output
    assert res.exit_code == 1 and "Traceback" not in res.output
    res = runner.invoke(cli, ["add_repo"], input=f"lab\nlocal\n{data_root}\n")
    assert res.exit_code == 0, res.output
    assert Config.load().get("lab").settings["root_dir"] == str(data_root)


def test_add_repo_without_terminal_asks_for_arguments(runner):
    from onecore.cli import cli

    res = runner.invoke(cli, ["add-repo"])
    assert res.exit_code == 1 and "give NAME and --type" in res.output


def test_repo_selection(runner, configured, tmp_path):
    from onecore.cli import cli

    assert run_cli(runner, "repo").output.strip() == "lab (local)"
    run_cli(runner, "add-repo", "two", "--type", "local", "--set", f"root_dir={configured}", "--no-current")
    run_cli(runner, "repo", "two")
    assert Config.load().current == "two"
    res = runner.invoke(cli, ["repo", "nope"])
    assert res.exit_code == 1 and "unknown repository 'nope'" in res.output
    assert Config.load().current == "two"


def test_search_list_download(runner, configured, tmp_path):
    eids = json.loads(run_cli(runner, "search", "--json").output)
    assert len(eids) == 8
    assert json.loads(run_cli(runner, "search", "probe00", "probe01", "--json").output) == [S1]
    assert json.loads(
        run_cli(
            runner, "search", "spikes.times", "--subject", "NICK_001", "--date-range", "2021-01-05", "-", "--json"
        ).output
    ) == ["nicklab/Subjects/NICK_001/2021-01-11/002"]
    assert len(json.loads(run_cli(runner, "search", "--number", "2", "--lab", "haisslab", "--json").output)) == 2
    assert json.loads(run_cli(runner, "search", "--date", "2021-01-04", "--json").output) == [
        "haisslab/Subjects/HAIS_001/2021-01-04/001",
        S1,
    ]
    det = json.loads(run_cli(runner, "search", "--details", "--json", "--collection", "alf/probe01").output)
    assert det[0]["eid"] == S1
    listed = json.loads(run_cli(runner, "list", S1, "--json").output)
    assert "alf/probe00/spikes.times.npy" in listed and "alf/#2021-06-01#/spikes.times.npy" in listed
    assert json.loads(run_cli(runner, "list", S1, "--collection", "alf/probe01", "--json").output) == [
        "alf/probe01/spikes.clusters.npy",
        "alf/probe01/spikes.times.npy",
    ]
    dry = run_cli(runner, "download", S1, "spikes", "--collection", "alf/probe00", "--dry-run").output
    assert "in place" in dry and "Dry run: 0 datasets to download" in dry  # a local repository: nothing to fetch
    dest = tmp_path / "out"
    dry = run_cli(runner, "download", S1, "spikes", "--collection", "alf/probe00", "--dir", dest, "--dry-run").output
    assert "would download" in dry and "Dry run: 2 datasets to download" in dry
    res = run_cli(runner, "download", S1, "spikes", "--collection", "alf/probe00", "--dir", dest, "-q")
    assert res.stdout == "" and res.stderr.count("\n") == 1  # -q: no line per file, one summary line
    got = dest / S1 / "alf/probe00/spikes.times.npy"
    assert got.read_bytes() == (configured / S1 / "alf/probe00/spikes.times.npy").read_bytes()
    again = run_cli(runner, "download", S1, "spikes", "--collection", "alf/probe00", "--dir", dest).output
    assert "up to date" in again and "fetched" not in again


def test_search_and_list_errors_are_clean(runner, configured):
    from onecore.cli import cli

    res = runner.invoke(cli, ["search", "--term", "colour=red"])
    assert res.exit_code == 1 and "unknown search term 'colour'" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["list", "nicklab/Subjects/NOPE/2021-01-04/001"])
    assert res.exit_code == 1 and "Error: no session" in res.output
    res = runner.invoke(cli, ["download", S1, "nothing"])
    assert res.exit_code == 1 and "objects:" in res.output
    res = runner.invoke(cli, ["publish"])
    assert res.exit_code == 1 and "has nothing to publish" in res.output
    res = runner.invoke(cli, ["search", "--repo", "ghost"])
    assert res.exit_code == 1 and "unknown repository 'ghost'" in res.output
    res = runner.invoke(cli, ["search", "--lab", "*lab"])
    assert res.exit_code == 1 and "not a valid regular expression" in res.output and "Traceback" not in res.output


def test_upload_to_a_local_mirror(runner, data_root, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    run_cli(runner, "add-repo", "mirror", "--type", "local", "--set", f"root_dir={mirror}")
    dry = run_cli(runner, "upload", data_root, "--dry-run").output
    assert "would send" in dry and "notes.txt" in dry  # listed as skipped non-ALF
    out = run_cli(runner, "upload", data_root, "--limit", "5").output
    assert "5 transferred" in out and "1 non-ALF file(s) skipped" in out
    out = run_cli(runner, "upload", data_root).output
    assert "5 already up to date" in out
    out = run_cli(runner, "upload", data_root).output
    assert "0 transferred" in out
    assert len(json.loads(run_cli(runner, "search", "--json").output)) == 8


def test_cli_entry_point_and_help_are_fast():
    import time

    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "onecore.cli", "--help"], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t0
    for cmd in (
        "add-repo",
        "check",
        "download",
        "index",
        "list",
        "plugins",
        "publish",
        "repo",
        "repos",
        "scan",
        "search",
        "upload",
    ):
        assert cmd in out.stdout
    assert elapsed < 3.0
    code = "import sys, onecore.cli; print(','.join(m for m in ('numpy', 'requests', 'sqlite3') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == ""
