"""Inter-process file locks, striped per destination."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from ..errors import UnsafePathError


class FileLock:
    """An exclusive inter-process lock on a small lock file (``flock``; ``msvcrt`` on Windows), opened
    without following a symbolic link (neither the file nor its folder)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> FileLock:
        try:
            self.fd = _open_nofollow(self.path)
        except FileNotFoundError:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.fd = _open_nofollow(self.path)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows
            import msvcrt

            while True:
                try:
                    msvcrt.locking(self.fd, msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _open_nofollow(path: Path) -> int:
    """Open (creating) the lock file ``path`` without following a symbolic link, neither the file nor its
    folder: a link planted there (say ``.one_locks`` pointing out of the cache) is refused."""
    import errno

    if _NOFOLLOW and _DIRECTORY and os.open in os.supports_dir_fd:
        try:
            dfd = os.open(path.parent, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR) and path.parent.is_symlink():
                raise UnsafePathError(_refused(path.parent)) from None
            raise
        try:
            return os.open(path.name, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise UnsafePathError(_refused(path)) from None
            raise
        finally:
            os.close(dfd)
    if path.parent.is_symlink() or path.is_symlink():  # pragma: no cover - Windows
        raise UnsafePathError(_refused(path))
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # pragma: no cover


def _refused(path: Path) -> str:
    return f"refused to use the lock file {path}: it (or its folder) is a symbolic link; remove it and try again"


def _lock_for(dest_root: Path, rel: str) -> FileLock:
    """The lock of ``rel`` under ``dest_root``: kept in ``$ONE_HOME/locks/<destination>/``, never in the
    destination itself (``one download --dir ./data`` leaves nothing but the data there)."""
    from ..config import home

    stripe = hashlib.sha1(rel.encode()).hexdigest()[:2]  # 256 lock files at most per destination
    where = hashlib.sha1(os.path.realpath(dest_root).encode()).hexdigest()[:16]
    return FileLock(home() / "locks" / where / f"{stripe}.lock")


_FileLock = FileLock  # the name used before it was public
