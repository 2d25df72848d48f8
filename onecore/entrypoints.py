"""Entry points of a group, found without :mod:`importlib.metadata` (which costs ~25 ms to import).

``one --help`` lists the commands plugins add, so it must find the ``onecore`` entry points; this
reads the ``entry_points.txt`` of every ``*.dist-info``/``*.egg-info`` folder on ``sys.path`` the way
:func:`importlib.metadata.entry_points` does (first distribution of a name on the path wins) and
reads a distribution's name and version only when asked. A ``sys.path`` entry that is a zip file or
anything unusual falls back to :mod:`importlib.metadata`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

_NORMALIZE = re.compile(r"[-_.]+")


class Distribution:
    """The name and version of an installed distribution, read from its metadata file on first use."""

    def __init__(self, path: str):
        self._path = path
        self._meta: dict[str, str] | None = None

    @property
    def metadata(self) -> dict[str, str]:
        """The ``Name`` and ``Version`` headers (and the others of the header block)."""
        if self._meta is None:
            self._meta = {}
            for fname in ("METADATA", "PKG-INFO"):
                try:
                    with open(os.path.join(self._path, fname), encoding="utf-8", errors="replace") as f:
                        for line in f:
                            if not line.strip():
                                break
                            key, sep, value = line.partition(":")
                            if sep and not key.startswith((" ", "\t")):
                                self._meta.setdefault(key.strip().lower(), value.strip())
                    break
                except OSError:
                    continue
        return _Caseless(self._meta)

    @property
    def version(self) -> str | None:
        return self.metadata.get("version")


class _Caseless(dict):
    def __getitem__(self, key: str) -> str:
        return dict.get(self, key.lower())  # type: ignore[return-value]

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)


class EntryPoint:
    """One ``name = module[:attr]`` line of a group, loaded on demand."""

    def __init__(self, name: str, value: str, group: str, dist: Distribution | None):
        self.name = name
        self.value = value
        self.group = group
        self.dist = dist

    def load(self) -> Any:
        """Import the module and return the object the entry point names."""
        module, _, attr = self.value.partition(":")
        obj = importlib.import_module(module.strip())
        for part in attr.split(".") if attr.strip() else ():
            obj = getattr(obj, part.strip())
        return obj

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def _dist_key(folder: str) -> str:
    stem = folder.rsplit(".", 1)[0]
    return _NORMALIZE.sub("_", stem.split("-", 1)[0]).lower()


def _parse(text: str, group: str, dist: Distribution) -> list[EntryPoint]:
    out, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section == group and "=" in line:
            name, _, value = line.partition("=")
            value = value.split("[", 1)[0].strip()  # drop "[extra]" markers
            out.append(EntryPoint(name.strip(), value, group, dist))
    return out


def entry_points(group: str) -> list[Any]:
    """The entry points of ``group`` of every distribution on ``sys.path`` (first of a name wins)."""
    seen: set[str] = set()
    found: list[Any] = []
    for entry in sys.path:
        base = entry or "."
        try:
            names = os.listdir(base)
        except NotADirectoryError:
            from importlib.metadata import entry_points as slow  # a zip on sys.path: the standard way

            return list(slow(group=group))
        except OSError:
            continue
        for folder in sorted(names):
            low = folder.lower()
            if not (low.endswith(".dist-info") or low.endswith(".egg-info")):
                continue
            key = _dist_key(folder)
            if key in seen:
                continue
            path = os.path.join(base, folder)
            seen.add(key)
            file = os.path.join(path, "entry_points.txt")
            if not os.access(file, os.F_OK):  # most distributions have none: no exception for those
                continue
            try:
                with open(file, "rb") as f:
                    text = f.read().decode("utf-8")
            except OSError:
                continue
            if f"[{group}]" in text:
                found.extend(_parse(text, group, Distribution(path)))
    return found
