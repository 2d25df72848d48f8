"""Bulk loading of a fresh catalog file: rows streamed in as multi-row inserts, folder by folder.

A dataset's folder is parsed and checked once (its session id and where its collection part starts
are remembered), file names once; the (session, name) pair of every row is kept in two compact
arrays, from which the bitmap index is built in bulk at the end (:func:`.bitmaps.build_bitmaps`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import queue
import sqlite3
import threading
from array import array
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import OneError
from ..repository import Dataset, SessionRecord
from .bitmaps import build_bitmaps
from .build import _Inserter
from .records import _split
from .rows import IndexLines, PathRows
from .schema import _NAME_INDEX, _SCHEMA, _SESSION_INDEXES, SCHEMA_VERSION

_HEX = "0123456789abcdefABCDEF"
_FOLDER_CACHE = 200_000  # folders remembered at once (an index lists a folder's files together)
_FLUSH = 60_000  # values held before a multi-row INSERT


class _Writer(threading.Thread):
    """Runs the loader's SQL in a second thread (SQLite releases the GIL while it works), so that
    parsing the next rows and inserting the previous ones overlap. Ids are all given by the loader,
    never read back, so the order of work between the threads does not matter."""

    def __init__(self) -> None:
        super().__init__(name="catalog-writer", daemon=True)
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if self.error is None:
                try:
                    job()
                except BaseException as e:  # handed to the loading thread
                    self.error = e

    def submit(self, job: Callable[[], None]) -> None:
        if self.error is not None:
            self.finish()
        self.jobs.put(job)

    def finish(self) -> None:
        """Wait for the jobs submitted so far; re-raise the first error."""
        if self.is_alive():
            self.jobs.put(None)
            self.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class _Inline:
    """The writer of small loads: the SQL runs at once, in the loading thread (a second thread only
    pays off once there is enough work to overlap)."""

    def submit(self, job: Callable[[], None]) -> None:
        job()

    def finish(self) -> None:
        pass


_THREAD_AFTER = 100_000  # rows loaded before the SQL moves to a writer thread
_SMALL = 100_000  # fewer dataset rows: no ANALYZE


class BulkLoader(_Inserter):
    """Loads rows into a new, empty catalog (``INSERT OR IGNORE``: the first of duplicates wins)."""

    def __init__(self, db: sqlite3.Connection):
        super().__init__(db)
        self.writer: _Writer | _Inline = _Inline()
        self.sids = array("i")  # session id of every inserted dataset row
        self.nids = array("i")  # name id of every inserted dataset row
        self.url_base: str | None = None  # NULL urls are url_join(url_base, path) when set
        self.n = 0  # dataset rows read
        self.inserted = 0  # dataset rows inserted (duplicates are not)
        self._pending: list[Any] = []  # new sessions (id, eid, lab, subject, date, number, path) to insert
        self._ok_names: set[str] = set()  # file names already checked (IndexLines)
        self._n_names = 0

    # -- sessions ------------------------------------------------------------------------------
    def _session(
        self, eid: str, sp: str, lab: str | None, subject: str, date: str, number: str, rec: SessionRecord | None = None
    ) -> int:
        sid = self.sessions.get(eid)
        if sid is not None and rec is None:
            return sid
        if rec is None:  # the common case: batched, with ids given here
            sid = len(self.sessions) + 1
            self._pending += (sid, eid, lab, subject, date, int(number), sp)
            self.sessions[eid] = sid
            if len(self._pending) >= _FLUSH:
                self._flush_sessions()
            return sid
        self._flush_sessions()
        self.drain()  # the base class reads ids back: nothing may run beside it
        return super()._session(eid, sp, lab, subject, date, number, rec)

    def drain(self) -> None:
        """Wait until the SQL submitted so far has run (re-raising its error)."""
        self.writer.finish()
        if isinstance(self.writer, _Writer):
            self.writer = _Writer()
            self.writer.start()

    def _insert_name(self, values: tuple) -> int:
        self._n_names += 1
        nid = self._n_names
        sql = "INSERT INTO names (id, collection, revision, filename, namespace, object, attribute, timescale, "
        sql += "extra, extension) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        self.submit(sql, (nid, *values))
        return nid

    def submit(self, sql: str, params: Sequence[Any]) -> None:
        """Execute ``sql`` in the writer thread."""
        self.writer.submit(functools.partial(self.db.execute, sql, params))

    def _flush_sessions(self) -> None:
        p = self._pending
        if not p:
            return
        one = "(?,?,?,?,?,?,?)"
        head = "INSERT INTO sessions (id, eid, lab, subject, date, number, path) VALUES "
        step = 7 * 140
        full = len(p) - len(p) % step
        if full:
            sql = head + ",".join([one] * 140)
            for i in range(0, full, step):
                self.submit(sql, p[i : i + step])
        if full < len(p):
            self.submit(head + ",".join([one] * ((len(p) - full) // 7)), p[full:])
        self._pending = []

    # -- datasets ------------------------------------------------------------------------------
    def load(self, rows: Iterable[Dataset], sessions: Iterable[SessionRecord] = ()) -> int:
        """Insert every row; returns the number of rows given (duplicates included)."""
        for rec in sessions:
            from .. import alf

            sp = alf.session_path(rec.lab, rec.subject, rec.date, rec.number)
            self._session(rec.eid, sp, rec.lab, rec.subject, rec.date, str(rec.number), rec)
        if isinstance(rows, PathRows):
            self._load_paths(rows.paths)
        elif isinstance(rows, IndexLines):
            from .lines import load_lines

            load_lines(self, rows)
        else:
            self._load_rows(rows)
        self._flush_sessions()
        self.drain()
        return self.n

    def _locate(self, rel: str, eid: str | None = None) -> tuple[int, int, int]:
        """(session id, name id, where the path after the session starts) of a new folder's row."""
        parts = _split(rel)
        if parts is None:
            raise OneError(f"catalog: {rel!r} is not an ALF dataset path")
        sp, lab, subject, date, number, rest = parts
        sid = self._session(eid or sp, sp, lab, subject, date, number)
        return sid, self._name(rest, rel), len(rel) - len(rest)

    def _load_paths(self, paths: Iterable[str]) -> None:
        """Checked dataset paths only: two ids per row, and two dictionary look-ups."""
        folders: dict[str, tuple[int, int]] = {}
        names = self.names
        batch: list[int] = []
        for rel in paths:
            hit = folders.get(rel[: rel.rfind("/")])
            if hit is None:
                sid, nid, cut = self._locate(rel)
                if len(folders) >= _FOLDER_CACHE:
                    folders.clear()
                folders[rel[: rel.rfind("/")]] = (sid, cut)
            else:
                sid, cut = hit
                nid = names.get(rel[cut:])
                if nid is None:
                    nid = self._name(rel[cut:], rel)
            batch += (sid, nid)
            if len(batch) >= _FLUSH:
                self._flush_pairs(batch)
        self._flush_pairs(batch)

    def _flush_pairs(self, batch: list[int]) -> None:
        """Rows with no URL, size or md5: flat (session, name) pairs."""
        if batch:
            self.n += len(batch) // 2
            self.sids.extend(batch[0::2])
            self.nids.extend(batch[1::2])
            self._flush_sessions()
            self.insert_values(("session", "name"), batch[:])
            batch.clear()

    def _load_rows(self, rows: Iterable[Dataset]) -> None:
        """Any :class:`Dataset` rows (with URLs, sizes, revisions flags, ids, own session ids)."""
        folders: dict[str, tuple[int, int]] = {}
        names = self.names
        batch: list[Any] = []
        shape: tuple[bool, ...] = ()
        for row in rows:
            rel = row.rel_path
            eid = row.eid
            hit = folders.get(rel[: rel.rfind("/")]) if eid is None else None
            if hit is None:
                sid, nid, cut = self._locate(rel, eid)
                if eid is None:
                    if len(folders) >= _FOLDER_CACHE:
                        folders.clear()
                    folders[rel[: rel.rfind("/")]] = (sid, cut)
            else:
                sid, cut = hit
                nid = names.get(rel[cut:])
                if nid is None:
                    nid = self._name(rel[cut:], rel)
            vals = (row.url, row.size, row.md5, None if row.default is None else int(row.default), row.id, row.qc)
            this = tuple(v is not None for v in vals)
            if this != shape:
                self.has_qc = self.has_qc or this[5]
                self.flush_shaped(shape, batch)
                shape = this
            self.n += 1
            self.sids.append(sid)
            self.nids.append(nid)
            batch += (sid, nid)
            batch += [v for v in vals if v is not None]
            if len(batch) >= _FLUSH:
                self.flush_shaped(shape, batch)
        self.flush_shaped(shape, batch)

    def flush_shaped(self, shape: tuple[bool, ...], batch: list[Any]) -> None:
        """Insert ``batch``: flat (session, name, then the columns ``shape`` marks as filled)."""
        if batch:
            self._flush_sessions()
            cols = ("session", "name", *(c for c, filled in zip(_DATASET_COLS, shape) if filled))
            self.insert_values(cols, batch[:])
            batch.clear()

    def insert_values(self, cols: tuple[str, ...], flat: list[Any], then: Callable[[int], None] | None = None) -> None:
        """Multi-row ``INSERT OR IGNORE`` of ``flat`` values (``len(cols)`` per row), in the writer
        thread; ``then(inserted)`` runs there after it (``flat`` must not be changed afterwards)."""
        if isinstance(self.writer, _Inline) and len(self.sids) > _THREAD_AFTER:
            self.writer = _Writer()
            self.writer.start()
        self.writer.submit(functools.partial(self._insert, cols, flat, then))

    def _insert(self, cols: tuple[str, ...], flat: list[Any], then: Callable[[int], None] | None) -> None:
        width = len(cols)
        rows = 999 // width
        one = "(" + ",".join("?" * width) + ")"
        head = f"INSERT OR IGNORE INTO datasets ({', '.join(cols)}) VALUES "
        step = rows * width
        full = len(flat) - len(flat) % step
        db = self.db
        before = db.total_changes
        if full:
            sql = head + ",".join([one] * rows)
            for i in range(0, full, step):
                db.execute(sql, flat[i : i + step])
        if full < len(flat):
            db.execute(head + ",".join([one] * ((len(flat) - full) // width)), flat[full:])
        inserted = db.total_changes - before
        self.inserted += inserted
        if then is not None:
            then(inserted)


_DATASET_COLS = ("url", "size", "md5", "is_default", "uuid", "qc")


def build_file(path: Path, rows: Iterable[Dataset], sessions: Iterable[SessionRecord], state: Any) -> int:
    """Write a complete new catalog file at ``path`` (which must not exist); returns the row count."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # see _Writer
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-262144")  # up to 256 MiB while building (indexes sort in it)
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("PRAGMA analysis_limit=2000")  # ANALYZE samples: enough for the planner
        db.executescript(_SCHEMA)
        db.execute("BEGIN")
        loader = BulkLoader(db)
        try:
            n = loader.load(rows, sessions)
        finally:
            loader.writer.finish()  # also when reading the rows failed: no SQL may outlive the file
        n_sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
        meta = {
            "schema": SCHEMA_VERSION,
            "state": state,
            "built": _dt.datetime.now().isoformat(),
            "counts": [n_sessions, loader.inserted],
            "url_base": loader.url_base,
            "qc": loader.has_qc,
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
        db.execute("COMMIT")
        build_bitmaps(db, loader.sids, loader.nids)
        # No (name, session) index: dataset searches use the bitmaps (it is built for catalogs
        # filled by upsert, which have none).
        db.executescript(_SESSION_INDEXES)
        if loader.has_qc:  # QC-filtered dataset searches are SQL, not bitmaps
            db.executescript(_NAME_INDEX)
        if loader.inserted >= _SMALL:
            db.execute("ANALYZE")
        db.execute("PRAGMA journal_mode=WAL")  # as readers open it: the first of them need not write
    finally:
        db.close()
    return n
