"""The transfer engine against a real loopback server, one injected fault at a time.

Each fault ends with the file byte-identical to the source, or absent under its final name with an
error naming it (and a ``.part`` kept when resuming makes sense).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from onecore.errors import TransferError, VerificationError
from onecore.testing.servers import FileServer
from onecore.transfer import PART_SUFFIX, HTTPFetcher, RetryPolicy, TransferItem, download, part_path

SESSION = "lab/Subjects/s1/2021-01-01/001"


@pytest.fixture(autouse=True)
def _isolated(one_home: Path) -> None:
    """Every test runs with a temporary ONE_HOME."""


class Sleeps(list):
    """A fake ``sleep`` for RetryPolicy that records the delays asked for."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def fast_policy(attempts: int = 4) -> tuple[RetryPolicy, Sleeps]:
    sleeps = Sleeps()
    return RetryPolicy(attempts=attempts, base_delay=0.001, sleep=sleeps), sleeps


class Files:
    """Source files served by a FileServer, with helpers to build transfer items."""

    def __init__(self, root: Path, server: FileServer):
        self.root = root
        self.server = server
        self.data: dict[str, bytes] = {}

    def add(self, name: str, size: int, rel: str | None = None) -> str:
        rel = rel or f"{SESSION}/alf/{name}"
        data = os.urandom(size)
        (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.root / rel).write_bytes(data)
        self.data[rel] = data
        return rel

    def item(self, rel: str, md5: bool = True, size: bool = True) -> TransferItem:
        data = self.data[rel]
        return TransferItem(
            rel, self.server.url_for(rel), len(data) if size else None, hashlib.md5(data).hexdigest() if md5 else None
        )

    def items(self, md5: bool = True, size: bool = True) -> list[TransferItem]:
        return [self.item(r, md5, size) for r in self.data]


@pytest.fixture
def server(tmp_path: Path):
    (tmp_path / "srv").mkdir()
    with FileServer(tmp_path / "srv") as s:
        yield s


@pytest.fixture
def files(tmp_path: Path, server: FileServer) -> Files:
    return Files(tmp_path / "srv", server)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def assert_identical(dest: Path, files: Files, rels: list[str] | None = None) -> None:
    for rel in rels if rels is not None else files.data:
        assert (dest / rel).read_bytes() == files.data[rel], rel
        assert not part_path(dest / rel).exists(), rel


def parts(dest: Path) -> list[Path]:
    return sorted(dest.rglob("*" + PART_SUFFIX))


# ------------------------------------------------------------------------------------------------
# Healthy batches
# ------------------------------------------------------------------------------------------------
def test_parallel_batch_downloads_and_verifies_all(files: Files, server: FileServer, dest: Path) -> None:
    for i in range(30):
        files.add(f"obj{i:02d}.attr.bin", (i * 7919) % 70_000)
    files.add("empty.attr.bin", 0)
    files.add("spikes.times.npy", 5000, rel=f"{SESSION}/alf/#2021-06-01#/spikes.times.npy")
    report = download(files.items(), dest, HTTPFetcher(), jobs=8)
    assert report.ok and sorted(report.downloaded) == sorted(files.data) and not report.skipped
    assert report.bytes == sum(len(d) for d in files.data.values())
    assert_identical(dest, files)
    assert server.count() == len(files.data)
    assert len({r.client_port for r in server.requests}) <= 8  # connections are reused by workers
    assert report.paths[f"{SESSION}/alf/#2021-06-01#/spikes.times.npy"].is_file()
    assert "31 transferred" not in report.summary() and "32 transferred" in report.summary()


def test_present_and_verified_files_are_skipped_with_zero_requests(
    files: Files, server: FileServer, dest: Path
) -> None:
    for i in range(5):
        files.add(f"obj{i}.attr.bin", 3000)
    assert download(files.items(), dest, HTTPFetcher()).ok
    server.clear_log()
    report = download(files.items(), dest, HTTPFetcher())
    assert sorted(report.skipped) == sorted(files.data) and not report.downloaded
    assert server.count(method=None) == 0
    assert set(report.paths) == set(files.data)


