"""`one upload --describe` writes an HTML summary into the article's description (as ONE light did),
which then lets the article be published; `one site` of a figshare article links its download URLs."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from onecore.cli import cli


def _run(*args: str, code: int = 0):  # noqa: ANN202
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert res.exit_code == code, res.output
    return res


def test_upload_describe_then_publish_and_site(emu, fx, tmp_path):
    pytest.importorskip("jinja2")
    aid = emu.create_article("alice", title="Spikes")  # no description: publishing would fail
    root = tmp_path / "root"
    rels = fx.write_root(root)
    common = ["--set", f"article={aid}", "--set", f"api_url={emu.api_url}"]
    _run("add-repo", "up", "--type", "figshare", *common, "--set", f"token={fx.GOOD}")
    res = _run("upload", str(root), "--repo", "up", "-q", "--describe")
    assert f"into the description of figshare article {aid}" in res.output
    text = emu.articles[aid].description
    assert "2 sessions" in text and f"{len(rels)} datasets" in text and " kB" in text
    assert f"<li>{fx.SESSION} (" in text  # names are escaped: see tests/test_site.py
    assert "<code>spikes.times</code>" in text
    _run("publish", "--repo", "up")  # the description figshare requires is there

    _run("add-repo", "pub", "--type", "figshare", *common, "--set", "public=true")
    _run("site", str(tmp_path / "site"), "--repo", "pub")
    shard = (tmp_path / "site/data/sessions/0.js").read_text()
    data = json.loads(re.fullmatch(r"ONE_SITE_SHARD\(0,(.*)\);\n", shard, re.S).group(1))
    urls = [data["dirs"][d[5]] + "/" + d[6] for s in data["s"] for d in s["d"]]
    assert len(urls) == len(rels)
    assert all(u.startswith(emu.base_url + "/ndownloader/files/") for u in urls)


def test_describe_is_refused_where_there_is_no_description(emu, fx, tmp_path):
    aid = emu.create_article("alice", title="Spikes")
    root = tmp_path / "root"
    fx.write_root(root, n_small=2)
    common = ["--set", f"article={aid}", "--set", f"api_url={emu.api_url}"]
    _run("add-repo", "up", "--type", "figshare", *common, "--set", f"token={fx.GOOD}")
    _run("add-repo", "mirror", "--type", "local", "--set", f"root_dir={tmp_path / 'mirror'}", "--no-check")
    res = _run("upload", str(root), "--repo", "mirror", "--describe", code=1)
    assert "has no description to write" in res.output and "Traceback" not in res.output
    _run("upload", str(root), "--repo", "up", "--describe", "--dry-run")
    assert emu.articles[aid].description == ""  # a dry run writes nothing
