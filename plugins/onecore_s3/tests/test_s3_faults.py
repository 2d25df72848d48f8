"""The s3 fault matrix, against a real moto S3 server on 127.0.0.1 (through a fault-injecting TCP proxy where
needed): connection dropped mid-object, wrong bytes, 503 SlowDown bursts, 403 on a private bucket, an
interrupted multipart upload resumed, a read-only bucket for upload, hostile keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from onecore_s3.testing import READ_ACTIONS, SESSION, FaultProxy, MotoS3, write_root

from onecore.errors import TransferError
from onecore.testing.faults import assert_complete, assert_nothing_wrong, failed_names
from onecore.transfer import TransferItem, download

MiB = 1 << 20


def _items(repo) -> list[TransferItem]:  # noqa: ANN001
    update = repo.fetch_index(None)
    return [TransferItem(r.rel_path, r.url or "", r.size, r.md5) for r in update.rows]


def test_connection_dropped_mid_object_is_resumed(tmp_path: Path, bucket: str, make_repo, proxy: FaultProxy) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 3 * MiB, "small.data.bin": 1000})
    make_repo(bucket).upload(root, rels, jobs=1).raise_for_failures()
    repo = make_repo(bucket, name="via-proxy", endpoint_url=proxy.url)
    proxy.cut(after=600_000, match="big.data.bin")
    dest = tmp_path / "cache"
    report = download(_items(repo), dest, repo.fetcher(), jobs=2)
    assert report.ok, report.failed
    assert proxy.counts["cut"] == 1, "the proxy did not cut the download"
    assert_complete(dest, root, rels)
    gets = proxy.seen("GET", "big.data.bin")
    assert len(gets) == 2 and "range: bytes=" in gets[1].lower(), "the second GET resumes with a Range request"


def test_wrong_bytes_are_never_kept(tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 50_000, "b.data.bin": 2000})
    repo = make_repo(bucket)
    repo.upload(root, rels, jobs=1).raise_for_failures()
    # The server's copy changes behind the index's back: same size, other bytes.
    moto_s3.client().put_object(Bucket=bucket, Key=rels[0], Body=b"x" * 50_000)
    dest = tmp_path / "cache"
    report = download(_items(repo), dest, repo.fetcher(), jobs=2)
    assert failed_names(report) == [rels[0]]
    assert "md5" in dict(report.failed)[rels[0]]
    assert_nothing_wrong(dest, root)
    assert not (dest / rels[0]).exists() and not list(dest.rglob("*.part"))
    assert (dest / rels[1]).read_bytes() == (root / rels[1]).read_bytes()


def test_slowdown_bursts_are_retried(tmp_path: Path, bucket: str, make_repo, proxy: FaultProxy) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {f"f{i}.data.bin": 20_000 for i in range(4)})
    repo = make_repo(bucket, endpoint_url=proxy.url)
    proxy.slowdown(3, f"PUT /{bucket}/")  # uploads: botocore backs off and retries
    repo.upload(root, rels, jobs=2).raise_for_failures()
    assert proxy.counts["slowdown"] == 3
    proxy.slowdown(2, f"GET /{bucket}/{SESSION}")  # downloads: the engine backs off and retries
    dest = tmp_path / "cache"
    report = download(_items(repo), dest, repo.fetcher(), jobs=2)
    assert report.ok, report.failed
    assert proxy.counts["slowdown"] == 5
    assert_complete(dest, root, rels)


def test_endless_slowdown_fails_clearly(tmp_path: Path, bucket: str, make_repo, proxy: FaultProxy) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 1000})
    make_repo(bucket).upload(root, rels).raise_for_failures()
    repo = make_repo(bucket, name="busy", endpoint_url=proxy.url)
    items = _items(repo)
    proxy.slowdown(1000, f"GET /{bucket}/{SESSION}")
    report = download(items, tmp_path / "cache", repo.fetcher())
    assert failed_names(report) == rels
    assert "503" in report.failed[0][1] and "X-Amz-Signature" not in report.failed[0][1]


def test_403_on_a_private_bucket(tmp_path: Path, bucket: str, make_repo) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 1000})
    make_repo(bucket).upload(root, rels).raise_for_failures()
    anon = make_repo(bucket, name="anon", access_key=None, secret_key=None, anonymous=True)
    with pytest.raises(TransferError, match="access denied anonymously.*'anonymous'"):
        anon.fetch_index(None)
    with pytest.raises(TransferError, match="access denied anonymously"):
        anon.check()
    # The object URL itself, read without credentials: a 403 naming the object, never a signature.
    owner = make_repo(bucket, name="owner")
    url = _items(owner)[0].url
    report = download([TransferItem(rels[0], url, 1000, None)], tmp_path / "cache", anon.fetcher())
    assert failed_names(report) == rels and "403" in report.failed[0][1]


def test_interrupted_multipart_upload_is_resumed(
    tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    monkeypatch.setenv("ONE_S3_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("ONE_S3_PART_SIZE", str(5 * MiB))
    monkeypatch.setenv("ONE_S3_PART_JOBS", "1")  # one part at a time: the interrupt comes after the first
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 13 * MiB, "small.data.bin": 100})
    big = rels[0]
    repo = make_repo(bucket)

    def stop_after_first_part(p) -> None:  # noqa: ANN001
        if p.bytes_done >= 5 * MiB:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        repo.upload(root, [big, rels[1]], jobs=1, progress=stop_after_first_part)
    c = moto_s3.client()
    keys = [o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert big not in keys, "an interrupted multipart upload leaves nothing under the final key"
    uploads = c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [big]
    for name in (".one_index.tsv", ".one_root"):
        index = c.get_object(Bucket=bucket, Key=name)["Body"].read().decode() if name in keys else ""
        assert big not in index, f"the index ({name}) never lists what is not there"
    sent: list[int] = []
    report = make_repo(bucket, name="again").upload(root, rels, jobs=1, progress=lambda p: sent.append(p.bytes_done))
    report.raise_for_failures()
    assert max(sent) <= 8 * MiB + 100, f"the resumed upload sent {max(sent)} bytes: the first part was sent again"
    assert c.get_object(Bucket=bucket, Key=big)["Body"].read() == (root / big).read_bytes()
    assert c.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    head = c.head_object(Bucket=bucket, Key=big)
    assert "-" in head["ETag"], "a multipart object (its ETag is not its md5)"
    dest = tmp_path / "cache"
    reader = make_repo(bucket, name="reader")
    assert download(_items(reader), dest, reader.fetcher()).ok  # verified with the index's md5, not the ETag
    assert_complete(dest, root, rels)


def test_multipart_of_another_version_is_not_completed(
    tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    monkeypatch.setenv("ONE_S3_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("ONE_S3_PART_SIZE", str(5 * MiB))
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 11 * MiB})

    def stop(p) -> None:  # noqa: ANN001
        if p.bytes_done >= 5 * MiB:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_repo(bucket).upload(root, rels, jobs=1, progress=stop)
    write_root(root, {"big.data.bin": 11 * MiB}, seed=1)  # the file changes before the next run
    make_repo(bucket, name="again").upload(root, rels, jobs=1).raise_for_failures()
    c = moto_s3.client()
    assert c.get_object(Bucket=bucket, Key=rels[0])["Body"].read() == (root / rels[0]).read_bytes()
    assert c.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "the stale upload was aborted"


def test_read_only_bucket_for_upload(tmp_path: Path, bucket: str, make_repo, enforced: MotoS3) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 1000, "b.data.bin": 2000})
    key, secret = enforced.iam_user(READ_ACTIONS, bucket)
    enforced.enforce_auth(True)
    repo = make_repo(bucket, access_key=key, secret_key=secret)
    repo.check()  # reading is allowed
    report = repo.upload(root, rels, jobs=2)
    assert failed_names(report) == sorted(rels)
    assert all("access denied" in m and "s3:PutObject" in m for _, m in report.failed), report.failed
    enforced.enforce_auth(False)
    assert enforced.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0, "nothing was written"


def test_hostile_keys_never_write_outside_the_cache(
    tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3, one_home: Path
) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 1000})
    repo = make_repo(bucket)
    repo.upload(root, rels).raise_for_failures()
    c = moto_s3.client()
    hostile = ["../escape.npy", "/abs/escape.npy", f"{SESSION}/alf/%2e%2e/%2e%2e/escape.npy", f"{SESSION}/../../x.npy"]
    for key in hostile:
        c.put_object(Bucket=bucket, Key=key, Body=b"evil")
    index = c.get_object(Bucket=bucket, Key=".one_index.tsv")["Body"].read().decode()  # read first
    base = repo.url_for("")
    extra = "".join(f"{k}\t{base}{k}\t4\t\n" for k in hostile) + "".join(f"{k}\t\t4\t\n" for k in hostile)
    c.put_object(Bucket=bucket, Key=".one_index.tsv", Body=(index + extra).encode())
    update = repo.fetch_index(None)
    assert [r.rel_path for r in update.rows] == rels
    assert len(update.problems) == 2 * len(hostile)
    items = [TransferItem(k, f"{base}{k}", 4, None) for k in hostile]
    dest = tmp_path / "area" / "cache"
    report = download(items, dest, repo.fetcher())
    assert sorted(failed_names(report)) == sorted(hostile)
    assert not any(p.name.startswith(("escape", "x.npy")) for p in tmp_path.rglob("*"))
    # An upload lists the bucket (hostile keys included) and neither touches nor lists them.
    backend = repo.backend()
    assert [r for r, _ in backend.list_files()] == rels
    write_root(root, {"a.data.bin": 1000, "b.data.bin": 10})
    repo.upload(root, [*rels, f"{SESSION}/alf/b.data.bin"]).raise_for_failures()
    for key in hostile:
        assert c.get_object(Bucket=bucket, Key=key)["Body"].read() == b"evil"


def test_multipart_whose_bytes_are_not_the_recorded_md5_is_not_completed(
    tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    """The parts are hashed as they are read: when they are not the bytes whose md5 the object's metadata
    would record (a stale hash, a file changed between hashing and sending), nothing is completed."""
    from onecore.upload import part_name
    from onecore.uploadio import HashingReader

    monkeypatch.setenv("ONE_S3_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("ONE_S3_PART_SIZE", str(5 * MiB))
    root = tmp_path / "root"
    rels = write_root(root, {"big.data.bin": 11 * MiB})

    class StaleHashes:  # a cache entry that is not the md5 of the file's bytes
        def md5(self, path: Path) -> str:
            return "0" * 32

        def lookup(self, path: Path) -> str:
            return "0" * 32

    backend = make_repo(bucket).backend(StaleHashes())
    changed = "changed while it was being uploaded"
    with HashingReader(root / rels[0]) as src, pytest.raises(TransferError, match=changed):
        backend.put(src, part_name(rels[0]), 0, lambda n: None)
    c = moto_s3.client()
    assert c.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0, "nothing under the final key"
    assert c.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "the upload was aborted"
