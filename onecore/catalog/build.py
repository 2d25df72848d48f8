"""Streaming index rows into the catalog tables (bulk insert)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from .. import alf
from ..errors import OneError
from ..repository import Dataset, SessionRecord
from .records import _split


class _Inserter:
    """Streams rows into the tables, caching session and name ids (each parsed once)."""

    def __init__(self, db: sqlite3.Connection, upsert: bool = False):
        self.db = db
        self.upsert = upsert
        self.sessions: dict[str, int] = {}
        self.names: dict[str, int] = {}
        self.has_qc = False  # a row with a known QC was inserted
        if upsert:
            self.sessions = {eid: i for i, eid in db.execute("SELECT id, eid FROM sessions")}
            for i, c, r, f in db.execute("SELECT id, collection, revision, filename FROM names"):
                self.names[f"{c}\t{r}\t{f}"] = i  # (a tab: never in a path, so never a path)

    def _session(
        self, eid: str, sp: str, lab: str | None, subject: str, date: str, number: str, rec: SessionRecord | None = None
    ) -> int:
        sid = self.sessions.get(eid)
        if sid is not None and rec is None:
            return sid
        projects = json.dumps(rec.projects) if rec and rec.projects else None
        tp = rec.task_protocol if rec else None
        extra = json.dumps(rec.extra) if rec and rec.extra else None
        if sid is not None:
            self.db.execute(
                "UPDATE sessions SET lab=?, subject=?, date=?, number=?, path=?, projects=?, "
                "task_protocol=?, extra=? WHERE id=?",
                (lab, subject, date, int(number), sp, projects, tp, extra, sid),
            )
            return sid
        if rec is None and lab is not None:  # the common case, without binding None (slow)
            cur = self.db.execute(
                "INSERT INTO sessions (eid, lab, subject, date, number, path) VALUES (?, ?, ?, ?, ?, ?)",
                (eid, lab, subject, date, int(number), sp),
            )
        else:
            cur = self.db.execute(
                "INSERT INTO sessions (eid, lab, subject, date, number, path, projects, task_protocol, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (eid, lab, subject, date, int(number), sp, projects, tp, extra),
            )
        self.sessions[eid] = sid = cur.lastrowid
        return sid

    def _name(self, rest: str, full: str) -> int:
        nid = self.names.get(rest)
        if nid is not None:
            return nid
        *folders, fname = rest.split("/")
        rev = ""
        if folders and folders[-1].startswith("#") and folders[-1].endswith("#"):
            rev = folders.pop()[1:-1]
        coll = "/".join(folders)
        key = f"{coll}\t{rev}\t{fname}"
        nid = self.names.get(key)
        if nid is None:
            p = alf.parse(full)
            nid = self._insert_name(
                (
                    coll,
                    rev,
                    fname,
                    p["namespace"],
                    p["object"],
                    p["attribute"],
                    p["timescale"],
                    p["extra"],
                    p["extension"],
                )
            )
            self.names[key] = nid
        self.names[rest] = nid
        return nid

    def _insert_name(self, values: tuple) -> int:
        """Insert a ``names`` row (collection, revision, filename, namespace, object, attribute,
        timescale, extra, extension); returns its id."""
        cur = self.db.execute(
            "INSERT INTO names (collection, revision, filename, namespace, object, attribute, timescale, "
            "extra, extension) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        return cur.lastrowid  # type: ignore[return-value]

    def insert(self, rows: Iterable[Dataset], sessions: Iterable[SessionRecord]) -> int:
        """Insert rows in order (``INSERT OR IGNORE``: the first of duplicates wins; upsert: the last).

        Speed: a dataset's folder is parsed once (its session id and the offset of its collection
        part are remembered), and rows go in as multi-row ``INSERT`` statements naming only the
        columns the rows fill (binding ``None`` is slow in the sqlite3 module); a change of filled
        columns flushes the batch, so the order is kept.
        """
        for rec in sessions:
            sp = alf.session_path(rec.lab, rec.subject, rec.date, rec.number)
            self._session(rec.eid, sp, rec.lab, rec.subject, rec.date, str(rec.number), rec)
        folders: dict[str, tuple[int, int]] = {}  # folder -> (session id, where `rest` starts)
        names = self.names
        n = 0
        batch: list[Any] = []
        shape: tuple[bool, ...] = ()
        for row in rows:
            rel = row.rel_path
            eid = row.eid
            hit = folders.get(rel[: rel.rfind("/")]) if eid is None else None
            if hit is None:
                parts = _split(rel)
                if parts is None:
                    raise OneError(f"catalog: {rel!r} is not an ALF dataset path")
                sp, lab, subject, date, number, rest = parts
                sid = self._session(eid or sp, sp, lab, subject, date, number)
                nid = self._name(rest, rel)
                if eid is None:
                    folders[rel[: rel.rfind("/")]] = (sid, len(rel) - len(rest))
            else:
                sid, cut = hit
                nid = names.get(rel[cut:])
                if nid is None:
                    nid = self._name(rel[cut:], rel)
            url, size, md5, default, uuid, qc = row.url, row.size, row.md5, row.default, row.id, row.qc
            if url is None and size is None and md5 is None and default is None and uuid is None and qc is None:
                if shape:
                    self._flush(shape, batch)
                    shape = ()
                batch.append(sid)
                batch.append(nid)
            else:
                vals = (url, size, md5, None if default is None else int(default), uuid, qc)
                if qc is not None:
                    self.has_qc = True
                this = tuple(v is not None for v in vals)
                if this != shape:
                    self._flush(shape, batch)
                    shape = this
                batch.append(sid)
                batch.append(nid)
                batch += [v for v in vals if v is not None]
            n += 1
            if len(batch) >= 70000:
                self._flush(shape, batch)
        self._flush(shape, batch)
        return n

    def _flush(self, shape: tuple[bool, ...], batch: list[Any]) -> None:
        """Insert ``batch`` (flat values of the columns ``shape`` marks as filled) and empty it."""
        if not batch:
            return
        cols = ["session", "name", *(c for c, filled in zip(_DATASET_COLS, shape) if filled)]
        width = len(cols)
        one = "(" + ",".join("?" * width) + ")"
        verb = "INSERT OR REPLACE" if self.upsert else "INSERT OR IGNORE"
        head = f"{verb} INTO datasets ({', '.join(cols)}) VALUES "
        step = _ROWS_PER_INSERT * width
        full = len(batch) - len(batch) % step
        if full:
            sql = head + ",".join([one] * _ROWS_PER_INSERT)
            for i in range(0, full, step):
                self.db.execute(sql, batch[i : i + step])
        if full < len(batch):
            self.db.execute(head + ",".join([one] * ((len(batch) - full) // width)), batch[full:])
        batch.clear()


_DATASET_COLS = ("url", "size", "md5", "is_default", "uuid", "qc")
_ROWS_PER_INSERT = 100  # at most 800 parameters: under SQLite's oldest limit (999)
