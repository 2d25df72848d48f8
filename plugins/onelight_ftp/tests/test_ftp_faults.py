"""The fault matrix of the FTP transfer paths: downloads straight over FTP, and uploads.

Each cell injects one fault into a real ``pyftpdlib`` server (or our side's disk) and checks, after it:
no file with wrong content under its final name (locally and, for uploads, on the server), no index
listing what is not there, one clear message naming the failed file, and a re-run that completes the
job byte-identical. FTP has no HTTP statuses; the equivalents are said in each test's docstring.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from onelight_ftp import FTPRepository
from onelight_ftp.testing import BIG, FTPTestServer

from onecore.errors import OneError
from onecore.index import read_one_root
from onecore.testing.disk import full_dir, read_only_dir
from onecore.testing.faults import assert_complete, assert_nothing_wrong, failed_names
from onecore.testing.faults import final_files as local_files
from onecore.transfer import RetryPolicy, TransferItem, download, part_path
from onecore.upload import part_name


def policy(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0.01)


# -- helpers -----------------------------------------------------------------------------------
def remote_index(home: Path) -> dict[str, object]:
    path = home / ".one_index.tsv"
    return {d.rel_path: d for d in read_one_root(path.read_text().splitlines())} if path.exists() else {}


def assert_remote_consistent(home: Path, root: Path) -> None:
    """On the server: the index lists only files that are there with its size and md5, and every other
    file under its final name is a whole copy of the local one (never a mix of versions)."""
    index = remote_index(home)
    for rel, row in index.items():
        remote = home / rel
        assert remote.is_file(), f"the index lists {rel}, which is not on the server"
        data = remote.read_bytes()
        assert len(data) == row.size and hashlib.md5(data).hexdigest() == row.md5, f"{rel} differs from its row"
    for p in home.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            rel = p.relative_to(home).as_posix()
            if rel not in index:
                assert p.read_bytes() == (root / rel).read_bytes(), f"{rel} has wrong content on the server"


class Ctx:
    """An uploaded data root on a running FTP server, and helpers to download it again."""

    def __init__(self, tmp_path: Path, server: FTPTestServer, root: Path, rels: list[str]):
        self.tmp_path, self.server, self.root, self.rels = tmp_path, server, root, rels
        self.repos: list[FTPRepository] = []

    def repo(self, **extra: object) -> FTPRepository:
        r = FTPRepository("ftpfaults", self.server.settings(**extra), home=self.tmp_path / "one_home")
        self.repos.append(r)
        return r

    def items(self) -> list[TransferItem]:
        update = self.repo().fetch_index(None)
        assert update is not None
        return [TransferItem(r.rel_path, r.url, r.size, r.md5) for r in update.rows]

    def download(self, dest: Path, attempts: int = 3, progress=None, **extra: object):  # noqa: ANN001, ANN201
        return download(
            self.items(), dest, self.repo(**extra).fetcher(), jobs=2, retry=policy(attempts), progress=progress
        )

    def close(self) -> None:
        for r in self.repos:
            r.close()


@pytest.fixture
def ctx(tmp_path: Path, ftp_server: FTPTestServer, data_root: tuple[Path, list[str]]):
    root, rels = data_root
    c = Ctx(tmp_path, ftp_server, root, rels)
    assert c.repo().upload(root, rels).failed == []
    ftp_server.stats.reset()
    yield c
    c.close()


# ================================================================================================
# Downloads, straight over FTP
# ================================================================================================
def test_download_connection_dropped_mid_file(ctx: Ctx) -> None:
    """The control and data connections are killed part way through the big file; with one attempt
    the run fails that file clearly and keeps the ``.part``; the re-run resumes it (``REST``)."""
    ctx.server.stats.kill_download = ("spikes.amps.npy", 1_000_000)
    dest = ctx.tmp_path / "dl"
    report = ctx.download(dest, attempts=1)
    assert failed_names(report) == [BIG] and "connection" in report.failed[0][1]
    assert_nothing_wrong(dest, ctx.root)
    assert part_path(dest / BIG).stat().st_size > 0
    ctx.server.stats.reset()
    assert ctx.download(dest).ok
    assert_complete(dest, ctx.root, ctx.rels)
    assert [rest for path, rest in ctx.server.stats.retr if path.endswith(BIG)][0] > 0  # resumed


def test_download_resume_of_a_file_changed_on_the_server_is_not_spliced(ctx: Ctx) -> None:
    """Issue 13 item 1 over FTP: size-only rows (no md5), the big file cut part way, then replaced on the
    server by another version of the same size; the re-run must not resume the old .part with the new
    bytes (MDTM/SIZE recorded with the .part prove the version), and ends with the new version."""
    items = [TransferItem(i.rel_path, i.url, i.size, None) for i in ctx.items()]
    fetcher = ctx.repo().fetcher()
    ctx.server.stats.kill_download = ("spikes.amps.npy", 1_000_000)
    dest = ctx.tmp_path / "dl"
    report = download(items, dest, fetcher, jobs=2, retry=policy(1))
    assert failed_names(report) == [BIG] and part_path(dest / BIG).stat().st_size > 0
    remote = ctx.server.home / BIG
    new = bytes(b ^ 0xFF for b in remote.read_bytes())
    remote.write_bytes(new)
    st = remote.stat()
    os.utime(remote, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000_000))
    ctx.server.stats.reset()
    assert download(items, dest, ctx.repo().fetcher(), jobs=2, retry=policy()).ok
    assert (dest / BIG).read_bytes() == new
    assert [rest for path, rest in ctx.server.stats.retr if path.endswith(BIG)] == [0]  # started over


def test_download_wrong_bytes(ctx: Ctx) -> None:
    """The server's copy changed (same size, other bytes) after the index was written: md5 refused."""
    remote = ctx.server.home / BIG
    good = remote.read_bytes()
    remote.write_bytes(bytes(b ^ 0xFF for b in good[:4096]) + good[4096:])
    dest = ctx.tmp_path / "dl"
    report = ctx.download(dest)
    assert failed_names(report) == [BIG] and "md5" in report.failed[0][1]
    assert not (dest / BIG).exists() and not part_path(dest / BIG).exists()
    assert_nothing_wrong(dest, ctx.root)
    remote.write_bytes(good)
    assert ctx.download(dest).ok
    assert_complete(dest, ctx.root, ctx.rels)


