"""Dataset and session search: name matching, SQL filters and the bitmap fast path (a mixin of
:class:`onecore.catalog.Catalog`)."""

from __future__ import annotations

import fnmatch
import re
import sqlite3
import threading
from itertools import compress
from typing import Any, Sequence

from .bitmaps import session_mask
from .records import _SESSION_COLS, _session_dict


class SearchMixin:
    """The search methods of :class:`onecore.catalog.Catalog` (they use its ``db``, ``_q`` and ``_lock``)."""

    _lock: threading.RLock
    _order: Any

    db: sqlite3.Connection

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:  # pragma: no cover - Catalog's
        raise NotImplementedError

    def match_names(self, term: str, collection: Any = None, revision: Any = None, namespace: Any = None) -> list[int]:
        """Ids of dataset names that a search term matches.

        A term is an object (``spikes``), ``object.attribute``, a full file name, a collection folder
        (``probe00``), or a wildcard pattern (``*`` ``?``) on the file name or on ``collection/filename``.
        """
        rows = self._q(
            "SELECT id, collection, revision, filename, namespace, object, attribute, timescale, extension FROM names"
        )
        out = []
        wild = any(c in term for c in "*?[")
        rx = _term_regex(term)  # ONE-api's form: a regular expression matching a whole file name
        for nid, coll, rev, fname, ns, obj, attr, ts, _ext in rows:
            if not _match_opt(coll, collection) or not _match_opt(rev, revision) or not _match_opt(ns or "", namespace):
                continue
            if wild:
                ok = (
                    fnmatch.fnmatchcase(fname, term)
                    or fnmatch.fnmatchcase(f"{coll}/{fname}", term)
                    or fnmatch.fnmatchcase(f"{obj}.{attr}", term)
                )
            else:
                ok = (
                    term == obj
                    or term == f"{obj}.{attr}"
                    or term == fname
                    or (ts is not None and term == f"{obj}.{attr}_{ts}")
                    or fname.startswith(term + ".")
                    or (coll and term in coll.split("/"))
                    or term == coll
                    or ("/" in term and (term == f"{coll}/{fname}" or f"{coll}/{fname}".startswith(term + ".")))
                )
            if not ok and rx is not None:
                ok = rx.fullmatch(fname) is not None
            if ok:
                out.append(nid)
        return out

    def search(
        self,
        datasets: Sequence[str] = (),
        lab: Sequence[str] | None = None,
        subject: Sequence[str] | None = None,
        date_range: tuple[str | None, str | None] | None = None,
        number: int | None = None,
        collection: Any = None,
        revision: Any = None,
        namespace: Any = None,
        projects: Sequence[str] | None = None,
        task_protocol: Sequence[str] | None = None,
        details: bool = False,
        limit: int | None = None,
        dataset_qc_lte: int | None = None,
    ) -> list[Any]:
        """Session ids (or records with ``details``) matching all filters, newest first.

        ``dataset_qc_lte`` (an int of :class:`onecore.qc.QC`), as ONE-api: with dataset terms, each
        term needs a matching dataset of QC at most that; without, a session needs any such dataset.
        Datasets of unknown QC always qualify, so a catalog that knows no QC ignores it.
        """
        where, params = [], []
        terms = list(datasets or [])
        if not terms and (collection is not None or revision is not None or namespace is not None):
            terms = ["*"]
        if dataset_qc_lte is not None and not self._knows_qc():
            dataset_qc_lte = None
        qc_sql = "" if dataset_qc_lte is None else " AND (qc IS NULL OR qc <= ?)"
        qc_params = [] if dataset_qc_lte is None else [int(dataset_qc_lte)]
        if dataset_qc_lte is not None and not terms:
            where.append("s.id IN (SELECT session FROM datasets WHERE qc IS NULL OR qc <= ?)")
            params.append(int(dataset_qc_lte))
        term_ids = []
        for term in terms:
            ids = self.match_names(term, collection, revision, namespace)
            if not ids:
                return []
            term_ids.append(ids)
        if term_ids and dataset_qc_lte is None:
            fast = self._bitmap_search(term_ids, lab, subject, date_range, number, projects, task_protocol, limit)
            if fast is not None:
                return self._details(fast) if details else fast
        for ids in term_ids:
            if len(ids) == 1:
                where.append(f"s.id IN (SELECT session FROM datasets WHERE name = ?{qc_sql})")
            else:
                where.append(
                    f"s.id IN (SELECT session FROM datasets WHERE name IN ({','.join('?' * len(ids))}){qc_sql})"
                )
            params.extend(ids)
            params.extend(qc_params)
        w, p = _session_filters(lab, subject, date_range, number, projects, task_protocol)
        where += w
        params += p
        cols = _SESSION_COLS if details else "s.eid"
        sql = f"SELECT {cols} FROM sessions s"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.date DESC, s.number DESC, s.eid"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = self._q(sql, params)
        return [_session_dict(r) for r in rows] if details else [r[0] for r in rows]

    def _knows_qc(self) -> bool:
        """Whether any dataset of the catalog has a known QC (a flag written when such rows go in)."""
        return bool(self._q("SELECT 1 FROM meta WHERE key = 'qc' AND value = 'true'"))

    def _details(self, eids: list[str]) -> list[dict[str, Any]]:
        """The session records of ``eids``, in that order."""
        by_eid: dict[str, dict[str, Any]] = {}
        for i in range(0, len(eids), 900):
            chunk = eids[i : i + 900]
            sql = f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.eid IN ({','.join('?' * len(chunk))})"
            for r in self._q(sql, chunk):
                by_eid[r[0]] = _session_dict(r)
        return [by_eid[e] for e in eids]

    def _ordered(self) -> tuple[list[str], Any] | None:
        """(eids newest first, rank of each session id) from the bitmap index; None if it is stale."""
        import numpy as np

        db = self.db
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if self._order is not None and self._order[0] == version:
            return self._order[1], self._order[2]
        rows = dict(db.execute("SELECT key, value FROM blobs WHERE key IN ('eids', 'rank_of')").fetchall())
        if len(rows) != 2:
            return None
        text = rows["eids"].decode() if isinstance(rows["eids"], bytes) else rows["eids"]
        eids = text.split("\n") if text else []
        rank_of = np.frombuffer(rows["rank_of"], dtype=np.int32)
        self._order = (version, eids, rank_of)
        return eids, rank_of

    def _bitmap_search(
        self,
        term_ids: list[list[int]],
        lab: Any,
        subject: Any,
        date_range: Any,
        number: Any,
        projects: Any,
        task_protocol: Any,
        limit: int | None,
    ) -> list[str] | None:
        """Dataset-term search on the precomputed per-name session bitmaps (None: use SQL instead).

        A term is the OR of its names' bitmaps, terms are AND-ed, session filters are applied through
        SQL on the (usually few) sessions they select; no per-row work happens in Python except for
        building the result list.
        """
        import numpy as np

        with self._lock:
            order = self._ordered()
            if order is None:
                return None
            eids, rank_of = order
            n = len(eids)
            mask = None
            for ids in term_ids:
                blobs = self.db.execute(
                    f"SELECT bits, sparse FROM name_bits WHERE name IN ({','.join('?' * len(ids))})", ids
                ).fetchall()
                m = np.zeros((n + 7) // 8, dtype=np.uint8)
                for b, sparse in blobs:
                    m |= session_mask(np, b, sparse, n)
                mask = m if mask is None else mask & m
            selected = np.unpackbits(mask, count=n).view(bool)
            where, params = _session_filters(lab, subject, date_range, number, projects, task_protocol)
            if where:
                ids = np.fromiter(
                    (r[0] for r in self.db.execute("SELECT s.id FROM sessions s WHERE " + " AND ".join(where), params)),
                    dtype=np.int64,
                )
                keep = np.zeros(n, dtype=bool)
                keep[rank_of[ids]] = True
                selected &= keep
        if limit:
            ranks = np.flatnonzero(selected)[: int(limit)]
        elif np.count_nonzero(selected) > n // 16:  # many: one pass over all, in C
            return list(compress(eids, selected.tolist()))
        else:
            ranks = np.flatnonzero(selected)
        return [eids[i] for i in ranks.tolist()]


def _term_regex(term: str) -> re.Pattern[str] | None:
    try:
        return re.compile(term)
    except re.error:
        return None


def _match_opt(value: str, wanted: Any) -> bool:
    if wanted is None:
        return True
    values = [wanted] if isinstance(wanted, str) else list(wanted)
    for w in values:
        w = "" if w is None else str(w)
        if any(c in w for c in "*?[") and fnmatch.fnmatchcase(value, w):
            return True
        if value == w:
            return True
    return False


def _session_filters(
    lab: Any, subject: Any, date_range: Any, number: Any, projects: Any, task_protocol: Any
) -> tuple[list[str], list[Any]]:
    """SQL conditions (on ``sessions s``) and parameters for the session-level search filters."""
    where: list[str] = []
    params: list[Any] = []
    for col, values in (("lab", lab), ("subject", subject)):
        if values:
            clause, p = _text_filter(f"s.{col}", values)
            where.append(clause)
            params.extend(p)
    for col, values in (("projects", projects), ("task_protocol", task_protocol)):
        if values:
            where.append("(" + " OR ".join(f"s.{col} LIKE ? ESCAPE '\\'" for _ in values) + ")")
            params.extend(f"%{_like_escape(v)}%" for v in values)
    if date_range:
        start, end = date_range
        if start:
            where.append("s.date >= ?")
            params.append(start)
        if end:
            where.append("s.date <= ?")
            params.append(end)
    if number is not None:
        where.append("s.number = ?")
        params.append(int(number))
    return where, params


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_filter(col: str, values: Sequence[str]) -> tuple[str, list[str]]:
    exact = [v for v in values if not any(c in v for c in "*?[")]
    globs = [v for v in values if any(c in v for c in "*?[")]
    parts, params = [], []
    if exact:
        parts.append(f"{col} IN ({','.join('?' * len(exact))})")
        params.extend(exact)
    for g in globs:
        parts.append(f"{col} GLOB ?")
        params.append(g)
    return "(" + " OR ".join(parts) + ")", params
