"""Access to an s3 repository: anonymous read of a public bucket, keys from the environment or a profile,
``one add-repo``'s check naming the setting that failed, ``one publish``, and a light entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from onecore_s3.repository import S3Repository
from onecore_s3.testing import READ_ACTIONS, SESSION, FaultProxy, MotoS3, write_root

from onecore.api import One
from onecore.cli import cli
from onecore.errors import ConfigError, OneError, TransferError, UnsupportedOperation
from onecore.testing.fixtures import configure


def test_entry_point_does_not_import_boto3() -> None:
    code = (
        "import sys, onecore, onecore_s3.plugin, onecore_s3.repository\n"
        "from onecore.plugins import get_registry\n"
        "assert 's3' in get_registry().repository_types\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_one_help_does_not_import_boto3() -> None:
    code = (
        "import sys\n"
        "from onecore.cli import cli\n"
        "from onecore.plugins import get_registry\n"
        "try:\n"
        "    cli(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 's3' in get_registry().repository_types\n"
        "print('MODULES', sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "MODULES []"


def test_anonymous_read_of_a_public_bucket(tmp_path: Path, moto_s3: MotoS3, make_repo, one_home: Path) -> None:  # noqa: ANN001
    bucket = moto_s3.new_bucket(public=True)
    root = tmp_path / "root"
    rels = write_root(root, {"spikes.times.bin": 5000, "spikes.clusters.bin": 300})
    make_repo(bucket, prefix="pub").upload(root, rels).raise_for_failures()
    anon = make_repo(bucket, name="public", prefix="pub", access_key=None, secret_key=None, anonymous=True)
    anon.check()
    configure(anon)
    with One(repo="public", home=one_home) as one:
        assert one.search() == [one.path2eid(SESSION)]
        files = one.load_object(SESSION, "spikes", download_only=True)
        for f in files:
            rel = Path(f).relative_to(anon.data_dir).as_posix()
            assert Path(f).read_bytes() == (root / rel).read_bytes()


def test_unsigned_requests_when_anonymous(tmp_path: Path, moto_s3: MotoS3, make_repo, proxy: FaultProxy) -> None:  # noqa: ANN001
    bucket = moto_s3.new_bucket(public=True)
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 100})
    make_repo(bucket).upload(root, rels).raise_for_failures()
    anon = make_repo(bucket, name="anon", endpoint_url=proxy.url, access_key=None, secret_key=None, anonymous=True)
    rows = list(anon.fetch_index(None).rows)
    anon.fetcher().open(rows[0].url).close()
    assert proxy.requests and not any("authorization:" in h.lower() or "X-Amz-Signature" in h for h in proxy.requests)


def test_private_bucket_with_keys_from_the_environment(
    tmp_path: Path, bucket: str, make_repo, enforced: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 4000})
    make_repo(bucket).upload(root, rels).raise_for_failures()
    key, secret = enforced.iam_user(READ_ACTIONS, bucket)
    enforced.enforce_auth(True)
    repo = make_repo(bucket, name="env", access_key=None, secret_key=None)
    with pytest.raises(ConfigError, match="no AWS credentials"):
        repo.check()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    repo = make_repo(bucket, name="env2", access_key=None, secret_key=None)
    repo.check()
    rows = list(repo.fetch_index(None).rows)
    from onecore.transfer import TransferItem, download

    dest = tmp_path / "cache"
    report = download([TransferItem(r.rel_path, r.url or "", r.size, r.md5) for r in rows], dest, repo.fetcher())
    assert report.ok, report.failed
    assert (dest / rels[0]).read_bytes() == (root / rels[0]).read_bytes()


def test_named_profile(tmp_path: Path, bucket: str, make_repo, enforced: MotoS3) -> None:  # noqa: ANN001
    key, secret = enforced.iam_user(READ_ACTIONS, bucket)
    creds = Path(tmp_path / "aws-credentials")  # the conftest points AWS_SHARED_CREDENTIALS_FILE here
    creds.write_text(f"[lab]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    enforced.enforce_auth(True)
    make_repo(bucket, name="prof", access_key=None, secret_key=None, profile="lab").check()
    with pytest.raises(ConfigError, match="'profile'"):
        make_repo(bucket, name="noprof", access_key=None, secret_key=None, profile="nobody").check()


def test_check_names_the_failing_setting(bucket: str, make_repo, enforced: MotoS3) -> None:  # noqa: ANN001
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransferError, match="endpoint_url"):
        make_repo(bucket, name="e", endpoint_url=f"http://127.0.0.1:{port}", timeout=1).check()
    with pytest.raises(ConfigError, match="'bucket'"):
        make_repo("no-such-bucket-here", name="b").check()
    key, secret = enforced.iam_user(READ_ACTIONS, bucket)
    enforced.enforce_auth(True)
    make_repo(bucket, name="ok", access_key=key, secret_key=secret).check()
    with pytest.raises(ConfigError, match="'secret_key'"):
        make_repo(bucket, name="s", access_key=key, secret_key="wrong" + secret).check()
    with pytest.raises(ConfigError, match="'access_key'"):
        make_repo(bucket, name="k", access_key="AKIANOBODY000000", secret_key=secret).check()


def test_add_repo_cli_checks(bucket: str, moto_s3: MotoS3, one_home: Path) -> None:
    runner = CliRunner()
    base = ["add-repo", "mine", "--type", "s3", "--set", f"endpoint_url={moto_s3.url}", "--set", "region=us-east-1"]
    keys = ["--set", "access_key=testing", "--set", "secret_key=testing"]
    res = runner.invoke(cli, [*base, *keys, "--set", "bucket=not-a-bucket-x"])
    assert res.exit_code != 0 and "bucket" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, [*base, *keys, "--set", f"bucket={bucket}"])
    assert res.exit_code == 0, res.output
    assert (
        "testing" not in (one_home / "config.yaml").read_text()
        or (one_home / "config.yaml").stat().st_mode & 0o077 == 0
    )


def test_settings_are_validated(one_home: Path) -> None:
    bad = [
        {"bucket": "Bad_Bucket!"},
        {"bucket": "ok-bucket", "prefix": "a/../b"},
        {"bucket": "ok-bucket", "endpoint_url": "ftp://x"},
        {"bucket": "ok-bucket", "access_key": "a"},
        {"bucket": "ok-bucket", "anonymous": True, "profile": "p"},
    ]
    for settings in bad:
        with pytest.raises(ConfigError):
            S3Repository("x", settings, home=one_home)
    repo = S3Repository("x", {"bucket": "s3://ok-bucket/", "prefix": "/a//b/"}, home=one_home)
    assert repo.settings["bucket"] == "ok-bucket" and repo.settings["prefix"] == "a/b"
    shown = repr(S3Repository("x", {"bucket": "ok-bucket", "access_key": "AKIAX", "secret_key": "hunter2"}))
    assert "hunter2" not in shown and "AKIAX" not in shown


def test_publish_is_not_supported(bucket: str, make_repo, one_home: Path) -> None:  # noqa: ANN001
    repo = make_repo(bucket)
    with pytest.raises(UnsupportedOperation, match="not supported.*bucket policy"):
        repo.publish()
    configure(repo)
    res = CliRunner().invoke(cli, ["publish", "--repo", repo.name])
    assert res.exit_code != 0 and "not supported" in res.output and "Traceback" not in res.output


def test_object_metadata_makes_reupload_incremental(
    tmp_path: Path, bucket: str, make_repo, moto_s3: MotoS3, proxy: FaultProxy, one_home: Path
) -> None:  # noqa: ANN001
    """Another computer (no local upload journal) re-uploading a root whose index was lost."""
    from onecore.uploadjournal import JOURNAL_NAME

    root = tmp_path / "root"
    rels = write_root(root, {"a.data.bin": 3000, "b.data.bin": 4000})
    repo = make_repo(bucket, endpoint_url=proxy.url)
    repo.upload(root, rels).raise_for_failures()
    c = moto_s3.client()
    head = c.head_object(Bucket=bucket, Key=rels[0])
    assert head["Metadata"]["md5"] == head["ETag"].strip('"') and head["Metadata"]["size"] == "3000"
    for name in (".one_index.tsv", ".one_root"):  # the index is lost: the objects' metadata still tell
        c.delete_object(Bucket=bucket, Key=name)
    for leftover in one_home.glob(JOURNAL_NAME + "*"):  # nor does this computer's journal
        leftover.unlink()
    proxy.requests.clear()
    report = make_repo(bucket, name="again", endpoint_url=proxy.url).upload(root, rels)
    report.raise_for_failures()
    puts = [h.split("\r\n")[0] for h in proxy.requests if h.startswith("PUT ")]
    assert len(puts) == 2 and all(".one_root" in p or ".one_index.tsv" in p for p in puts), (
        f"unchanged objects were sent again: {puts}"
    )
    assert not [h for h in proxy.requests if h.startswith("HEAD ")], "one listing per folder, not a HEAD per file"
    lists = [h for h in proxy.requests if h.startswith("GET ") and "list-type=2" in h.split("\r\n")[0]]
    assert len(lists) == 1, lists
    assert json.dumps(sorted(r.rel_path for r in make_repo(bucket, name="r").fetch_index(None).rows)) == json.dumps(
        sorted(rels)
    )


def test_errors_are_one_errors_without_secrets(bucket: str, make_repo, enforced: MotoS3) -> None:  # noqa: ANN001
    enforced.enforce_auth(True)
    repo = make_repo(bucket, access_key="AKIAFAKE00000000", secret_key="sup3r-s3cret")
    with pytest.raises(OneError) as e:
        repo.fetch_index(None)
    assert "sup3r-s3cret" not in str(e.value)
