"""Issue 13 (download side) and issue 15 (offline, index disagreements): each test replays an attack
with real loopback servers (onecore.testing.servers.FileServer and its faults) and fails without the
fix it covers. See docs/integrity.md for the guarantees."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from onecore.errors import TransferError, UnreachableError, VerificationError
from onecore.testing.servers import FileServer
from onecore.transfer import (
    PART_SUFFIX,
    HTTPFetcher,
    RetryPolicy,
    TransferItem,
    TransferReport,
    download,
    part_meta_path,
    part_path,
)

SESSION = "lab/Subjects/s1/2021-01-01/001"


@pytest.fixture(autouse=True)
def _isolated(one_home: Path) -> None:
    """Every test runs with a temporary ONE_HOME."""


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(attempts: int = 4) -> tuple[RetryPolicy, Sleeps]:
    sleeps = Sleeps()
    return RetryPolicy(attempts=attempts, base_delay=0.001, sleep=sleeps), sleeps


@pytest.fixture
def srv(tmp_path: Path):
    (tmp_path / "srv").mkdir()
    with FileServer(tmp_path / "srv") as s:
        yield s


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def put(server: FileServer, rel: str, data: bytes) -> str:
    path = server.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel


def item(server: FileServer, rel: str, data: bytes | None, md5: bool = False) -> TransferItem:
    return TransferItem(
        rel,
        server.url_for(rel),
        len(data) if data is not None else None,
        hashlib.md5(data).hexdigest() if md5 and data is not None else None,
    )


def leftovers(dest: Path) -> list[Path]:
    return sorted(p for p in dest.rglob("*") if p.name.endswith((PART_SUFFIX, PART_SUFFIX + ".json")))


def in_thread(fn: Any, timeout: float) -> Any:
    """Run ``fn`` in a thread; its result, or a failure when it is still running after ``timeout``."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"still running after {timeout} s: no bound"
    if "error" in out:
        raise out["error"]
    return out["result"]


# ------------------------------------------------------------------------------------------------
# Item 1: resume only with a proof of the same version
# ------------------------------------------------------------------------------------------------
def test_a_file_changed_between_a_cut_and_its_resume_is_not_spliced(srv: FileServer, dest: Path) -> None:
    """Size-only row (no md5): the cut download's .part holds old bytes; the resume sends If-Range with
    the recorded ETag, the server's new version comes whole, and the final file is the new version."""
    old = os.urandom(300_000)
    rel = put(srv, f"{SESSION}/alf/spikes.times.npy", old)
    srv.inject(rel, "changed", after=100_000)
    report = download([item(srv, rel, old)], dest, HTTPFetcher(), retry=policy()[0])
    assert report.ok, report.failed
    new = (srv.root / rel).read_bytes()
    assert new != old and (dest / rel).read_bytes() == new  # not half old, half new
    first, second = srv.requests_for(rel)
    assert second.header("If-Range") == first.header("If-Range") or second.header("If-Range")
    assert second.status == 200 and not leftovers(dest)


def test_a_part_of_unknown_version_is_restarted_not_resumed(srv: FileServer, dest: Path) -> None:
    """A .part with nothing recorded and no md5 in the index proves nothing: start over."""
    data = os.urandom(50_000)
    rel = put(srv, f"{SESSION}/alf/a.b.npy", data)
    target = dest / rel
    target.parent.mkdir(parents=True)
    part_path(target).write_bytes(os.urandom(20_000))  # some other version's bytes
    assert download([item(srv, rel, data)], dest, HTTPFetcher()).ok
    assert target.read_bytes() == data
    [rec] = srv.requests_for(rel)
    assert rec.range is None


def test_a_resume_records_its_validator_beside_the_part(srv: FileServer, dest: Path) -> None:
    data = os.urandom(200_000)
    rel = put(srv, f"{SESSION}/alf/a.b.npy", data)
    srv.inject(rel, "short", after=50_000, times=None)
    report = download([item(srv, rel, data)], dest, HTTPFetcher(), retry=policy(attempts=1)[0])
    assert not report.ok
    target = dest / rel
    assert part_path(target).stat().st_size == 50_000
    assert '"' in part_meta_path(target).read_text()  # the strong ETag
    srv.clear_faults()
    assert download([item(srv, rel, data)], dest, HTTPFetcher()).ok
    assert target.read_bytes() == data and not leftovers(dest)
    last = srv.requests_for(rel)[-1]
    assert last.range == "bytes=50000-" and last.header("If-Range") and last.status == 206


