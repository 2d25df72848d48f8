"""Issue 16: an S3 upload hashes each byte as few times as its guarantees allow. A multipart upload
without a cached md5 hashes the file and its parts in one read before sending (the parts then carry
their md5, so what is stored is what was hashed); with a cached md5 the parts are hashed in order as
they are sent and checked against it; the upload engine does not hash what the backend sends."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from onecore_s3 import backend as backend_mod
from onecore_s3.testing import MotoS3, write_root

import onecore.upload as upload_mod
from onecore.hashcache import HashCache
from onecore.uploadio import HashingReader

MiB = 1 << 20


@pytest.fixture
def multipart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONE_S3_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("ONE_S3_PART_SIZE", str(5 * MiB))


@pytest.fixture
def engine_hashing(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the upload engine hashed each file it read."""
    seen: list[bool] = []

    class Recording(HashingReader):
        def __init__(self, path: Path, threaded: bool = False, hashing: bool = True):
            super().__init__(path, threaded=threaded, hashing=hashing)
            seen.append(hashing)

    monkeypatch.setattr(upload_mod, "HashingReader", Recording)
    return seen


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def test_multipart_is_hashed_once_before_sending_and_remembered(
    tmp_path: Path,
    bucket: str,
    make_repo,
    moto_s3: MotoS3,
    multipart,
    engine_hashing,
    one_home: Path,  # noqa: ANN001
) -> None:
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 12 * MiB + 5, "small.data.bin": 1000})
    reads = []
    real = backend_mod.hash_parts
    backend_mod.hash_parts = lambda *a, **k: reads.append(a[1]) or real(*a, **k)  # type: ignore[assignment]
    try:
        make_repo(bucket).upload(root, rels, jobs=2).raise_for_failures()
    finally:
        backend_mod.hash_parts = real
    assert engine_hashing == [False, False], "the engine leaves the hashing to the backend"
    assert reads == [12 * MiB + 5], "the multipart file was hashed (md5 and part CRC32s) in one read"
    c = moto_s3.client()
    for rel in rels:
        obj = c.get_object(Bucket=bucket, Key=rel)
        assert obj["Body"].read() == (root / rel).read_bytes()
        assert obj["Metadata"]["md5"] == _md5(root / rel)
    index = c.get_object(Bucket=bucket, Key=".one_index.tsv")["Body"].read().decode()
    assert _md5(root / rels[0]) in index and _md5(root / rels[1]) in index
    cache = HashCache(one_home / "hashes.sqlite")
    assert cache.lookup(root / rels[0]) == _md5(root / rels[0]), "remembered for the next upload"
    cache.close()


def test_multipart_with_a_cached_md5_is_not_hashed_before_sending(
    tmp_path: Path,
    bucket: str,
    make_repo,
    moto_s3: MotoS3,
    multipart,
    one_home: Path,  # noqa: ANN001
) -> None:
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 11 * MiB})
    cache = HashCache(one_home / "hashes.sqlite")
    cache.md5(root / rels[0])
    cache.close()
    real = backend_mod.hash_parts
    backend_mod.hash_parts = lambda *a, **k: pytest.fail("hashed before sending")  # type: ignore[assignment]
    try:
        make_repo(bucket).upload(root, rels).raise_for_failures()
    finally:
        backend_mod.hash_parts = real
    head = moto_s3.client().head_object(Bucket=bucket, Key=rels[0])
    assert head["Metadata"]["md5"] == _md5(root / rels[0]) and head["ETag"].endswith('-3"')


def test_a_file_changed_between_hashing_and_sending_never_gets_the_old_md5(
    tmp_path: Path,
    bucket: str,
    make_repo,
    moto_s3: MotoS3,
    multipart,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """The parts carry the md5s of the bytes hashed: a part read after the file changed is not those
    bytes, so the upload is not completed with the old md5; the retry sends the new version."""
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 11 * MiB})
    p = root / rels[0]
    real = backend_mod.S3TreeBackend._prehash
    changed = []

    def prehash_then_change(self, src, path, size, part_size):  # noqa: ANN001, ANN202
        got = real(self, src, path, size, part_size)
        if not changed:
            with open(p, "r+b") as f:
                f.seek(6 * MiB)  # in the second part
                f.write(b"\1" * 4096)
            changed.append(True)
        return got

    monkeypatch.setattr(backend_mod.S3TreeBackend, "_prehash", prehash_then_change)
    report = make_repo(bucket).upload(root, rels, jobs=1)
    assert changed
    report.raise_for_failures()  # retried from the start: the new version, with its own md5
    c = moto_s3.client()
    obj = c.get_object(Bucket=bucket, Key=rels[0])
    assert obj["Body"].read() == p.read_bytes() and obj["Metadata"]["md5"] == _md5(p)
    assert c.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "the stale upload was aborted"


@pytest.mark.parametrize("mode", ["crc32", "md5"])
def test_each_part_carries_its_checksums_and_no_body_is_hashed_for_signing(
    tmp_path: Path,
    bucket: str,
    make_repo,
    moto_s3: MotoS3,
    proxy,
    multipart,
    monkeypatch,
    mode: str,  # noqa: ANN001
) -> None:
    """Parts carry Content-MD5 (and, but with ONE_S3_CHECKSUM=md5, a CRC32) and their bodies are not SHA-256
    signed (the signed Content-MD5 covers them); other requests keep their signed payload hash."""
    monkeypatch.setenv("ONE_S3_CHECKSUM", mode)
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 11 * MiB, "small.data.bin": 100})
    make_repo(bucket, endpoint_url=proxy.url).upload(root, rels).raise_for_failures()
    parts = proxy.seen("PUT", "partNumber=")
    assert len(parts) == 3
    for head in parts:
        h = head.lower()
        assert "content-md5:" in h and "x-amz-content-sha256: unsigned-payload" in h
        assert ("x-amz-checksum-crc32:" in h) == (mode == "crc32")
    created = proxy.seen("POST", "?uploads")
    assert len(created) == 1 and ("x-amz-checksum-algorithm: crc32" in created[0].lower()) == (mode == "crc32")
    completed = proxy.seen("POST", "uploadId=")
    assert completed and "unsigned-payload" not in completed[0].lower()
    c = moto_s3.client()
    for rel in rels:
        assert c.get_object(Bucket=bucket, Key=rel)["Body"].read() == (root / rel).read_bytes()
