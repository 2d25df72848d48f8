"""How datasets and the index are named inside a figshare article.

figshare file names cannot hold ``/``; like ONE light, a dataset's relative path is stored with ``/``
replaced by ``~`` (``lab~Subjects~subj~2020-01-01~001~alf~spikes.times.npy``). Dataset paths never
contain ``~`` (see :func:`onecore.transfer.check_relpath`), so the encoding is reversible.

The index is uploaded under the names ONE light clients look for: :data:`INDEX_NAME` (``.one_root``,
path and URL) and its companion :data:`COMPANION_NAME` (``.one_index.tsv``, with sizes and md5s).
Readers read the companion first, and also accept ``one_root.tsv`` (written by earlier onecore
versions) and the variants a sanitising front-end may produce (:data:`LEGACY_INDEX_NAMES`).
"""

from __future__ import annotations

from onecore.sdk import COMPANION_NAME

INDEX_NAME = ".one_root"
LEGACY_INDEX_NAMES = ("one_root.tsv", "one_root", "_one_root", "one_root.txt")
#: Every index name, in the order readers prefer them.
INDEX_NAMES = (COMPANION_NAME, INDEX_NAME, *LEGACY_INDEX_NAMES)
#: The index files an upload writes.
WRITTEN_INDEX_NAMES = (COMPANION_NAME, INDEX_NAME)


def encode_name(rel_path: str) -> str:
    """The figshare file name of a dataset path (``/`` -> ``~``)."""
    return rel_path.replace("/", "~")


def decode_name(name: str) -> str:
    """The dataset path of a figshare file name (``~`` -> ``/``)."""
    return name.replace("~", "/")


def is_index_name(name: str) -> bool:
    """Whether a file of the article is an index (ours or a legacy one)."""
    return name in INDEX_NAMES
