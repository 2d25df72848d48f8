"""Issues 15/16: the hash cache lets an upload send a file without hashing it again, but only for the very
version that was hashed (size, mtime, ctime, inode) and only when that version had settled before it was
hashed; an upload remembers the md5 of what it sent for the next one. Uses the ``local`` type (a folder)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

import onecore.hashcache as hashcache_mod
import onecore.upload as upload_mod
from onecore.hashcache import HashCache, signature
from onecore.index import read_one_root
from onecore.upload import upload_tree
from onecore.uploadio import HashingReader

OLD = time.time() - 3600  # an mtime an hour ago (setting it changes the ctime to now: still racy)
SETTLE = 0.2  # RACY_NS in these tests (2 s in real use), in seconds


@pytest.fixture(autouse=True)
def _short_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashcache_mod, "RACY_NS", int(SETTLE * 1e9))


def settle() -> None:
    """Wait until the files written so far count as settled (their last change is older than RACY_NS)."""
    time.sleep(SETTLE + 0.05)


def _write(root: Path, rel: str, data: bytes, mtime: float | None = OLD) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    if mtime is not None:
        os.utime(p, (mtime, mtime))
    return p


def _index(folder: Path) -> dict:
    text = (folder / ".one_index.tsv").read_text()
    return {d.rel_path: d.md5 for d in read_one_root(text.splitlines())}


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """{file name: whether the upload hashed it as it was sent}, for every file the engine reads."""
    seen: dict[str, bool] = {}

    class Recording(HashingReader):
        def __init__(self, path: Path, threaded: bool = False, hashing: bool = True):
            super().__init__(path, threaded=threaded, hashing=hashing)
            seen[Path(path).name] = hashing

    monkeypatch.setattr(upload_mod, "HashingReader", Recording)
    return seen


def _upload(root: Path, rels: list[str], dest: Path, home: Path, backend=None) -> object:  # noqa: ANN001
    from onecore.builtins.local import _FolderBackend

    dest.mkdir(parents=True, exist_ok=True)
    cache = HashCache(home / "hashes.sqlite")
    try:
        return upload_tree(backend or _FolderBackend(dest), root, rels, hashes=cache, jobs=1)
    finally:
        cache.close()


def test_a_racy_entry_is_remembered_but_not_trusted(tmp_path: Path) -> None:
    p = _write(tmp_path, "a.bin", b"x" * 1000, mtime=None)  # just written
    cache = HashCache(tmp_path / "hashes.sqlite")
    md5 = cache.md5(p)
    assert cache.lookup(p) == md5
    assert cache.trusted(p, os.stat(p)) is None, "hashed within RACY_NS of its last change"
    os.utime(p, (OLD, OLD))  # (changes its ctime: another version as far as the cache knows)
    assert cache.lookup(p) is None and cache.trusted(p, os.stat(p)) is None
    cache.md5(p)
    assert cache.trusted(p, os.stat(p)) is None, "its ctime is now: still racy"
    settle()
    cache.md5(p)  # (from the cache: not hashed again, so still racy)
    assert cache.trusted(p, os.stat(p)) is None
    cache._hash(p)
    assert cache.trusted(p, os.stat(p)) == md5
    st = os.stat(p)
    cache.remember(p, md5, st, max(st.st_mtime_ns, st.st_ctime_ns) + hashcache_mod.RACY_NS - 1)
    assert cache.trusted(p, st) is None
    cache.close()


def test_rewritten_in_place_with_the_mtime_restored_is_another_version(tmp_path: Path) -> None:
    p = _write(tmp_path, "a.bin", b"a" * 1000)
    cache = HashCache(tmp_path / "hashes.sqlite")
    cache.md5(p)
    before = os.stat(p)
    time.sleep(0.02)
    with open(p, "r+b") as f:
        f.write(b"b")
    os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size, same mtime
    st = os.stat(p)
    assert (st.st_size, st.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert cache.lookup(p) is None and cache.trusted(p, st) is None
    assert cache.md5(p) == hashlib.md5(p.read_bytes()).hexdigest()
    cache.close()


def test_the_md5_of_what_was_sent_is_reused_by_the_next_upload(tmp_path: Path, one_home: Path, readers) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = ["lab/Subjects/m/2024-01-01/001/alf/a.times.npy", "lab/Subjects/m/2024-01-01/001/alf/b.times.npy"]
    for i, rel in enumerate(rels):
        _write(root, rel, os.urandom(200_000 + i))
    settle()
    _upload(root, rels, tmp_path / "first", one_home).raise_for_failures()
    assert readers == {"a.times.npy": True, "b.times.npy": True}, "nothing cached: hashed as sent"
    readers.clear()
    _upload(root, rels, tmp_path / "second", one_home).raise_for_failures()
    assert readers == {"a.times.npy": False, "b.times.npy": False}, "the md5s of the first upload were reused"
    want = {rel: hashlib.md5((root / rel).read_bytes()).hexdigest() for rel in rels}
    assert _index(tmp_path / "second") == want
    for rel in rels:
        assert (tmp_path / "second" / rel).read_bytes() == (root / rel).read_bytes()


def test_a_file_rewritten_with_its_mtime_restored_is_hashed_again(tmp_path: Path, one_home: Path, readers) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rel = "lab/Subjects/m/2024-01-01/001/alf/a.times.npy"
    p = _write(root, rel, os.urandom(300_000))
    settle()
    cache = HashCache(one_home / "hashes.sqlite")
    cache.md5(p)
    assert cache.trusted(p, os.stat(p))
    cache.close()
    before = os.stat(p)
    with open(p, "r+b") as f:
        f.write(b"\0" * 1000)
    os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns))
    _upload(root, [rel], tmp_path / "dest", one_home).raise_for_failures()
    assert readers == {"a.times.npy": True}
    assert _index(tmp_path / "dest") == {rel: hashlib.md5(p.read_bytes()).hexdigest()}


@pytest.mark.parametrize("cached", [False, True], ids=["hashed-as-sent", "md5-from-the-cache"])
def test_a_file_changed_while_it_is_sent_is_never_put_in_place(
    tmp_path: Path,
    one_home: Path,
    readers,
    cached: bool,  # noqa: ANN001
) -> None:
    root = tmp_path / "root"
    rel = "lab/Subjects/m/2024-01-01/001/raw_ephys_data/e.raw.bin"
    p = _write(root, rel, os.urandom(12 << 20))
    settle()
    if cached:
        cache = HashCache(one_home / "hashes.sqlite")
        cache.md5(p)
        assert cache.trusted(p, os.stat(p))
        cache.close()
    from onecore.builtins.local import _FolderBackend

    changed = []

    class ChangingMidway(_FolderBackend):
        """Writes what it is sent; when 2 MiB have arrived, the local file is rewritten (same size)."""

        def put(self, src, rel, offset, progress) -> None:  # noqa: ANN001
            done = [0]

            def count(n: int) -> None:
                done[0] += n
                if done[0] >= 2 << 20 and not changed:
                    with open(p, "r+b") as f:  # bytes already sent, the size kept
                        f.write(b"\1" * 4096)
                    changed.append(True)
                progress(n)

            super().put(src, rel, offset, count)

    dest = tmp_path / "dest"
    dest.mkdir()
    report = _upload(root, [rel], dest, one_home, backend=ChangingMidway(dest))
    assert changed and readers == {"e.raw.bin": not cached}
    assert [r for r, _ in report.failed] == [rel]
    assert "changed while it was being uploaded" in report.failed[0][1]
    assert not (dest / rel).exists(), "nothing under the final name"
    assert not (dest / ".one_index.tsv").exists() or rel not in _index(dest)


def test_signature_is_size_mtime_ctime_inode(tmp_path: Path) -> None:
    p = _write(tmp_path, "a.bin", b"abc")
    st = os.stat(p)
    assert signature(st) == (3, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
