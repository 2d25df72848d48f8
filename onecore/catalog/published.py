"""A catalog published next to an index (``one index ROOT --catalog``): :data:`CATALOG_NAME`,
announced by the field :data:`CATALOG_FIELD` of the companion's header line.

The publisher builds it with the client's own builder from the index it has just written, and
records the sha256 of each index file (meta ``index_sha256``: ``{".one_index.tsv": ..., ".one_root":
...}``) and the index's problems (meta ``index_problems``). A client downloads it instead of parsing
the index, but only after proving it matches: the sha256 of the index it downloaded (hashed, not
parsed) must be the one recorded, and the file must pass :func:`check_published` (it is hostile input
until then). Anything else and the index is parsed as usual. The index stays the source of truth.
See docs/one_root.md ("Prebuilt catalog").
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from .. import alf
from ..paths import check_relpath
from .files import remove_with_side_files
from .schema import _SCHEMA, _SESSION_INDEXES, SCHEMA_VERSION

__all__ = ["CATALOG_FIELD", "CATALOG_NAME", "PublishedRefused", "check_published", "write_published"]

#: The prebuilt catalog's file name, next to ``.one_root`` in the data root.
CATALOG_NAME = ".one_catalog.sqlite"
#: The field of the companion's header line that announces it (clients look for it only then).
CATALOG_FIELD = f"catalog={CATALOG_NAME}"
_MAGIC = b"SQLite format 3\x00"
_MAX_PROBLEMS = 1000  # index problems recorded in the catalog (the rest are counted)


class PublishedRefused(Exception):
    """The published catalog cannot be used (the reason is the message); the index is parsed instead."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_published(root: Path, base_url: str) -> tuple[Path, int]:
    """Build ``root/.one_catalog.sqlite`` from the index in ``root`` (the companion when there is
    one, as a client reads it); returns (its path, the dataset rows)."""
    from ..index import COMPANION_NAME
    from .bulk import build_file
    from .rows import IndexLines

    shas = {name: _sha256(root / name) for name in (COMPANION_NAME, ".one_root") if (root / name).is_file()}
    source = COMPANION_NAME if COMPANION_NAME in shas else ".one_root"
    dest = root / CATALOG_NAME
    tmp = root / f"{CATALOG_NAME}.{os.getpid()}.building"
    remove_with_side_files(tmp)
    problems: list[Any] = []
    try:
        with open(root / source, "rb") as f:
            rows = IndexLines.from_chunks(
                iter(lambda: f.read(1 << 20), b""), base_url=base_url, source=source, problems=problems
            )
            n = build_file(tmp, rows, (), None)
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            listed = [[p.line, p.text, p.reason] for p in problems[:_MAX_PROBLEMS]]
            meta = {"index_sha256": shas, "index_problems": {"count": len(problems), "first": listed}}
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to serve
        finally:
            db.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        remove_with_side_files(tmp)
    return dest, n


def _reference_schema() -> set[tuple[str, str, str, str | None]]:
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA + _SESSION_INDEXES)
        db.execute("ANALYZE")  # sqlite_stat1, which big catalogs have
        return set(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        db.close()


def check_published(path: Path, index_name: str, index_sha256: str, base_url: str) -> dict[str, Any]:
    """Check a downloaded catalog file before it is used; returns its meta (``counts``, problems...).

    Raises :class:`PublishedRefused` when it was built from another index (the sha256 recorded for
    ``index_name`` is not ``index_sha256``), for another base URL, by another schema version, or when
    it is not exactly a catalog: not an SQLite file, any table, index, view or trigger beyond the
    catalog's own, ``PRAGMA quick_check`` not ``ok``, an unsafe session or dataset name, ids out of
    range, values the index reader never writes.
    """
    with open(path, "rb") as f:
        if f.read(16) != _MAGIC:
            raise PublishedRefused("not an SQLite database")
    db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        db.execute("PRAGMA trusted_schema=OFF")
        db.execute("PRAGMA cell_size_check=ON")
        if hasattr(db, "setconfig"):  # Python 3.12+
            db.setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)  # type: ignore[attr-defined]
        try:
            return _check(db, index_name, index_sha256, base_url)
        except sqlite3.Error as e:
            raise PublishedRefused(f"unreadable ({e})") from None
    finally:
        db.close()


