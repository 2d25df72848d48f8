"""Reading an uploaded data root back: the index and the files, over HTTP (base_url) and over FTP."""

from __future__ import annotations

import hashlib

import pytest
from onelight_ftp.fetcher import FTPFetcher
from onelight_ftp.testing import BIG

from onecore.errors import TransferError
from onecore.testing.secrets import PASSWORD
from onecore.transfer import HTTPFetcher, RetryPolicy, TransferItem, download, part_path

FAST = RetryPolicy(attempts=3, base_delay=0.01)


def _download_all(repo, dest, state=None, jobs=4):
    update = repo.fetch_index(state)
    assert update is not None
    rows = list(update.rows)
    assert update.problems == []
    items = [TransferItem(r.rel_path, r.url, r.size, r.md5) for r in rows]
    return update, rows, download(items, dest, repo.fetcher(), jobs=jobs, retry=FAST)


def _same_tree(root, dest, rels):
    for rel in rels:
        assert (dest / rel).read_bytes() == (root / rel).read_bytes(), rel


def test_download_over_http_with_base_url(ftp_server, http_over, data_root, make_repo, tmp_path):
    root, rels = data_root
    base_url = http_over(ftp_server.home)
    repo = make_repo(ftp_server, base_url=base_url.rstrip("/"))
    assert repo.upload(root, rels).failed == []
    update, rows, report = _download_all(repo, tmp_path / "dl")
    assert isinstance(repo.fetcher(), HTTPFetcher)
    assert all(r.url.startswith(base_url) for r in rows)
    assert report.failed == [] and sorted(report.downloaded) == rels
    _same_tree(root, tmp_path / "dl", rels)
    assert repo.fetch_index(update.state) is None  # unchanged index: nothing to rebuild


def test_download_over_ftp_without_base_url(ftp_server, data_root, make_repo, tmp_path):
    root, rels = data_root
    repo = make_repo(ftp_server)
    assert repo.upload(root, rels).failed == []
    update, rows, report = _download_all(repo, tmp_path / "dl")
    assert isinstance(repo.fetcher(), FTPFetcher)
    assert all(r.url.startswith(f"ftp://127.0.0.1:{ftp_server.port}/") for r in rows)
    assert report.failed == [] and sorted(report.downloaded) == rels
    _same_tree(root, tmp_path / "dl", rels)

    assert repo.fetch_index(update.state) is None
    (root / rels[0]).write_bytes(b"changed")
    assert repo.upload(root, rels).downloaded == [rels[0]]
    fresh = repo.fetch_index(update.state)
    assert fresh is not None and fresh.state != update.state
    assert {r.rel_path: r.size for r in fresh.rows}[rels[0]] == len(b"changed")


def test_download_over_ftps(ftps_server, data_root, make_repo, tmp_path):
    root, rels = data_root
    repo = make_repo(ftps_server)
    assert repo.upload(root, rels).failed == []
    _, _, report = _download_all(repo, tmp_path / "dl")
    assert report.failed == []
    _same_tree(root, tmp_path / "dl", rels)


def test_ftp_download_resumes_after_a_lost_connection(ftp_server, data_root, make_repo, tmp_path):
    root, rels = data_root
    repo = make_repo(ftp_server)
    assert repo.upload(root, rels).failed == []
    ftp_server.stats.reset()
    ftp_server.stats.kill_download = ("spikes.amps.npy", 1_000_000)
    _, _, report = _download_all(repo, tmp_path / "dl", jobs=2)
    assert report.failed == []
    assert ftp_server.stats.killed
    offsets = [rest for path, rest in ftp_server.stats.retr if path.endswith(BIG)]
    assert len(offsets) == 2 and offsets[0] == 0 and offsets[1] > 0  # REST: only the rest was sent again
    _same_tree(root, tmp_path / "dl", rels)


def test_ftp_fetcher_resumes_a_partial_file(ftp_server, data_root, make_repo, tmp_path):
    root, rels = data_root
    repo = make_repo(ftp_server)
    assert repo.upload(root, rels).failed == []
    dest = tmp_path / "dl"
    part = part_path(dest / BIG)
    part.parent.mkdir(parents=True)
    part.write_bytes((root / BIG).read_bytes()[:123_456])
    ftp_server.stats.reset()
    url = repo.url_for(BIG)
    size = (root / BIG).stat().st_size
    md5 = hashlib.md5((root / BIG).read_bytes()).hexdigest()  # the proof that lets a .part be resumed
    report = download([TransferItem(BIG, url, size, md5)], dest, repo.fetcher(), retry=FAST)
    assert report.failed == []
    assert ftp_server.stats.retr[-1][1] == 123_456
    assert (dest / BIG).read_bytes() == (root / BIG).read_bytes()
    stream = repo.fetcher().open(url, 1000)
    try:
        assert stream.offset == 1000 and stream.total == size
    finally:
        stream.close()  # closing early drops the connection; the next open reconnects
    assert repo.fetcher().open(url).total == size


def test_missing_file_and_missing_index_are_clear(ftp_server, make_repo, tmp_path):
    repo = make_repo(ftp_server)
    empty = repo.fetch_index(None)  # nothing uploaded yet: an empty index, so that a first upload works
    assert list(empty.rows) == [] and repo.fetch_index(empty.state) is None
    item = TransferItem("lab/Subjects/m/2020-01-01/001/alf/x.y.npy", repo.url_for("lab/x.y.npy"), 3)
    report = download([item], tmp_path / "dl", repo.fetcher(), retry=FAST)
    assert len(report.failed) == 1 and "550" in report.failed[0][1] and "no such file" in report.failed[0][1]


def test_untrusted_certificate_is_a_clear_error(ftps_server, data_root, make_repo, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    root, rels = data_root
    with pytest.raises(TransferError) as e:
        make_repo(ftps_server).upload(root, rels)
    assert "certificate" in str(e.value) and "SSL_CERT_FILE" in str(e.value)


def test_credentials_only_go_to_the_configured_server(ftp_server, make_repo):
    fetcher = make_repo(ftp_server).fetcher()
    ep, path = fetcher._target(f"ftp://127.0.0.1:{ftp_server.port}/a%23b/c.npy")
    assert ep.login == "user" and ep.password == PASSWORD and path == "/a#b/c.npy"
    other, _ = fetcher._target("ftp://elsewhere.example:2121/x")
    assert (other.host, other.port, other.login) == ("elsewhere.example", 2121, "anonymous")
    assert other.password == ""
    assert PASSWORD not in repr(ep)
