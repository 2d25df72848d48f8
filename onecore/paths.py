"""Safe relative paths and URLs: the checks every path from an index or a server goes through.

:func:`check_relpath` refuses anything but a plain relative POSIX path, :func:`safe_join` also refuses
symbolic links leading out of the root, :func:`url_join` percent-encodes a relative path onto a base
URL. :data:`PART_SUFFIX` ends the names of temporary files, which start with a dot so that no ALF dataset
can collide with them: :func:`part_path` gives the temporary file of a target.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from .errors import UnsafePathError
from .lazy import LazyPattern

__all__ = ["PART_SUFFIX", "check_relpath", "part_meta_path", "part_path", "safe_join", "url_join"]

PART_SUFFIX = ".part"
_SAFE_REL = LazyPattern(r"^[A-Za-z0-9_.\-#/]+\Z")


def check_relpath(rel: str) -> str:
    """Return ``rel`` if it is a safe relative POSIX path, else raise :class:`UnsafePathError`.

    Safe means: ASCII letters, digits and ``_.-#/`` only (so no ``%``-encoding tricks, backslashes,
    drive letters, ``~`` or Unicode look-alikes), not absolute, and no empty, ``.`` or ``..`` part.
    """
    if not isinstance(rel, str) or not rel:
        raise UnsafePathError(f"refused an empty or non-text path: {rel!r}")
    if not _SAFE_REL.match(rel):
        raise UnsafePathError(
            f"refused the path {rel!r}: only letters, digits and '_.-#/' are allowed in dataset paths"
        )
    if rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
        raise UnsafePathError(f"refused the path {rel!r}: it is absolute or has an empty, '.' or '..' part")
    return rel


def safe_join(root: str | os.PathLike, rel: str) -> Path:
    """``root / rel`` after :func:`check_relpath`, refusing symlinks that lead outside ``root``."""
    check_relpath(rel)
    base = Path(root).resolve()
    target = base.joinpath(*rel.split("/"))
    # An existing symlink anywhere on the way (even a dangling one) may lead outside: resolve the
    # deepest existing entry and compare.
    probe = target
    while not os.path.lexists(probe) and probe != base:
        probe = probe.parent
    real = probe.resolve()
    if real != base and base not in real.parents:
        raise UnsafePathError(f"refused the path {rel!r}: it leads outside {base} through a symbolic link")
    return target


class _Joiner:
    """:func:`safe_join` for a batch: the destination is resolved once, and folders already found to lie
    inside it are remembered, so that thousands of files in a few folders cost a few checks."""

    def __init__(self, root: Path):
        self.base = Path(root).resolve()
        self.safe_dirs: set[Path] = {self.base}

    def __call__(self, rel: str) -> Path:
        check_relpath(rel)
        target = self.base.joinpath(*rel.split("/"))
        if target.parent in self.safe_dirs and not os.path.islink(target):
            return target
        target = safe_join(self.base, rel)
        # Checked: it resolves inside, and what does not exist yet will be made by us as plain folders.
        self.safe_dirs.add(target.parent)
        return target


def url_join(base_url: str, rel: str) -> str:
    """Join a base URL and a relative path, percent-encoding characters such as ``#``, ``%`` and spaces."""
    if not base_url.endswith("/"):
        base_url += "/"
    return base_url + quote(rel, safe="/")


def part_path(target: str | os.PathLike) -> Path:
    """The temporary file of ``target`` while it is written: ``dir/.NAME.part``.

    A name starting with a dot is never a valid ALF dataset, so no dataset (not even one named
    ``NAME.part``) can occupy it, and scans and indexes skip it.
    """
    target = Path(target)
    return target.with_name(f".{target.name}{PART_SUFFIX}")


def part_meta_path(target: str | os.PathLike) -> Path:
    """What is recorded about the partial download of ``target`` (``dir/.NAME.part.json``): the URL
    and the validator (strong ETag or Last-Modified) its bytes came with."""
    target = Path(target)
    return target.with_name(f".{target.name}{PART_SUFFIX}.json")
