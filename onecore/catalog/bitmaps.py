"""The bitmap search index built into a catalog file after a bulk load."""

from __future__ import annotations

import sqlite3


def _build_bitmaps(db: sqlite3.Connection) -> None:
    """The search index: session ids newest first, and for each dataset name a bitmap of its sessions.

    Stored in the catalog file (``blobs``: ``eids`` joined by newlines, ``rank_of`` an int32 array from
    session id to rank; ``name_bits``: one packed bit per session rank), so that a dataset search costs a
    few small blob reads and bit operations whatever the number of sessions it returns.
    """
    import numpy as np

    order = db.execute("SELECT id, eid FROM sessions ORDER BY date DESC, number DESC, eid").fetchall()
    n = len(order)
    ids = np.fromiter((r[0] for r in order), dtype=np.int64, count=n)
    rank_of = np.full(int(ids.max()) + 1 if n else 1, -1, dtype=np.int32)
    rank_of[ids] = np.arange(n, dtype=np.int32)
    db.execute("BEGIN")
    db.execute("INSERT INTO blobs VALUES ('eids', ?)", ("\n".join(r[1] for r in order),))
    db.execute("INSERT INTO blobs VALUES ('rank_of', ?)", (rank_of.tobytes(),))
    for name, sessions in db.execute("SELECT name, group_concat(session) FROM datasets GROUP BY name").fetchall():
        mask = np.zeros(n, dtype=bool)
        mask[rank_of[np.array(sessions.split(","), dtype=np.int64)]] = True
        db.execute("INSERT INTO name_bits VALUES (?, ?)", (name, np.packbits(mask).tobytes()))
    db.execute("COMMIT")
