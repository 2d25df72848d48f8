"""Hashing: :func:`md5_file`, and a small persistent cache of file hashes keyed by path, size,
modification time, ctime and inode (:class:`HashCache`, opened for a home by :func:`open_hash_cache`).

Uploads use the cache so that an unchanged data root is not hashed again; downloads use it so that a
file already verified is not hashed again on every load. A file whose size, mtime, ctime or inode
changed is hashed anew (rewriting a file in place and restoring its mtime changes its ctime; replacing
it, even by one with the same size and mtime, changes its inode).

Each entry also keeps when the file's bytes were read. :meth:`HashCache.trusted` gives an md5 only for
a version that had not changed for :data:`RACY_NS` before it was hashed (a write in the same clock tick
as an earlier one can leave the timestamps equal, as git's "racy" entries): an upload may then send the
file without hashing it again, checking that its :func:`signature` did not change while it was sent.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import OneError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["md5_file", "HashCache", "open_hash_cache", "signature", "RACY_NS"]

#: An entry is trusted only for a file whose last change (mtime and ctime) came this long before its
#: bytes were read (2 s: more than a file system's timestamp tick and a small clock skew).
RACY_NS = 2_000_000_000


def signature(st: os.stat_result) -> tuple[int, int, int, int]:
    """What says a file is still the same version: (size, mtime, ctime, inode); any write changes it."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def md5_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The md5 hex digest of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def open_hash_cache(home: str | os.PathLike) -> HashCache:
    """The hash cache of a ONE home (``$ONE_HOME/hashes.sqlite``), opened on first use."""
    return HashCache(Path(home) / "hashes.sqlite")


class HashCache:
    """md5 of files, remembered in ``$ONE_HOME/hashes.sqlite`` (safe across threads and processes)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._inflight: dict[str, threading.Event] = {}  # paths being hashed by a thread of this process

    def _conn(self) -> sqlite3.Connection:
        import sqlite3

        if self._db is None:
            try:
                self._db = self._open()
            except (sqlite3.Error, OSError) as e:
                raise OneError(
                    f"cannot use the hash cache {self.path} ({e}); check that $ONE_HOME "
                    f"({self.path.parent}) is a writable folder"
                ) from None
        return self._db

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a cache: no fsync per remembered hash
        db.execute(  # (the table "hashes" of earlier versions had no ctime and inode: left unused)
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "ctime_ns INTEGER, ino INTEGER, hashed_ns INTEGER, md5 TEXT)"
        )
        return db

    def _row(self, path: Path) -> tuple | None:
        with self._lock:
            return (
                self._conn()
                .execute("SELECT size, mtime_ns, ctime_ns, ino, hashed_ns, md5 FROM files WHERE path=?", (str(path),))
                .fetchone()
            )

    def lookup(self, path: Path) -> str | None:
        """The remembered md5 of ``path`` if its :func:`signature` (size, mtime, ctime, inode) is
        unchanged, else None."""
        try:
            st = path.stat()
        except OSError:
            return None
        row = self._row(path)
        return row[5] if row and tuple(row[:4]) == signature(st) else None

    def trusted(self, path: Path, st: os.stat_result) -> str | None:
        """The remembered md5 of ``path`` when it is of this very version ``st`` (same :func:`signature`)
        and that version had not changed for :data:`RACY_NS` when it was hashed; else None."""
        row = self._row(path)
        if not row or tuple(row[:4]) != signature(st) or row[4] is None:
            return None
        return row[5] if row[4] - max(st.st_mtime_ns, st.st_ctime_ns) >= RACY_NS else None

    def remember(self, path: Path, md5: str, st: os.stat_result | None = None, hashed_ns: int | None = None) -> None:
        """Remember ``md5`` for ``path``. ``st``: the file's stat when its bytes began to be read, and
        ``hashed_ns`` (:func:`time.time_ns`) when; the caller checked the file kept that stat
        throughout. Without them: the stat now (and "just hashed", so never :meth:`trusted`)."""
        import sqlite3

        if st is None:
            st = path.stat()
        if hashed_ns is None:
            hashed_ns = max(st.st_mtime_ns, st.st_ctime_ns)  # as if hashed the moment it changed: "racy"
        with self._lock:
            try:
                self._conn().execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (str(path), *signature(st), hashed_ns, md5),
                )
            except sqlite3.Error as e:
                raise OneError(
                    f"cannot write to the hash cache {self.path} ({e}); check that $ONE_HOME "
                    f"({self.path.parent}) is writable and not full"
                ) from None

    def md5(self, path: Path) -> str:
        """The md5 of ``path``, from the cache when the file is unchanged. Two threads asking for the same
        file at once hash it once: the second waits for the first's result."""
        cached = self.lookup(path)
        if cached:
            return cached
        key = str(path)
        with self._lock:
            running = self._inflight.get(key)
            if running is None:
                mine = self._inflight[key] = threading.Event()
        if running is not None:
            running.wait()
            cached = self.lookup(path)
            if cached:
                return cached
            return self._hash(path)  # the other thread failed, or the file changed meanwhile
        try:
            return self._hash(path)
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            mine.set()

    def _hash(self, path: Path) -> str:
        st, started = os.stat(path), time.time_ns()
        digest = md5_file(path)
        if signature(os.stat(path)) == signature(st):  # (else: changed while read, nothing remembered)
            self.remember(path, digest, st, started)
        return digest

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