# ------------------------------------------------------------------------------------------------
# Item 2: temporary files in a namespace no dataset can occupy
# ------------------------------------------------------------------------------------------------
def test_a_dataset_named_like_another_ones_temp_file(srv: FileServer, dest: Path) -> None:
    files = {f"{SESSION}/alf/a.b{i}.npy": os.urandom(30_000 + i) for i in range(8)}
    files.update({rel + ".part": os.urandom(1000 + i) for i, rel in enumerate(list(files))})
    items = [item(srv, put(srv, rel, data), data) for rel, data in files.items()]
    for _run in range(2):
        report = download(items, dest, HTTPFetcher(), jobs=8)
        assert report.ok, report.failed
        for rel, data in files.items():
            assert (dest / rel).read_bytes() == data, rel
    assert part_path(dest / "x/a.npy") == dest / "x/.a.npy.part"


def test_index_rows_with_dot_names_are_refused(srv: FileServer, dest: Path) -> None:
    data = b"x" * 100
    rel = put(srv, f"{SESSION}/alf/.a.b.npy.part", data)
    report = download([item(srv, rel, data)], dest, HTTPFetcher())
    [(name, error)] = report.failed
    assert name == rel and "reserved for temporary files" in error and srv.count() == 0


# ------------------------------------------------------------------------------------------------
# Item 9: credentials only to the base_url origin, on every path
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def two(tmp_path: Path):
    (tmp_path / "home").mkdir()
    (tmp_path / "other").mkdir()
    with FileServer(tmp_path / "home", auth=("alice", "s3cret")) as home, FileServer(tmp_path / "other") as other:
        yield home, other


def test_a_row_pointing_at_another_origin_gets_no_credentials(two: Any, dest: Path) -> None:
    home, other = two
    data = os.urandom(5000)
    rel = put(other, f"{SESSION}/alf/a.b.npy", data)
    fetcher = HTTPFetcher(auth=("alice", "s3cret"), base_url=home.url)
    assert download([item(other, rel, data)], dest, fetcher).ok  # the first request goes elsewhere
    assert other.requests and not any(r.authorized for r in other.requests)
    assert fetcher.get(other.url_for(rel)).status_code == 200 and not other.requests[-1].authorized


