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

from .. import alf
from ..index import MAX_LINE, IndexProblem, parse_row
from ..paths import check_relpath, url_join
from .records import _SESSION_RE

if TYPE_CHECKING:
    from .bulk import BulkLoader
    from .rows import IndexLines

_HEX = "0123456789abcdefABCDEF"
_FOLDER_CACHE = 200_000
_URL = re.compile(r"^(https?|ftps?)://[^\s]+\Z")
_COLS = ("url", "size", "md5")


class _Checked:
    """Parts of paths already accepted by the reference reader: a new folder made of known parts
    (lab, subject, date, number, collection/revision folder) is as valid as the rows they came from."""

    def __init__(self) -> None:
        self.labs: set[str | None] = {None}
        self.subjects: set[str] = set()
        self.dates: set[str] = set()
        self.numbers: set[str] = set()
        self.rest_folders: set[str] = set()
        self.last: tuple[str, int] | None = None

    def add(self, lab: str | None, subject: str, date: str, number: str, rest: str) -> None:
        self.labs.add(lab)
        self.subjects.add(subject)
        self.dates.add(date)
        self.numbers.add(number)
        self.rest_folders.add(rest[: rest.rfind("/") + 1])


def load_lines(loader: BulkLoader, src: IndexLines) -> None:
    """Insert the rows of ``src`` through ``loader``; bad rows go to ``src.problems``."""
    base = src.base_url
    if base and not base.endswith("/"):
        base += "/"
    loader.url_base = base or None
    problems: list[IndexProblem] = src.problems if src.problems is not None else []
    start = len(problems)
    batch = _Batch(loader, src, problems)
    checked = _Checked()
    folders: dict[str, tuple[int, int]] = {}
    names = loader.names
    glue = base or "\0"  # base + path: what a row's URL is when it is the default one
    n0 = 0  # lines before this block
    sp, cut, here = "\0", 0, (0, 0)  # the last session seen: path + "/", its length, (id, length)
    for clean, block in src.blocks():
        lines = block if clean else _texts(block, n0, batch.source, problems)
        if n0 == 0 and lines and lines[0].startswith("#one_index"):  # the companion's header (see read_one_root)
            _check_header(lines[0], batch.source, problems)
            lines[0] = ""  # counted, not a row
        short = max(map(len, lines), default=0) <= MAX_LINE  # else checked row by row
        batch.block(n0, lines)
        values = batch.values
        n = n0
        n0 += len(lines)
        for line in lines:
            n += 1
            cols = line.split("\t")
            k = len(cols)
            rel = cols[0]
            # the session of the row before (its path + "/"), and a known name after it: checked
            nid = names.get(rel[cut:]) if rel.startswith(sp) else None
            if nid is not None:
                hit = here
            else:
                slash = rel.rfind("/")
                hit = folders.get(rel[:slash])
                if hit is None:
                    hit = _new_folder(loader, checked, folders, rel, slash)
                if hit is not None:
                    here, cut = hit, hit[1]
                    sp = rel[:cut]
                    nid = names.get(rel[cut:])
            if k == 4 and hit is not None:  # the usual row (path, default URL, size, md5): inlined
                u, size, m = cols[1], cols[2], cols[3]
                if (
                    nid is not None
                    and (u == glue + rel or not u)
                    and size.isdigit()
                    and size.isascii()
                    and len(size) < 19
                    and len(m) == 32
                    and not m.strip(_HEX)
                    and (short or len(line) <= MAX_LINE)
                ):
                    if batch.shape != _USUAL:
                        batch.flush()
                        batch.shape = _USUAL
                        values = batch.values
                    values += (n, hit[0], nid, size, m.lower())  # size: SQLite makes it an integer
                    if len(values) >= 60_000:
                        batch.flush()
                        values = batch.values
                    continue
            _other_row(loader, batch, checked, folders, n, line, cols, hit, base, problems)
            values = batch.values  # (a flush gives the batch a new list)
    batch.flush()
    loader._flush_sessions()
    loader.drain()  # duplicates are reported from the writer thread
    if len(problems) > start:  # duplicates are found batch by batch: keep the list in line order
        problems[start:] = sorted(problems[start:], key=lambda p: p.line)


