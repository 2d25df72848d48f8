"""The fault matrix of the figshare transfer paths: downloads from an article, and uploads into it.

Downloads: the emulator's ``ndownloader`` answers with a redirect to a storage server, as figshare's
does (to S3); the storage is a fault-injecting :class:`onecore.testing.servers.FileServer`. Uploads: the
emulator's own faults (429/5xx, a hanging server, corrupted parts, a server that goes away).

After each fault: no file with wrong content under its final name (locally; for uploads, no complete
file on figshare with other bytes), no index listing what is not there, one clear message naming the
file, and a re-run that completes the job byte-identical.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import pytest
from onelight_figshare.naming import INDEX_NAME, decode_name
from onelight_figshare.repository import FigshareFetcher, FigshareRepository
from onelight_figshare.testing.emulator import FigshareEmulator

from onecore.errors import OneError
from onecore.index import COMPANION_NAME, read_one_root
from onecore.testing.disk import full_dir, read_only_dir
from onecore.testing.faults import assert_complete, assert_nothing_wrong, failed_names
from onecore.testing.secrets import TOKEN
from onecore.testing.servers import FileServer
from onecore.transfer import RetryPolicy, TransferItem, download

BIG_NAME = "spikes.times.npy"


def policy(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0.01)


class World:
    """An article holding an uploaded data root, its bytes also on a storage server downloads go to."""

    def __init__(self, tmp_path: Path, emu: FigshareEmulator, article: int, root: Path, rels: list[str]):
        self.tmp_path, self.emu, self.article, self.root, self.rels = tmp_path, emu, article, root, rels
        self.repos: list[FigshareRepository] = []
        self.store: FileServer | None = None

    def repo(self, **settings: Any) -> FigshareRepository:
        s = {"article": str(self.article), "api_url": self.emu.api_url, "token": TOKEN, **settings}
        r = FigshareRepository("fs", s, home=self.tmp_path / "one_home")
        self.repos.append(r)
        return r

    def big(self) -> str:
        return next(r for r in self.rels if r.endswith("alf/" + BIG_NAME))

    def serve_downloads(self) -> FileServer:
        folder = self.tmp_path / "storage"
        for fid, f in self.emu.files.items():
            (folder / "files").mkdir(parents=True, exist_ok=True)
            (folder / "files" / str(fid)).write_bytes(bytes(f.data[: f.size]))
        self.store = FileServer(folder).start()
        self.emu.download_redirect = self.store.url + "files/"
        return self.store

    def file_id(self, rel: str) -> int:
        return next(
            f.id
            for f in self.emu.files.values()
            if decode_name(f.name) == rel and f.id in self.emu.articles[self.article].files
        )

    def items(self) -> list[TransferItem]:
        update = self.repo().fetch_index(None)
        assert update is not None
        rows = list(update.rows)
        assert update.problems == []
        return [TransferItem(r.rel_path, r.url, r.size, r.md5) for r in rows]

    def download(self, dest: Path, attempts: int = 3, progress: Any = None, timeout: Any = (10, 30)) -> Any:
        fetcher = FigshareFetcher(TOKEN, self.emu.api_url, timeout=timeout)
        try:
            return download(self.items(), dest, fetcher, jobs=2, retry=policy(attempts), progress=progress)
        finally:
            fetcher.close()

    def close(self) -> None:
        for r in self.repos:
            r.close()
        if self.store is not None:
            self.store.stop()


@pytest.fixture
def world(tmp_path: Path, emu: FigshareEmulator, article: int, fx: Any) -> Iterator[World]:
    root = tmp_path / "root"
    rels = fx.write_root(root, n_small=5)
    w = World(tmp_path, emu, article, root, rels)
    yield w
    w.close()


@pytest.fixture
def uploaded(world: World) -> World:
    report = world.repo().upload(world.root, world.rels)
    assert report.failed == []
    world.serve_downloads()
    return world


# ================================================================================================
# Downloads
# ================================================================================================
@pytest.mark.parametrize("kind", ["drop", "short"])
def test_download_cut_mid_file(uploaded: World, kind: str) -> None:
    """The storage resets the connection (drop) or closes it early (short body) part way through the big
    file, every time: a clear failure with one attempt, the ``.part`` kept, and the re-run resumes it."""
    w, big = uploaded, uploaded.big()
    w.store.inject(f"files/{w.file_id(big)}", kind, after=50_000, times=1)
    dest = w.tmp_path / "dl"
    report = w.download(dest, attempts=1)
    assert failed_names(report) == [big]
    assert_nothing_wrong(dest, w.root)
    assert w.download(dest).ok
    assert_complete(dest, w.root, w.rels)
    assert w.store.requests_for(f"files/{w.file_id(big)}")[-1].range is not None  # resumed


def test_download_wrong_bytes(uploaded: World) -> None:
    """The storage sends other bytes (every time): md5 refused, nothing kept; the re-run completes."""
    w, big = uploaded, uploaded.big()
    w.store.inject(f"files/{w.file_id(big)}", "wrong_bytes", after=1000, times=None)
    dest = w.tmp_path / "dl"
    report = w.download(dest)
    assert failed_names(report) == [big] and "md5" in report.failed[0][1]
    assert not (dest / big).exists()
    assert_nothing_wrong(dest, w.root)
    w.store.clear_faults()
    assert w.download(dest).ok
    assert_complete(dest, w.root, w.rels)


@pytest.mark.parametrize("where", ["api", "storage"])
def test_download_429_and_5xx_bursts(uploaded: World, where: str) -> None:
    """429 (Retry-After) and 503 from figshare's ``ndownloader`` or from the storage: a burst shorter than
    the retries is absorbed; a longer one fails the file clearly; the re-run completes."""
    w, big = uploaded, uploaded.big()
    fid = w.file_id(big)

    def burst(times: int) -> None:
        if where == "api":
            w.emu.fail(f"/ndownloader/files/{fid}$", 429, times=times, retry_after=0)
        else:
            w.store.inject(f"files/{fid}", "503", times=times)

    burst(2)
    dest = w.tmp_path / "dl"
    assert w.download(dest, attempts=4).ok
    assert_complete(dest, w.root, w.rels)
    burst(10)
    dest2 = w.tmp_path / "dl2"
    report = w.download(dest2, attempts=2)
    assert failed_names(report) == [big] and ("429" in report.failed[0][1] or "503" in report.failed[0][1])
    assert_nothing_wrong(dest2, w.root)
    w.emu.clear_faults()
    w.store.clear_faults()
    assert w.download(dest2).ok
    assert_complete(dest2, w.root, w.rels)


def test_download_storage_gone_for_good(uploaded: World) -> None:
    """The storage stops in the middle of a batch: the rest fail clearly; it comes back (same port) and
    the re-run completes."""
    w = uploaded
    items = w.items()
    port = w.store.port
    stopped: list[bool] = []

    def progress(p: Any) -> None:
        if p.files_done >= 2 and not stopped:
            stopped.append(True)
            w.store.stop()

    dest = w.tmp_path / "dl"
    fetcher = FigshareFetcher(TOKEN, w.emu.api_url)
    report = download(items, dest, fetcher, jobs=1, retry=policy(2), progress=progress)
    fetcher.close()
    assert stopped and report.failed
    failed_names(report)
    assert_nothing_wrong(dest, w.root)
    w.store = FileServer(w.store.root, port=port).start()
    assert w.download(dest).ok
    assert_complete(dest, w.root, w.rels)


def test_download_read_timeout(uploaded: World) -> None:
    """The storage does not answer (hangs): read timeout 0.3 s, retried, then a clear failure."""
    w, big = uploaded, uploaded.big()
    w.store.inject(f"files/{w.file_id(big)}", "hang", seconds=5, times=None)
    dest = w.tmp_path / "dl"
    report = w.download(dest, attempts=2, timeout=(2, 0.3))
    assert failed_names(report) == [big] and "timed out" in report.failed[0][1].lower()
    assert_nothing_wrong(dest, w.root)
    w.store.clear_faults()
    assert w.download(dest).ok
    assert_complete(dest, w.root, w.rels)


@pytest.mark.parametrize("disk", ["read_only", "full"])
def test_download_disk_write_failure(uploaded: World, disk: str) -> None:
    """Our side cannot write: a read-only cache folder, or a full one (a 64 KiB tmpfs)."""
    w = uploaded
    dest = w.tmp_path / "dl"
    with read_only_dir(dest) if disk == "read_only" else full_dir(dest, 64 * 1024):
        report = w.download(dest)
        assert failed_names(report)
        assert any(("Read-only" if disk == "read_only" else "No space") in m for _, m in report.failed)
        assert_nothing_wrong(dest, w.root)
    assert w.download(dest).ok
    assert_complete(dest, w.root, w.rels)


def test_download_interrupted(uploaded: World) -> None:
    """KeyboardInterrupt from the progress callback in the middle of the batch: it stops; re-run completes."""
    w = uploaded
    dest = w.tmp_path / "dl"

    def progress(p: Any) -> None:
        if p.files_done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        w.download(dest, progress=progress)
    assert_nothing_wrong(dest, w.root)
    assert w.download(dest).ok
    assert_complete(dest, w.root, w.rels)


# ================================================================================================
# Uploads
# ================================================================================================
def article_state(w: World) -> tuple[dict[str, bytes], dict[str, Any]]:
    """(complete files by dataset path, index rows) of the article's draft."""
    files = {}
    index_text = None
    for fid in w.emu.articles[w.article].files:
        f = w.emu.files[fid]
        if f.status != "available":
            continue
        if f.name == COMPANION_NAME:
            index_text = bytes(f.data).decode()
        elif f.name == INDEX_NAME:
            pass
        else:
            files[decode_name(f.name)] = bytes(f.data)
    rows = {d.rel_path: d for d in read_one_root((index_text or "").splitlines())}
    return files, rows