@pytest.mark.parametrize("path", ["direct", "urllib3"])
def test_a_resume_after_a_redirect_to_another_origin_sends_no_credentials(
    two: Any, dest: Path, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's sequence: a partial file, a 302 to another host, a 416 to the Range there, the
    restart; the other host never sees the Authorization header."""
    home, other = two
    data = os.urandom(40_000)
    rel = f"{SESSION}/alf/a.b.npy"
    put(home, rel, data)
    put(other, rel, data[:10_000])  # smaller: the Range from 20000 gets a 416
    target = dest / rel
    target.parent.mkdir(parents=True)
    part_path(target).write_bytes(data[:20_000])
    home.inject(rel, "redirect", location=other.url, times=None)
    fetcher = HTTPFetcher(auth=("alice", "s3cret"), base_url=home.url)
    if path == "urllib3":
        monkeypatch.setattr(fetcher, "_proxy_for", lambda url: "yes")
        monkeypatch.setattr(fetcher, "_manager", lambda url: __import__("urllib3").PoolManager())
    full = TransferItem(rel, home.url_for(rel), len(data), hashlib.md5(data).hexdigest())
    report = download([full], dest, fetcher, retry=policy(attempts=2)[0])
    assert not report.ok
    assert [r.range for r in other.requests_for(rel)][0] == "bytes=20000-"
    assert all(r.authorized for r in home.requests_for(rel))
    assert not any(r.authorized for r in other.requests), [r.headers for r in other.requests]


def test_get_follows_redirects_with_credentials_for_the_own_origin_only(two: Any) -> None:
    home, other = two
    rel = put(other, "x.txt", b"hello")
    put(home, "x.txt", b"hello")
    home.inject("x.txt", "redirect", location=other.url)
    r = HTTPFetcher(auth=("alice", "s3cret"), base_url=home.url).get(home.url_for("x.txt"))
    assert r.status_code == 200 and r.content == b"hello"
    assert home.requests[0].authorized and not other.requests_for(rel)[0].authorized


def test_figshare_style_tokens_use_request_headers_on_every_path(srv: FileServer, two: Any, dest: Path) -> None:
    home, other = srv, two[1]
    data = os.urandom(3000)
    rel = put(other, f"{SESSION}/alf/a.b.npy", data)

    class TokenFetcher(HTTPFetcher):
        def request_headers(self, url: str) -> dict[str, str]:
            return {"Authorization": "token T"} if url.startswith(home.url) else {}

    put(home, rel, data)
    home.inject(rel, "redirect", location=other.url, times=None)
    assert download([item(home, rel, data)], dest, TokenFetcher()).ok
    assert not any(r.authorized for r in other.requests)


# ------------------------------------------------------------------------------------------------
# Item 11: encodings, size-less downloads, full disks
# ------------------------------------------------------------------------------------------------
def test_an_imposed_gzip_encoding_is_decoded_and_counted(
    srv: FileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zeros = bytes(4 << 20)  # compresses to a few KB: a small bomb
    rel = put(srv, f"{SESSION}/alf/a.b.npy", zeros)
    srv.inject(rel, "gzip", times=None)
    assert download([item(srv, rel, zeros)], dest, HTTPFetcher()).ok  # size known: decoded and checked
    assert (dest / rel).read_bytes() == zeros
    assert srv.requests_for(rel)[0].header("Accept-Encoding") == "identity"
    monkeypatch.setenv("ONE_MAX_DOWNLOAD_BYTES", str(1 << 20))
    (dest / rel).unlink()
    report = download([item(srv, rel, None)], dest, HTTPFetcher())  # size-less: the cap counts decoded bytes
    [(name, error)] = report.failed
    assert "ONE_MAX_DOWNLOAD_BYTES" in error and not (dest / rel).exists() and not leftovers(dest)


def test_an_endless_body_of_a_size_less_row_is_capped(
    srv: FileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONE_MAX_DOWNLOAD_BYTES", str(2 << 20))
    rel = put(srv, f"{SESSION}/alf/a.b.npy", b"start")
    srv.inject(rel, "endless", times=None)
    report: TransferReport = in_thread(lambda: download([item(srv, rel, None)], dest, HTTPFetcher()), 30)
    [(name, error)] = report.failed
    assert "more than 2097152 bytes" in error and "ONE_MAX_DOWNLOAD_BYTES" in error
    assert not (dest / rel).exists() and not leftovers(dest)


def test_a_full_disk_removes_what_it_wrote(srv: FileServer, tmp_path: Path) -> None:
    from onecore.testing.disk import full_dir

    sizes = [3 << 20, 400_000, 300_000, 200_000, 150_000]
    files = {put(srv, f"{SESSION}/alf/a.b{i}.npy", os.urandom(n)): n for i, n in enumerate(sizes)}
    items = [item(srv, rel, (srv.root / rel).read_bytes()) for rel in files]
    with full_dir(tmp_path / "small", size=1 << 20) as cache:
        report = download(items, cache, HTTPFetcher(), jobs=1)
        assert report.failed
        for name, error in report.failed:  # a disk filling up is never blamed on the server
            assert "no space left" in error and "differs" not in error and "Traceback" not in error
            assert not (cache / name).exists()
        assert not leftovers(cache)


# ------------------------------------------------------------------------------------------------
# Item 13: deadlines and stalls
# ------------------------------------------------------------------------------------------------
def test_a_dripping_dataset_download_ends_with_one_clear_message(
    srv: FileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONE_STALL_SECONDS", "1")
    monkeypatch.setenv("ONE_MIN_BYTES_PER_SECOND", "100")
    data = os.urandom(2000)
    rel = put(srv, f"{SESSION}/alf/a.b.npy", data)
    srv.inject(rel, "drip", seconds=0.1, times=None)
    t0 = time.monotonic()
    report: TransferReport = in_thread(lambda: download([item(srv, rel, data)], dest, HTTPFetcher()), 20)
    [(name, error)] = report.failed
    assert "stalled" in error and "ONE_MIN_BYTES_PER_SECOND" in error and time.monotonic() - t0 < 10
    assert srv.count(rel) == 1  # no retry loop


def test_a_dripping_index_ends_within_its_deadline(srv: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from onecore.builtins.http import HTTPRepository

    monkeypatch.setenv("ONE_INDEX_SECONDS", "1.5")
    (srv.root / ".one_root").write_text(f"{SESSION}/alf/a.b.npy\n" * 200)
    srv.inject(".one_root", "drip", seconds=0.05, times=None)
    repo = HTTPRepository("web", {"base_url": srv.url})
    t0 = time.monotonic()
    with pytest.raises(TransferError, match="ONE_INDEX_SECONDS"):
        in_thread(lambda: repo.fetch_index(None), 20)
    assert time.monotonic() - t0 < 10
    repo.close()


# ------------------------------------------------------------------------------------------------
# Item 14: lock files
# ------------------------------------------------------------------------------------------------
def test_a_symlinked_lock_folder_is_refused(srv: FileServer, dest: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    from onecore.transfer import _lock_for

    dest.mkdir()
    data = b"payload"
    rel = put(srv, f"{SESSION}/alf/a.b.npy", data)
    folder = _lock_for(dest, rel).path.parent  # the destination's lock folder, under $ONE_HOME/locks
    folder.parent.mkdir(parents=True)
    folder.symlink_to(outside)
    report = download([item(srv, rel, data)], dest, HTTPFetcher())
    [(name, error)] = report.failed
    assert "symbolic link" in error and list(outside.iterdir()) == []


def test_a_planted_lock_file_symlink_is_not_followed(srv: FileServer, dest: Path, tmp_path: Path) -> None:
    from onecore.transfer import _lock_for

    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    rel = f"{SESSION}/alf/a.b.npy"
    lock = _lock_for(dest, rel).path
    lock.parent.mkdir(parents=True)
    lock.symlink_to(victim)
    put(srv, rel, b"payload")
    report = download([item(srv, rel, b"payload")], dest, HTTPFetcher())
    assert report.failed and "symbolic link" in report.failed[0][1]
    assert victim.read_bytes() == b"precious" and oct(victim.stat().st_mode)[-3:] != "600"


# ------------------------------------------------------------------------------------------------
# Item 16: the cache folder itself is wrong
# ------------------------------------------------------------------------------------------------
def test_a_cache_folder_that_is_a_file_is_one_clear_message(srv: FileServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    with pytest.raises(TransferError, match="is a file, not a folder"):
        download([item(srv, put(srv, "a.b.npy", b"x"), b"x")], cache, HTTPFetcher())


def test_a_read_only_cache_is_one_clear_message(srv: FileServer, tmp_path: Path) -> None:
    from onecore.testing.disk import read_only_dir

    data = b"payload" * 100
    rel = put(srv, f"{SESSION}/alf/a.b.npy", data)
    with read_only_dir(tmp_path / "ro") as cache:
        with pytest.raises(TransferError) as e:
            download([item(srv, rel, data)], cache / "sub", HTTPFetcher())
        assert "cannot download into" in str(e.value) and "writable" in str(e.value)
        assert "Traceback" not in str(e.value) and "Errno" not in str(e.value)


# ------------------------------------------------------------------------------------------------
# Issue 15: unreachable servers, an index that disagrees with the server, one path per line
# ------------------------------------------------------------------------------------------------
def test_a_refused_connection_is_not_retried(tmp_path: Path) -> None:
    from onecore.builtins.http import HTTPRepository

    with FileServer(tmp_path) as gone:
        url = gone.url
    repo = HTTPRepository("ibl", {"base_url": url})
    t0 = time.monotonic()
    with pytest.raises(UnreachableError) as e:
        repo.fetch_index(None)
    assert e.value.reason == "connection refused" and time.monotonic() - t0 < 1.0
    assert "urllib3" not in str(e.value) and "Max retries" not in str(e.value)
    repo.close()


def test_offline_falls_back_to_the_cached_catalog_in_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import re

    from click.testing import CliRunner

    from onecore import One
    from onecore.cli import cli
    from onecore.testing import make_data_root

    root = tmp_path / "root"
    make_data_root(root, labs=("nicklab",), subjects=1, sessions=1, n=10)
    with FileServer(root) as server:
        url = server.url
        runner = CliRunner()
        assert runner.invoke(cli, ["index", str(root), "--base-url", url]).exit_code == 0
        r = runner.invoke(cli, ["add-repo", "ibl", "--type", "http", "--set", f"base_url={url}"])
        assert r.exit_code == 0, r.output
        One(repo="ibl").close()  # the catalog is cached
    caplog.clear()
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING):
        one = One(repo="ibl")
    assert time.monotonic() - t0 < 2.0 and one.offline
    [line] = [rec.getMessage() for rec in caplog.records if "unreachable" in rec.getMessage()]
    assert re.fullmatch(
        r"repository 'ibl' unreachable \(connection refused\); using the catalog cached \d{4}-\d\d-\d\d \d\d:\d\d", line
    ), line
    one.close()


def test_a_size_that_disagrees_with_the_index_is_one_attempt(srv: FileServer, dest: Path) -> None:
    data = os.urandom(20_000)
    rel = put(srv, f"{SESSION}/alf/a.b.npy", data)
    wrong = TransferItem(rel, srv.url_for(rel), 30_000, None)  # the file shrank without a new index
    report = download([wrong], dest, HTTPFetcher(), retry=policy()[0])
    [(name, error)] = report.failed
    assert "the server's copy differs from its index" in error and "attempts" not in error
    assert isinstance(report.errors[rel], VerificationError)
    assert srv.count(rel) == 1 and not leftovers(dest) and not (dest / rel).exists()
    assert report.failure_lines() == [f"FAILED {rel}: {error[len(rel) + 2 :]}"]
    assert all(line.count(rel) == 1 for line in report.failure_lines())


def test_an_md5_that_disagrees_with_the_index_leaves_no_part(srv: FileServer, dest: Path) -> None:
    data = os.urandom(20_000)
    rel = put(srv, f"{SESSION}/alf/a.b.npy", data)
    bad = TransferItem(rel, srv.url_for(rel), len(data), "0" * 32)
    report = download([bad], dest, HTTPFetcher(), retry=policy()[0])
    [(name, error)] = report.failed
    assert "differs from its index" in error and not leftovers(dest)
    with pytest.raises(TransferError) as e:
        report.raise_for_failures()
    assert str(e.value).count(rel) == 1


def test_a_dripping_api_answer_ends_within_its_deadline(srv: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_capped (figshare and Alyx API answers) checks its deadline as bytes arrive, not per 64 KiB."""
    from onecore.transfer import read_capped

    monkeypatch.setenv("ONE_MAX_ANSWER_SECONDS", "1")
    (srv.root / "answer.json").write_text("[" + "1," * 1000 + "1]")
    srv.inject("answer.json", "drip", seconds=0.05, times=None)
    r = HTTPFetcher().get(srv.url_for("answer.json"), stream=True)
    t0 = time.monotonic()
    with pytest.raises(TransferError, match="ONE_MAX_ANSWER_SECONDS"):
        in_thread(lambda: read_capped(r, "GET answer.json"), 20)
    assert time.monotonic() - t0 < 5


# ------------------------------------------------------------------------------------------------
# Item 17 (index fetches): no $ONE_HOME/tmp leftovers
# ------------------------------------------------------------------------------------------------
def test_index_fetches_leave_nothing_in_the_home_tmp_folder(srv: FileServer, one_home: Path) -> None:

    from onecore.builtins.http import HTTPRepository

    (srv.root / ".one_root").write_text(f"{SESSION}/alf/a.b.npy\n")
    tmp = one_home / "tmp"
    tmp.mkdir(exist_ok=True)
    import os

    from onecore.index import STALE_SECONDS

    stale = tmp / "tmpabcd.one_root"  # a named copy left by an older onecore killed mid-fetch
    stale.write_text("x")
    old = stale.stat().st_mtime - STALE_SECONDS - 60
    os.utime(stale, (old, old))  # (copies are nameless now: nothing of a killed fetch is left at all)
    repo = HTTPRepository("web", {"base_url": srv.url})
    repo.check()  # add-repo's check: the rows are never read
    update = repo.fetch_index(None)
    assert update is not None and [r.rel_path for r in update.rows] == [f"{SESSION}/alf/a.b.npy"]
    unread = repo.fetch_index(None)
    del unread
    repo.close()
    assert list(tmp.iterdir()) == []
