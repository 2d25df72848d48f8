"""The local catalog: every dataset of a repository in an SQLite file, for instant, offline search.

One file per repository under ``$ONE_HOME/catalog/``. Dataset names are normalised into a small
``names`` table (collection, revision, file name and its ALF parts), so a search term is matched
against the few thousand distinct names, and only then against the million-row ``datasets`` table
through an index on ``(name, session)``. A rebuild streams the index rows into a new file that
replaces the old one atomically: readers never see a half-built catalog.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from . import alf
from .errors import OneError
from .repository import Dataset, SessionRecord

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY, eid TEXT NOT NULL UNIQUE, lab TEXT, subject TEXT NOT NULL,
    date TEXT NOT NULL, number INTEGER NOT NULL, path TEXT NOT NULL,
    projects TEXT, task_protocol TEXT, extra TEXT);
CREATE TABLE names (
    id INTEGER PRIMARY KEY, collection TEXT NOT NULL, revision TEXT NOT NULL, filename TEXT NOT NULL,
    namespace TEXT, object TEXT NOT NULL, attribute TEXT NOT NULL, timescale TEXT, extra TEXT,
    extension TEXT NOT NULL, UNIQUE (collection, revision, filename));
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY, session INTEGER NOT NULL, name INTEGER NOT NULL, url TEXT, size INTEGER,
    md5 TEXT, is_default INTEGER, uuid TEXT, UNIQUE (session, name));
CREATE TABLE name_bits (name INTEGER PRIMARY KEY, bits BLOB NOT NULL);
CREATE TABLE blobs (key TEXT PRIMARY KEY, value BLOB NOT NULL);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS datasets_name ON datasets (name, session);
CREATE INDEX IF NOT EXISTS sessions_order ON sessions (date DESC, number DESC);
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions (subject);
CREATE INDEX IF NOT EXISTS sessions_lab ON sessions (lab);
"""
_SESSION_RE = re.compile(r"^(?:([^/]+)/Subjects/)?([^/]+)/(\d{4}-\d{2}-\d{2})/(\d{1,3})/(.+)\Z", re.ASCII | re.DOTALL)


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
        }


def _split(rel_path: str) -> tuple[str, str | None, str, str, str, str] | None:
    """(session path, lab, subject, date, number, rest) or None."""
    m = _SESSION_RE.match(rel_path)
    if not m:
        return None
    lab, subject, date, number, rest = m.groups()
    sp = f"{lab}/Subjects/{subject}/{date}/{number}" if lab else f"{subject}/{date}/{number}"
    return sp, lab, subject, date, number, rest  # type: ignore[return-value]


