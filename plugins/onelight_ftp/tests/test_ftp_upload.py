"""Uploading a data root to a real FTP/FTPS server: incremental, resumable, index last, clear errors."""

from __future__ import annotations

import pytest
from onelight_ftp.testing import BIG, PASSWORD, READER, READER_PASSWORD

from onecore.errors import AuthError
from onecore.index import read_one_root
from onecore.upload import part_name


def _index(home):
    path = home / ".one_index.tsv"
    return {d.rel_path: d for d in read_one_root(path.read_text().splitlines())} if path.exists() else None


def _same(root, home, rels):
    for rel in rels:
        remote = home / rel
        assert remote.is_file(), f"{rel} is missing on the server"
        assert remote.read_bytes() == (root / rel).read_bytes(), f"{rel} differs on the server"


def _parts(home):
    return sorted(str(p.relative_to(home)) for p in home.rglob("*.part"))


@pytest.mark.parametrize("server_fixture", ["ftp_server", "ftps_server"])
def test_upload_then_unchanged_then_one_change(request, server_fixture, data_root, make_repo):
    server = request.getfixturevalue(server_fixture)
    root, rels = data_root
    repo = make_repo(server)

    report = repo.upload(root, rels)
    assert report.failed == []
    assert sorted(report.downloaded) == rels
    _same(root, server.home, rels)
    assert not (server.home / "labA" / "README.txt").exists()
    assert _parts(server.home) == []
    index = _index(server.home)
    assert sorted(index) == rels
    big = index[BIG]
    assert big.size == (root / BIG).stat().st_size and len(big.md5) == 32
    assert big.url == f"ftp://127.0.0.1:{server.port}/{BIG}"
    text = (server.home / ".one_root").read_text() + (server.home / ".one_index.tsv").read_text()
    assert PASSWORD not in text and "@" not in text  # no credentials in URLs
    assert "%23" in text  # the '#revision#' folder is percent-encoded in URLs

    server.stats.reset()
    again = repo.upload(root, rels)
    assert again.failed == [] and again.downloaded == []
    assert sorted(again.skipped) == rels
    assert server.stats.stor == []  # nothing sent, not even the index

    changed = rels[3]
    (root / changed).write_bytes((root / changed).read_bytes() + b"more")
    server.stats.reset()
    third = repo.upload(root, rels)
    assert third.downloaded == [changed] and third.failed == []
    folder, name = changed.rsplit("/", 1)
    assert server.stats.stored("lab") == [str(server.home / folder / f".{name}.part")]
    # only the companion changes (a size and an md5); .one_root (paths and URLs) is not sent again
    assert server.stats.stored("one_") == [str(server.home / "..one_index.tsv.part")]
    _same(root, server.home, rels)
    assert _index(server.home)[changed].size == (root / changed).stat().st_size


def test_server_without_mlsd_or_replacing_rename(ftp_server, data_root, make_repo):
    ftp_server.stats.no_mlsd = ftp_server.stats.no_replace = True
    root, rels = data_root
    repo = make_repo(ftp_server)
    assert repo.upload(root, rels).failed == []
    again = repo.upload(root, rels)
    assert again.downloaded == [] and sorted(again.skipped) == rels
    changed = rels[-1]
    (root / changed).write_bytes(b"new content")
    third = repo.upload(root, rels)
    assert third.downloaded == [changed] and third.failed == []
    _same(root, ftp_server.home, rels)


def test_dry_run_sends_nothing(ftp_server, data_root, make_repo):
    root, rels = data_root
    report = make_repo(ftp_server).upload(root, rels, dry_run=True)
    assert sorted(report.downloaded) == rels
    assert report.bytes == sum((root / r).stat().st_size for r in rels)
    assert ftp_server.stats.stor == []
    assert list(ftp_server.home.iterdir()) == []


def test_remote_root_subfolder_is_created(ftp_server, data_root, make_repo):
    root, rels = data_root
    repo = make_repo(ftp_server, remote_root="pub/one/")
    assert repo.settings["remote_root"] == "/pub/one"
    report = repo.upload(root, rels[:4], jobs=1)
    assert report.failed == []
    _same(root, ftp_server.home / "pub" / "one", rels[:4])
    index = _index(ftp_server.home / "pub" / "one")
    assert index[rels[0]].url.startswith(f"ftp://127.0.0.1:{ftp_server.port}/pub/one/labA/")


