"""The transfer engine's safety: hostile relative paths, symbolic links in the cache, two processes sharing
a cache, interrupts in the middle of a batch, and URL encoding."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from onecore.errors import UnsafePathError
from onecore.testing.servers import FileServer
from onecore.transfer import (
    PART_SUFFIX,
    HTTPFetcher,
    RetryPolicy,
    TransferItem,
    check_relpath,
    download,
    part_path,
    safe_join,
    url_join,
)

SESSION = "lab/Subjects/s1/2021-01-01/001"

#: Relative paths a hostile or broken index may hold; none may lead to a write outside the cache.
HOSTILE = [
    "../evil.npy",
    "../../evil.npy",
    "lab/../../evil.npy",
    f"{SESSION}/alf/../../../../../../../evil.npy",
    "/tmp/evil.npy",
    "//server/share/evil.npy",
    "C:\\evil.npy",
    "C:/evil.npy",
    "c:evil.npy",
    "lab\\..\\..\\evil.npy",
    "..\\evil.npy",
    "%2e%2e/evil.npy",
    "lab/%2e%2e/%2e%2e/evil.npy",
    "%2E%2E%2Fevil.npy",
    "..%2fevil.npy",
    "~/evil.npy",
    "~root/evil.npy",
    "\u2024\u2024/evil.npy",  # one dot leaders look like '..'
    "lab\uff0f..\uff0f..\uff0fevil.npy",  # fullwidth solidus
    "lab\u2215..\u2215evil.npy",  # division slash
    "\uff0e\uff0e/evil.npy",  # fullwidth full stops
    "lab/./../evil.npy",
    "lab//evil.npy",
    "",
    ".",
    "..",
    "lab/evil.npy\x00.txt",
    "lab/evil\n.npy",
    " ../evil.npy",
]


@pytest.fixture(autouse=True)
def _isolated(one_home: Path) -> None:
    """Every test runs with a temporary ONE_HOME."""


def snapshot(root: Path, exclude: Path) -> dict[str, bytes]:
    """Every file under ``root`` outside ``exclude`` and the engine's lock folder ``$ONE_HOME/locks``
    (symlinks listed by their target)."""
    out = {}
    locks = Path(os.environ.get("ONE_HOME", root / "no-home")) / "locks"
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        if d == exclude or exclude in d.parents or d == locks or locks in d.parents:
            continue
        for name in filenames + [n for n in dirnames if (d / n).is_symlink()]:
            p = d / name
            out[str(p)] = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
    return out


@pytest.fixture
def world(tmp_path: Path):
    """A served folder with a payload, a cache deep inside tmp_path, and a snapshot of everything else."""
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "payload.bin").write_bytes(b"evil payload")
    cache = tmp_path / "a" / "b" / "cache"
    cache.mkdir(parents=True)
    with FileServer(srv) as server:
        yield server, cache


@pytest.mark.parametrize("rel", HOSTILE, ids=lambda r: repr(r))
def test_hostile_paths_are_refused(rel: str) -> None:
    with pytest.raises(UnsafePathError) as e:
        check_relpath(rel)
    assert "refused" in str(e.value)


def test_hostile_rows_write_nothing_outside_the_cache(world, tmp_path: Path) -> None:
    server, cache = world
    before = snapshot(tmp_path, cache)
    items = [TransferItem(rel, server.url_for("payload.bin"), None, None) for rel in HOSTILE]
    good = TransferItem(f"{SESSION}/alf/spikes.times.npy", server.url_for("payload.bin"), 12, None)
    report = download([*items, good], cache, HTTPFetcher(), jobs=4)
    assert report.downloaded == [good.rel_path]
    assert len(report.failed) == len(HOSTILE)
    for _rel, error in report.failed:
        assert "refused" in error
    assert server.count() == 1  # refused before any request
    assert snapshot(tmp_path, cache) == before
    assert [
        p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file() and ".one_locks" not in p.parts
    ] == [good.rel_path]


def test_symlinked_folder_in_the_cache_pointing_outside_is_refused(world, tmp_path: Path) -> None:
    server, cache = world
    outside = tmp_path / "outside"
    outside.mkdir()
    (cache / "lab").symlink_to(outside, target_is_directory=True)
    (cache / "dangling").symlink_to(tmp_path / "outside" / "not-yet")
    rels = [f"{SESSION}/alf/x.npy", "dangling/Subjects/s/2021-01-01/001/x.npy"]
    before = snapshot(tmp_path, cache)
    report = download([TransferItem(r, server.url_for("payload.bin"), None, None) for r in rels], cache, HTTPFetcher())
    assert sorted(p for p, _ in report.failed) == sorted(rels)
    assert all("symbolic link" in e for _, e in report.failed)
    assert server.count() == 0
    assert snapshot(tmp_path, cache) == before and list(outside.iterdir()) == []


def test_symlinked_target_file_pointing_outside_is_refused(world, tmp_path: Path) -> None:
    server, cache = world
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    rel = f"{SESSION}/alf/x.npy"
    (cache / rel).parent.mkdir(parents=True)
    (cache / rel).symlink_to(victim)
    report = download([TransferItem(rel, server.url_for("payload.bin"), None, None)], cache, HTTPFetcher())
    assert report.failed and "symbolic link" in report.failed[0][1]
    assert victim.read_bytes() == b"precious"


def test_a_part_file_planted_as_a_symlink_is_not_written_through(world, tmp_path: Path) -> None:
    server, cache = world
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    rel = f"{SESSION}/alf/x.npy"
    (cache / rel).parent.mkdir(parents=True)
    part_path(cache / rel).symlink_to(victim)
    report = download([TransferItem(rel, server.url_for("payload.bin"), 12, None)], cache, HTTPFetcher())
    assert report.ok
    assert victim.read_bytes() == b"precious" and (cache / rel).read_bytes() == b"evil payload"


def test_safe_join_accepts_symlinks_that_stay_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "lab").symlink_to(tmp_path / "real", target_is_directory=True)
    assert safe_join(tmp_path, "lab/x.npy") == tmp_path.resolve() / "lab" / "x.npy"


def test_url_join_percent_encodes() -> None:
    base = "http://h/data/"
    assert url_join(base, "lab/alf/#2021-06-01#/a.npy") == "http://h/data/lab/alf/%232021-06-01%23/a.npy"
    assert url_join("http://h/data", "a b/100%.npy") == "http://h/data/a%20b/100%25.npy"
    assert url_join(base, "x?y=1") == "http://h/data/x%3Fy%3D1"


def test_revision_folders_are_fetched_by_their_encoded_url(tmp_path: Path) -> None:
    rel = f"{SESSION}/alf/#2021-06-01#/spikes.times.npy"
    (tmp_path / "srv" / rel).parent.mkdir(parents=True)
    (tmp_path / "srv" / rel).write_bytes(b"rev")
    (tmp_path / "srv" / SESSION / "alf" / "spikes.times.npy").write_bytes(b"not this one")
    with FileServer(tmp_path / "srv") as server:
        url = url_join(server.url, rel)
        assert download([TransferItem(rel, url, 3, None)], tmp_path / "cache", HTTPFetcher()).ok
        [rec] = server.requests
        assert rec.raw_path == "/" + SESSION + "/alf/%232021-06-01%23/spikes.times.npy"
    assert (tmp_path / "cache" / rel).read_bytes() == b"rev"


# ------------------------------------------------------------------------------------------------
# Two processes, one cache
# ------------------------------------------------------------------------------------------------
_CHILD = """
import json, sys
from onecore.transfer import HTTPFetcher, RetryPolicy, TransferItem, download
items = [TransferItem(*row) for row in json.loads(sys.argv[1])]
report = download(items, sys.argv[2], HTTPFetcher(), jobs=4, retry=RetryPolicy(base_delay=0.01))
print(json.dumps({"ok": report.ok, "failed": report.failed, "downloaded": len(report.downloaded),
                  "skipped": len(report.skipped)}))
