"""Export from remote repository types: the files come through the cache (http, and ftp when installed)."""

from __future__ import annotations

from pathlib import Path

import onecore_nwb
import pytest
from click.testing import CliRunner
from onecore_nwb.checks import check_full_session, inspect_problems
from onecore_nwb.testing import SESSION

from onecore import One
from onecore.cli import cli
from onecore.scan import scan
from onecore.testing.fixtures import configure
from onecore.testing.servers import FileServer

SUBJECT = {"species": "Mus musculus", "sex": "F", "age": "P90D"}


def _run(*args: str) -> None:
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output


def test_export_from_http(root: Path, one_home: Path, tmp_path: Path) -> None:
    with FileServer(root) as server:
        _run("index", str(root), "--base-url", server.url)
        _run("add-repo", "web", "--type", "http", "--set", f"base_url={server.url}")
        server.clear_log()
        with One(repo="web") as one:
            path = onecore_nwb.export(one, SESSION, tmp_path / "out", subject=SUBJECT)
            fetched = {r.path for r in server.requests_for() if r.path != ".one_root"}
            assert any(p.endswith("spikes.times.npy") for p in fetched)
            cache = one.repository.data_dir
            assert (cache / SESSION / "alf" / "probe00" / "spikes.times.npy").is_file()
            assert not (cache / SESSION / "raw_ephys_data").exists()  # non-array datasets are not fetched
            check_full_session(one, path)
    assert inspect_problems(path)[0] == []


def test_export_from_ftp(root: Path, one_home: Path, tmp_path: Path) -> None:
    pytest.importorskip("onelight_ftp")
    from onelight_ftp import FTPRepository
    from onelight_ftp.testing import FTPTestServer

    with FTPTestServer(tmp_path / "ftp_home") as server:
        repo = FTPRepository("ftpdata", server.settings(), home=one_home)
        try:
            assert repo.upload(root, sorted(scan(root))).failed == []
            configure(repo)
        finally:
            repo.close()
        before = len(server.stats.retr)
        with One(repo="ftpdata") as one:
            path = onecore_nwb.export(one, SESSION, tmp_path / "out", subject=SUBJECT)
            assert any("spikes.times.npy" in p for p, _ in server.stats.retr[before:])
            check_full_session(one, path)
    assert path.name == "sub-KS-023_ses-2024-01-02-001_behavior.nwb"
