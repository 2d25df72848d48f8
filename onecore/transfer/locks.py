"""Inter-process file locks, striped per destination."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any


class _FileLock:
    """An exclusive inter-process lock on a small lock file (``flock``; ``msvcrt`` on Windows)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> _FileLock:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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


def _lock_for(dest_root: Path, rel: str) -> _FileLock:
    stripe = hashlib.sha1(rel.encode()).hexdigest()[:2]  # 256 lock files at most per destination
    return _FileLock(dest_root / ".one_locks" / f"{stripe}.lock")