"""


def test_two_processes_downloading_into_one_cache(tmp_path: Path) -> None:
    srv = tmp_path / "srv"
    data = {}
    for i in range(24):
        rel = f"{SESSION}/alf/obj{i:02d}.attr.bin"
        data[rel] = os.urandom(20_000 + 40_000 * (i % 4))
        (srv / rel).parent.mkdir(parents=True, exist_ok=True)
        (srv / rel).write_bytes(data[rel])
    cache = tmp_path / "cache"
    with FileServer(srv) as server:
        for rel in list(data)[::3]:  # slow some answers down so that the two processes overlap
            server.inject(rel, "hang", after=10_000, seconds=0.2, times=2)
        rows = [[rel, server.url_for(rel), len(b), hashlib.md5(b).hexdigest()] for rel, b in data.items()]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, json.dumps(rows), str(cache)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outs):
            assert p.returncode == 0, err
        results = [json.loads(out) for out, _ in outs]
        fetched = server.count()
    assert all(r["ok"] for r in results), results
    assert sum(r["downloaded"] for r in results) == len(data)  # each file fetched by one of them only
    assert sum(r["skipped"] for r in results) == len(data)
    assert fetched == len(data)
    for rel, b in data.items():
        assert (cache / rel).read_bytes() == b
    assert not list(cache.rglob("*" + PART_SUFFIX))


# ------------------------------------------------------------------------------------------------
# Interrupts
# ------------------------------------------------------------------------------------------------
def _batch(tmp_path: Path, n: int, size: int) -> dict[str, bytes]:
    data = {}
    for i in range(n):
        rel = f"{SESSION}/alf/obj{i:02d}.attr.bin"
        data[rel] = os.urandom(size)
        (tmp_path / "srv" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "srv" / rel).write_bytes(data[rel])
    return data


def _check_no_bad_final_files(cache: Path, data: dict[str, bytes]) -> None:
    for rel, b in data.items():
        if (cache / rel).exists():
            assert (cache / rel).read_bytes() == b, f"incomplete file under its final name: {rel}"


def test_keyboard_interrupt_from_progress_stops_the_batch(tmp_path: Path) -> None:
    data = _batch(tmp_path, 16, 200_000)
    cache = tmp_path / "cache"
    with FileServer(tmp_path / "srv") as server:
        stuck = list(data)[8:]
        for rel in stuck:  # these stall after 50 kB, so that the interrupt finds them half-done
            server.inject(rel, "hang", after=50_000, seconds=0.3)
        items = [TransferItem(r, server.url_for(r), len(b), hashlib.md5(b).hexdigest()) for r, b in data.items()]
        seen = []

        def progress(p) -> None:  # noqa: ANN001
            seen.append(p)
            if p.files_done >= 3:
                raise KeyboardInterrupt

        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            download(items, cache, HTTPFetcher(), jobs=4, progress=progress)
        assert time.monotonic() - t0 < 10
        _check_no_bad_final_files(cache, data)
        done_before = sum((cache / r).exists() for r in data)
        assert 3 <= done_before < len(data)
        server.clear_faults()
        server.clear_log()
        report = download(items, cache, HTTPFetcher(), jobs=4)
        assert report.ok and len(report.skipped) == done_before
        resumed = [r for r in server.requests_for() if r.range]
        assert all(r.status == 206 for r in resumed)
    for rel, b in data.items():
        assert (cache / rel).read_bytes() == b
    assert not list(cache.rglob("*" + PART_SUFFIX))


def test_ctrl_c_during_a_stalled_batch_returns_promptly(tmp_path: Path) -> None:
    # A shell starts background jobs (`make test > log &`, nohup, CI) with SIGINT ignored: install
    # Python's Ctrl-C handler for this test, so it passes the same with or without a terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_during_a_stalled_batch(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_during_a_stalled_batch(tmp_path: Path) -> None:
    data = _batch(tmp_path, 6, 100_000)
    cache = tmp_path / "cache"
    with FileServer(tmp_path / "srv") as server:
        server.inject("lab/*", "hang", after=30_000, seconds=20, times=None)
        items = [TransferItem(r, server.url_for(r), len(b), None) for r, b in data.items()]
        timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                download(items, cache, HTTPFetcher(timeout=(2, 30)), jobs=3, retry=RetryPolicy(base_delay=0.01))
        finally:
            timer.cancel()
        assert time.monotonic() - t0 < 6
        _check_no_bad_final_files(cache, data)
        assert not any((cache / r).exists() for r in data)
