"""How datasets and the index are named inside a figshare article.

figshare file names cannot hold ``/``; like ONE light, a dataset's relative path is stored with ``/``
replaced by ``~`` (``lab~Subjects~subj~2020-01-01~001~alf~spikes.times.npy``). Dataset paths never
contain ``~`` (see :func:`onecore.transfer.check_relpath`), so the encoding is reversible.

The index is uploaded as :data:`INDEX_NAME` (``one_root.tsv``), not ``.one_root``: a name starting with a
dot is hidden or renamed by some figshare front-ends and archive tools, and the ``.tsv`` extension lets
figshare preview it as a table. Readers also accept ONE light's ``.one_root`` and the variants a
sanitising front-end may produce from it (:data:`LEGACY_INDEX_NAMES`).
"""

from __future__ import annotations

INDEX_NAME = "one_root.tsv"
LEGACY_INDEX_NAMES = (".one_root", "one_root", "_one_root", "one_root.txt")
INDEX_NAMES = (INDEX_NAME, *LEGACY_INDEX_NAMES)


def encode_name(rel_path: str) -> str:
    """The figshare file name of a dataset path (``/`` -> ``~``)."""
    return rel_path.replace("/", "~")


def decode_name(name: str) -> str:
    """The dataset path of a figshare file name (``~`` -> ``/``)."""
    return name.replace("~", "/")


def is_index_name(name: str) -> bool:
    """Whether a file of the article is an index (ours or a legacy one)."""
    return name in INDEX_NAMES
