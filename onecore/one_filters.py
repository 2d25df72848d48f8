"""Matching dataset records against the ONE API's filters (names, wildcards, revisions)."""

from __future__ import annotations

import fnmatch
from typing import Any

from .catalog import DatasetRecord


def _match(value: str, wanted: Any) -> bool:
    if wanted is None:
        return True
    for w in [wanted] if isinstance(wanted, str) else list(wanted):
        w = "" if w is None else str(w)
        if value == w or (any(c in w for c in "*?[") and fnmatch.fnmatchcase(value, w)):
            return True
    return False


def _key(r: DatasetRecord) -> str:
    """The key of a dataset in a loaded object: attribute, then ``_timescale`` and ``.extra`` if any."""
    return r.attribute + (f"_{r.timescale}" if r.timescale else "") + (f".{r.extra}" if r.extra else "")


def _object_match(r: DatasetRecord, obj: str) -> bool:
    return r.object == obj or (r.namespace is not None and obj == f"_{r.namespace}_{r.object}")


def _pick_revisions(recs: list[DatasetRecord], revision: str | None) -> list[DatasetRecord]:
    """One record per (collection, file name): the asked revision (or latest before it), else the default."""
    groups: dict[tuple[str, str], list[DatasetRecord]] = {}
    for r in recs:
        groups.setdefault((r.collection or "", r.filename), []).append(r)
    out = []
    for group in groups.values():
        if revision is not None:
            cands = [r for r in group if (r.revision or "") <= revision]
            if not cands:
                continue
            pick = max(cands, key=lambda r: r.revision or "")
        else:
            flagged = [r for r in group if r.default]
            pick = flagged[0] if flagged else max(group, key=lambda r: r.revision or "")
        out.append(pick)
    return out