def assert_article_consistent(w: World) -> None:
    """No complete file with bytes other than its declared md5; the index lists only complete files, as they are."""
    files, rows = article_state(w)
    for fid in w.emu.articles[w.article].files:
        f = w.emu.files[fid]
        if f.status == "available":
            assert hashlib.md5(bytes(f.data)).hexdigest() == f.computed_md5, f.name
    for rel, row in rows.items():
        assert rel in files, f"the index lists {rel}, which is not complete in the article"
        assert hashlib.md5(files[rel]).hexdigest() == row.md5 and len(files[rel]) == row.size, rel


def upload_completes(w: World) -> None:
    report = w.repo().upload(w.root, w.rels)
    assert report.failed == [], report.failed
    assert_article_consistent(w)
    files, rows = article_state(w)
    assert sorted(rows) == w.rels
    for rel in w.rels:
        assert files[rel] == (w.root / rel).read_bytes(), rel


def test_upload_429_and_5xx_bursts(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """429/503 on the parts' PUTs and on completion: a short burst is absorbed; a long one fails the file
    clearly (the index does not list it); the re-run completes."""
    w = world
    w.emu.fail(r"^/upload/", 503, times=2, method="PUT")
    w.emu.fail(r"/files/\d+$", 429, times=1, method="POST", retry_after=0)
    upload_completes(w)
    big = w.big()
    (w.root / big).write_bytes((w.root / big).read_bytes()[:-8] + b"version2")
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "2")
    w.emu.fail(r"^/upload/", 503, times=20, method="PUT")
    report = w.repo().upload(w.root, w.rels)
    assert failed_names(report) == [big] and "503" in report.failed[0][1]
    assert_article_consistent(w)
    w.emu.clear_faults()
    upload_completes(w)