def test_download_short_body(ctx: Ctx) -> None:
    """FTP's short body: the server closes the data connection early and says ``226 Transfer complete``.
    Once: the size check catches it and the same run resumes. Then always: a clear failure, re-run ok."""
    ctx.server.stats.short_download = ("spikes.amps.npy", 500_000)
    dest = ctx.tmp_path / "dl"
    assert ctx.download(dest).ok
    assert_complete(dest, ctx.root, ctx.rels)
    offsets = [rest for path, rest in ctx.server.stats.retr if path.endswith(BIG)]
    assert len(offsets) == 2 and offsets[1] >= 500_000

    dest2 = ctx.tmp_path / "dl2"
    ctx.server.stats.short_download = ("spikes.amps.npy", 500_000)
    report = ctx.download(dest2, attempts=1)
    assert failed_names(report) == [BIG]
    assert_nothing_wrong(dest2, ctx.root)
    assert ctx.download(dest2).ok
    assert_complete(dest2, ctx.root, ctx.rels)


def test_download_busy_replies(ctx: Ctx) -> None:
    """FTP's 429/5xx: ``421``/``451`` replies to ``RETR``. A burst shorter than the retries is absorbed;
    a longer one fails the file clearly (the reply is quoted); the re-run completes."""
    ctx.server.stats.refuse = ("spikes.times.npy", "451 Local error in processing, try later.", 2)
    dest = ctx.tmp_path / "dl"
    assert ctx.download(dest, attempts=4).ok
    assert_complete(dest, ctx.root, ctx.rels)

    ctx.server.stats.refuse = (BIG, "421 Service not available, closing control connection.", 10)
    dest2 = ctx.tmp_path / "dl2"
    report = ctx.download(dest2, attempts=2)
    assert failed_names(report) == [BIG] and "421" in report.failed[0][1]
    assert_nothing_wrong(dest2, ctx.root)
    ctx.server.stats.refuse = None
    assert ctx.download(dest2).ok
    assert_complete(dest2, ctx.root, ctx.rels)


def test_download_server_gone_for_good(ctx: Ctx, tmp_path: Path) -> None:
    """The server stops in the middle of a batch (from the progress callback) and does not come back:
    the files left fail clearly; a server started again on the same port lets the re-run complete."""
    items = ctx.items()
    repo = ctx.repo()
    stopped = []

    def progress(p) -> None:  # noqa: ANN001
        if p.files_done >= 3 and not stopped:
            stopped.append(True)
            ctx.server.stop()

    dest = tmp_path / "dl"
    report = download(items, dest, repo.fetcher(), jobs=1, retry=policy(2), progress=progress)
    assert stopped and report.failed and len(report.downloaded) >= 3
    failed_names(report)
    assert all("connect" in msg for _, msg in report.failed)
    assert_nothing_wrong(dest, ctx.root)
    with FTPTestServer(ctx.server.home, port=ctx.server.port):
        report = download(items, dest, ctx.repo().fetcher(), jobs=2, retry=policy())
        assert report.ok, report.failed
    assert_complete(dest, ctx.root, ctx.rels)


