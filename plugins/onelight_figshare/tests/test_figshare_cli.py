"""End to end through the `one` CLI and the ONE API: add-repo, upload, publish, search, list, load."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from onecore import One
from onecore.cli import cli


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_add_repo_checks_the_token(emu, article, fx, run):
    url = f"https://figshare.com/articles/dataset/Spikes/{article}/1"
    bad = run(
        "add-repo",
        "fs",
        "--type",
        "figshare",
        "--set",
        f"article={url}",
        "--set",
        f"api_url={emu.api_url}",
        "--set",
        "token=not-the-token",
    )
    assert bad.exit_code != 0
    assert f"figshare article {article}" in bad.output and "401" in bad.output and "not-the-token" not in bad.output
    ok = run(
        "add-repo",
        "fs",
        "--type",
        "figshare",
        "--set",
        f"article={url}",
        "--set",
        f"api_url={emu.api_url}",
        "--set",
        f"token={fx.GOOD}",
    )
    assert ok.exit_code == 0, ok.output
    config = Path(os.environ["ONE_HOME"]) / "config.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    shown = run("repos", "--json")
    assert fx.GOOD not in shown.output and str(article) in shown.output
    garbled = run(
        "add-repo",
        "fs2",
        "--type",
        "figshare",
        "--set",
        "article=https://figshare.com/s/abc123",
        "--set",
        f"api_url={emu.api_url}",
    )
    assert garbled.exit_code != 0 and "private link" in garbled.output


def test_upload_publish_then_search_list_load(emu, fx, run, tmp_path):
    aid = emu.create_article("alice", title="Spikes")  # no description yet: publishing fails
    root = tmp_path / "root"
    rels = fx.write_root(root)
    (root / "mylab" / "notes.txt").write_text("not ALF")
    common = ["--set", f"article={aid}", "--set", f"api_url={emu.api_url}"]
    assert run("add-repo", "up", "--type", "figshare", *common, "--set", f"token={fx.GOOD}").exit_code == 0
    res = run("upload", str(root), "--repo", "up", "-q")
    assert res.exit_code == 0, res.output
    assert f"{len(rels)} transferred" in res.output
    res = run("upload", str(root), "--repo", "up", "-q")
    assert res.exit_code == 0 and "0 transferred" in res.output and f"{len(rels)} already up to date" in res.output
    res = run("publish", "--repo", "up")
    assert res.exit_code != 0 and "description is required" in res.output and "metadata" in res.output
    emu.articles[aid].description = "Described."
    res = run("publish", "--repo", "up")
    assert res.exit_code == 0 and f"figshare article {aid}" in res.output

    # a data user: no token, the public version
    assert run("add-repo", "pub", "--type", "figshare", *common, "--set", "public=true").exit_code == 0
    res = run("search", "--repo", "pub", "spikes.times", "--json")
    assert res.exit_code == 0, res.output
    assert fx.SESSION in res.output
    res = run("list", fx.SESSION, "--repo", "pub")
    assert res.exit_code == 0 and "alf/spikes.times.npy" in res.output
    with One(repo="pub") as one:
        eids = one.search(dataset="spikes")
        assert any(str(e).endswith("mouse1/2020-01-01/001") for e in eids)
        times = one.load_dataset(fx.SESSION, "spikes.times.npy")
        np.testing.assert_array_equal(times, np.load(root / fx.SESSION / "alf/spikes.times.npy"))
    res = run("download", fx.SESSION, "--repo", "pub", "-q", "--dir", str(tmp_path / "dl"))
    assert res.exit_code == 0, res.output
    for rel in rels:
        if rel.startswith(fx.SESSION):
            assert (tmp_path / "dl" / rel).read_bytes() == (root / rel).read_bytes()


def test_add_repo_token_from_the_environment(emu, article, fx, run, monkeypatch):
    monkeypatch.setenv("MY_FIGSHARE", fx.GOOD)
    res = run(
        "add-repo",
        "ref",
        "--type",
        "figshare",
        "--set",
        f"article={article}",
        "--set",
        f"api_url={emu.api_url}",
        "--set",
        "token=${MY_FIGSHARE}",
    )
    assert res.exit_code == 0, res.output  # checked with the variable's value
    monkeypatch.setenv("FIGSHARE_TOKEN", fx.GOOD)
    res = run("add-repo", "env", "--type", "figshare", "--set", f"article={article}", "--set", f"api_url={emu.api_url}")
    assert res.exit_code == 0, res.output
    text = (Path(os.environ["ONE_HOME"]) / "config.yaml").read_text()
    assert "${MY_FIGSHARE}" in text and fx.GOOD not in text  # neither token is written to the config
    with One(repo="env", mode="local") as one:
        assert one.repository.private_reads  # the token still comes from FIGSHARE_TOKEN when used
