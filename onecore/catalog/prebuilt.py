"""Catalog files made before :meth:`onecore.catalog.Catalog.rebuild` is called: :class:`BuiltCatalog`.

An index fetched over HTTP is parsed and loaded while it downloads (:func:`build_streamed`), into a
``index-<random>.<pid>.building`` file under ``$ONE_HOME/tmp`` (swept like any ``.building`` file
once its process is gone); ``IndexUpdate.rows`` then holds a :class:`BuiltCatalog`, which
``Catalog.rebuild`` installs as it is (no second parse). For any other consumer it is still an
iterable of :class:`~onecore.repository.Dataset` (read once: the file goes after).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..paths import url_join
from ..repository import Dataset
from .files import describe, remove_with_side_files

__all__ = ["BuiltCatalog", "build_streamed", "datasets_of"]


class BuiltCatalog:
    """A finished catalog file waiting to be installed (or read once as rows, then deleted)."""

    def __init__(self, path: Path, n: int) -> None:
        self.path: Path | None = path
        self.n = n  # dataset rows read (duplicates included), as Catalog.rebuild returns

    def take(self) -> Path:
        """The file, now the caller's (it is no longer deleted when this object goes)."""
        if self.path is None:
            raise ValueError("this catalog file was already used")
        path, self.path = self.path, None
        return path

    def discard(self) -> None:
        """Delete the file (when it was not taken)."""
        if self.path is not None:
            remove_with_side_files(self.path)
            self.path = None

    def __del__(self) -> None:
        self.discard()

    def __iter__(self) -> Iterator[Dataset]:
        if self.path is None:
            return iter(())
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            rows = list(datasets_of(db))
        finally:
            db.close()
            self.discard()
        return iter(rows)


def datasets_of(db: sqlite3.Connection) -> Iterator[Dataset]:
    """Every dataset of a catalog database as index rows (ordered by session path)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'url_base'").fetchone()
    base = json.loads(row[0]) if row else None
    rows = db.execute(
        "SELECT s.path, n.collection, n.revision, n.filename, d.url, d.size, d.md5, d.qc FROM datasets d "
        "JOIN sessions s ON s.id = d.session JOIN names n ON n.id = d.name ORDER BY s.path"
    ).fetchall()
    for sp, coll, rev, fname, url, size, md5, qc in rows:
        parts = [sp] + [p for p in (coll, f"#{rev}#" if rev else "") if p] + [fname]
        rel = "/".join(parts)
        yield Dataset(rel, url if url is not None or not base else url_join(base, rel), size, md5, qc=qc)


def build_streamed(tmpdir: Path, rows: Iterable[Dataset], state: Any) -> BuiltCatalog:
    """Build a catalog file from ``rows`` (an :class:`~onecore.catalog.IndexLines` fed by a download)
    under ``tmpdir``. Whatever ``rows`` raises (a cut download, a limit) is raised as it is, and the
    file is removed; an SQLite or OS error on the file is one :class:`~onecore.catalog.CatalogError`."""
    from .bulk import build_file

    tmpdir.mkdir(parents=True, exist_ok=True)
    import secrets  # (here: hmac and hashlib cost start-up time)

    path = tmpdir / f"index-{secrets.token_hex(6)}.{os.getpid()}.building"
    try:
        n = build_file(path, rows, (), state)
    except (sqlite3.Error, OSError) as e:
        remove_with_side_files(path)
        raise describe(path, e) from None
    except BaseException:
        remove_with_side_files(path)
        raise
    return BuiltCatalog(path, n)


def move_into(src: Path, dest: Path) -> None:
    """Move the closed catalog file ``src`` to ``dest`` (same folder as the catalog), copying when
    they are on different file systems."""
    import shutil

    try:
        os.replace(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
        remove_with_side_files(src)
    for s in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.unlink(str(src) + s)