def _other_row(
    loader: BulkLoader,
    batch: _Batch,
    checked: _Checked,
    folders: dict[str, tuple[int, int]],
    n: int,
    line: str,
    cols: list[str],
    hit: tuple[int, int] | None,
    base: str | None,
    problems: list[IndexProblem],
) -> None:
    """Any row but the usual one: 1 or 2 columns, a URL of its own, empty size or md5, or a row
    the reference reader must see."""
    k = len(cols)
    rel = cols[0]
    slash = rel.rfind("/")
    if hit is None or len(line) > MAX_LINE or (k != 4 and k != 2 and k != 1):
        if line and not line.isspace():
            _slow(loader, batch, checked, folders, n, line, base, problems)
        return
    sid, cut = hit
    nid = loader.names.get(rel[cut:])
    if nid is None:
        if rel[slash + 1 :] not in loader._ok_names:
            _slow(loader, batch, checked, folders, n, line, base, problems)
            return
        nid = loader._name(rel[cut:], rel)
    url = size = md5 = None
    if k > 1:
        u = cols[1]
        if u and u != (base + rel if base and "#" not in rel else None):
            u = u.strip()
            if u and not (base and u == url_join(base, rel)):
                if not _URL.match(u):
                    _slow(loader, batch, checked, folders, n, line, base, problems)
                    return
                url = u
        if k == 4:
            s, m = cols[2], cols[3]
            if s:
                if not (s.isdigit() and s.isascii()):
                    _slow(loader, batch, checked, folders, n, line, base, problems)
                    return
                size = int(s)
            if m:
                if len(m) != 32 or m.strip(_HEX):
                    _slow(loader, batch, checked, folders, n, line, base, problems)
                    return
                md5 = m.lower()
    batch.add(n, sid, nid, url, size, md5, line)


_USUAL = (False, True, True)


