"""Index formats, and the built-in ``.one_root`` format with its companion ``.one_index.tsv``.

``.one_root`` is a tab-separated text file at the root of a shared data root, one dataset per line,
no header, in ONE light's form (so that ONE light clients can read it)::

    relative_path<TAB>url

``.one_index.tsv`` (:data:`COMPANION_NAME`) sits next to it with the sizes and md5s, after a one-line
header naming the format version (:data:`COMPANION_HEADER`)::

    #one_index 1<TAB>path<TAB>url<TAB>size<TAB>md5
    relative_path<TAB>url<TAB>size<TAB>md5

Readers read the companion first when it is there and accept either file alone.

- ``relative_path`` starts at the lab folder (``lab/Subjects/subject/date/NNN/...``) and follows ALF;
- ``url`` is where to download it; an empty URL (or a row with the path alone, as ONE light's FTP
  uploader wrote) means the repository's ``base_url`` joined with the path;
- ``size`` (bytes) and ``md5`` (hex) verify downloads; both may be empty.

Rows of 1 (path), 2 (path, url, ONE light's figshare form) or 4 columns are read (a file starting with the
companion header is read as a companion); ``\\r\\n`` line ends are accepted. Files are read line-bounded:
a line longer than :data:`MAX_LINE` is reported and skipped without being held in memory. A bad row is
reported with its line number; the other rows stay usable (``strict`` turns the first problem into an error).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from . import alf
from .errors import IndexFormatError, UnsafePathError
from .paths import check_relpath, url_join
from .repository import Dataset

_MD5 = re.compile(r"^[0-9a-fA-F]{32}\Z")
_URL = re.compile(r"^(https?|ftps?)://[^\s]+\Z")
MAX_LINE = 8192
#: The companion index: path, url, size, md5, written next to ``.one_root`` and read first.
COMPANION_NAME = ".one_index.tsv"
COMPANION_VERSION = 1
COMPANION_HEADER = f"#one_index {COMPANION_VERSION}\tpath\turl\tsize\tmd5"


@dataclass
class IndexProblem:
    """A bad row: where (file and line), the row's text, and why."""

    source: str
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        text = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        return f"{self.source}:{self.line}: {self.reason} (row: {text!r})"


@dataclass
class IndexFormat:
    """An index format: a name, the file name it is stored as, and how to read and write it.

    ``read(lines, base_url, source, problems)`` yields :class:`Dataset` rows from an iterable of text
    lines, appending an :class:`IndexProblem` to ``problems`` for each bad row.
    ``write(rows, fileobj)`` writes :class:`Dataset` rows.
    """

    name: str
    filename: str
    read: Callable[..., Iterator[Dataset]]
    write: Callable[[Iterable[Dataset], IO[str]], int]


def parse_row(line: str, base_url: str | None = None) -> Dataset:
    """Parse one ``.one_root`` row; raises ``ValueError`` with the reason."""
    if len(line) > MAX_LINE:
        raise ValueError(f"row longer than {MAX_LINE} characters")
    cols = line.split("\t")
    if len(cols) not in (1, 2, 4):
        raise ValueError(f"expected 1, 2 or 4 tab-separated columns, found {len(cols)}")
    rel = cols[0].strip()
    try:
        check_relpath(rel)
    except UnsafePathError as e:
        raise ValueError(str(e)) from None
    try:
        alf.parse(rel)
    except alf.ALFError as e:
        raise ValueError(f"not an ALF dataset path: {e}") from None
    url = cols[1].strip() if len(cols) > 1 else ""
    if url and not _URL.match(url):
        raise ValueError(f"the URL {url!r} is not an http(s) or ftp URL")
    if not url and base_url:
        url = url_join(base_url, rel)
    size = md5 = None
    if len(cols) == 4:
        s, m = cols[2].strip(), cols[3].strip()
        if s:
            if not s.isdigit() or not s.isascii():
                raise ValueError(f"size {s!r} is not a non-negative integer")
            size = int(s)
        if m:
            if not _MD5.match(m):
                raise ValueError(f"md5 {m!r} is not 32 hexadecimal digits")
            md5 = m.lower()
    return Dataset(rel, url or None, size, md5)


def read_one_root(
    lines: Iterable[str],
    base_url: str | None = None,
    source: str = ".one_root",
    problems: list[IndexProblem] | None = None,
    strict: bool = False,
) -> Iterator[Dataset]:
    """Read ``.one_root`` (or companion) rows lazily (a million rows are never all held in memory).

    A first line starting with ``#one_index`` is the companion's header: it is skipped, and a version
    newer than this reader's is reported as a problem (the rows are still read)."""
    seen: set[str] = set()
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if n == 1 and line.startswith("#one_index"):
            version = line.split("\t", 1)[0][len("#one_index") :].strip()
            if not (version.isdigit() and int(version) <= COMPANION_VERSION):
                _problem(IndexProblem(source, n, line, f"unknown index format version {version!r}"), problems, strict)
            continue
        if not line.strip():
            continue
        try:
            row = parse_row(line, base_url)
            if row.rel_path in seen:
                raise ValueError(f"duplicate row for {row.rel_path}")
            seen.add(row.rel_path)
        except ValueError as e:
            _problem(IndexProblem(source, n, line, str(e)), problems, strict)
            continue
        yield row


def _problem(problem: IndexProblem, problems: list[IndexProblem] | None, strict: bool) -> None:
    if strict:
        raise IndexFormatError(str(problem)) from None
    if problems is not None:
        problems.append(problem)


