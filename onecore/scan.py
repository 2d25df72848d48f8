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
from .paths import PART_SUFFIX


def _walk(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(relative folder, its non-hidden file names sorted) for every folder, folders in sorted order.

    One ``scandir`` per folder and no ``stat`` call (``DirEntry.is_dir`` uses the entry's type
    except for symbolic links, which are followed).
    """
    stack = [""]
    base = str(root)
    sep = os.sep
    while stack:
        rel_dir = stack.pop()
        folder = f"{base}{sep}{rel_dir.replace('/', sep)}" if rel_dir else base
        try:
            it = os.scandir(folder)
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            continue
        files: list[str] = []
        dirs: list[str] = []
        with it:
            for entry in it:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=True):
                    dirs.append(name)
                elif not name.endswith(PART_SUFFIX):
                    files.append(name)
        if files:
            files.sort()
            yield rel_dir, files
        if dirs:
            dirs.sort(reverse=True)  # popped in ascending order
            prefix = f"{rel_dir}/" if rel_dir else ""
            stack.extend([prefix + d for d in dirs])


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


_GOOD_NAMES: set[str] = set()  # ALF file names already seen (a data root repeats a few hundred names)


def _good_name(name: str) -> bool:
    if _name_problem(name) is not None:
        return False
    if len(_GOOD_NAMES) >= 65536:
        _GOOD_NAMES.clear()
    _GOOD_NAMES.add(name)
    return True


def scan(root: str | os.PathLike) -> Iterator[str]:
    """Yield the relative path of every ALF dataset under ``root``: folder by folder in sorted order
    (a folder's files, sorted, before its subfolders)."""
    root = Path(root)
    if not root.is_dir():
        raise alf.ALFError(f"{str(root)!r} is not a folder")
    for rel_dir, names in _walk(root):
        if _dir_problem(rel_dir) is not None:
            continue
        prefix = f"{rel_dir}/"
        yield from [prefix + n for n in names if n in _GOOD_NAMES or _good_name(n)]


def check(root: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield ``(relative path, reason)`` for every file under ``root`` that breaks the ALF convention."""
    root = Path(root)
    if not root.is_dir():
        raise alf.ALFError(f"{str(root)!r} is not a folder")
    for rel_dir, name in ((d, n) for d, names in _walk(root) for n in names):
        rel = f"{rel_dir}/{name}" if rel_dir else name
        if _dir_problem(rel_dir) is None and _name_problem(name) is None:
            continue
        try:
            alf.parse(rel)
        except alf.ALFError as e:
            reason = str(e)
            prefix = f"{rel!r}: "
            yield rel, reason[len(prefix) :] if reason.startswith(prefix) else reason


def sessions(paths: Iterator[str]) -> list[str]:
    """The distinct session paths of dataset paths, in first-seen order."""
    seen: dict[str, None] = {}
    for p in paths:
        parts = p.split("/")
        n = 5 if len(parts) > 1 and parts[1] == "Subjects" else 3
        seen.setdefault("/".join(parts[:n]))
    return list(seen)
