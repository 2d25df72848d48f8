"""The fault matrix of Alyx downloads: the datasets of a session listed by the real Alyx, their bytes
fetched from a fault-injecting :class:`onecore.testing.servers.FileServer` (with basic auth) over the
Alyx file root, used as the repository's ``data_url``.

After each fault: no file with wrong content under its final name, one clear message naming the file,
and a re-run that completes the session byte-identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote

import pytest
from one_alyx.repository import AlyxRepository

from onecore.testing.disk import full_dir, read_only_dir
from onecore.testing.faults import failed_names
from onecore.testing.secrets import DATA_PASSWORD
from onecore.testing.servers import FileServer
from onecore.transfer import PART_SUFFIX, RetryPolicy, TransferItem, download

pytestmark = pytest.mark.alyx  # needs the real Alyx server (PostgreSQL + alyx-local)


def policy(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0.01)


class World:
    def __init__(self, alyx: Any, home: Path, tmp_path: Path):
        self.alyx, self.home, self.tmp_path = alyx, home, tmp_path
        self.server = FileServer(alyx.files_root, auth=("fileuser", DATA_PASSWORD)).start()
        self.repo = self.make_repo()
        eid = alyx.seeded["eids"]["s1"]
        self.rows = [d for d in self.repo.list_session(eid) if d.url]
        assert len(self.rows) >= 4
        self.source = alyx.seeded["files"]
        # the largest file, in a '#revision#' folder when there is a tie (its URL holds %23)
        self.big = max(self.rows, key=lambda d: (d.size or 0, "#" in d.rel_path))

    def make_repo(self) -> AlyxRepository:
        return AlyxRepository(
            "alyx",
            {
                "base_url": self.alyx.base_url,
                "username": "admin",
                "password": "admin",
                "data_url": self.server.url,
                "data_login": "fileuser",
                "data_password": DATA_PASSWORD,
            },
            home=self.home,
        )

    def path_of(self, rel: str) -> str:
        """The file server's path of a dataset (its URL relative to data_url, percent-decoded: ``#``)."""
        row = next(d for d in self.rows if d.rel_path == rel)
        return unquote(row.url[len(self.server.url) :])

    def items(self) -> list[TransferItem]:
        return [TransferItem(d.rel_path, d.url, d.size, d.md5) for d in self.rows]

    def download(self, dest: Path, attempts: int = 3, progress: Any = None, timeout: Any = None) -> Any:
        fetcher = self.repo.fetcher()
        if timeout is not None:
            fetcher.timeout = timeout
        try:
            return download(self.items(), dest, fetcher, jobs=2, retry=policy(attempts), progress=progress)
        finally:
            fetcher.close()

    def assert_nothing_wrong(self, dest: Path) -> None:
        for p in dest.rglob("*") if dest.exists() else []:
            rel = p.relative_to(dest).as_posix()
            if p.is_file() and not p.name.endswith(PART_SUFFIX) and not any(x.startswith(".") for x in rel.split("/")):
                assert p.read_bytes() == self.source[rel], f"{rel} has wrong content under its final name"

    def assert_complete(self, dest: Path) -> None:
        for d in self.rows:
            assert (dest / d.rel_path).read_bytes() == self.source[d.rel_path], d.rel_path
        assert not list(dest.rglob("*" + PART_SUFFIX))

    def close(self) -> None:
        self.repo.close()
        self.server.stop()


@pytest.fixture
def w(alyx: Any, one_home: Path, tmp_path: Path) -> Iterator[World]:
    world = World(alyx, one_home, tmp_path)
    yield world
    world.close()


