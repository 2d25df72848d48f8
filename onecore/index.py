"""Index formats, and the built-in ``.one_root`` format.

``.one_root`` is a tab-separated text file at the root of a shared data root, one dataset per line,
no header::

    relative_path<TAB>url<TAB>size<TAB>md5

- ``relative_path`` starts at the lab folder (``lab/Subjects/subject/date/NNN/...``) and follows ALF;
- ``url`` is where to download it; an empty URL (or a row with the path alone, as ONE light's FTP
  uploader wrote) means the repository's ``base_url`` joined with the path;
- ``size`` (bytes) and ``md5`` (hex) verify downloads; both may be empty.

Rows of 1 (path), 2 (path, url, ONE light's figshare form) or 4 columns are read; ``\\r\\n`` line ends
are accepted. A bad row is reported with its line number; the other rows stay usable (``strict``
turns the first problem into an error).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator

from . import alf
from .errors import IndexFormatError, UnsafePathError
from .repository import Dataset
from .transfer import check_relpath, url_join

_MD5 = re.compile(r"^[0-9a-fA-F]{32}\Z")
_URL = re.compile(r"^(https?|ftps?)://[^\s]+\Z")
MAX_LINE = 8192


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
    """Read ``.one_root`` rows lazily (a million rows are never all held in memory)."""
    seen: set[str] = set()
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            row = parse_row(line, base_url)
            if row.rel_path in seen:
                raise ValueError(f"duplicate row for {row.rel_path}")
            seen.add(row.rel_path)
        except ValueError as e:
            problem = IndexProblem(source, n, line, str(e))
            if strict:
                raise IndexFormatError(str(problem)) from None
            if problems is not None:
                problems.append(problem)
            continue
        yield row


def write_one_root(rows: Iterable[Dataset], f: IO[str]) -> int:
    """Write rows as ``path<TAB>url<TAB>size<TAB>md5`` lines; returns the number written."""
    n = 0
    for r in rows:
        check_relpath(r.rel_path)
        f.write(f"{r.rel_path}\t{r.url or ''}\t{'' if r.size is None else r.size}\t{r.md5 or ''}\n")
        n += 1
    return n


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
        lines = _decoded_lines(f, src, problems, strict)
        yield from fmt.read(lines, base_url=base_url, source=src, problems=problems, strict=strict)


def _decoded_lines(f: IO[bytes], source: str, problems: list[IndexProblem] | None, strict: bool) -> Iterator[str]:
    for n, raw in enumerate(f, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as e:
            problem = IndexProblem(source, n, raw[:120].decode("utf-8", "replace"), f"not UTF-8 text ({e.reason})")
            if strict:
                raise IndexFormatError(str(problem)) from None
            if problems is not None:
                problems.append(problem)
            yield ""  # keeps line numbers right; blank lines are skipped


def write_index_file(rows: Iterable[Dataset], path: str | os.PathLike, fmt: IndexFormat = ONE_ROOT) -> int:
    """Write an index atomically: to a temp file beside ``path``, fully closed, then renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        n = fmt.write(rows, f)
    os.replace(tmp, path)
    return n
