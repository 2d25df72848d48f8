"""The :class:`Catalog`: one SQLite file per repository (connection, meta, rebuild, listing)."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from ..jsontext import loads as _loads
from ..paths import url_join
from ..repository import Dataset, SessionRecord
from .files import (
    CatalogError,
    ReaderLock,
    building_path,
    check_path,
    describe,
    install,
    remove_with_side_files,
    sweep_leftovers,
)
from .records import _SESSION_COLS, DatasetRecord, _by_name, _session_dict
from .schema import _INDEXES, _NAME_INDEX, _SCHEMA, SCHEMA_VERSION
from .search import SearchMixin

F = TypeVar("F", bound=Callable[..., Any])


def _consistent(fn: F) -> F:
    """Run a query method in one read transaction: a rebuild committed by another process meanwhile
    is seen entirely or not at all."""

    @functools.wraps(fn)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        with self._lock, self._errors("reading"):
            db = self.db
            if db.in_transaction:
                return fn(self, *args, **kwargs)
            db.execute("BEGIN")
            try:
                db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()  # the snapshot starts here
                return fn(self, *args, **kwargs)
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")

    return wrapper  # type: ignore[return-value]


class Catalog(SearchMixin):
    """An SQLite catalog file. Safe to use from several threads (one connection, serialised) and from
    several processes (a rebuild in one leaves the others the old catalog or the new, never an error)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self._reader = ReaderLock(self.path)
        self._names: dict[int, tuple] | None = None  # see _load_names
        self._recent: dict[str, list[DatasetRecord]] = {}  # see datasets
        self._recent_version: Any = None
        self._url_base: str | None = None
        self._order: tuple[Any, list[str], Any] | None = None  # see _ordered
        sweep_leftovers(self.path.parent)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """SQLite and OS errors on the catalog file become one :class:`CatalogError` naming it."""
        try:
            yield
        except CatalogError:
            raise
        except (sqlite3.Error, OSError) as e:
            raise describe(self.path, e) from None

    # -- connection ----------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            with self._lock, self._errors("opening"):
                if self._db is None:
                    self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        check_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._reader.acquire()  # before connecting: no rename under an open connection
        try:
            try:
                db = self._connect()
            except sqlite3.DatabaseError:  # not a database at all
                db = None
            if db is not None and self._has_schema(db):
                return db
            if db is not None and self._is_empty(db):
                # A new file. Several processes may get here at once: IF NOT EXISTS, in one transaction.
                import json

                db.executescript(
                    "BEGIN IMMEDIATE;"
                    + _SCHEMA.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ")
                    + _INDEXES
                    + f"INSERT OR IGNORE INTO meta VALUES ('schema', '{json.dumps(SCHEMA_VERSION)}');COMMIT;"
                )
                if self._has_schema(db):
                    return db
            # Old or foreign: it is only a cache of the repository's index; start an empty one.
            if db is not None:
                db.close()
            self._install_empty()
            return self._connect()
        except BaseException:
            self._reader.release()
            raise

    @staticmethod
    def _is_empty(db: sqlite3.Connection) -> bool:
        try:
            return db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
        except sqlite3.DatabaseError:
            return False

    def _install_empty(self) -> None:
        """Replace an old-schema or foreign catalog file by an empty one (safely for its readers)."""
        import json

        self._reader.release()
        tmp = building_path(self.path)
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            db.executescript(_SCHEMA + _INDEXES)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (json.dumps(SCHEMA_VERSION),))
            db.close()
            install(tmp, self.path, self._connect_plain)
        finally:
            remove_with_side_files(tmp)
            self._reader.acquire()

    def _connect_plain(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def _connect(self) -> sqlite3.Connection:
        db = self._connect_plain()
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-65536")
        db.execute("PRAGMA mmap_size=268435456")
        return db

    @staticmethod
    def _has_schema(db: sqlite3.Connection) -> bool:
        try:
            v = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            return bool(v and _loads(v[0]) == SCHEMA_VERSION)
        except (sqlite3.DatabaseError, ValueError):
            return False

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._reader.release()
            self._names = None
            self._recent.clear()
            self._recent_version = None
            self._order = None

    def exists(self) -> bool:
        """Whether the catalog file exists (:class:`CatalogError` if a folder is in its place)."""
        check_path(self.path)
        return self.path.exists()

    # -- meta ----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        with self._lock, self._errors("reading"):
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return _loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        import json

        with self._lock, self._errors("writing"):
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # -- building ------------------------------------------------------------------------------
    def rebuild(self, rows: Iterable[Dataset], sessions: Iterable[SessionRecord] = (), state: Any = None) -> int:
        """Replace the whole catalog with ``rows`` (streamed) atomically; returns the row count.

        ``rows`` may be any iterable of :class:`Dataset`, or a :class:`~onecore.catalog.PathRows` /
        :class:`~onecore.catalog.IndexLines` (the fast paths: no object per row), or a
        :class:`~onecore.catalog.prebuilt.BuiltCatalog` (a file already built: installed, with ``state``).
        """
        from .bulk import build_file  # (here, as the other builders: searching imports none of them)
        from .prebuilt import BuiltCatalog, move_into

        check_path(self.path)
        with self._errors("building"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            sweep_leftovers(self.path.parent)
        tmp = building_path(self.path)
        try:
            with self._errors("building"):
                remove_with_side_files(tmp)
                if isinstance(rows, BuiltCatalog):  # built while it downloaded: installed as it is
                    n = rows.n
                    move_into(rows.take(), tmp)
                    _store_state(tmp, state)
                else:
                    n = build_file(tmp, rows, sessions, state)
            with self._lock, self._errors("installing"):
                self.close()
                install(tmp, self.path, self._connect)
        finally:
            remove_with_side_files(tmp)
        return n

    def upsert(self, rows: Iterable[Dataset] = (), sessions: Iterable[SessionRecord] = ()) -> int:
        """Add or update sessions and datasets (database-backed repositories fill the catalog lazily)."""
        with self._lock, self._errors("writing"):
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            self._recent.clear()
            self._order = None
            try:
                from .build import _Inserter

                inserter = _Inserter(db, upsert=True)
                n = inserter.insert(rows, sessions)
                if inserter.has_qc:  # search(dataset_qc_lte=) filters only catalogs that know QC
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('qc', 'true')")
                db.execute("DELETE FROM name_bits")  # the bitmap index is rebuilt with the catalog only
                db.execute("DELETE FROM blobs")
                db.execute(_NAME_INDEX)  # what SQL searches use instead (a rebuild does not make it)
                db.execute("DELETE FROM meta WHERE key = 'counts'")
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
        counts = self.get_meta("counts")  # stored by a rebuild (counting 10M rows takes a while)
        if counts:
            return counts[0], counts[1]
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

    @_consistent
    def datasets(self, eid: str) -> list[DatasetRecord]:
        """Every dataset of a session (all revisions), ordered by collection, file name, revision.

        The last few sessions asked for are remembered until the catalog changes (a write through
        this object, or a commit by another connection: ``PRAGMA data_version``).
        """
        db = self.db
        self._check_version()
        recs = self._recent.get(eid)
        if recs is not None:
            return list(recs)
        s = db.execute("SELECT id, path FROM sessions WHERE eid = ?", (eid,)).fetchone()
        if s is None:
            return []
        rows = db.execute(
            "SELECT name, url, size, md5, is_default, uuid, qc FROM datasets WHERE session = ?", (s[0],)
        ).fetchall()
        names = self._names
        if names is None or any(r[0] not in names for r in rows):
            names = self._load_names()
        path = s[1]
        out = [(names[r[0]], r) for r in rows]
        out.sort(key=_by_name)
        base = self._url_base
        recs = []
        for n, r in out:
            rec = DatasetRecord(eid, path, *n[1:], r[1], r[2], r[3], None if r[4] is None else bool(r[4]), r[5], r[6])
            if rec.url is None and base:
                rec.url = url_join(base, rec.full_path)
            recs.append(rec)
        if len(self._recent) >= 64:
            del self._recent[next(iter(self._recent))]
        self._recent[eid] = recs
        return list(recs)

    def _check_version(self) -> None:
        """Forget what was read from an older version of the catalog (another connection wrote)."""
        version = self.db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._recent_version:
            self._recent.clear()
            self._names = None
            row = self.db.execute("SELECT value FROM meta WHERE key = 'url_base'").fetchone()
            self._url_base = _loads(row[0]) if row else None
            self._recent_version = version

    def _load_names(self) -> dict[int, tuple]:
        """Dataset names by id (a few thousand rows), kept until the catalog changes."""
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
            from .prebuilt import datasets_of

            rows = list(datasets_of(self.db))
        yield from rows

    search = _consistent(SearchMixin.search)
    count = _consistent(count)
    session = _consistent(session)
    find_session = _consistent(find_session)


def _store_state(path: Path, state: Any) -> None:
    """Record the repository's validator ``state`` in the finished catalog file ``path``."""
    import json

    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('state', ?)", (json.dumps(state),))
    finally:
        db.close()
