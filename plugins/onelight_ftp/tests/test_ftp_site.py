"""`one site` of an FTP repository (read over FTP, or over HTTP with base_url): every dataset listed,
download links from the index, and the link scheme kept only when a browser can follow it."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from onelight_ftp.testing import PASSWORD

from onecore.cli import cli


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.parametrize("with_http", [False, True], ids=["ftp", "http"])
def test_site_of_an_ftp_repository(ftp_server, http_over, data_root, tmp_path, with_http):
    pytest.importorskip("jinja2")
    root, rels = data_root
    sets = ["--set", f"host={ftp_server.host}", "--set", f"port={ftp_server.port}", "--set", "login=user"]
    sets += ["--set", f"password={PASSWORD}"]
    base = http_over(ftp_server.home) if with_http else None
    if base:
        sets += ["--set", f"base_url={base}"]
    _run("add-repo", "lab", "--type", "ftp", *sets)
    _run("upload", str(root), "--repo", "lab", "-q")
    out = _run("site", str(tmp_path / "site"), "--repo", "lab")
    assert f"{len(rels)} datasets" in out
    assert PASSWORD not in "".join(
        p.read_text() for p in (tmp_path / "site").rglob("*.*") if p.suffix in (".js", ".html")
    )
    listed = []
    for f in (tmp_path / "site/data/sessions").glob("*.js"):
        data = json.loads(re.fullmatch(r"ONE_SITE_SHARD\(\d+,(.*)\);\n", f.read_text(), re.S).group(1))
        for s in data["s"]:
            for d in s["d"]:
                listed.append((s["path"], d, data["dirs"][d[5]] + "/" + d[6] if d[5] >= 0 else None))
    assert len(listed) == len(rels)
    urls = [u for _, _, u in listed]
    if base:
        assert all(u and u.startswith(base) for u in urls)
    else:
        assert all(u is None or u.startswith("ftp://") for u in urls)
