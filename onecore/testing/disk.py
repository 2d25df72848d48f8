"""Folders that refuse writes, for the "disk write failure on our side" tests (real I/O, no mocks).

- :func:`read_only_dir`: a folder nothing can be written into. As a normal user it is ``chmod 0555``;
  as root (which ignores permissions) it is a read-only ``tmpfs`` mounted there.
- :func:`full_dir`: a folder on a tiny ``tmpfs`` (root only), so writes fail with ``ENOSPC``.

Both skip the test (``unittest.SkipTest``, honoured by pytest) when the machine cannot provide them,
and undo everything on exit::

    with read_only_dir(tmp_path / "cache") as dest:
        report = download(items, dest, fetcher)
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import unittest
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["read_only_dir", "full_dir"]


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if not (_is_root() and mount and umount):
        raise unittest.SkipTest("needs root and mount(8) to make a tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([mount, "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        raise unittest.SkipTest(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        if subprocess.run([umount, str(path)], capture_output=True).returncode != 0:
            subprocess.run([umount, "-l", str(path)], capture_output=True)


@contextmanager
def read_only_dir(path: str | os.PathLike) -> Iterator[Path]:
    """``path`` (created empty) as a folder that refuses every write, even root's."""
    p = Path(path)
    if _is_root():
        with _tmpfs(p, "ro,size=1m,mode=0755") as mounted:
            yield mounted
        return
    p.mkdir(parents=True, exist_ok=True)
    mode = p.stat().st_mode
    p.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    try:
        yield p
    finally:
        p.chmod(mode)


@contextmanager
def full_dir(path: str | os.PathLike, size: int = 64 * 1024) -> Iterator[Path]:
    """``path`` (created empty) on a ``tmpfs`` of ``size`` bytes: writing more fails with ``ENOSPC``."""
    with _tmpfs(Path(path), f"size={size},mode=0755") as mounted:
        yield mounted
