"""The fast path from ``.one_root`` text lines to catalog rows (see :class:`.rows.IndexLines`).

A row whose folder and file name were already checked, whose URL is the base URL joined with its
path (or empty) and whose size and md5 look right is inserted straight away; any other row goes
through :func:`onecore.index.parse_row`, the reference reader, which either accepts it (and its folder
and name join the checked ones) or gives the reason it is refused. Rows keep their line number as
their id, so duplicates (refused by the table's unique key, the first one winning) are reported with
theirs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..index import MAX_LINE, IndexProblem, parse_row
from ..transfer import url_join
from .records import _split

if TYPE_CHECKING:
    from .bulk import BulkLoader
    from .rows import IndexLines

_HEX = "0123456789abcdefABCDEF"
_URL = re.compile(r"^(https?|ftps?)://[^\s]+\Z")
_COLS = ("url", "size", "md5")


def load_lines(loader: BulkLoader, src: IndexLines) -> None:
    """Insert the rows of ``src`` through ``loader``; bad rows go to ``src.problems``."""
    base = src.base_url
    if base and not base.endswith("/"):
        base += "/"
    loader.url_base = base or None
    problems: list[IndexProblem] = src.problems if src.problems is not None else []
    start = len(problems)
    batch = _Batch(loader, src, problems)
    folders: dict[str, tuple[int, int]] = {}
    names = loader.names
    ok_names = loader._ok_names
    sids, nids = loader.sids, loader.nids
    for n, line in src.text_lines():
        cols = line.split("\t")
        k = len(cols)
        rel = cols[0]
        slash = rel.rfind("/")
        hit = folders.get(rel[:slash])
        if hit is None or len(line) > MAX_LINE or (k != 4 and k != 2 and k != 1):
            if line and not line.isspace():
                _slow(loader, batch, folders, n, line, base, problems)
            continue
        sid, cut = hit
        nid = names.get(rel[cut:])
        if nid is None:
            if rel[slash + 1 :] not in ok_names:
                _slow(loader, batch, folders, n, line, base, problems)
                continue
            nid = loader._name(rel[cut:], rel)
        url = size = md5 = None
        if k > 1:
            u = cols[1]
            if u and u != (base + rel if base and "#" not in rel else None):
                u = u.strip()
                if u and not (base and u == url_join(base, rel)):
                    if not _URL.match(u):
                        _slow(loader, batch, folders, n, line, base, problems)
                        continue
                    url = u
            if k == 4:
                s, m = cols[2], cols[3]
                if s:
                    if not (s.isdigit() and s.isascii()):
                        _slow(loader, batch, folders, n, line, base, problems)
                        continue
                    size = int(s)
                if m:
                    if len(m) != 32 or m.strip(_HEX):
                        _slow(loader, batch, folders, n, line, base, problems)
                        continue
                    md5 = m.lower()
        sids.append(sid)
        nids.append(nid)
        batch.add(n, sid, nid, url, size, md5, line)
    batch.flush()
    if len(problems) > start:  # duplicates are found batch by batch: keep the list in line order
        problems[start:] = sorted(problems[start:], key=lambda p: p.line)


def _slow(
    loader: BulkLoader,
    batch: _Batch,
    folders: dict[str, tuple[int, int]],
    n: int,
    line: str,
    base: str | None,
    problems: list[IndexProblem],
) -> None:
    """A row the fast path could not take: checked by the reference reader, then inserted."""
    try:
        row = parse_row(line, base)
    except ValueError as e:
        problems.append(IndexProblem(batch.source, n, line, str(e)))
        return
    rel = row.rel_path
    slash = rel.rfind("/")
    parts = _split(rel)
    if parts is None:  # parse_row accepted it as ALF: cannot happen, but never insert a bad row
        problems.append(IndexProblem(batch.source, n, line, "not an ALF dataset path"))
        return
    sp, lab, subject, date, number, rest = parts
    sid = loader._session(sp, sp, lab, subject, date, number)
    nid = loader._name(rest, rel)
    loader._ok_names.add(rel[slash + 1 :])
    if len(folders) >= 200_000:
        folders.clear()
    folders[rel[:slash]] = (sid, len(rel) - len(rest))
    url = row.url
    if url is not None and base and url == url_join(base, rel):
        url = None
    loader.sids.append(sid)
    loader.nids.append(nid)
    batch.add(n, sid, nid, url, row.size, row.md5, line)


class _Batch:
    """Dataset rows waiting for a multi-row insert, grouped by which optional columns they fill."""

    def __init__(self, loader: BulkLoader, src: IndexLines, problems: list[IndexProblem]):
        self.loader = loader
        self.source = src.source
        self.problems = problems
        self.values: list[Any] = []
        self.lines: list[tuple[int, str]] = []
        self.shape: tuple[bool, bool, bool] = (False, False, False)

    def add(self, n: int, sid: int, nid: int, url: Any, size: Any, md5: Any, line: str) -> None:
        shape = (url is not None, size is not None, md5 is not None)
        if shape != self.shape:
            self.flush()
            self.shape = shape
        v = self.values
        v += (n, sid, nid)
        if url is not None:
            v.append(url)
        if size is not None:
            v.append(size)
        if md5 is not None:
            v.append(md5)
        self.lines.append((n, line))
        if len(v) >= 60_000:
            self.flush()

    def flush(self) -> None:
        if not self.values:
            return
        loader = self.loader
        db = loader.db
        cols = ("id", "session", "name", *(c for c, filled in zip(_COLS, self.shape) if filled))
        loader._flush_sessions()
        before = db.total_changes
        loader.insert_values(cols, self.values)
        inserted = db.total_changes - before
        loader.n += inserted
        if inserted != len(self.lines):
            self._duplicates()
        self.values.clear()
        self.lines.clear()

    def _duplicates(self) -> None:
        """Report the rows of this batch the unique (session, name) key refused."""
        ids = [n for n, _ in self.lines]
        kept: set[int] = set()
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            q = f"SELECT id FROM datasets WHERE id IN ({','.join('?' * len(chunk))})"
            kept.update(r[0] for r in self.loader.db.execute(q, chunk))
        for n, line in self.lines:
            if n not in kept:
                rel = line.split("\t")[0].strip()
                self.problems.append(IndexProblem(self.source, n, line, f"duplicate row for {rel}"))