def test_connection_killed_mid_file_then_rerun_resumes(ftp_server, data_root, make_repo, monkeypatch):
    root, rels = data_root
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "1")  # the first run gives up on the killed file
    ftp_server.stats.kill_upload = ("spikes.amps.npy.part", 1_000_000)
    repo = make_repo(ftp_server)

    first = repo.upload(root, rels)
    assert [rel for rel, _ in first.failed] == [BIG]
    assert "connection" in first.failed[0][1]
    assert ftp_server.stats.killed
    assert not (ftp_server.home / BIG).exists()  # never truncated under its final name
    partial = ftp_server.home / (part_name(BIG))
    assert 0 < partial.stat().st_size < (root / BIG).stat().st_size
    index = _index(ftp_server.home)
    assert BIG not in index and len(index) == len(rels) - 1  # the index lists what is really there

    ftp_server.stats.reset()
    second = repo.upload(root, rels)
    assert second.downloaded == [BIG] and second.failed == []
    ((cmd, path, rest),) = ftp_server.stats.stor[:1]
    assert path.endswith(part_name(BIG)) and (rest > 0 or cmd == "APPE")  # resumed, not re-sent
    _same(root, ftp_server.home, rels)
    assert sorted(_index(ftp_server.home)) == rels


def test_connection_killed_mid_file_is_retried_in_the_same_run(ftp_server, data_root, make_repo):
    root, rels = data_root
    ftp_server.stats.kill_upload = ("spikes.amps.npy.part", 1_500_000)
    report = make_repo(ftp_server).upload(root, rels)
    assert report.failed == []
    resumed = [rest for _, path, rest in ftp_server.stats.stor if path.endswith(part_name(BIG))]
    assert len(resumed) == 2 and resumed[0] == 0 and resumed[1] > 0
    _same(root, ftp_server.home, rels)


def test_login_refused_names_host_and_user(ftp_server, data_root, make_repo):
    root, rels = data_root
    repo = make_repo(ftp_server, password="wrong-pw")
    with pytest.raises(AuthError) as e:
        repo.upload(root, rels)
    msg = str(e.value)
    assert f"127.0.0.1:{ftp_server.port}" in msg and "'user'" in msg and "530" in msg
    assert "wrong-pw" not in msg and "wrong-pw" not in repr(repo)
    with pytest.raises(AuthError):
        repo.check()


def test_permission_denied_fails_each_file_clearly(ftp_server, data_root, make_repo):
    root, rels = data_root
    repo = make_repo(ftp_server, login=READER, password=READER_PASSWORD)
    report = repo.upload(root, rels)
    assert sorted(r for r, _ in report.failed) == rels
    for rel, msg in report.failed:
        assert rel in msg and "550" in msg and "permission denied" in msg
    assert report.downloaded == []
    assert not (ftp_server.home / ".one_root").exists()  # no index listing what is not there


def test_disk_full_is_clear_and_index_stays_consistent(ftp_server, data_root, make_repo):
    root, rels = data_root
    ftp_server.stats.disk_full = ("spikes.amps.npy", 500_000)
    report = make_repo(ftp_server).upload(root, rels)
    assert [r for r, _ in report.failed] == [BIG]
    msg = report.failed[0][1]
    assert BIG in msg and "no space left" in msg
    assert sorted(report.downloaded) == sorted(set(rels) - {BIG})
    assert not (ftp_server.home / BIG).exists()
    assert sorted(_index(ftp_server.home)) == sorted(set(rels) - {BIG})


def test_check(ftp_server, make_repo):
    make_repo(ftp_server).check()
    (ftp_server.home / "data").mkdir()
    make_repo(ftp_server, remote_root="/data").check()
    from onecore.errors import ConfigError

    make_repo(ftp_server, remote_root="/missing").check()  # created
    assert (ftp_server.home / "missing").is_dir()
    with pytest.raises(ConfigError, match="remote_root '/absent'"):
        make_repo(ftp_server, remote_root="/absent", login=READER, password=READER_PASSWORD).check()
