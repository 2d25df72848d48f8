"""Matching dataset records against the ONE API's filters, as ONE-api's ``filter_datasets`` does.

A pattern is a shell wildcard (``*``, ``?``, ``[...]``) when the ``One``'s ``wildcards`` flag is True
(ONE-api's default) and a regular expression otherwise; either way it must match the whole value.
A list is an OR. ``None`` matches anything (present or absent); ``''`` matches only an absent part
(no collection, no revision).
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from .catalog import DatasetRecord
from .qc import QC, qc_keep

#: The ALF parts a ``filename`` dict (or ``load_object`` keyword) may filter on.
FILE_PART_KEYS = ("namespace", "object", "attribute", "timescale", "extra", "extension")


def ensure_list(value: Any) -> list[Any]:
    """``value`` as a list (a string or a single value becomes a list of one)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


@lru_cache(maxsize=1024)
def _compiled(pattern: str, wildcards: bool) -> re.Pattern[str] | None:
    try:
        return re.compile(fnmatch.translate(pattern) if wildcards else pattern, re.DOTALL if wildcards else 0)
    except re.error:
        return None


def pattern_match(value: str | None, pattern: Any, wildcards: bool = True) -> bool:
    """True if ``value`` matches ``pattern`` (or one of a list) in full; see the module docstring."""
    if pattern is None:
        return True
    for p in ensure_list(pattern):
        p = "" if p is None else str(p)
        if p == "":
            if not value:
                return True
            continue
        if value is None:
            continue
        if value == p:
            return True
        rx = _compiled(p, wildcards)
        if rx is not None and rx.fullmatch(value):
            return True
    return False


def _name_match(r: DatasetRecord, pattern: str, wildcards: bool) -> bool:
    if "/" in pattern:  # a path: matched against the path without the revision folder
        value = f"{r.collection}/{r.filename}" if r.collection else r.filename
        return pattern_match(value, pattern, wildcards) or pattern_match(r.rel_path, pattern, wildcards)
    return pattern_match(r.filename, pattern, wildcards)


def _parts_match(r: DatasetRecord, parts: Mapping[str, Any], wildcards: bool) -> bool:
    for key, wanted in parts.items():
        if key not in FILE_PART_KEYS:
            raise TypeError(f"unknown ALF part {key!r} in a dataset filter; parts: {', '.join(FILE_PART_KEYS)}")
        if wanted is None:
            continue
        value = getattr(r, key)
        if key == "object" and r.namespace and not pattern_match(value, wanted, wildcards):
            value = f"_{r.namespace}_{r.object}"  # '_ibl_wheel' names the namespaced object
        if not pattern_match(value, wanted, wildcards):
            return False
    return True


def filter_records(
    recs: Sequence[DatasetRecord],
    filename: Any = None,
    collection: Any = None,
    revision: Any = None,
    wildcards: bool = True,
    revision_last_before: bool = False,
) -> list[DatasetRecord]:
    """The records matching the filters.

    ``filename``: a pattern (or list of patterns) on the file name — or on ``collection/name`` when it
    holds a ``/`` — or a dict of ALF parts (:data:`FILE_PART_KEYS`). ``revision``: with
    ``revision_last_before`` (loading), one record per dataset, the asked revision or the latest
    before it (the default revision when None); otherwise a pattern the revision must match.
    """
    out = []
    for r in recs:
        if not pattern_match(r.collection, collection, wildcards):
            continue
        if not revision_last_before and not pattern_match(r.revision, revision, wildcards):
            continue
        if filename is not None:
            if isinstance(filename, Mapping):
                if not _parts_match(r, filename, wildcards):
                    continue
            elif not any(_name_match(r, str(p), wildcards) for p in ensure_list(filename)):
                continue
        out.append(r)
    return _pick_revisions(out, revision) if revision_last_before else out


def _match(value: str, wanted: Any) -> bool:
    """Exact or shell-wildcard match of one value against a pattern or list (the CLI's download filter)."""
    return pattern_match(value, wanted, True)


def _key(r: DatasetRecord) -> str:
    """The key of a dataset in a loaded object: attribute, then ``_timescale`` and ``.extra`` if any."""
    return r.attribute + (f"_{r.timescale}" if r.timescale else "") + (f".{r.extra}" if r.extra else "")


def _object_match(r: DatasetRecord, obj: str, wildcards: bool = True) -> bool:
    """True if the record belongs to object ``obj`` (any namespace), or to ``_ns_obj`` when so named."""
    if pattern_match(r.object, obj, wildcards):
        return True
    return r.namespace is not None and pattern_match(f"_{r.namespace}_{r.object}", obj, wildcards)


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


def filter_qc(recs: Sequence[DatasetRecord], qc: Any = QC.FAIL, ignore_qc_not_set: bool = False) -> list[DatasetRecord]:
    """The records of QC at most ``qc`` (a :class:`onecore.qc.QC`, its name or int, or ONE-api's
    ``QC``), as ONE-api's ``filter_datasets``; ``ignore_qc_not_set`` also drops those of QC NOT_SET.
    Records whose QC is unknown (None: the repository has no QC) are always kept."""
    level = int(QC.validate(qc))
    if all(r.qc is None for r in recs):
        return list(recs)
    return [r for r in recs if qc_keep(r.qc, level, ignore_qc_not_set)]