def test_present_but_corrupted_files_are_fetched_again(files: Files, server: FileServer, dest: Path) -> None:
    same_size = files.add("a.attr.bin", 4000)
    shorter = files.add("b.attr.bin", 4000)
    fine = files.add("c.attr.bin", 4000)
    assert download(files.items(), dest, HTTPFetcher()).ok
    (dest / same_size).write_bytes(os.urandom(4000))
    (dest / shorter).write_bytes(b"x" * 10)
    server.clear_log()
    report = download(files.items(), dest, HTTPFetcher())
    assert sorted(report.downloaded) == sorted([same_size, shorter]) and report.skipped == [fine]
    assert server.count() == 2 and server.count(fine) == 0
    assert_identical(dest, files)


@pytest.mark.parametrize("size", [True, False])
def test_unknown_md5_is_not_a_mismatch(files: Files, server: FileServer, dest: Path, size: bool) -> None:
    for i in range(3):
        files.add(f"obj{i}.attr.bin", 2000)
    assert download(files.items(md5=False, size=size), dest, HTTPFetcher()).ok
    assert_identical(dest, files)
    server.clear_log()
    report = download(files.items(md5=False, size=size), dest, HTTPFetcher())
    assert len(report.skipped) == 3 and server.count() == 0  # no re-download loop


def test_progress_reports_byte_and_file_totals(files: Files, dest: Path) -> None:
    for i in range(12):
        files.add(f"obj{i:02d}.attr.bin", 10_000 + i)
    total = sum(len(d) for d in files.data.values())
    seen = []
    assert download(files.items(), dest, HTTPFetcher(), jobs=4, progress=seen.append).ok
    assert seen and all(p.files_total == 12 and p.bytes_total == total for p in seen)
    assert [p.files_done for p in seen] == sorted(p.files_done for p in seen)
    assert seen[-1].files_done == 12 and seen[-1].bytes_done == total
    # a second run: everything up to date still ends at the totals
    seen.clear()
    assert download(files.items(), dest, HTTPFetcher(), jobs=4, progress=seen.append).ok
    assert seen[-1].files_done == 12 and seen[-1].bytes_done == total


# ------------------------------------------------------------------------------------------------
# Interrupted transfers and resuming
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["drop", "short"])
def test_resume_after_a_cut_sends_range_and_appends(files: Files, server: FileServer, dest: Path, kind: str) -> None:
    rel = files.add("big.attr.bin", 300_000)
    server.inject(rel, kind, after=100_000)
    policy, sleeps = fast_policy()
    report = download([files.item(rel)], dest, HTTPFetcher(), retry=policy)
    assert report.ok, report.failed
    assert_identical(dest, files)
    first, second = server.requests_for(rel)
    assert first.range is None and first.fault == kind and first.bytes_sent == 100_000
    assert second.range is not None and second.status == 206
    start = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 100_000  # a reset may lose what was in flight, never more
    assert second.bytes_sent == 300_000 - start < 300_000
    assert len(sleeps) == 1