class Catalog:
    """An SQLite catalog file. Safe to use from several threads (one connection, serialised)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._names: dict[int, tuple] | None = None  # see _load_names
        self._recent: dict[str, list[DatasetRecord]] = {}  # see datasets
        self._recent_version: Any = None
        self._order: tuple[Any, list[str], Any] | None = None  # see _ordered

    # -- connection ----------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.exists()
            db = self._connect()
            if not fresh and not self._has_schema(db):
                # An old or foreign file: it is only a cache of the repository's index, rebuild it.
                db.close()
                for p in (self.path, Path(str(self.path) + "-wal"), Path(str(self.path) + "-shm")):
                    p.unlink(missing_ok=True)
                db, fresh = self._connect(), True
            if fresh:
                db.executescript(_SCHEMA + _INDEXES)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (json.dumps(SCHEMA_VERSION),))
            self._db = db
        return self._db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-65536")
        db.execute("PRAGMA mmap_size=268435456")
        return db

    @staticmethod
    def _has_schema(db: sqlite3.Connection) -> bool:
        try:
            v = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            return bool(v and json.loads(v[0]) == SCHEMA_VERSION)
        except (sqlite3.DatabaseError, ValueError):
            return False

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._names = None
            self._recent.clear()
            self._order = None

    def exists(self) -> bool:
        return self.path.exists()

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # -- building ------------------------------------------------------------------------------
    def rebuild(self, rows: Iterable[Dataset], sessions: Iterable[SessionRecord] = (), state: Any = None) -> int:
        """Replace the whole catalog with ``rows`` (streamed) atomically; returns the row count."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.building")
        for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
            p.unlink(missing_ok=True)
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA cache_size=-262144")  # up to 256 MiB while building (indexes sort in it)
            db.execute("PRAGMA temp_store=MEMORY")
            db.execute("PRAGMA analysis_limit=2000")  # ANALYZE samples: enough for the planner
            db.executescript(_SCHEMA)
            db.execute("BEGIN")
            n = _Inserter(db).insert(rows, sessions)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (json.dumps(SCHEMA_VERSION),))
            db.execute("INSERT INTO meta VALUES ('state', ?)", (json.dumps(state),))
            db.execute("INSERT INTO meta VALUES ('built', ?)", (json.dumps(_dt.datetime.now().isoformat()),))
            db.execute("COMMIT")
            _build_bitmaps(db)
            db.executescript(_INDEXES)
            db.execute("ANALYZE")
            db.close()
        except BaseException:
            db.close()
            tmp.unlink(missing_ok=True)
            raise
        with self._lock:
            self.close()
            for p in (Path(str(self.path) + "-wal"), Path(str(self.path) + "-shm")):
                p.unlink(missing_ok=True)
            os.replace(tmp, self.path)
        return n

    def upsert(self, rows: Iterable[Dataset] = (), sessions: Iterable[SessionRecord] = ()) -> int:
        """Add or update sessions and datasets (database-backed repositories fill the catalog lazily)."""
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            self._recent.clear()
            self._order = None
            try:
                n = _Inserter(db, upsert=True).insert(rows, sessions)
                db.execute("DELETE FROM name_bits")  # the bitmap index is rebuilt with the catalog only
                db.execute("DELETE FROM blobs")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return n

    # -- queries -------------------------------------------------------------------------------
    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def count(self) -> tuple[int, int]:
        """(sessions, datasets)."""
        return (self._q("SELECT count(*) FROM sessions")[0][0], self._q("SELECT count(*) FROM datasets")[0][0])

    def session(self, eid: str) -> dict[str, Any] | None:
        rows = self._q(f"SELECT {_SESSION_COLS} FROM sessions s WHERE s.eid=?", (eid,))
        return _session_dict(rows[0]) if rows else None

    def find_session(self, lab: str | None, subject: str, date: str, number: int) -> str | None:
        sql = "SELECT eid FROM sessions WHERE subject=? AND date=? AND number=?"
        params: list[Any] = [subject, date, number]
        if lab:
            sql += " AND lab=?"
            params.append(lab)
        rows = self._q(sql, params)
        return rows[0][0] if len(rows) == 1 else None

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
    ) -> list[Any]:
        """Session ids (or records with ``details``) matching all filters, newest first."""
        where, params = [], []
        terms = list(datasets or [])
        if not terms and (collection is not None or revision is not None or namespace is not None):
            terms = ["*"]
        term_ids = []
        for term in terms:
            ids = self.match_names(term, collection, revision, namespace)
            if not ids:
                return []
            term_ids.append(ids)
        if term_ids and not details:
            fast = self._bitmap_search(term_ids, lab, subject, date_range, number, projects, task_protocol, limit)
            if fast is not None:
                return fast
        for ids in term_ids:
            if len(ids) == 1:
                where.append("s.id IN (SELECT session FROM datasets WHERE name = ?)")
                params.append(ids[0])
            else:
                where.append(f"s.id IN (SELECT session FROM datasets WHERE name IN ({','.join('?' * len(ids))}))")
                params.extend(ids)
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
                    f"SELECT bits FROM name_bits WHERE name IN ({','.join('?' * len(ids))})", ids
                ).fetchall()
                m = np.zeros((n + 7) // 8, dtype=np.uint8)
                for (b,) in blobs:
                    m |= np.frombuffer(b, dtype=np.uint8)
                mask = m if mask is None else mask & m
            selected = np.unpackbits(mask, count=n).astype(bool)
            where, params = _session_filters(lab, subject, date_range, number, projects, task_protocol)
            if where:
                ids = np.fromiter(
                    (r[0] for r in self.db.execute("SELECT s.id FROM sessions s WHERE " + " AND ".join(where), params)),
                    dtype=np.int64,
                )
                keep = np.zeros(n, dtype=bool)
                keep[rank_of[ids]] = True
                selected &= keep
        ranks = np.flatnonzero(selected)
        if limit:
            ranks = ranks[: int(limit)]
        return [eids[i] for i in ranks.tolist()]

    def datasets(self, eid: str) -> list[DatasetRecord]:
        """Every dataset of a session (all revisions), ordered by collection, file name, revision.

        The last few sessions asked for are remembered until the catalog changes (a write through
        this object, or a commit by another connection: ``PRAGMA data_version``).
        """
        with self._lock:
            db = self.db
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._recent_version:
                self._recent.clear()
                self._recent_version = version
            recs = self._recent.get(eid)
            if recs is not None:
                return list(recs)
            s = db.execute("SELECT id, path FROM sessions WHERE eid = ?", (eid,)).fetchone()
            if s is None:
                return []
            rows = db.execute(
                "SELECT name, url, size, md5, is_default, uuid FROM datasets WHERE session = ?", (s[0],)
            ).fetchall()
            names = self._names
            if names is None or any(r[0] not in names for r in rows):
                names = self._load_names()
            path = s[1]
            out = [(names[r[0]], r) for r in rows]
            out.sort(key=_by_name)
            recs = [
                DatasetRecord(eid, path, *n[1:], r[1], r[2], r[3], None if r[4] is None else bool(r[4]), r[5])
                for n, r in out
            ]
            if len(self._recent) >= 64:
                del self._recent[next(iter(self._recent))]
            self._recent[eid] = recs
        return list(recs)

    def _load_names(self) -> dict[int, tuple]:
        """Dataset names by id (a few thousand rows), kept while the connection is open: name rows
        are only ever added, and a rebuild replaces the file and closes the connection."""
        self._names = {
            i: ((c, f, r), c or None, r or None, f, o, a, ts, x, ext, ns)
            for i, c, r, f, o, a, ts, x, ext, ns in self.db.execute(
                "SELECT id, collection, revision, filename, object, attribute, timescale, extra, extension, "
                "namespace FROM names"
            )
        }
        return self._names

    def subjects(self) -> list[str]:
        return [r[0] for r in self._q("SELECT DISTINCT subject FROM sessions ORDER BY subject")]

    def labs(self) -> list[str]:
        return [r[0] for r in self._q("SELECT DISTINCT lab FROM sessions WHERE lab IS NOT NULL ORDER BY lab")]

    def all_datasets(self) -> Iterator[Dataset]:
        """Every dataset as index rows (for re-exporting an index)."""
        with self._lock:
            cur = self.db.execute(
                "SELECT s.path, n.collection, n.revision, n.filename, d.url, d.size, d.md5 FROM datasets d "
                "JOIN sessions s ON s.id = d.session JOIN names n ON n.id = d.name ORDER BY s.path"
            )
            rows = cur.fetchall()
        for sp, coll, rev, fname, url, size, md5 in rows:
            parts = [sp] + [p for p in (coll, f"#{rev}#" if rev else "") if p] + [fname]
            yield Dataset("/".join(parts), url, size, md5)


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
        "projects": json.loads(r[6]) if r[6] else [],
        "task_protocol": r[7],
    }
    if r[8]:
        d.update(json.loads(r[8]))
    return d


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


