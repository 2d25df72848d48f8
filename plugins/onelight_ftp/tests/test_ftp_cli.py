"""End to end through the ``one`` command line and the ``One`` API: add-repo, upload, search, load."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from onelight_ftp.testing import BIG, PASSWORD

from onecore import One
from onecore.cli import cli


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.parametrize("with_http", [False, True], ids=["ftp", "http"])
def test_cli_upload_then_one_loads(ftp_server, http_over, data_root, tmp_path, with_http, _one_home):
    root, rels = data_root
    sets = [
        "--set",
        f"host={ftp_server.host}",
        "--set",
        f"port={ftp_server.port}",
        "--set",
        "login=user",
        "--set",
        f"password={PASSWORD}",
    ]
    if with_http:
        sets += ["--set", f"base_url={http_over(ftp_server.home)}"]
    _run("add-repo", "lab", "--type", "ftp", *sets)
    assert PASSWORD not in _run("repos")
    assert oct((_one_home / "config.yaml").stat().st_mode & 0o777) == "0o600"

    out = _run("upload", str(root), "--repo", "lab", "--dry-run")
    assert f"would send {BIG}" in out and ftp_server.stats.stor == []
    out = _run("upload", str(root), "--repo", "lab", "-q")
    assert f"{len(rels)} transferred" in out and "1 non-ALF file(s) skipped" in out
    out = _run("upload", str(root), "--repo", "lab", "-q")
    assert "0 transferred" in out and f"{len(rels)} already up to date" in out

    one = One(repo="lab")
    try:
        eids = one.search(dataset="spikes.amps")
        assert eids and str(eids[0]).startswith("labA/Subjects/mouse1/2021-03-01/001")
        datasets = one.list_datasets(eids[0])
        assert "alf/probe00/spikes.amps.npy" in [str(d) for d in datasets]
        report = one.download(eids[0])
        for rel, path in report.paths.items():
            assert path.read_bytes() == (root / rel).read_bytes()
        assert (one.repository.data_dir / BIG).read_bytes() == (root / BIG).read_bytes()
    finally:
        one.close()


def test_cli_login_refused_is_one_clear_line(ftp_server, data_root):
    root, _ = data_root
    _run(
        "add-repo",
        "bad",
        "--type",
        "ftp",
        "--no-check",
        "--set",
        f"host={ftp_server.host}",
        "--set",
        f"port={ftp_server.port}",
        "--set",
        "login=user",
        "--set",
        "password=nope",
    )
    result = CliRunner().invoke(cli, ["upload", str(root), "--repo", "bad", "-q"])
    assert result.exit_code != 0
    assert "refused the login of user 'user'" in result.output and "Traceback" not in result.output
    assert "nope" not in result.output
