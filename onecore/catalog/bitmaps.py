"""The bitmap search index built into a catalog file after a bulk load.

Stored in the catalog file: ``blobs`` holds ``eids`` (session ids newest first, joined by newlines)
and ``rank_of`` (an int32 array from session row id to that rank); ``name_bits`` holds, for each
dataset name, the sessions having it: one packed bit per session rank, or (``sparse = 1``, for names
in few sessions) their sorted ranks as int32. A dataset search then costs a few blob reads and bit
operations whatever the number of sessions it returns.
"""

from __future__ import annotations

import sqlite3
from typing import Any

SESSION_ORDER = "ORDER BY date DESC, number DESC, eid"


def build_bitmaps(db: sqlite3.Connection, sids: Any, nids: Any) -> None:
    """Build the index from the (session id, name id) of every dataset row (two int32 arrays).

    Everything happens in bulk (one SQL query for the session order, numpy for the rest): no
    Python work per row.
    """
    import numpy as np

    ids_text, eids = db.execute(
        f"SELECT group_concat(id), group_concat(eid, char(10)) FROM (SELECT id, eid FROM sessions {SESSION_ORDER})"
    ).fetchone()
    ids = np.array(ids_text.split(","), dtype=np.int64) if ids_text else np.zeros(0, dtype=np.int64)
    n = len(ids)
    rank_of = np.full(int(ids.max()) + 1 if n else 1, -1, dtype=np.int32)
    rank_of[ids] = np.arange(n, dtype=np.int32)
    db.execute("BEGIN")
    db.execute("INSERT INTO blobs VALUES ('eids', ?)", (eids or "",))
    db.execute("INSERT INTO blobs VALUES ('rank_of', ?)", (rank_of.tobytes(),))
    s = np.frombuffer(sids, dtype=np.int32)
    m = np.frombuffer(nids, dtype=np.int32)
    if len(s):
        key = m.astype(np.int64) * n + rank_of[s]
        key.sort()
        names = int(m.max()) + 1
        bounds = np.searchsorted(key, np.arange(names + 1, dtype=np.int64) * n).tolist()
        sparse_below = max(1, n // 64)  # fewer sessions than this: a list of ranks is smaller
        rows = []
        for name in range(names):
            lo, hi = bounds[name], bounds[name + 1]
            if lo == hi:
                continue
            ranks = key[lo:hi] - name * n
            if hi - lo < sparse_below:
                rows.append((name, np.unique(ranks).astype(np.int32).tobytes(), 1))
            else:
                mask = np.zeros(n, dtype=bool)
                mask[ranks] = True
                rows.append((name, np.packbits(mask).tobytes(), 0))
        db.executemany("INSERT INTO name_bits VALUES (?, ?, ?)", rows)
    db.execute("COMMIT")


def session_mask(np: Any, blob: bytes, sparse: int, n: int) -> Any:
    """The packed-bit mask (uint8, ``(n + 7) // 8`` bytes) of one ``name_bits`` row."""
    if not sparse:
        return np.frombuffer(blob, dtype=np.uint8)
    mask = np.zeros(n, dtype=bool)
    mask[np.frombuffer(blob, dtype=np.int32)] = True
    return np.packbits(mask)
