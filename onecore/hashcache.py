"""Hashing: :func:`md5_file`, and a small persistent cache of file hashes keyed by path, size and
modification time (:class:`HashCache`, opened for a home by :func:`open_hash_cache`).

Uploads use the cache so that an unchanged data root is not hashed again; downloads use it so that a
file already verified is not hashed again on every load. A file whose size or mtime changed is hashed
anew.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import OneError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["md5_file", "HashCache", "open_hash_cache"]


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
        db.execute(
            "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, md5 TEXT)"
        )
        return db

    def lookup(self, path: Path) -> str | None:
        """The remembered md5 of ``path`` if its size and mtime are unchanged, else None."""
        try:
            st = path.stat()
        except OSError:
            return None
        with self._lock:
            row = self._conn().execute("SELECT size, mtime_ns, md5 FROM hashes WHERE path=?", (str(path),)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
        return None

    def remember(self, path: Path, md5: str) -> None:
        import sqlite3

        st = path.stat()
        with self._lock:
            try:
                self._conn().execute(
                    "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)", (str(path), st.st_size, st.st_mtime_ns, md5)
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
        digest = md5_file(path)
        self.remember(path, digest)
        return digest

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