def _texts(raw: list, n0: int, source: str, problems: list[IndexProblem]) -> list[str]:
    """The lines of a block that is not plain UTF-8 text without CRs, as text without their line ends;
    a line that is not UTF-8 is reported and read as a blank line."""
    out = []
    for n, line in enumerate(raw, n0 + 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as e:
                text = line[:120].decode("utf-8", "replace")
                problems.append(IndexProblem(source, n, text, f"not UTF-8 text ({e.reason})"))
                line = ""
        out.append(line.rstrip("\r\n"))
    return out


def _new_folder(
    loader: BulkLoader, checked: _Checked, folders: dict[str, tuple[int, int]], rel: str, slash: int
) -> tuple[int, int] | None:
    """(session id, where the path after the session starts) of a folder made of checked parts."""
    last = checked.last  # (session path + "/", its id): the next folder is often in the same session
    if last is not None and rel.startswith(last[0]):
        rest = rel[len(last[0]) :]
        if rest[: rest.rfind("/") + 1] in checked.rest_folders:
            if len(folders) >= _FOLDER_CACHE:
                folders.clear()
            hit = folders[rel[:slash]] = (last[1], len(last[0]))
            return hit
    m = _SESSION_RE.match(rel)
    if m is None:
        return None
    lab, subject, date, number, rest = m.groups()
    if rest[: rest.rfind("/") + 1] not in checked.rest_folders:
        return None
    sp = f"{lab}/Subjects/{subject}/{date}/{number}" if lab else f"{subject}/{date}/{number}"
    sid = loader.sessions.get(sp)
    if sid is None:
        if (
            lab not in checked.labs
            or subject not in checked.subjects
            or date not in checked.dates
            or number not in checked.numbers
        ):
            try:  # the reference checks, on the session part alone (the rest is known good)
                check_relpath(sp)
                alf.split_session(sp)
            except ValueError:
                return None  # the reference reader gives the reason
            checked.add(lab, subject, date, number, rest)
        sid = loader._session(sp, sp, lab, subject, date, number)
    checked.last = (sp + "/", sid)
    if len(folders) >= _FOLDER_CACHE:
        folders.clear()
    hit = folders[rel[:slash]] = (sid, len(rel) - len(rest))
    return hit


def _slow(
    loader: BulkLoader,
    batch: _Batch,
    checked: _Checked,
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
    m = _SESSION_RE.match(rel)
    if m is None:  # parse_row accepted it as ALF: cannot happen, but never insert a bad row
        problems.append(IndexProblem(batch.source, n, line, "not an ALF dataset path"))
        return
    lab, subject, date, number, rest = m.groups()
    sp = f"{lab}/Subjects/{subject}/{date}/{number}" if lab else f"{subject}/{date}/{number}"
    sid = loader._session(sp, sp, lab, subject, date, number)
    nid = loader._name(rest, rel)
    checked.add(lab, subject, date, number, rest)
    loader._ok_names.add(rel[slash + 1 :])
    if len(folders) >= _FOLDER_CACHE:
        folders.clear()
    folders[rel[:slash]] = (sid, len(rel) - len(rest))
    url = row.url
    if url is not None and base and url == url_join(base, rel):
        url = None
    batch.add(n, sid, nid, url, row.size, row.md5, line)


class _Batch:
    """Dataset rows waiting for a multi-row insert, grouped by which optional columns they fill."""

    def __init__(self, loader: BulkLoader, src: IndexLines, problems: list[IndexProblem]):
        self.loader = loader
        self.source = src.source
        self.problems = problems
        self.values: list[Any] = []
        self.blocks: list[tuple[int, list[str]]] = []  # (lines before, lines) of the rows in values
        self.shape: tuple[bool, bool, bool] = (False, False, False)

    def block(self, n0: int, lines: list[str]) -> None:
        """The rows that follow come from ``lines`` (numbered from ``n0 + 1``)."""
        if not self.values:  # no row of the earlier blocks waits: they need not be kept
            self.blocks.clear()
        self.blocks.append((n0, lines))

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
        if len(v) >= 60_000:
            self.flush()

    def flush(self) -> None:
        if not self.values:
            return
        loader = self.loader
        cols = ("id", "session", "name", *(c for c, filled in zip(_COLS, self.shape) if filled))
        width = len(cols)
        values, blocks = self.values, self.blocks
        rows = len(values) // width
        loader.sids.extend(values[1::width])
        loader.nids.extend(values[2::width])
        loader._flush_sessions()

        def then(inserted: int) -> None:  # in the writer thread
            loader.n += inserted
            if inserted != rows:
                self._duplicates(values[0::width], blocks)

        loader.insert_values(cols, values, then)
        self.values = []
        self.blocks = blocks[-1:]  # the current block goes on

    def _duplicates(self, ids: list[int], blocks: list[tuple[int, list[str]]]) -> None:
        """Report the rows of a batch that the unique (session, name) key refused."""
        import bisect

        starts = [b[0] for b in blocks]
        kept: set[int] = set()
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            q = f"SELECT id FROM datasets WHERE id IN ({','.join('?' * len(chunk))})"
            kept.update(r[0] for r in self.loader.db.execute(q, chunk))
        for n in ids:
            if n not in kept:
                n0, lines = blocks[bisect.bisect_left(starts, n) - 1]
                line = lines[n - n0 - 1]
                rel = line.split("\t")[0].strip()
                self.problems.append(IndexProblem(self.source, n, line, f"duplicate row for {rel}"))


def _check_header(line: str, source: str, problems: list[IndexProblem]) -> None:
    """A companion header of a version newer than this reader's is reported (the rows are still read)."""
    from ..index import COMPANION_VERSION

    version = line.split("\t", 1)[0][len("#one_index") :].strip()
    if not (version.isdigit() and int(version) <= COMPANION_VERSION):
        problems.append(IndexProblem(source, 1, line, f"unknown index format version {version!r}"))