def test_download_read_timeout(ctx: Ctx) -> None:
    """The server never answers ``RETR``: the client times out (timeout=1 s), retries on a new connection."""
    ctx.server.stats.hang = ("spikes.clusters.npy", 1)
    dest = ctx.tmp_path / "dl"
    assert ctx.download(dest, timeout=1).ok
    assert_complete(dest, ctx.root, ctx.rels)

    ctx.server.stats.hang = (BIG, 5)
    dest2 = ctx.tmp_path / "dl2"
    report = ctx.download(dest2, attempts=2, timeout=1)
    assert failed_names(report) == [BIG] and "timed out" in report.failed[0][1]
    assert_nothing_wrong(dest2, ctx.root)
    ctx.server.stats.hang = None
    assert ctx.download(dest2).ok
    assert_complete(dest2, ctx.root, ctx.rels)


@pytest.mark.parametrize("disk", ["read_only", "full"])
def test_download_disk_write_failure(ctx: Ctx, disk: str) -> None:
    """Our side cannot write: a read-only cache folder, or one on a full disk (a 256 KiB tmpfs)."""
    dest = ctx.tmp_path / "dl"
    with read_only_dir(dest) if disk == "read_only" else full_dir(dest, 256 * 1024):
        report = ctx.download(dest)
        names = failed_names(report)
        assert names
        if disk == "read_only":
            assert names == ctx.rels and all("Read-only" in m or "ermission" in m for _, m in report.failed)
        else:
            assert BIG in names and any("No space" in m for _, m in report.failed)
        assert_nothing_wrong(dest, ctx.root)
    assert ctx.download(dest).ok
    assert_complete(dest, ctx.root, ctx.rels)


def test_download_interrupted(ctx: Ctx) -> None:
    """KeyboardInterrupt in the middle of a batch (raised by the progress callback) stops it at once."""
    dest = ctx.tmp_path / "dl"

    def progress(p) -> None:  # noqa: ANN001
        if p.bytes_done > 200_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ctx.download(dest, progress=progress)
    assert_nothing_wrong(dest, ctx.root)
    assert len(local_files(dest)) < len(ctx.rels)
    assert ctx.download(dest).ok
    assert_complete(dest, ctx.root, ctx.rels)


# ================================================================================================
# Uploads
# ================================================================================================
@pytest.fixture
def up(tmp_path: Path, ftp_server: FTPTestServer, data_root: tuple[Path, list[str]], monkeypatch):  # noqa: ANN001
    root, rels = data_root
    c = Ctx(tmp_path, ftp_server, root, rels)
    yield c
    c.close()


def upload_ok(c: Ctx, **extra: object) -> None:
    """A re-run completes: everything on the server, byte-identical, listed by the index."""
    report = c.repo(**extra).upload(c.root, c.rels)
    assert report.failed == [], report.failed
    assert_remote_consistent(c.server.home, c.root)
    assert sorted(remote_index(c.server.home)) == c.rels
    for rel in c.rels:
        assert (c.server.home / rel).read_bytes() == (c.root / rel).read_bytes()