def test_upload_wrong_bytes(world: World) -> None:
    """Parts damaged on the way (stored with other bytes): figshare refuses the completion (md5); the
    failure is clear, and the re-run sends the file again instead of resuming the damaged upload."""
    w = world
    w.emu.corrupt_parts(1)
    report = w.repo().upload(w.root, w.rels, jobs=1)
    assert len(report.failed) == 1 and "MD5" in report.failed[0][1].upper()
    failed_names(report)
    assert_article_consistent(w)
    upload_completes(w)


def test_upload_read_timeout(world: World) -> None:
    """The API hangs on one part's PUT longer than the read timeout: retried, the upload completes."""
    w = world
    w.emu.fail(r"^/upload/.+/2$", 200, times=1, method="PUT", seconds=2)
    repo = w.repo()
    repo.api.timeout = (2, 0.5)
    report = repo.upload(w.root, w.rels)
    assert report.failed == [], report.failed
    assert_article_consistent(w)
    upload_completes(w)


def test_upload_server_gone_for_good(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """figshare stops answering in the middle of the upload: clear failures naming the files, the index is
    not written; once it is back (a new address) the re-run completes."""
    w = world
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "2")
    stopped: list[bool] = []

    def progress(p: Any) -> None:
        if p.files_done >= 2 and not stopped:
            stopped.append(True)
            w.emu.stop()

    report = w.repo().upload(w.root, w.rels, jobs=1, progress=progress)
    assert stopped and report.failed
    names = failed_names(report)
    assert INDEX_NAME in names and len(names) == len(w.rels) - 2 + 1
    assert_article_consistent(w)
    w.emu.start()
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "3")
    upload_completes(w)