def _build_bitmaps(db: sqlite3.Connection) -> None:
    """The search index: session ids newest first, and for each dataset name a bitmap of its sessions.

    Stored in the catalog file (``blobs``: ``eids`` joined by newlines, ``rank_of`` an int32 array from
    session id to rank; ``name_bits``: one packed bit per session rank), so that a dataset search costs a
    few small blob reads and bit operations whatever the number of sessions it returns.
    """
    import numpy as np

    order = db.execute("SELECT id, eid FROM sessions ORDER BY date DESC, number DESC, eid").fetchall()
    n = len(order)
    ids = np.fromiter((r[0] for r in order), dtype=np.int64, count=n)
    rank_of = np.full(int(ids.max()) + 1 if n else 1, -1, dtype=np.int32)
    rank_of[ids] = np.arange(n, dtype=np.int32)
    db.execute("BEGIN")
    db.execute("INSERT INTO blobs VALUES ('eids', ?)", ("\n".join(r[1] for r in order),))
    db.execute("INSERT INTO blobs VALUES ('rank_of', ?)", (rank_of.tobytes(),))
    for name, sessions in db.execute("SELECT name, group_concat(session) FROM datasets GROUP BY name").fetchall():
        mask = np.zeros(n, dtype=bool)
        mask[rank_of[np.array(sessions.split(","), dtype=np.int64)]] = True
        db.execute("INSERT INTO name_bits VALUES (?, ?)", (name, np.packbits(mask).tobytes()))
    db.execute("COMMIT")


class _Inserter:
    """Streams rows into the tables, caching session and name ids (each parsed once)."""

    def __init__(self, db: sqlite3.Connection, upsert: bool = False):
        self.db = db
        self.upsert = upsert
        self.sessions: dict[str, int] = {}
        self.names: dict[str, int] = {}
        if upsert:
            self.sessions = {eid: i for i, eid in db.execute("SELECT id, eid FROM sessions")}
            for i, c, r, f in db.execute("SELECT id, collection, revision, filename FROM names"):
                self.names[f"{c}\0{r}\0{f}"] = i

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
        key = f"{coll}\0{rev}\0{fname}"
        nid = self.names.get(key)
        if nid is None:
            p = alf.parse(full)
            cur = self.db.execute(
                "INSERT INTO names (collection, revision, filename, namespace, object, attribute, timescale, "
                "extra, extension) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ),
            )
            nid = cur.lastrowid
            self.names[key] = nid
        self.names[rest] = nid
        return nid

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
            url, size, md5, default, uuid = row.url, row.size, row.md5, row.default, row.id
            if url is None and size is None and md5 is None and default is None and uuid is None:
                if shape:
                    self._flush(shape, batch)
                    shape = ()
                batch.append(sid)
                batch.append(nid)
            else:
                vals = (url, size, md5, None if default is None else int(default), uuid)
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


_DATASET_COLS = ("url", "size", "md5", "is_default", "uuid")
_ROWS_PER_INSERT = 100  # at most 700 parameters: under SQLite's oldest limit (999)
