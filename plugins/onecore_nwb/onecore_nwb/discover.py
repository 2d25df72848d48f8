"""A session's datasets grouped into ALF objects, from the dataset names alone (no NWB, no loading).

Each name is parsed with :func:`onecore.alf.parse_filename`, so the grouping (collection, namespace,
object) and the attribute keys (``times``, ``times_bpod``, ``.extra``) do not depend on how
``One.load_object`` names its keys.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from onecore.sdk import alf

#: Extensions whose files load as arrays (``.npy``) or tables (one array per column).
ARRAY_EXTENSIONS = ("npy",)
TABLE_EXTENSIONS = ("csv", "tsv", "pqt", "parquet")
#: Attribute names that carry time (in seconds from the session start).
TIME_ATTRIBUTES = ("times", "timestamps", "intervals")


@dataclass
class Part:
    """One dataset of an object."""

    rel_path: str  # relative to the session folder: ``alf/#2024-01-01#/trials.choice.npy``
    collection: str
    revision: str | None
    attribute: str
    timescale: str | None
    extra: str | None
    extension: str

    @property
    def is_table(self) -> bool:
        return self.extension.lower() in TABLE_EXTENSIONS


@dataclass
class AlfObject:
    """Every dataset of one object in one collection (default revision of each)."""

    collection: str
    namespace: str | None
    name: str
    parts: list[Part] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How messages name it: ``alf/probe00/spikes``."""
        full = f"_{self.namespace}_{self.name}" if self.namespace else self.name
        return f"{self.collection}/{full}" if self.collection else full

    @property
    def load_name(self) -> str:
        """The name to pass to ``load_object`` (with its namespace, so ``_ibl_wheel`` is not ``wheel``)."""
        return f"_{self.namespace}_{self.name}" if self.namespace else self.name

    def timescales(self) -> list[str]:
        return sorted({p.timescale for p in self.parts if p.timescale})


@dataclass
class SessionPlan:
    """What a session holds: ALF objects that may convert, and datasets that are not arrays."""

    objects: list[AlfObject]
    other: list[str]  # relative paths of datasets that are not arrays (json, yaml, raw binaries)

    def find(self, collection: str, name: str) -> AlfObject | None:
        for o in self.objects:
            if o.collection == collection and o.name == name:
                return o
        return None


def split_rel_path(rel: str) -> tuple[str, str | None, str]:
    """(collection, revision, file name) of a path relative to the session folder."""
    parts = rel.split("/")
    name = parts.pop()
    revision = None
    if parts and len(parts[-1]) > 2 and parts[-1].startswith("#") and parts[-1].endswith("#"):
        revision = parts.pop()[1:-1]
    return "/".join(parts), revision, name


def _wanted(collection: str, patterns: list[str] | None) -> bool:
    if patterns is None:
        return True
    return any(collection == p or fnmatch.fnmatchcase(collection, p) for p in patterns)


def plan_session(rel_paths: list[str], collections: list[str] | None = None) -> SessionPlan:
    """Group the datasets (relative paths, default revisions) of a session into objects."""
    objects: dict[tuple[str, str | None, str], AlfObject] = {}
    other: list[str] = []
    for rel in sorted(rel_paths):
        collection, revision, name = split_rel_path(rel)
        if not _wanted(collection, collections):
            continue
        try:
            d = alf.parse_filename(name)
        except alf.ALFError:
            other.append(rel)
            continue
        ext = str(d["extension"])
        if ext.lower() not in ARRAY_EXTENSIONS + TABLE_EXTENSIONS:
            other.append(rel)
            continue
        key = (collection, d["namespace"], str(d["object"]))
        obj = objects.setdefault(key, AlfObject(collection, d["namespace"], str(d["object"])))
        obj.parts.append(Part(rel, collection, revision, str(d["attribute"]), d["timescale"], d["extra"], ext))
    return SessionPlan(sorted(objects.values(), key=lambda o: (o.collection, o.name, o.namespace or "")), other)


def is_time_attribute(name: str) -> bool:
    """``times``, ``timestamps``, ``intervals`` and ``*_times``/``*_intervals`` (ALF time attributes)."""
    return name in TIME_ATTRIBUTES or name.endswith("_times") or name.endswith("_intervals")