def test_resume_a_partial_file_left_by_an_earlier_run(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("big.attr.bin", 200_000)
    (dest / rel).parent.mkdir(parents=True)
    part_path(dest / rel).write_bytes(files.data[rel][:123_456])
    assert download([files.item(rel)], dest, HTTPFetcher()).ok
    assert_identical(dest, files)
    [rec] = server.requests_for(rel)
    assert rec.range == "bytes=123456-" and rec.bytes_sent == 200_000 - 123_456


def test_a_partial_file_with_wrong_bytes_is_restarted_from_scratch(
    files: Files, server: FileServer, dest: Path
) -> None:
    rel = files.add("big.attr.bin", 200_000)
    (dest / rel).parent.mkdir(parents=True)
    part_path(dest / rel).write_bytes(os.urandom(50_000))
    assert download([files.item(rel)], dest, HTTPFetcher()).ok
    assert_identical(dest, files)
    resumed, fresh = server.requests_for(rel)
    assert resumed.range == "bytes=50000-" and fresh.range is None and fresh.bytes_sent == 200_000


@pytest.mark.parametrize("how", ["fault", "server"])
def test_falls_back_to_a_full_download_when_range_is_ignored(tmp_path: Path, dest: Path, how: str) -> None:
    root = tmp_path / "srv2"
    data = os.urandom(150_000)
    rel = f"{SESSION}/alf/big.attr.bin"
    (root / rel).parent.mkdir(parents=True)
    (root / rel).write_bytes(data)
    (dest / rel).parent.mkdir(parents=True)
    part_path(dest / rel).write_bytes(data[:60_000])
    with FileServer(root, ranges=(how == "fault")) as server:
        if how == "fault":
            server.inject(rel, "ignore_range")
        item = TransferItem(rel, server.url_for(rel), len(data), hashlib.md5(data).hexdigest())
        assert download([item], dest, HTTPFetcher()).ok
        [rec] = server.requests_for(rel)
    assert rec.range == "bytes=60000-" and rec.status == 200 and rec.bytes_sent == len(data)
    assert (dest / rel).read_bytes() == data and not parts(dest)


def test_short_body_keeps_the_part_and_the_next_run_completes(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("big.attr.bin", 100_000)
    server.inject(rel, "short", times=None)  # every answer stops half-way
    policy, _ = fast_policy(attempts=3)
    report = download([files.item(rel)], dest, HTTPFetcher(), retry=policy)
    assert not report.ok and not (dest / rel).exists()
    [(name, error)] = report.failed
    assert name == rel and rel in error and "3 attempts" in error
    [part] = parts(dest)
    kept = part.read_bytes()
    assert len(kept) == 50_000 + 25_000 + 12_500 and files.data[rel].startswith(kept)
    server.clear_faults()
    server.clear_log()
    assert download([files.item(rel)], dest, HTTPFetcher()).ok
    assert_identical(dest, files)
    assert server.requests_for(rel)[0].range == f"bytes={len(kept)}-"


def test_short_body_once_is_resumed(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("big.attr.bin", 100_000)
    server.inject(rel, "short")
    assert download([files.item(rel, md5=False)], dest, HTTPFetcher(), retry=fast_policy()[0]).ok
    assert_identical(dest, files)
    assert server.requests_for(rel)[1].range == "bytes=50000-"


# ------------------------------------------------------------------------------------------------
# Retries
# ------------------------------------------------------------------------------------------------
def test_500_and_429_are_retried_honouring_retry_after(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 5000)
    server.inject(rel, "503", retry_after=7, times=2)
    server.inject(rel, "500", times=1)
    server.inject(rel, "429", retry_after=3, times=1)
    policy, sleeps = fast_policy(attempts=5)
    assert download([files.item(rel)], dest, HTTPFetcher(), retry=policy).ok
    assert_identical(dest, files)
    assert [r.status for r in server.requests_for(rel)] == [503, 503, 500, 429, 200]
    assert sleeps[:2] == [7.0, 7.0] and sleeps[3] == 3.0 and 0 <= sleeps[2] <= 0.004


def test_retry_after_is_capped_by_max_delay(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 100)
    server.inject(rel, "429", retry_after=86400)
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=2, base_delay=0.001, max_delay=1.5, sleep=sleeps)
    assert download([files.item(rel)], dest, HTTPFetcher(), retry=policy).ok
    assert sleeps == [1.5]


@pytest.mark.parametrize("code", ["404", "403", "401", "410"])
def test_no_retry_on_client_errors(files: Files, server: FileServer, dest: Path, code: str) -> None:
    rel = files.add("a.attr.bin", 100)
    server.inject(rel, code, times=None)
    policy, sleeps = fast_policy()
    report = download([files.item(rel)], dest, HTTPFetcher(), retry=policy)
    [(name, error)] = report.failed
    assert name == rel and rel in error and f"HTTP {code}" in error
    assert server.count(rel) == 1 and sleeps == []
    assert not (dest / rel).exists() and not parts(dest)
    assert isinstance(report.errors[rel], TransferError)


def test_missing_file_is_a_clear_404(files: Files, server: FileServer, dest: Path) -> None:
    item = TransferItem(f"{SESSION}/alf/nope.attr.bin", server.url_for(f"{SESSION}/alf/nope.attr.bin"), 10, None)
    report = download([item], dest, HTTPFetcher(), retry=fast_policy()[0])
    [(name, error)] = report.failed
    assert "nope.attr.bin" in error and "404" in error and "not found" in error
    assert server.count() == 1


def test_read_timeout_is_retried_then_a_clear_failure(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 5000)
    server.inject(rel, "hang", seconds=10, times=None)
    policy, sleeps = fast_policy(attempts=3)
    t0 = time.monotonic()
    report = download([files.item(rel)], dest, HTTPFetcher(timeout=(2, 0.3)), retry=policy)
    assert time.monotonic() - t0 < 5
    [(name, error)] = report.failed
    assert rel in error and "3 attempts" in error and "timed out" in error.lower()
    assert server.count(rel) == 3 and len(sleeps) == 2
    assert not (dest / rel).exists()


def test_read_timeout_once_then_success(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 5000)
    server.inject(rel, "hang", seconds=10)
    assert download([files.item(rel)], dest, HTTPFetcher(timeout=(2, 0.3)), retry=fast_policy()[0]).ok
    assert_identical(dest, files)


def test_stall_mid_body_is_resumed(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 100_000)
    server.inject(rel, "hang", after=40_000, seconds=10)
    assert download([files.item(rel)], dest, HTTPFetcher(timeout=(2, 0.3)), retry=fast_policy()[0]).ok
    assert_identical(dest, files)
    assert server.requests_for(rel)[1].range == "bytes=40000-"


def test_connection_refused_is_reported_at_once(dest: Path) -> None:
    """A refused connection is not transient (issue 15): one attempt, no backoff, a short reason."""
    with FileServer(dest.parent) as gone:
        url = gone.url_for(f"{SESSION}/alf/a.attr.bin")
    policy, sleeps = fast_policy(attempts=3)
    report = download([TransferItem(f"{SESSION}/alf/a.attr.bin", url, 10, None)], dest, HTTPFetcher(), retry=policy)
    [(name, error)] = report.failed
    assert "a.attr.bin" in error and "unreachable (connection refused)" in error and not sleeps
    assert "urllib3" not in error and "Errno" not in error


# ------------------------------------------------------------------------------------------------
# Verification
# ------------------------------------------------------------------------------------------------
def test_wrong_bytes_are_a_verification_error_and_nothing_is_kept(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 20_000)
    server.inject(rel, "wrong_bytes", times=None)
    report = download([files.item(rel)], dest, HTTPFetcher(), retry=fast_policy()[0])
    assert isinstance(report.errors[rel], VerificationError)
    [(name, error)] = report.failed
    good = hashlib.md5(files.data[rel]).hexdigest()
    assert rel in error and f"expected md5 {good}" in error and "got " in error
    assert not (dest / rel).exists() and not parts(dest)
    assert server.count(rel) == 2  # one fresh second try, then a clear error: no endless loop
    with pytest.raises(TransferError, match="a.attr.bin"):
        report.raise_for_failures()


def test_wrong_bytes_once_are_fetched_again(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 20_000)
    server.inject(rel, "corrupt", after=5000)
    assert download([files.item(rel)], dest, HTTPFetcher()).ok
    assert_identical(dest, files)
    assert [r.range for r in server.requests_for(rel)] == [None, None]


def test_wrong_size_in_the_index_is_a_clear_error(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 20_000)
    item = files.item(rel)
    item.size = 30_000
    report = download([item], dest, HTTPFetcher(), retry=fast_policy()[0])
    [(name, error)] = report.failed
    assert rel in error and "30000" in error and "20000" in error
    assert not (dest / rel).exists()


def test_larger_than_expected_is_refused(files: Files, server: FileServer, dest: Path) -> None:
    rel = files.add("a.attr.bin", 20_000)
    item = files.item(rel, md5=False)
    item.size = 10_000
    report = download([item], dest, HTTPFetcher(), retry=fast_policy(attempts=2)[0])
    [(name, error)] = report.failed
    assert "more than the expected 10000 bytes" in error and not (dest / rel).exists() and not parts(dest)


def test_large_file_hashed_in_a_thread(
    files: Files, server: FileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onecore.transfer.engine as t

    monkeypatch.setattr(t, "THREADED_HASH_BYTES", 100_000)
    good = files.add("big.attr.bin", 1_500_000)
    bad = files.add("bad.attr.bin", 1_500_000)
    server.inject(bad, "wrong_bytes", after=1_000_000, times=None)
    report = download(files.items(), dest, HTTPFetcher(), retry=fast_policy()[0])
    assert report.downloaded == [good] and isinstance(report.errors[bad], VerificationError)
    assert_identical(dest, files, [good])


# ------------------------------------------------------------------------------------------------
# Batches with failures
# ------------------------------------------------------------------------------------------------
def test_one_failure_does_not_stop_the_others(files: Files, server: FileServer, dest: Path) -> None:
    for i in range(10):
        files.add(f"obj{i}.attr.bin", 8000)
    broken = f"{SESSION}/alf/obj3.attr.bin"
    corrupt = f"{SESSION}/alf/obj7.attr.bin"
    server.inject(broken, "403", times=None)
    server.inject(corrupt, "wrong_bytes", times=None)
    report = download(files.items(), dest, HTTPFetcher(), jobs=4, retry=fast_policy()[0])
    assert sorted(p for p, _ in report.failed) == sorted([broken, corrupt])
    assert len(report.downloaded) == 8
    assert "8 transferred" in report.summary() and "2 failed" in report.summary()
    assert_identical(dest, files, [r for r in files.data if r not in (broken, corrupt)])
    assert not (dest / broken).exists() and not (dest / corrupt).exists()
    with pytest.raises(TransferError) as e:
        report.raise_for_failures()
    assert "2 file(s) failed" in str(e.value) and broken in str(e.value) and corrupt in str(e.value)


def test_a_bug_in_a_fetcher_is_reported_per_file(files: Files, dest: Path) -> None:
    rel = files.add("a.attr.bin", 100)
    ok = files.add("b.attr.bin", 100)

    class Buggy(HTTPFetcher):
        def open(self, url: str, offset: int = 0):  # noqa: ANN201
            if url.endswith("a.attr.bin"):
                raise ValueError("boom")
            return super().open(url, offset)

    report = download(files.items(), dest, Buggy(), jobs=2)
    assert report.downloaded == [ok]
    [(name, error)] = report.failed
    assert name == rel and "ValueError" in error and "boom" in error and rel in error


# ------------------------------------------------------------------------------------------------
# Connections
# ------------------------------------------------------------------------------------------------
def test_one_connection_is_reused_from_file_to_file(files: Files, server: FileServer, dest: Path) -> None:
    for i in range(10):
        files.add(f"obj{i}.attr.bin", 1000 + i)
    fetcher = HTTPFetcher()
    assert download(files.items(), dest, fetcher, jobs=1).ok
    assert server.count() == 10 and len({r.client_port for r in server.requests}) == 1
    # and across batches
    assert download(files.items(), dest / "again", fetcher, jobs=1).ok
    assert server.count() == 20 and len({r.client_port for r in server.requests}) == 1
    fetcher.close()


def test_servers_that_close_connections(tmp_path: Path, dest: Path) -> None:
    srv = tmp_path / "srv2"
    data = {f"{SESSION}/alf/obj{i}.attr.bin": os.urandom(3000) for i in range(6)}
    for rel, b in data.items():
        (srv / rel).parent.mkdir(parents=True, exist_ok=True)
        (srv / rel).write_bytes(b)
    with FileServer(srv, keep_alive=False) as server:
        items = [TransferItem(r, server.url_for(r), len(b), hashlib.md5(b).hexdigest()) for r, b in data.items()]
        assert download(items, dest, HTTPFetcher(), jobs=2).ok
        assert server.count() == 6 and len({r.client_port for r in server.requests}) == 6


def test_stale_kept_alive_connections_are_replaced_without_a_failed_request(tmp_path: Path, dest: Path) -> None:
    srv = tmp_path / "srv2"
    data = {f"{SESSION}/alf/obj{i}.attr.bin": os.urandom(3000) for i in range(8)}
    for rel, b in data.items():
        (srv / rel).parent.mkdir(parents=True, exist_ok=True)
        (srv / rel).write_bytes(b)
    fetcher = HTTPFetcher()
    with FileServer(srv) as first:
        port = first.port
        items = [TransferItem(r, first.url_for(r), len(b), hashlib.md5(b).hexdigest()) for r, b in data.items()]
        assert download(items, dest, fetcher, jobs=4).ok
    sleeps = Sleeps()
    with FileServer(srv, port=port) as second:  # the kept-alive connections to the first one are dead
        report = download(
            items, dest / "b", fetcher, jobs=4, retry=RetryPolicy(attempts=2, base_delay=0.001, sleep=sleeps)
        )
        assert report.ok and second.count() == 8 and sleeps == []
    fetcher.close()


def test_redirects_are_followed_and_auth_is_not_sent_elsewhere(tmp_path: Path, dest: Path) -> None:
    import http.server
    import threading

    data = os.urandom(5000)
    (tmp_path / "srv2").mkdir()
    (tmp_path / "srv2" / "real.bin").write_bytes(data)
    with FileServer(tmp_path / "srv2") as target:
        where = target.url_for("real.bin").replace("127.0.0.1", "localhost")  # another host name

        class Redirect(http.server.BaseHTTPRequestHandler):
            seen: list = []

            def do_GET(self) -> None:  # noqa: N802
                Redirect.seen.append(self.headers.get("Authorization"))
                self.send_response(302)
                self.send_header("Location", where)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"
            rel = f"{SESSION}/alf/a.attr.bin"
            item = TransferItem(rel, url, len(data), hashlib.md5(data).hexdigest())
            assert download([item], dest, HTTPFetcher(auth=("u", "p"))).ok
        finally:
            httpd.shutdown()
            httpd.server_close()
    assert (dest / rel).read_bytes() == data
    assert Redirect.seen[0] is not None  # sent to the server it was configured for
    assert not target.requests[0].authorized  # never to the host it redirected to


def test_downloads_through_a_proxy_from_the_environment(
    files: Files, server: FileServer, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is honoured (the test server answers absolute-URI requests, as a forward proxy would)."""
    for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("http_proxy", server.url)
    good = files.add("a.attr.bin", 50_000)
    cut = files.add("b.attr.bin", 50_000)
    server.inject(cut, "short", after=20_000)
    items = [
        TransferItem(
            rel, f"http://data.example.invalid/{rel}", len(files.data[rel]), hashlib.md5(files.data[rel]).hexdigest()
        )
        for rel in (good, cut)
    ]
    report = download(items, dest, HTTPFetcher(), retry=fast_policy()[0])
    assert report.ok, report.failed
    assert_identical(dest, files)
    assert all(r.raw_path.startswith("http://data.example.invalid/") for r in server.requests)
    assert server.requests_for(cut)[1].range == "bytes=20000-"


def test_subclasses_add_headers_per_url(files: Files, server: FileServer, dest: Path) -> None:
    """request_headers() is the one hook: downloads (fast path, resumes) and get() both use it, and a
    subclass no longer needs to override get() (issue 12: no slower path for subclasses)."""
    files.add("a.attr.bin", 40_000)
    cut = files.add("b.attr.bin", 40_000)
    server.inject(cut, "short", after=10_000)

    class TokenFetcher(HTTPFetcher):  # the fast path's hook
        def request_headers(self, url: str) -> dict[str, str]:
            return {"X-Token": "t1"} if url.startswith(server.url) else {}

    fetcher = TokenFetcher()
    report = download(files.items(), dest, fetcher, jobs=1, retry=fast_policy()[0])
    assert report.ok, report.failed
    assert_identical(dest, files)
    assert {r.header("X-Token") for r in server.requests} == {"t1"}
    assert [r.range for r in server.requests_for(cut)] == [None, "bytes=10000-"]
    assert fetcher.get(server.url_for(cut)).status_code == 200 and server.requests[-1].header("X-Token") == "t1"
    assert "_open_requests" not in dir(HTTPFetcher)
