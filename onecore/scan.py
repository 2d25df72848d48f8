"""Scanning a data root for ALF datasets, and checking it against the convention.

:func:`scan` yields the relative path (from the lab folder) of every ALF dataset under
``lab/Subjects/subject/date/NNN/`` in every collection; :func:`check` yields every file that breaks
the convention with the reason. Hidden files and folders (names starting with ``.``) and partial
downloads (``*.part``) are ignored by both.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from . import alf
from .transfer import PART_SUFFIX


def _walk(root: Path) -> Iterator[tuple[str, str]]:
    """(relative folder, file name) for every non-hidden file, folders in sorted order."""
    stack = [""]
    base = str(root)
    while stack:
        rel_dir = stack.pop()
        folder = os.path.join(base, rel_dir) if rel_dir else base
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=True):
                stack.append(f"{rel_dir}/{name}" if rel_dir else name)
            elif not name.endswith(PART_SUFFIX):
                yield rel_dir, name


@lru_cache(maxsize=65536)
def _dir_problem(rel_dir: str) -> str | None:
    """Why files in ``rel_dir`` cannot be ALF datasets (None if they can): checked once per folder."""
    try:
        alf.parse(f"{rel_dir}/x.y.z" if rel_dir else "x.y.z")
    except alf.ALFError as e:
        return str(e).replace("/x.y.z", "/...")
    return None


@lru_cache(maxsize=65536)
def _name_problem(name: str) -> str | None:
    try:
        alf.parse_filename(name)
    except alf.ALFError as e:
        return str(e)
    return None


def scan(root: str | os.PathLike) -> Iterator[str]:
    """Yield the relative path of every ALF dataset under ``root``, sorted by folder then name."""
    root = Path(root)
    if not root.is_dir():
        raise alf.ALFError(f"{str(root)!r} is not a folder")
    for rel_dir, name in _walk(root):
        if _dir_problem(rel_dir) is None and _name_problem(name) is None:
            yield f"{rel_dir}/{name}"


def check(root: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield ``(relative path, reason)`` for every file under ``root`` that breaks the ALF convention."""
    root = Path(root)
    if not root.is_dir():
        raise alf.ALFError(f"{str(root)!r} is not a folder")
    for rel_dir, name in _walk(root):
        rel = f"{rel_dir}/{name}" if rel_dir else name
        if _dir_problem(rel_dir) is None and _name_problem(name) is None:
            continue
        try:
            alf.parse(rel)
        except alf.ALFError as e:
            reason = str(e)
            prefix = f"{rel!r}: "
            yield rel, reason[len(prefix):] if reason.startswith(prefix) else reason


def sessions(paths: Iterator[str]) -> list[str]:
    """The distinct session paths of dataset paths, in first-seen order."""
    seen: dict[str, None] = {}
    for p in paths:
        parts = p.split("/")
        n = 5 if len(parts) > 1 and parts[1] == "Subjects" else 3
        seen.setdefault("/".join(parts[:n]))
    return list(seen)
