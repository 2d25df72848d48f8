"""``ALFPath``: a ``pathlib.Path`` that knows its ALF parts, as ONE-api's ``one.alf.path.ALFPath``.

The ONE API returns these for ``eid2path`` and ``download_only=True``, so code written for ONE-api
can read ``path.collection``, ``path.session_path()`` or ``path.parse_alf_name()`` unchanged::

    >>> p = ALFPath('/data/lab/Subjects/KS005/2023-01-01/001/alf/probe00/spikes.times.npy')
    >>> p.collection, p.object, p.attribute
    ('alf/probe00', 'spikes', 'times')

Missing parts are empty strings (properties) or None (``parse_*`` dicts), as in ONE-api.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from .lazy import LazyPattern

__all__ = ["ALFPath"]

_SESSION = LazyPattern(
    r"(?:^|/)(?:(?P<lab>\w+)/Subjects/)?(?P<subject>[\w.-]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<number>\d{1,3})(?=/|$)"
)
_NAME = LazyPattern(
    r"^(?:_(?P<namespace>[a-zA-Z0-9]+)_)?(?P<object>\w+?)\."
    r"(?P<attribute>(?:_[a-z]+_)?[a-zA-Z0-9]+(?:_times(?=[_.])|_intervals(?=[_.]))?)"
    r"(?:_(?P<timescale>\w+))?(?:\.(?P<extra>[.\w-]+))*\.(?P<extension>\w+)$"
)
_SESSION_KEYS = ("lab", "subject", "date", "number")
_NAME_KEYS = ("namespace", "object", "attribute", "timescale", "extra", "extension")


class ALFPath(type(Path())):  # type: ignore[misc]  # PosixPath or WindowsPath, as Path() picks
    """A local path with ONE-api's ALF properties and methods."""

    # -- parsing -------------------------------------------------------------------------------
    def _session_match(self) -> re.Match[str] | None:
        found = list(_SESSION.finditer(self.as_posix()))
        return found[-1] if found else None

    def parse_alf_name(self, as_dict: bool = True) -> Any:
        """The ALF parts of the file name (namespace, object, attribute, timescale, extra, extension)."""
        m = _NAME.match(self.name)
        d = {k: (m.group(k) if m else None) for k in _NAME_KEYS}
        return d if as_dict else tuple(d.values())

    def parse_alf_path(self, as_dict: bool = True) -> Any:
        """Every ALF part (lab, subject, date, number, collection, revision, then the name's parts)."""
        m = self._session_match()
        d: dict[str, Any] = {k: (m.group(k) if m else None) for k in _SESSION_KEYS}
        rest = self.as_posix()[m.end() :].strip("/").split("/") if m else []
        folders = rest[:-1] if rest and _NAME.match(rest[-1]) else rest
        revision = None
        if folders and folders[-1].startswith("#") and folders[-1].endswith("#"):
            revision = folders.pop()[1:-1]
        d["collection"] = "/".join(folders) or None
        d["revision"] = revision
        d.update(self.parse_alf_name(as_dict=True))
        return d if as_dict else tuple(d.values())

    @property
    def dataset_name_parts(self) -> tuple[str, ...]:
        """(namespace, object, attribute, timescale, extra, extension), '' for missing ones."""
        return tuple(p or "" for p in self.parse_alf_name(as_dict=False))

    @property
    def session_parts(self) -> tuple[str, ...]:
        """(lab, subject, date, number), '' for missing ones."""
        m = self._session_match()
        return tuple((m.group(k) or "") if m else "" for k in _SESSION_KEYS)

    @property
    def alf_parts(self) -> tuple[str, ...]:
        """Every ALF part, '' for missing ones."""
        return tuple(p or "" for p in self.parse_alf_path(as_dict=False))

    lab = property(lambda self: self.session_parts[0], doc="The lab, or ''.")
    subject = property(lambda self: self.session_parts[1], doc="The subject, or ''.")
    date = property(lambda self: self.session_parts[2], doc="The session date, or ''.")
    sequence = property(lambda self: self.session_parts[3], doc="The session number as written, or ''.")
    collection = property(lambda self: self.alf_parts[4], doc="The collection, or ''.")
    revision = property(lambda self: self.alf_parts[5], doc="The revision, or ''.")
    namespace = property(lambda self: self.dataset_name_parts[0], doc="The namespace, or ''.")
    object = property(lambda self: self.dataset_name_parts[1], doc="The ALF object, or ''.")
    attribute = property(lambda self: self.dataset_name_parts[2], doc="The attribute, or ''.")
    timescale = property(lambda self: self.dataset_name_parts[3], doc="The timescale, or ''.")
    extra = property(lambda self: self.dataset_name_parts[4], doc="The extra parts, or ''.")

    # -- session -------------------------------------------------------------------------------
    def session_path(self) -> ALFPath | None:
        """The session folder this path is in (or is), or None."""
        m = self._session_match()
        if m is None:
            return None
        return ALFPath(self.as_posix()[: m.end()])

    def session_path_short(self, include_lab: bool = False) -> str | None:
        """``subject/date/number`` (``lab/subject/date/number`` with ``include_lab``), or None."""
        m = self._session_match()
        if m is None:
            return None
        parts = [m.group("lab")] if include_lab and m.group("lab") else []
        return "/".join([*parts, m.group("subject"), m.group("date"), m.group("number")])

    def is_session_path(self) -> bool:
        """True if this path is a session folder itself."""
        m = self._session_match()
        return m is not None and m.end() == len(self.as_posix().rstrip("/"))

    def is_dataset(self) -> bool:
        """True if the file name is a valid ALF dataset name."""
        return _NAME.match(self.name) is not None

    def is_valid_alf(self) -> bool:
        """True if the path is a session folder or holds a valid ALF file name inside a session."""
        return self.is_session_path() or (self.session_path() is not None and self.is_dataset())

    def relative_to_session(self) -> PurePosixPath:
        """The part after the session folder (``alf/spikes.times.npy``)."""
        sp = self.session_path()
        if sp is None:
            raise ValueError(f"{self} is not inside a session folder")
        return PurePosixPath(self.as_posix()[len(sp.as_posix()) :].lstrip("/"))

    def relative_to_lab(self) -> PurePosixPath:
        """The part from the lab folder (``lab/Subjects/...``) or the subject when there is no lab."""
        m = self._session_match()
        if m is None:
            raise ValueError(f"{self} is not inside a session folder")
        return PurePosixPath(self.as_posix()[m.start() :].lstrip("/"))

    def without_revision(self) -> ALFPath:
        """The same file without its ``#revision#`` folder."""
        return ALFPath(self.parent.parent / self.name) if self.revision else self

    def with_revision(self, revision: str) -> ALFPath:
        """The same file in revision ``revision``."""
        return ALFPath(self.without_revision().parent / f"#{revision}#" / self.name)

    def with_object(self, obj: str) -> ALFPath:
        """The same path with another ALF object name."""
        ns, o, *_ = self.dataset_name_parts
        prefix = f"_{ns}_" if ns else ""
        return self.with_name(self.name.replace(f"{prefix}{o}.", f"{prefix}{obj}.", 1))

    def iter_datasets(self, recursive: bool = False) -> Iterator[ALFPath]:
        """The ALF datasets in this folder (and below with ``recursive``), sorted."""
        files = self.rglob("*.*") if recursive else self.glob("*.*")
        for p in sorted(files):
            if p.is_file() and _NAME.match(p.name):
                yield ALFPath(p)
