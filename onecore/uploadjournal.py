"""The local journal of uploads, in ``$ONE_HOME/upload_journal.sqlite``, and the upload lock files.

For each remote tree (its :attr:`~onecore.upload.TreeBackend.key`) and dataset it remembers:

- ``partial``: the size and mtime of the local file when its partial upload (the ``.NAME.part`` on the
  server) began. A partial upload is resumed only when the local file still has that size and mtime;
  otherwise it is sent again from the start (a resumed upload never splices two versions).
- ``partial`` with an md5: the partial upload was whole and checked, and was about to be renamed (a
  run killed just after that rename finds the file in place and its md5 here).
- ``done``: the size, mtime and md5 (computed from the bytes sent) of each dataset renamed into place.
  A re-run after a crash or ``SIGKILL`` (before the remote index was written) finds them there and does
  not send them again.

SQLite in WAL mode: a killed process never leaves a half-written journal.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .errors import OneError

JOURNAL_NAME = "upload_journal.sqlite"


class UploadJournal:
    """The journal of one remote tree (``target``), stored at ``path``."""

    def __init__(self, path: Path, target: str):
        self.path = Path(path)
        self.target = target
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process; no fsync per row
                db.execute(
                    "CREATE TABLE IF NOT EXISTS uploads (target TEXT, rel TEXT, state TEXT, size INTEGER, "
                    "mtime_ns INTEGER, md5 TEXT, at REAL, PRIMARY KEY (target, rel, state))"
                )
                self._db = db
            except (sqlite3.Error, OSError) as e:
                raise OneError(
                    f"cannot use the upload journal {self.path} ({e}); check that $ONE_HOME "
                    f"({self.path.parent}) is a writable folder"
                ) from None
        return self._db

    def _get(self, rel: str, state: str) -> tuple[Any, ...] | None:
        with self._lock:
            return (
                self._conn()
                .execute(
                    "SELECT size, mtime_ns, md5 FROM uploads WHERE target=? AND rel=? AND state=?",
                    (self.target, rel, state),
                )
                .fetchone()
            )

    def _put(self, rel: str, state: str, size: int, mtime_ns: int, md5: str | None) -> None:
        with self._lock:
            try:
                self._conn().execute(
                    "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (self.target, rel, state, size, mtime_ns, md5, time.time()),
                )
            except sqlite3.Error as e:
                raise OneError(f"cannot write the upload journal {self.path} ({e}); is $ONE_HOME full?") from None

    def started(self, rel: str, size: int, mtime_ns: int) -> None:
        """A partial upload of ``rel`` begins (from byte 0) with this local version."""
        self._put(rel, "partial", size, mtime_ns, None)

    def partial(self, rel: str) -> tuple[int, int] | None:
        """(size, mtime_ns) of the local file when the partial upload of ``rel`` began, or None."""
        row = self._get(rel, "partial")
        return (row[0], row[1]) if row else None

    def sent(self, rel: str, size: int, mtime_ns: int, md5: str) -> None:
        """The partial upload of ``rel`` is whole and checked; it is about to be renamed into place."""
        self._put(rel, "partial", size, mtime_ns, md5)

    def sent_version(self, rel: str) -> tuple[int, int, str] | None:
        """(size, mtime_ns, md5) recorded by :meth:`sent` (a run killed around the rename), or None."""
        row = self._get(rel, "partial")
        return (row[0], row[1], row[2]) if row and row[2] else None

    def completed(self, rel: str, size: int, mtime_ns: int, md5: str) -> None:
        """``rel`` is in place on the server, with the md5 of the bytes that were sent."""
        with self._lock:
            try:
                db = self._conn()
                with db:
                    db.execute("BEGIN")
                    db.execute(
                        "INSERT OR REPLACE INTO uploads VALUES (?, ?, 'done', ?, ?, ?, ?)",
                        (self.target, rel, size, mtime_ns, md5, time.time()),
                    )
                    db.execute("DELETE FROM uploads WHERE target=? AND rel=? AND state='partial'", (self.target, rel))
            except sqlite3.Error as e:
                raise OneError(f"cannot write the upload journal {self.path} ({e}); is $ONE_HOME full?") from None

    def done(self, rel: str) -> tuple[int, int, str] | None:
        """(size, mtime_ns, md5) of the last completed upload of ``rel``, or None."""
        row = self._get(rel, "done")
        return (row[0], row[1], row[2]) if row else None

    def forget(self, rel: str, state: str | None = None) -> None:
        """Drop what is known of ``rel`` (one state, or all)."""
        with self._lock:
            sql, args = "DELETE FROM uploads WHERE target=? AND rel=?", [self.target, rel]
            if state:
                sql, args = sql + " AND state=?", [*args, state]
            try:
                self._conn().execute(sql, args)
            except sqlite3.Error:
                pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def upload_lock(lock_dir: Path, target: str, rel: str) -> Any:
    """The lock that two local processes take before writing ``rel`` of ``target`` (256 stripes), opened
    as the download engine's are (no symbolic link followed)."""
    from .transfer.locks import FileLock

    stripe = hashlib.sha1(f"{target}\0{rel}".encode()).hexdigest()[:2]
    return FileLock(lock_dir / f"upload-{stripe}.lock")
