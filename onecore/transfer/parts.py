"""Partial files of downloads: ``dir/.NAME.part`` and what is recorded beside it (``dir/.NAME.part.json``:
the URL and the validator its bytes came with), opened without following symbolic links.

A partial file is resumed only when its bytes are proven to be of the version being fetched: the
index gives an md5 (the result is verified), or the validator recorded with it (a strong ETag or
Last-Modified) is sent as ``If-Range`` and the server answers for that same version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from ..paths import part_meta_path, part_path

__all__ = ["part_path", "part_meta_path", "read_meta", "write_meta", "discard", "forget", "open_part"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_meta(target: Path) -> dict[str, Any] | None:
    """What was recorded with the partial file of ``target`` (None when nothing usable was)."""
    meta = part_meta_path(target)
    try:
        fd = os.open(meta, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read(1 << 16))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_meta(target: Path, url: str, validator: str | None) -> None:
    """Record (or, without a validator, forget) the version the partial file of ``target`` holds."""
    meta = part_meta_path(target)
    _unlink(meta)
    if not validator:
        return
    fd = os.open(meta, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "validator": validator}, f)


def forget(target: Path) -> None:
    """Remove the record of the partial file of ``target`` (once the file is in place)."""
    _unlink(part_meta_path(target))


def discard(target: Path) -> None:
    """Remove the partial file of ``target`` and its record."""
    _unlink(part_path(target))
    _unlink(part_meta_path(target))


def open_part(target: Path, append: bool) -> IO[bytes]:
    """The partial file of ``target`` opened for writing (appending or from zero), never through a link."""
    part = part_path(target)
    if part.is_symlink():  # never write through a link planted in the cache
        part.unlink()
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(os.open(part, flags, 0o644), "ab" if append else "wb", buffering=0)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:  # pragma: no cover - something odd planted there
        raise
