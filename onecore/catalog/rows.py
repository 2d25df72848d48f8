"""Row sources the catalog loads in bulk, without building a :class:`Dataset` object per row.

Both are plain iterables of :class:`Dataset` for any other consumer (they are what
``IndexUpdate.rows`` holds), and :meth:`onecore.catalog.Catalog.rebuild` recognises them and takes
its fast path:

- :class:`PathRows`: dataset paths already checked (a local scan), no URL, size or md5;
- :class:`IndexLines`: the text lines of a ``.one_root`` index (``str`` or UTF-8 ``bytes``), parsed
  as they arrive, so a download can be parsed and loaded while it is still running: pass the
  response's lines (``IndexLines(lines_of(response.iter_content(1 << 20)), base_url=..., source=url,
  problems=...)``).
  Rows are checked exactly as :func:`onecore.index.read_one_root` checks them (bad rows become
  :class:`onecore.index.IndexProblem` entries in ``problems``, with their line number), but each
  folder and each file name is validated once, not once per row.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator

from ..repository import Dataset

#: The longest line kept while splitting a stream (longer ones are cut: see :data:`onecore.index.MAX_LINE`).
_MAX_TAIL = 4 * 8192 + 2


def lines_of(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines (each with its ``\\n``, the last one possibly without) of a byte stream given in
    chunks of any size, e.g. ``response.iter_content(1 << 20)``: feed them to :class:`IndexLines`
    to parse an index while it downloads. A line longer than ``_MAX_TAIL`` bytes is cut there (and
    then reported as too long by the parser): memory stays bounded whatever the stream holds."""
    tail = b""
    skipping = False
    for chunk in chunks:
        if not chunk:
            continue
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk, skipping = chunk[nl:], False
        if b"\n" not in chunk and len(tail) + len(chunk) > _MAX_TAIL:
            tail, skipping = (tail + chunk)[:_MAX_TAIL], True
            continue
        parts = (tail + chunk if tail else chunk).split(b"\n")
        tail = parts.pop()
        for p in parts:
            yield p + b"\n"
    if tail:
        yield tail


def _block(data: bytes) -> tuple[bool, list]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # decoded line by line, to report the bad ones
        return False, data.split(b"\n")
    lines = text.split("\n")
    if "\r" in text:
        return False, lines
    return True, lines


class PathRows:
    """Dataset paths (relative to the data root, already known to be safe ALF paths), read once."""

    def __init__(self, paths: Iterable[str]):
        self.paths = paths

    def __iter__(self) -> Iterator[Dataset]:
        return (Dataset(p) for p in self.paths)


class IndexLines:
    """The lines of a ``.one_root`` index, read once (see the module docstring).

    ``problems`` receives an :class:`onecore.index.IndexProblem` per bad row (``source`` names the
    index, e.g. its URL); ``base_url`` is joined with a row's path when its URL column is empty.
    """

    def __init__(
        self,
        lines: Iterable[str | bytes],
        base_url: str | None = None,
        source: str = ".one_root",
        problems: list | None = None,
    ):
        self.lines = lines
        self.base_url = base_url
        self.source = source
        self.problems = problems
        self.chunks: Iterable[bytes] | None = None

    @classmethod
    def from_chunks(
        cls,
        chunks: Iterable[bytes],
        base_url: str | None = None,
        source: str = ".one_root",
        problems: list | None = None,
    ) -> IndexLines:
        """The index as a byte stream in chunks of any size (``response.iter_content(1 << 20)``, a
        file read in blocks): the fastest form, decoded and split a chunk at a time."""
        self = cls(lines_of(chunks), base_url=base_url, source=source, problems=problems)
        self.chunks = chunks
        return self

    def blocks(self) -> Iterator[tuple[bool, list]]:
        """The lines in blocks: ``(True, [text without line ends])`` or ``(False, [raw lines])``."""
        if self.chunks is None:
            it = iter(self.lines)
            while True:
                block = list(islice(it, 4096))
                if not block:
                    return
                yield False, block
        tail = b""
        skipping = False  # inside a line longer than _MAX_TAIL: its first bytes are kept, the rest dropped
        for chunk in self.chunks:
            if skipping:
                nl = chunk.find(b"\n")
                if nl < 0:
                    continue
                chunk, skipping = chunk[nl:], False
            data = tail + chunk if tail else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                tail = data
                if len(tail) > _MAX_TAIL:  # a line this long is reported as too long: never held whole
                    tail, skipping = tail[:_MAX_TAIL], True
                continue
            tail = data[cut + 1 :]
            yield _block(data[:cut])
        if tail:
            yield _block(tail)

    def text_lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text without the line end) for every line; bytes are decoded as UTF-8
        (a line that is not is reported as a problem and read as a blank line)."""
        from ..index import IndexProblem

        for n, raw in enumerate(self.lines, 1):
            if isinstance(raw, bytes):
                try:
                    raw = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    if self.problems is not None:
                        text = raw[:120].decode("utf-8", "replace")
                        self.problems.append(IndexProblem(self.source, n, text, f"not UTF-8 text ({e.reason})"))
                    raw = ""
            yield n, raw.rstrip("\r\n")

    def __iter__(self) -> Iterator[Dataset]:
        from ..index import read_one_root

        lines = (text for _, text in self.text_lines())
        return read_one_root(lines, base_url=self.base_url, source=self.source, problems=self.problems)