def test_upload_connection_dropped_mid_file(up: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection is killed during the big file; one attempt: it fails clearly; the re-run resumes."""
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "1")
    up.server.stats.kill_upload = ("spikes.amps.npy.part", 1_000_000)
    report = up.repo().upload(up.root, up.rels)
    assert failed_names(report) == [BIG]
    assert_remote_consistent(up.server.home, up.root)
    assert BIG not in remote_index(up.server.home)
    upload_ok(up)


def test_upload_wrong_bytes_in_a_stale_part(up: Ctx) -> None:
    """FTP's wrong bytes: a ``.part`` left on the server by an interrupted upload of *another version*
    of the file. Resuming after it would glue two versions together; it must be sent again whole."""
    old = (up.root / BIG).read_bytes()
    part = up.server.home / (part_name(BIG))
    part.parent.mkdir(parents=True)
    part.write_bytes(bytes(b ^ 0x5A for b in old[:1_500_000]))  # another version's first half
    upload_ok(up)


def test_upload_short_body(up: Ctx) -> None:
    """FTP's short body on upload: the server closes the data connection early (control stays up)."""
    up.server.stats.short_upload = ("spikes.amps.npy.part", 700_000)
    upload_ok(up)
    assert up.server.stats.killed


def test_upload_busy_replies(up: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """FTP's 429/5xx: ``451``/``421`` replies to ``STOR``; a short burst is absorbed, a long one fails the
    file clearly (the index does not list it), the re-run completes."""
    up.server.stats.refuse = ("spikes.times.npy", "451 Local error in processing, try later.", 2)
    upload_ok(up)
    for rel in up.rels:
        (up.root / rel).write_bytes((up.root / rel).read_bytes() + b"v2")
    old = remote_index(up.server.home)[BIG].md5
    up.server.stats.refuse = ("spikes.amps.npy", "421 Too many connections, try later.", 20)
    report = up.repo().upload(up.root, up.rels)
    assert failed_names(report) == [BIG] and "421" in report.failed[0][1]
    assert_remote_consistent(up.server.home, up.root)
    assert remote_index(up.server.home)[BIG].md5 == old  # still the previous version, which is still there
    up.server.stats.refuse = None
    upload_ok(up)


def test_upload_server_gone_for_good(up: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server stops during the upload: a clear error (the index cannot be written either); a server
    started again on the same port lets the re-run complete."""
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "2")
    stopped = []

    def progress(p) -> None:  # noqa: ANN001
        if p.files_done >= 3 and not stopped:
            stopped.append(True)
            up.server.stop()

    report = up.repo().upload(up.root, up.rels, jobs=1, progress=progress)
    msg = dict(report.failed)[".one_root"]
    assert "index was not updated" in msg and f"127.0.0.1:{up.server.port}" in msg
    assert_remote_consistent(up.server.home, up.root)
    with FTPTestServer(up.server.home, port=up.server.port) as again:
        up.server = again
        upload_ok(up)


def test_upload_read_timeout(up: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server never answers ``STOR`` of one file: timed out (1 s), retried on a new connection."""
    up.server.stats.hang = ("spikes.clusters.npy", 1)
    upload_ok(up, timeout=1)

    old = remote_index(up.server.home)[BIG].md5
    (up.root / BIG).write_bytes((up.root / BIG).read_bytes() + b"v2")
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "1")
    up.server.stats.hang = ("spikes.amps.npy", 5)
    report = up.repo(timeout=1).upload(up.root, up.rels)
    assert failed_names(report) == [BIG] and "timed out" in report.failed[0][1]
    assert_remote_consistent(up.server.home, up.root)
    assert remote_index(up.server.home)[BIG].md5 == old
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "3")
    up.server.stats.hang = None
    upload_ok(up)


def test_upload_disk_write_failure_on_our_side(up: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our side cannot write: ONE_HOME (hash cache, lock files) on a read-only folder. One clear error
    naming the folder, nothing sent, no index written; the re-run completes."""
    home = up.tmp_path / "ro_home"
    with read_only_dir(home):
        monkeypatch.setenv("ONE_HOME", str(home))
        repo = FTPRepository("ftpfaults", up.server.settings(), home=home)
        try:
            with pytest.raises(OneError) as e:
                repo.upload(up.root, up.rels)
        finally:
            repo.close()
        assert str(home) in str(e.value) and "ONE_HOME" in str(e.value) and "Read-only" in str(e.value)
        assert up.server.stats.stor == [] and not (up.server.home / ".one_root").exists()
    assert_remote_consistent(up.server.home, up.root)
    monkeypatch.setenv("ONE_HOME", str(up.tmp_path / "one_home"))
    upload_ok(up)


def test_upload_interrupted(up: Ctx) -> None:
    """KeyboardInterrupt in the middle of the upload: it propagates, the index lists what is there."""

    def progress(p) -> None:  # noqa: ANN001
        if p.files_done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        up.repo().upload(up.root, up.rels, jobs=2, progress=progress)
    assert_remote_consistent(up.server.home, up.root)
    assert 0 < len(remote_index(up.server.home)) < len(up.rels)
    upload_ok(up)


def test_endless_index_over_ftp_is_bounded(up: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index larger than ONE_MAX_INDEX_BYTES (here 100 kB; as good as endless) is refused clearly."""
    line = "labA/Subjects/m/2021-01-01/001/alf/a.b.npy\t\t1\t\n"
    (up.server.home / ".one_root").write_text(line * 20_000)
    monkeypatch.setenv("ONE_MAX_INDEX_BYTES", "100000")
    with pytest.raises(OneError, match="larger than 100000 bytes"):
        up.repo().fetch_index(None)
    assert not list((up.tmp_path / "one_home" / "tmp").glob("*"))  # no temporary file left behind
