"""ONE light's ``.one_root`` reader rules, re-implemented, to check that what onecore writes stays readable
by ONE light clients (``read_root_file`` in ibllib's ``oneibl/onelight.py``).

ONE light read the file with the ``csv`` module (tab delimiter), and asserted that every row has exactly
1 column (path; the URL is ``base_url`` joined with it) or 2 columns (path, URL)::

    rows = onelight_read_root_file(text, base_url)   # [(path, url), ...]; AssertionError otherwise
"""

from __future__ import annotations

import csv
import io
from urllib.parse import urljoin

__all__ = ["onelight_read_root_file"]


def onelight_read_root_file(text: str, base_url: str = "") -> list[tuple[str, str]]:
    """The (relative path, URL) rows ONE light would read from ``text``; raises ``AssertionError`` where
    ONE light would."""
    out = []
    for row in csv.reader(io.StringIO(text), delimiter="\t"):
        if not row:
            continue
        assert len(row) in (1, 2), f"ONE light expects 1 or 2 tab-separated columns, got {len(row)}: {row}"
        path = row[0]
        url = row[1] if len(row) == 2 and row[1] else urljoin(base_url, path)
        out.append((path, url))
    return out