@pytest.mark.parametrize("kind", ["drop", "short"])
def test_alyx_download_cut_mid_file(w: World, kind: str) -> None:
    """Reset (drop) or early close (short body) part way through a file: a clear failure with one
    attempt, the ``.part`` kept; the re-run resumes it with a ``Range``."""
    rel = w.big.rel_path
    w.server.inject(w.path_of(rel), kind, after=w.big.size // 2)
    dest = w.tmp_path / "dl"
    report = w.download(dest, attempts=1)
    assert failed_names(report) == [rel]
    w.assert_nothing_wrong(dest)
    assert w.download(dest).ok
    w.assert_complete(dest)
    assert w.server.requests_for(w.path_of(rel))[-1].range is not None


def test_alyx_download_wrong_bytes(w: World) -> None:
    """Other bytes than Alyx's md5 says (every time): refused, nothing kept; the re-run completes."""
    rel = w.big.rel_path
    w.server.inject(w.path_of(rel), "wrong_bytes", after=10, times=None)
    dest = w.tmp_path / "dl"
    report = w.download(dest)
    assert failed_names(report) == [rel] and "md5" in report.failed[0][1]
    assert not (dest / rel).exists()
    w.assert_nothing_wrong(dest)
    w.server.clear_faults()
    assert w.download(dest).ok
    w.assert_complete(dest)


def test_alyx_download_429_and_5xx_bursts(w: World) -> None:
    """429 (Retry-After) then 503: a short burst is absorbed; a long one fails the file clearly."""
    rel = w.big.rel_path
    w.server.inject(w.path_of(rel), "429", retry_after=0, times=1)
    w.server.inject(w.path_of(rel), "503", times=1)
    dest = w.tmp_path / "dl"
    assert w.download(dest, attempts=4).ok
    w.assert_complete(dest)
    w.server.inject(w.path_of(rel), "502", times=None)
    dest2 = w.tmp_path / "dl2"
    report = w.download(dest2, attempts=2)
    assert failed_names(report) == [rel] and "502" in report.failed[0][1]
    w.assert_nothing_wrong(dest2)
    w.server.clear_faults()
    assert w.download(dest2).ok
    w.assert_complete(dest2)


def test_alyx_download_file_server_gone_for_good(w: World) -> None:
    """The file server stops in the middle of the batch: the rest fail clearly; back on the same port,
    the re-run completes."""
    port, stopped = w.server.port, []

    def progress(p: Any) -> None:
        if p.files_done >= 2 and not stopped:
            stopped.append(True)
            w.server.stop()

    dest = w.tmp_path / "dl"
    fetcher = w.repo.fetcher()
    report = download(w.items(), dest, fetcher, jobs=1, retry=policy(2), progress=progress)
    fetcher.close()
    assert stopped and report.failed
    failed_names(report)
    w.assert_nothing_wrong(dest)
    w.server = FileServer(w.alyx.files_root, auth=("fileuser", DATA_PASSWORD), port=port).start()
    assert w.download(dest).ok
    w.assert_complete(dest)


def test_alyx_download_read_timeout(w: World) -> None:
    """The file server hangs: read timeout 0.3 s, retried, a clear failure; the re-run completes."""
    rel = w.big.rel_path
    w.server.inject(w.path_of(rel), "hang", seconds=5, times=None)
    dest = w.tmp_path / "dl"
    report = w.download(dest, attempts=2, timeout=(2, 0.3))
    assert failed_names(report) == [rel] and "timed out" in report.failed[0][1].lower()
    w.assert_nothing_wrong(dest)
    w.server.clear_faults()
    assert w.download(dest).ok
    w.assert_complete(dest)


@pytest.mark.parametrize("disk", ["read_only", "full"])
def test_alyx_download_disk_write_failure(w: World, disk: str) -> None:
    """Our side cannot write: a read-only cache folder, or a full one (an 8 KiB tmpfs)."""
    dest = w.tmp_path / "dl"
    with read_only_dir(dest) if disk == "read_only" else full_dir(dest, 8 * 1024):
        report = w.download(dest)
        assert failed_names(report)
        assert any(("Read-only" if disk == "read_only" else "No space") in m for _, m in report.failed)
        w.assert_nothing_wrong(dest)
    assert w.download(dest).ok
    w.assert_complete(dest)


def test_alyx_download_interrupted(w: World) -> None:
    """KeyboardInterrupt from the progress callback in the middle of the batch; the re-run completes."""
    dest = w.tmp_path / "dl"

    def progress(p: Any) -> None:
        if p.files_done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        w.download(dest, progress=progress)
    w.assert_nothing_wrong(dest)
    assert w.download(dest).ok
    w.assert_complete(dest)
