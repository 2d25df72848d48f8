"""Uploads to an s3 repository: the index written last and never listing a failed object, deletion (for
``one upload --delete``), multipart objects with parallel parts, the CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from onecore_s3.testing import FaultProxy, MotoS3, write_root

from onecore.cli import cli
from onecore.repository import md5_file
from onecore.testing.fixtures import configure

MiB = 1 << 20


def test_index_is_written_last(tmp_path: Path, bucket: str, make_repo, proxy: FaultProxy) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {f"f{i}.data.bin": 1000 + i for i in range(5)})
    make_repo(bucket, endpoint_url=proxy.url).upload(root, rels, jobs=3).raise_for_failures()
    puts = [h.split("\r\n")[0] for h in proxy.requests if h.startswith("PUT ")]
    assert len(puts) == 7 and ".one_index.tsv" in puts[-2] and ".one_root" in puts[-1], puts


def test_failed_object_is_not_in_the_index(tmp_path: Path, bucket: str, make_repo, enforced: MotoS3) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 1000, "b.data.bin": 2000})
    only_a = {
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": [
            f"arn:aws:s3:::{bucket}/.one_root",
            f"arn:aws:s3:::{bucket}/.one_index.tsv",
            f"arn:aws:s3:::{bucket}/*/a.data.bin",
        ],
    }
    key, secret = enforced.iam_user(["s3:GetObject", "s3:ListBucket"], bucket, extra=(only_a,))
    enforced.enforce_auth(True)
    repo = make_repo(bucket, access_key=key, secret_key=secret)
    report = repo.upload(root, rels, jobs=2)
    assert [r for r, _ in report.failed] == [rels[1]] and report.downloaded == [rels[0]]
    assert [r.rel_path for r in repo.fetch_index(None).rows] == [rels[0]], "the index lists only what is there"


def test_backend_deletes_objects(tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 10, "b.data.bin": 20})
    repo = make_repo(bucket, prefix="p")
    repo.upload(root, rels).raise_for_failures()
    backend = repo.backend()
    assert sorted(backend.list_files()) == [(rels[0], 10), (rels[1], 20)]
    backend.delete(rels[1])
    assert backend.size(rels[1]) is None and backend.size(rels[0]) == 10
    keys = [o["Key"] for o in moto_s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == sorted(["p/.one_index.tsv", "p/.one_root", f"p/{rels[0]}"])


def test_multipart_objects_round_trip(tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("ONE_S3_MULTIPART_THRESHOLD", str(5 * MiB))
    monkeypatch.setenv("ONE_S3_PART_SIZE", str(5 * MiB))
    root = tmp_path / "root"
    rels = write_root(root, {"x.data.bin": 16 * MiB + 3, "y.data.bin": 6 * MiB, "z.data.bin": 7})
    repo = make_repo(bucket)
    repo.upload(root, rels, jobs=3).raise_for_failures()
    c = moto_s3.client()
    for rel in rels:
        assert c.get_object(Bucket=bucket, Key=rel)["Body"].read() == (root / rel).read_bytes()
    assert c.head_object(Bucket=bucket, Key=rels[0])["ETag"].endswith('-4"')
    again = make_repo(bucket, name="again").upload(root, rels, jobs=3)
    assert sorted(again.skipped) == sorted(rels) and again.downloaded == []


def test_cli_upload_dry_run_and_publish(tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"spikes.times.npy": 100})
    repo = make_repo(bucket)
    configure(repo)
    runner = CliRunner()
    res = runner.invoke(cli, ["upload", str(root), "--repo", repo.name, "--dry-run"])
    assert res.exit_code == 0 and f"would send {rels[0]}" in res.output, res.output
    assert moto_s3.client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    res = runner.invoke(cli, ["upload", str(root), "--repo", repo.name, "-q", "--jobs", "2"])
    assert res.exit_code == 0 and "1 transferred" in res.output, res.output


def test_a_file_is_hashed_once_by_concurrent_askers(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """upload_tree hashes a new file in its hash thread while the S3 backend needs the same md5 for the
    object's metadata: the hash cache computes it once and hands it to both."""
    import threading
    import time

    import onecore.hashcache as hc

    calls = []
    real = hc.md5_file

    def slow_md5(path):  # noqa: ANN001, ANN202
        calls.append(path)
        time.sleep(0.3)
        return real(path)

    monkeypatch.setattr(hc, "md5_file", slow_md5)
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 1000)
    cache = hc.HashCache(tmp_path / "hashes.sqlite")
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.md5(f))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    cache.close()
    assert len(calls) == 1 and len(set(got)) == 1 and len(got) == 3


