"""The catalog's files: safe replacement under readers in other processes, leftovers, clear errors.

A rebuild writes ``<name>.<pid>.building`` next to the catalog and then installs it:

- nobody has the catalog open (every :class:`~onecore.catalog.Catalog` connection holds a shared
  ``flock`` on ``<name>.lock`` while it is open): the file is renamed over the old one and the old
  one's ``-wal``/``-shm`` files are removed, under an exclusive lock;
- readers have it open: its content is copied into the live file with SQLite's backup API, in one
  write transaction, so each reader sees the old catalog or the new one and never an error (renaming
  a WAL database under its readers is what gave them ``disk I/O error`` and ``attempt to write a
  readonly database``).

The ``.building`` file is removed on every exit path; files left by killed processes (their pid is
no longer running) are swept when a catalog is opened or rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path
from typing import IO, Callable, Iterator

from ..errors import OneError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: always the backup path
    fcntl = None  # type: ignore[assignment]

_LEFTOVER = re.compile(r"^(?P<base>.+)\.(?P<pid>\d+)\.building(?:-wal|-shm|-journal)?\Z")
SIDE_FILES = ("-wal", "-shm", "-journal")


class CatalogError(OneError):
    """The catalog file cannot be used (it is a folder, unreadable, on a full or read-only disk)."""


def building_path(path: Path) -> Path:
    """Where this process builds a new version of the catalog ``path``."""
    return path.with_name(f"{path.name}.{os.getpid()}.building")


def remove_with_side_files(path: Path) -> None:
    """Best effort (a read-only folder answers EROFS even for a missing file): what stays is swept."""
    for p in (path, *(Path(str(path) + s) for s in SIDE_FILES)):
        with contextlib.suppress(OSError):
            p.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_leftovers(folder: Path) -> list[Path]:
    """Remove the ``*.<pid>.building`` files (and their side files) of processes that are gone."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        m = _LEFTOVER.match(e.name)
        if m and not _alive(int(m.group("pid"))):
            with contextlib.suppress(OSError):
                os.unlink(e.path)
                removed.append(Path(e.path))
    return removed


def check_path(path: Path) -> None:
    """Raise :class:`CatalogError` naming ``path`` when it is not usable as a catalog file."""
    if path.is_dir():
        raise CatalogError(
            f"the catalog {path} is a folder, not a file: move it away or delete it (the catalog is only a "
            "local copy of the repository's index and is rebuilt automatically)"
        )
    if path.parent.exists() and not path.parent.is_dir():
        raise CatalogError(f"the catalog folder {path.parent} is a file, not a folder: move it away or delete it")


def describe(path: Path, e: BaseException) -> CatalogError:
    """One clear message for an SQLite or OS error on the catalog ``path``."""
    text = str(e)
    low = text.lower()
    if "full" in low or getattr(e, "errno", None) == 28:
        hint = "the disk is full; free some space (the catalog can be deleted, it is rebuilt when needed)"
    elif "readonly" in low or "read-only" in low or isinstance(e, PermissionError) or not _writable(path.parent):
        hint = "it cannot be written; make its folder writable or set ONE_HOME to a writable folder"
    elif "malformed" in low or "not a database" in low:
        hint = "it is damaged; delete it (it is rebuilt from the repository's index)"
    else:
        hint = "check the folder, or delete the file (it is rebuilt from the repository's index)"
    return CatalogError(f"the catalog {path}: {text}: {hint}")


def _writable(folder: Path) -> bool:
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return False
    except (OSError, AttributeError):
        pass
    return os.access(folder, os.W_OK) if folder.exists() else True


class ReaderLock:
    """A shared ``flock`` on ``<catalog>.lock`` held while a connection is open."""

    def __init__(self, path: Path):
        self.path = Path(str(path) + ".lock")
        self._f: IO[bytes] | None = None

    def acquire(self) -> None:
        if fcntl is None or self._f is not None:
            return
        try:
            f = open(self.path, "ab")
        except OSError:
            return  # read-only folder: readers then never allow a rename, only the backup copy
        fcntl.flock(f, fcntl.LOCK_SH)
        self._f = f

    def release(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[bool]:
    """Try to hold ``<catalog>.lock`` exclusively (True: nobody has the catalog open)."""
    if fcntl is None:
        yield False
        return
    try:
        f = open(str(path) + ".lock", "ab")
    except OSError:
        yield False
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True


def install(tmp: Path, path: Path, connect: Callable[[], sqlite3.Connection]) -> None:
    """Make the finished catalog ``tmp`` the catalog ``path`` (see the module docstring)."""
    check_path(path)
    if fcntl is None and not path.exists():
        with contextlib.suppress(OSError):
            os.link(tmp, path)
            return
    with _exclusive(path) as alone:
        if alone:  # nobody has it open, and nobody can open it until the lock is released
            for s in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(str(path) + s)
            os.replace(tmp, path)
            return
    lock = ReaderLock(path)  # the copying connection is a reader too: no rename under it
    lock.acquire()
    try:
        src = sqlite3.connect(tmp)
        try:
            dst = connect()
            try:
                src.backup(dst, sleep=0.05)
                with contextlib.suppress(sqlite3.Error):
                    dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                dst.close()
        finally:
            src.close()
    finally:
        lock.release()
