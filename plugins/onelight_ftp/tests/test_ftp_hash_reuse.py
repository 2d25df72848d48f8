"""Issue 15: an FTP upload sends a file whose md5 the hash cache holds for this very version without
hashing it again (the md5 of the first upload is reused by an upload to another repository), and the
index still lists the md5 of the bytes on the server."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from onelight_ftp.testing import BIG

import onecore.hashcache as hashcache_mod
import onecore.upload as upload_mod
from onecore.index import read_one_root
from onecore.uploadio import HashingReader


def _index(folder: Path) -> dict:
    return {d.rel_path: d.md5 for d in read_one_root((folder / ".one_index.tsv").read_text().splitlines())}


def test_a_second_repository_gets_the_files_without_hashing_them_again(
    ftp_server,
    data_root,
    make_repo,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    monkeypatch.setattr(hashcache_mod, "RACY_NS", 200_000_000)  # (2 s in real use)
    root, rels = data_root
    time.sleep(0.25)  # the files have settled
    hashed: dict[str, bool] = {}

    class Recording(HashingReader):
        def __init__(self, path: Path, threaded: bool = False, hashing: bool = True):
            super().__init__(path, threaded=threaded, hashing=hashing)
            hashed[str(Path(path).relative_to(root))] = hashing

    monkeypatch.setattr(upload_mod, "HashingReader", Recording)
    make_repo(ftp_server, name="first", remote_root="/first").upload(root, rels).raise_for_failures()
    assert hashed == {rel: True for rel in rels}, "nothing cached: each file hashed as it was sent"
    hashed.clear()
    make_repo(ftp_server, name="second", remote_root="/second").upload(root, rels).raise_for_failures()
    assert hashed == {rel: False for rel in rels}, "the md5s of the first upload were reused"
    want = {rel: hashlib.md5((root / rel).read_bytes()).hexdigest() for rel in rels}
    for folder in ("first", "second"):
        assert _index(ftp_server.home / folder) == want
        for rel in rels:
            assert (ftp_server.home / folder / rel).read_bytes() == (root / rel).read_bytes()
    assert BIG in want