def test_datasets_named_like_staging_files(tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3) -> None:  # noqa: ANN001
    """A dataset whose own name ends in .part or .tmp is an object like any other (not a staging name)."""
    root = tmp_path / "root"
    rels = write_root(root, {"raw.data.part": 300, "raw.data.tmp": 400, "raw.data.bin": 500})
    make_repo(bucket).upload(root, rels).raise_for_failures()
    again = make_repo(bucket, name="again").upload(root, rels)
    assert sorted(again.skipped) == sorted(rels) and again.downloaded == []
    listed = {r.rel_path: r.size for r in make_repo(bucket, name="r").fetch_index(None).rows}
    assert listed == {rel: (root / rel).stat().st_size for rel in rels}
    c = moto_s3.client()
    for rel in rels:
        assert c.get_object(Bucket=bucket, Key=rel)["Body"].read() == (root / rel).read_bytes()


def test_index_read_companion_first_else_one_root(tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3) -> None:  # noqa: ANN001
    """A data root with only ``.one_root`` (ONE light, older onecore) is read; once the companion is there
    it is read instead (sizes and md5s), with its ETag as validator."""
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 10, "b.data.bin": 20})
    c = moto_s3.client()
    c.put_object(Bucket=bucket, Key=f"p/{rels[0]}", Body=(root / rels[0]).read_bytes())
    c.put_object(Bucket=bucket, Key="p/.one_root", Body=f"{rels[0]}\t\n".encode())
    repo = make_repo(bucket, prefix="p")
    legacy = repo.fetch_index(None)
    rows = list(legacy.rows)
    assert [(r.rel_path, r.md5) for r in rows] == [(rels[0], None)] and legacy.state["index_name"] == ".one_root"
    assert repo.fetch_index(legacy.state) is None, "an unchanged .one_root is not read again"
    repo.upload(root, rels).raise_for_failures()
    update = repo.fetch_index(legacy.state)
    listed = {r.rel_path: (r.size, r.md5) for r in update.rows}
    assert update.state["index_name"] == ".one_index.tsv"
    assert listed == {rel: ((root / rel).stat().st_size, md5_file(root / rel)) for rel in rels}
    assert repo.fetch_index(update.state) is None, "an unchanged companion is not read again (ETag)"
    one_root = c.get_object(Bucket=bucket, Key="p/.one_root")["Body"].read().decode()
    assert sorted(line.split("\t")[0] for line in one_root.splitlines()) == sorted(rels)


def test_upload_with_delete_removes_what_the_root_no_longer_has(
    tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3
) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 10, "b.data.bin": 20})
    repo = make_repo(bucket)
    repo.upload(root, rels).raise_for_failures()
    (root / rels[1]).unlink()
    kept = repo.upload(root, rels[:1])
    assert kept.remote_only == [rels[1]] and kept.deleted == []
    assert sorted(r.rel_path for r in make_repo(bucket, name="r1").fetch_index(None).rows) == sorted(rels)
    report = repo.upload(root, rels[:1], delete=True)
    report.raise_for_failures()
    assert report.deleted == [rels[1]]
    keys = sorted(o["Key"] for o in moto_s3.client().list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted([".one_index.tsv", ".one_root", rels[0]])
    assert [r.rel_path for r in make_repo(bucket, name="r2").fetch_index(None).rows] == [rels[0]]