def _check(db: sqlite3.Connection, index_name: str, index_sha256: str, base_url: str) -> dict[str, Any]:
    schema = set(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    ref = _reference_schema()
    if not (schema == ref or schema == {s for s in ref if s[2] != "sqlite_stat1"}):
        raise PublishedRefused("not the catalog schema of this version (extra or different tables, indexes, views)")
    meta: dict[str, Any] = {}
    for key, value in db.execute("SELECT key, value FROM meta"):
        try:
            meta[key] = json.loads(value)
        except (TypeError, ValueError):
            raise PublishedRefused(f"meta {key!r} is not JSON") from None
    if meta.get("schema") != SCHEMA_VERSION:
        raise PublishedRefused(f"schema version {meta.get('schema')!r}, not {SCHEMA_VERSION!r}")
    shas = meta.get("index_sha256")
    if not isinstance(shas, dict) or shas.get(index_name) != index_sha256:
        raise PublishedRefused(f"built from another version of {index_name} (its sha256 differs)")
    if meta.get("url_base") not in (None, base_url):
        raise PublishedRefused(f"built for the base URL {meta.get('url_base')!r}, not {base_url!r}")
    if db.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
        raise PublishedRefused("damaged (PRAGMA quick_check)")
    n_sessions, n_names = _check_sessions(db), _check_names(db)
    n_rows = _check_datasets(db, n_sessions, n_names)
    counts = meta.get("counts")
    if counts != [n_sessions, n_rows]:
        raise PublishedRefused(f"its counts {counts!r} are not what it holds ({n_sessions}, {n_rows})")
    _check_bitmaps(db, n_sessions, n_names)
    return meta


def _ids(db: sqlite3.Connection, table: str) -> int:
    """The row count of ``table``, whose ids must be exactly 1..count."""
    n, lo, hi = db.execute(f"SELECT count(*), min(id), max(id) FROM {table}").fetchone()
    if n and (lo != 1 or hi != n):
        raise PublishedRefused(f"the {table} ids are not 1..{n}")
    return n


def _check_sessions(db: sqlite3.Connection) -> int:
    n = _ids(db, "sessions")
    for (lab,) in db.execute("SELECT DISTINCT lab FROM sessions"):
        if lab is not None and not (isinstance(lab, str) and alf._LAB_RE.match(lab)):
            raise PublishedRefused(f"unsafe lab name {lab!r}")
    for (subject,) in db.execute("SELECT DISTINCT subject FROM sessions"):
        try:
            check_relpath(alf.session_path(None, subject, "2000-01-01", 1))
            alf.split_session(f"{subject}/2000-01-01/001")
        except (ValueError, TypeError):
            raise PublishedRefused(f"unsafe subject name {subject!r}") from None
    bad = db.execute(
        "SELECT count(*) FROM sessions WHERE eid IS NOT path OR typeof(number) != 'integer' "
        "OR number NOT BETWEEN 0 AND 999 OR typeof(date) != 'text' "
        "OR date NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' "
        "OR path IS NOT (CASE WHEN lab IS NULL THEN '' ELSE lab || '/Subjects/' END) || subject || '/' "
        "|| date || '/' || printf('%03d', number) "
        "OR projects IS NOT NULL OR task_protocol IS NOT NULL OR extra IS NOT NULL"
    ).fetchone()[0]
    if bad:
        raise PublishedRefused(f"{bad} session rows are not what the index reader writes")
    return n


def _check_names(db: sqlite3.Connection) -> int:
    n = _ids(db, "names")
    cols = "collection, revision, filename, namespace, object, attribute, timescale, extra, extension"
    for row in db.execute(f"SELECT {cols} FROM names"):
        coll, rev, fname = row[:3]
        try:
            rest = "/".join(p for p in (coll, f"#{rev}#" if rev else "", fname) if p)
            full = check_relpath(f"s/2000-01-01/001/{rest}")
            p = alf.parse(full)
        except (ValueError, TypeError):
            raise PublishedRefused(f"unsafe dataset name {row[:3]!r}") from None
        if (coll, rev) != (p["collection"] or "", p["revision"] or "") or tuple(row[3:]) != tuple(
            p[k] for k in ("namespace", "object", "attribute", "timescale", "extra", "extension")
        ):
            raise PublishedRefused(f"the parts of the dataset name {rest!r} are not its own")
    return n


def _check_datasets(db: sqlite3.Connection, n_sessions: int, n_names: int) -> int:
    ws = "char(32, 9, 10, 11, 12, 13)"
    n, bad = db.execute(  # one pass; (md5 contents are checked by the downloads: a wrong one fails them)
        "SELECT count(*), total(session < 1 OR session > ? OR name < 1 OR name > ? "
        "OR typeof(size) NOT IN ('integer', 'null') OR size < 0 OR is_default IS NOT NULL OR uuid IS NOT NULL "
        "OR qc IS NOT NULL "  # an index has no QC
        "OR typeof(md5) NOT IN ('text', 'null') OR length(md5) != 32 "
        "OR (url IS NOT NULL AND (typeof(url) != 'text' OR NOT (url GLOB 'http://?*' OR url GLOB 'https://?*' "
        f"OR url GLOB 'ftp://?*' OR url GLOB 'ftps://?*') OR url GLOB '*[' || {ws} || ']*'))) FROM datasets",
        (n_sessions, n_names),
    ).fetchone()
    if bad:
        raise PublishedRefused(f"{int(bad)} dataset rows are not what the index reader writes")
    return n


def _check_bitmaps(db: sqlite3.Connection, n_sessions: int, n_names: int) -> None:
    """The search index: as many session ranks as sessions, each name's bits within them."""
    import numpy as np

    blobs = dict(db.execute("SELECT key, value FROM blobs"))
    eids, rank_of = blobs.get("eids"), blobs.get("rank_of")
    if set(blobs) != {"eids", "rank_of"} or not isinstance(eids, str) or not isinstance(rank_of, bytes):
        raise PublishedRefused("no valid search index")
    if (eids.count("\n") + 1 if eids else 0) != n_sessions or len(rank_of) != 4 * (n_sessions + 1):
        raise PublishedRefused("its search index is not the size of its sessions")
    ranks = np.frombuffer(rank_of, dtype=np.int32)[1:]
    if n_sessions and not np.array_equal(np.sort(ranks), np.arange(n_sessions, dtype=np.int32)):
        raise PublishedRefused("its session ranks are not a permutation")
    for name, bits, sparse in db.execute("SELECT name, bits, sparse FROM name_bits"):
        ok = isinstance(bits, bytes) and isinstance(name, int) and 0 <= name <= n_names
        if ok and sparse == 1:
            ok = len(bits) % 4 == 0 and bool(
                ((r := np.frombuffer(bits, np.int32)) >= 0).all() and (r < n_sessions).all()
            )
        elif ok:
            ok = sparse == 0 and len(bits) == (n_sessions + 7) // 8
        if not ok:
            raise PublishedRefused(f"its search index entry of name {name!r} is malformed")