def write_one_root(rows: Iterable[Dataset], f: IO[str]) -> int:
    """Write rows in ONE light's form, ``path<TAB>url`` (see :func:`write_companion` for sizes and md5s)."""
    n = 0
    for r in rows:
        check_relpath(r.rel_path)
        f.write(f"{r.rel_path}\t{r.url or ''}\n")
        n += 1
    return n


def write_companion(rows: Iterable[Dataset], f: IO[str], catalog: bool = False) -> int:
    """Write the companion index: the header line, then ``path<TAB>url<TAB>size<TAB>md5`` rows.
    ``catalog``: the header announces a prebuilt catalog (see :mod:`onecore.catalog.published`)."""
    f.write(COMPANION_HEADER + ("\tcatalog=.one_catalog.sqlite" if catalog else "") + "\n")
    n = 0
    for r in rows:
        check_relpath(r.rel_path)
        f.write(f"{r.rel_path}\t{r.url or ''}\t{'' if r.size is None else r.size}\t{r.md5 or ''}\n")
        n += 1
    return n


def index_texts(rows: Iterable[Dataset]) -> dict[str, str]:
    """``{".one_root": text, ".one_index.tsv": text}`` for ``rows`` sorted by path (for uploaders)."""
    ordered = sorted(rows, key=lambda r: r.rel_path)
    a, b = io.StringIO(), io.StringIO()
    write_one_root(ordered, a)
    write_companion(ordered, b)
    return {ONE_ROOT.filename: a.getvalue(), COMPANION_NAME: b.getvalue()}


ONE_ROOT = IndexFormat("one_root", ".one_root", read_one_root, write_one_root)


def read_index_file(
    path: str | os.PathLike,
    base_url: str | None = None,
    problems: list[IndexProblem] | None = None,
    strict: bool = False,
    fmt: IndexFormat = ONE_ROOT,
    source: str | None = None,
) -> Iterator[Dataset]:
    """Read an index file lazily; a line that is not UTF-8 is reported as a problem, not a crash."""
    src = source or str(path)
    with open(path, "rb") as f:
        yield from read_index_stream(f, base_url, problems, strict, fmt, src)


def read_index_stream(
    f: IO[bytes],
    base_url: str | None = None,
    problems: list[IndexProblem] | None = None,
    strict: bool = False,
    fmt: IndexFormat = ONE_ROOT,
    source: str = ".one_root",
) -> Iterator[Dataset]:
    """Read an index from an open binary file (e.g. a nameless temporary file), lazily and line-bounded."""
    lines = _decoded_lines(f, source, problems, strict)
    yield from fmt.read(lines, base_url=base_url, source=source, problems=problems, strict=strict)


def bounded_lines(f: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The lines of ``f``; None for a line longer than ``limit`` bytes, which is skipped without being
    held in memory (at most ``limit`` + 64 KiB are read at once)."""
    while True:
        raw = f.readline(limit + 1)
        if not raw:
            return
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(1 << 16)
            yield None
            continue
        yield raw


def _decoded_lines(f: IO[bytes], source: str, problems: list[IndexProblem] | None, strict: bool) -> Iterator[str]:
    for n, raw in enumerate(bounded_lines(f, 4 * MAX_LINE + 2), 1):
        if raw is None:
            _problem(IndexProblem(source, n, "", f"row longer than {MAX_LINE} characters"), problems, strict)
            yield ""
            continue
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            problem = IndexProblem(source, n, raw[:120].decode("utf-8", "replace"), f"not UTF-8 text ({e.reason})")
            _problem(problem, problems, strict)
            yield ""  # keeps line numbers right; blank lines are skipped


def write_index_file(
    rows: Iterable[Dataset],
    path: str | os.PathLike,
    fmt: IndexFormat = ONE_ROOT,
    companion: bool = True,
    catalog: bool = False,
) -> int:
    """Write an index atomically: to a new temporary file beside ``path`` (``O_EXCL``: a planted file or
    symlink is never followed), fully closed, then renamed over ``path`` (a symlink there is replaced,
    not followed). With the ``.one_root`` format the companion :data:`COMPANION_NAME` is written too
    (``catalog``: its header announces a prebuilt catalog, which the caller then writes)."""
    path = Path(path)
    rows = list(rows)
    if fmt is ONE_ROOT and companion:
        _write_atomic(path.with_name(COMPANION_NAME), lambda f: write_companion(rows, f, catalog))
    return _write_atomic(path, lambda f: fmt.write(rows, f))


def _write_atomic(path: Path, write: Callable[[IO[str]], int]) -> int:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            n = write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return n


#: A leftover temporary index copy older than this (seconds) belongs to a dead process.
STALE_SECONDS = 600


def sweep_index_leftovers(folder: str | os.PathLike) -> int:
    """Delete the temporary index copies that killed processes left in ``folder`` (``$ONE_HOME/tmp``):
    ``tmp*.one_root`` of older versions (index copies are nameless now) and ``.index.*.part`` of a
    figshare index upload, once older than :data:`STALE_SECONDS`. Returns how many."""
    n = 0
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        if (e.name.startswith("tmp") and e.name.endswith(".one_root")) or (
            e.name.startswith(".index.") and e.name.endswith(".part")
        ):
            with contextlib.suppress(OSError):
                if now - e.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                    os.unlink(e.path)
                    n += 1
    return n
