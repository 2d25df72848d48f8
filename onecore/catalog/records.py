"""Rows as the catalog returns them: :class:`DatasetRecord`, session dicts, ALF session-path splitting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..jsontext import loads
from ..lazy import LazyPattern
from ..qc import qc_name

_SESSION_RE = LazyPattern(r"^(?:([^/]+)/Subjects/)?([^/]+)/(\d{4}-\d{2}-\d{2})/(\d{1,3})/(.+)\Z", re.ASCII | re.DOTALL)


@dataclass
class DatasetRecord:
    """A dataset as the catalog knows it."""

    eid: str
    session_path: str
    collection: str | None
    revision: str | None
    filename: str
    object: str
    attribute: str
    timescale: str | None
    extra: str | None
    extension: str
    namespace: str | None
    url: str | None
    size: int | None
    md5: str | None
    default: bool | None
    uuid: str | None
    qc: int | None = None  #: the dataset's QC level (:class:`onecore.qc.QC`), None when unknown

    @property
    def rel_path(self) -> str:
        """Path relative to the session folder (``alf/probe00/spikes.times.npy``)."""
        parts = [p for p in (self.collection, f"#{self.revision}#" if self.revision else None) if p]
        return "/".join([*parts, self.filename])

    @property
    def full_path(self) -> str:
        """Path relative to the data root (from the lab folder)."""
        return f"{self.session_path}/{self.rel_path}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rel_path": self.rel_path,
            "full_path": self.full_path,
            "eid": self.eid,
            "collection": self.collection,
            "revision": self.revision,
            "object": self.object,
            "attribute": self.attribute,
            "timescale": self.timescale,
            "extra": self.extra,
            "extension": self.extension,
            "namespace": self.namespace,
            "url": self.url,
            "size": self.size,
            "md5": self.md5,
            "default_revision": self.default,
            "id": self.uuid,
            "qc": qc_name(self.qc),
        }


def _split(rel_path: str) -> tuple[str, str | None, str, str, str, str] | None:
    """(session path, lab, subject, date, number, rest) or None."""
    m = _SESSION_RE.match(rel_path)
    if not m:
        return None
    lab, subject, date, number, rest = m.groups()
    sp = f"{lab}/Subjects/{subject}/{date}/{number}" if lab else f"{subject}/{date}/{number}"
    return sp, lab, subject, date, number, rest  # type: ignore[return-value]


def _by_name(r: tuple) -> tuple[str, str, str]:
    return r[0][0]  # (collection, filename, revision) as stored: binary order, no ties


_SESSION_COLS = "s.eid, s.lab, s.subject, s.date, s.number, s.path, s.projects, s.task_protocol, s.extra"


def _session_dict(r: tuple) -> dict[str, Any]:
    d = {
        "eid": r[0],
        "lab": r[1],
        "subject": r[2],
        "date": r[3],
        "number": r[4],
        "path": r[5],
        "projects": loads(r[6]) if r[6] else [],
        "task_protocol": r[7],
    }
    if r[8]:
        d.update(loads(r[8]))
    return d
