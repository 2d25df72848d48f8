"""Scanning a data root for ALF datasets, and checking it against the convention.

:func:`scan` yields the relative path (from the lab folder) of every ALF dataset under
``lab/Subjects/subject/date/NNN/`` in every collection; :func:`check` yields every file that breaks
the convention with the reason. Hidden files and folders (names starting with ``.``) and partial
downloads (``*.part``) are ignored by both.

Symbolic links: by default a link that leads outside the data root is not followed; it is reported
(``problems``, and by :func:`check`) as skipped. ``follow_symlinks=True`` follows them. A link that
leads back into a folder being scanned (a loop), a broken link and an unreadable folder are each
reported once, and the rest of the root is scanned.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from . import alf
from .paths import PART_SUFFIX

Problems = list[tuple[str, str]]


def _walk(
    root: Path, follow_symlinks: bool = False, problems: Problems | None = None
) -> Iterator[tuple[str, list[str]]]:
    """(relative folder, its non-hidden file names sorted) for every folder, folders in sorted order.

    One ``scandir`` per folder and no ``stat`` call except for symbolic links, which are resolved
    (:func:`os.path.realpath`) and followed only when they stay inside ``root`` (or with
    ``follow_symlinks``) and do not lead back into a folder on the way (a loop); ``problems`` gets
    ``(relative path, reason)`` for each link skipped and each folder that cannot be read.
    """
    base = str(root)
    real_root = os.path.realpath(base)
    sep = os.sep
    # (relative folder, its real path) -- the real path is only resolved at symbolic links
    stack: list[tuple[str, str]] = [("", real_root)]
    entered: set[str] = set()  # real targets of the linked folders already entered
    while stack:
        rel_dir, real_dir = stack.pop()
        folder = f"{base}{sep}{rel_dir.replace('/', sep)}" if rel_dir else base
        try:
            it = os.scandir(folder)
        except FileNotFoundError:
            continue
        except OSError as e:
            _report(problems, rel_dir, f"cannot read this folder ({e.strerror or e}): skipped")
            continue
        files: list[str] = []
        dirs: list[tuple[str, str]] = []
        with it:
            for entry in it:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_symlink():
                    rel = f"{rel_dir}/{name}" if rel_dir else name
                    target = _link_target(entry.path, rel, real_root, real_dir, entered, follow_symlinks, problems)
                    if target == "":
                        continue
                    if target is not None:
                        dirs.append((name, target))
                    elif not name.endswith(PART_SUFFIX):
                        files.append(name)
                elif entry.is_dir(follow_symlinks=False):
                    dirs.append((name, f"{real_dir}{sep}{name}"))
                elif not name.endswith(PART_SUFFIX):
                    files.append(name)
        if files:
            files.sort()
            yield rel_dir, files
        if dirs:
            dirs.sort(reverse=True)  # popped in ascending order
            prefix = f"{rel_dir}/" if rel_dir else ""
            stack.extend([(prefix + d, real) for d, real in dirs])


def _report(problems: Problems | None, rel: str, reason: str) -> None:
    if problems is not None:
        problems.append((rel or ".", reason))


def _link_target(
    path: str,
    rel: str,
    real_root: str,
    real_dir: str,
    entered: set[str],
    follow: bool,
    problems: Problems | None,
) -> str | None:
    """For a symbolic link: its real target when it is a folder to scan, None when it is a file to
    list, "" when it is skipped (and reported)."""
    if not os.path.exists(path):  # dangling, or a link to itself (ELOOP)
        _report(problems, rel, "broken symbolic link (or a loop of links): skipped")
        return ""
    target = os.path.realpath(path)
    is_dir = os.path.isdir(path)
    inside = target == real_root or target.startswith(real_root.rstrip(os.sep) + os.sep)
    if not inside and not follow:
        what = "folder" if is_dir else "file"
        _report(
            problems,
            rel,
            f"symbolic link to the {what} {target}, outside the data root: skipped (--follow-symlinks to include it)",
        )
        return ""
    if not is_dir:
        return None
    here = real_dir.rstrip(os.sep) + os.sep
    if target in entered or here.startswith(target.rstrip(os.sep) + os.sep) or target == real_dir:
        _report(problems, rel, f"symbolic link loop (leads back to {target}): skipped")
        return ""
    entered.add(target)
    return target


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


def scan(root: str | os.PathLike, *, follow_symlinks: bool = False, problems: Problems | None = None) -> Iterator[str]:
    """Yield the relative path of every ALF dataset under ``root``: folder by folder in sorted order
    (a folder's files, sorted, before its subfolders).

    Symbolic links leading outside ``root`` are skipped unless ``follow_symlinks``; each skipped link
    or loop is appended to ``problems`` as ``(relative path, reason)``."""
    root = Path(root)
    if not root.is_dir():
        raise alf.ALFError(f"{str(root)!r} is not a folder")
    for rel_dir, names in _walk(root, follow_symlinks, problems):
        if _dir_problem(rel_dir) is not None:
            continue
        prefix = f"{rel_dir}/"
        yield from [prefix + n for n in names if n in _GOOD_NAMES or _good_name(n)]


def check(root: str | os.PathLike, *, follow_symlinks: bool = False) -> Iterator[tuple[str, str]]:
    """Yield ``(relative path, reason)`` for every file under ``root`` that breaks the ALF convention,
    and for every symbolic link skipped (outside the root, a loop, broken)."""
    root = Path(root)
    if not root.is_dir():
        raise alf.ALFError(f"{str(root)!r} is not a folder")
    problems: Problems = []
    yield from _check_files(root, follow_symlinks, problems)
    yield from problems


def _check_files(root: Path, follow_symlinks: bool, problems: Problems) -> Iterator[tuple[str, str]]:
    for rel_dir, name in ((d, n) for d, names in _walk(root, follow_symlinks, problems) for n in names):
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