def test_upload_disk_write_failure_on_our_side(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Our side cannot write (ONE_HOME read-only: hash cache, the index's temporary file): a clear error
    naming the folder, no index listing what is not there; the re-run completes."""
    w = world
    home = w.tmp_path / "ro_home"
    with read_only_dir(home):
        repo = FigshareRepository(
            "fs", {"article": str(w.article), "api_url": w.emu.api_url, "token": TOKEN}, home=home
        )
        try:
            with pytest.raises(OneError) as e:
                repo.upload(w.root, w.rels)
        finally:
            repo.close()
        assert str(home) in str(e.value) and "ONE_HOME" in str(e.value)
        assert w.emu.draft_names(w.article) == []  # nothing sent
    assert_article_consistent(w)
    upload_completes(w)


def test_upload_interrupted(world: World) -> None:
    """KeyboardInterrupt from the progress callback mid-upload: it propagates; the article holds no
    complete file with wrong bytes and no index listing missing files; the re-run completes (resuming)."""
    w = world

    def progress(p: Any) -> None:
        if p.bytes_done > 100_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        w.repo().upload(w.root, w.rels, jobs=2, progress=progress)
    assert_article_consistent(w)
    upload_completes(w)


def _hang_up(sock: Any) -> None:
    """Close a socket so that the peer sees it at once, even while another thread uses it."""
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of the emulator that cuts the first ``PUT /upload/...`` (a part
    upload) after ``after`` bytes: ``drop`` closes both sides (the client sees the connection reset),
    ``short`` half-closes toward the server (figshare receives a part shorter than announced)."""

    def __init__(self, upstream_port: int, kind: str, after: int = 20_000):
        import socket
        import threading

        self.upstream_port, self.kind, self.after = upstream_port, kind, after
        self.armed = True
        self.cut = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: Any, dst: Any) -> None:
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def _pump_up(self, client: Any, upstream: Any) -> None:
        import socket

        sent, cutting = 0, False
        try:
            while True:
                b = client.recv(65536)
                if not b:
                    break
                if b.startswith(b"PUT /upload/"):  # a part upload starts (keep-alive connections too)
                    cutting, sent = True, 0
                elif b[:8] in (b"GET /v2/", b"POST /v2", b"GET /upl", b"DELETE /"):
                    cutting = False
                if cutting and sent + len(b) > self.after:
                    with self._lock:  # only the first part long enough is cut
                        first, self.armed = self.armed, False
                    if not first:
                        cutting = False
                        upstream.sendall(b)
                        sent += len(b)
                        continue
                    upstream.sendall(b[: max(0, self.after - sent)])
                    self.cut += 1
                    if self.kind == "short":
                        upstream.shutdown(socket.SHUT_WR)  # the server sees the body end early
                        _hang_up(client)
                        return
                    raise OSError("cut")
                upstream.sendall(b)
                sent += len(b)
        except OSError:
            for s in (client, upstream):
                _hang_up(s)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.mark.parametrize("kind", ["drop", "short"])
def test_upload_connection_cut_mid_part(world: World, kind: str) -> None:
    """The connection is cut in the middle of a part's PUT (``drop``: reset; ``short``: figshare receives
    fewer bytes than announced): the part is retried, no complete file has wrong bytes, the index lists
    only complete files, and the upload completes byte-identical (re-run if needed)."""
    w = world
    upstream = int(w.emu.base_url.rsplit(":", 1)[1])
    proxy = CuttingProxy(upstream, kind)
    w.emu.base_url = f"http://127.0.0.1:{proxy.port}"  # API and upload service both through the proxy
    try:
        repo = w.repo()
        repo.api.timeout = (5, 5)  # a cut the server never answers is retried within seconds
        report = repo.upload(w.root, w.rels, jobs=1)
        assert proxy.cut == 1, "the proxy did not cut a part upload"
        for rel, message in report.failed:  # a failure (if retries ran out) names the dataset
            assert rel in w.rels and message
        assert_article_consistent(w)
        upload_completes(w)
    finally:
        proxy.close()
