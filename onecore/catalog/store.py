"""The :class:`Catalog`: one SQLite file per repository (connection, meta, rebuild, listing)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..repository import Dataset, SessionRecord
from .bitmaps import _build_bitmaps
from .build import _Inserter
from .records import _SESSION_COLS, DatasetRecord, _by_name, _session_dict
from .schema import _INDEXES, _SCHEMA, SCHEMA_VERSION
from .search import SearchMixin


class Catalog(SearchMixin):
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
