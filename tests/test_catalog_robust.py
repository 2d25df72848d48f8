"""The catalog under hostile conditions: a folder in its place, rebuilds racing readers in other
processes, killed rebuilds (their ``.building`` leftovers are swept), failed rebuilds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onecore.catalog import Catalog, CatalogError, PathRows, sweep_leftovers
from onecore.repository import Dataset

from .conftest import run_cli

A = [f"lab/Subjects/A{i:02d}/2021-01-{i % 28 + 1:02d}/001/alf/spikes.times.npy" for i in range(30)]
B = [f"lab/Subjects/B{i:02d}/2022-02-{i % 28 + 1:02d}/001/alf/trials.intervals.npy" for i in range(20)]


def _child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".building" in p.name)


# -- a folder where the catalog file should be -------------------------------------------------
def test_catalog_path_replaced_by_a_folder(tmp_path, runner, data_root, isolated_home):
    run_cli(runner, "add-repo", "web", "--type", "local", "--set", f"root_dir={data_root}")
    run_cli(runner, "search")  # builds $ONE_HOME/catalog/web.sqlite
    path = isolated_home / "catalog" / "web.sqlite"
    assert path.is_file()
    for p in path.parent.glob("web.sqlite*"):
        p.unlink()
    path.mkdir()
    (path / "something").write_text("x")
    res = runner.invoke(__import__("onecore.cli", fromlist=["cli"]).cli, ["search"])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output and "OperationalError" not in res.output
    assert f"the catalog {path} is a folder" in res.output
    assert (path / "something").exists()  # never deleted: the user decides

    with pytest.raises(CatalogError, match="is a folder"):
        Catalog(path).rebuild(PathRows(A))
    with pytest.raises(CatalogError, match="is a folder"):
        Catalog(path).search(datasets=["spikes"])


def test_damaged_catalog_is_rebuilt_not_a_traceback(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not an SQLite file" * 100)
    cat = Catalog(path)
    assert cat.count() == (0, 0)  # a foreign file is only a stale cache: replaced by an empty catalog
    cat.rebuild(PathRows(A))
    assert cat.count() == (30, 30)
    cat.close()


# -- leftovers -----------------------------------------------------------------------------------
_SLOW_BUILD = """
import sys, time
from onecore.catalog import Catalog
from onecore.repository import Dataset
def rows():
    for i in range(10_000_000):
        if i == 5000:
            print("building", flush=True)
        if i > 5000:
            time.sleep(0.001)
        yield Dataset(f"lab/Subjects/S{i // 10:06d}/2021-01-01/001/alf/x{i % 10}.times.npy")
Catalog(sys.argv[1]).rebuild(rows())
"""


def test_killed_rebuild_leftover_is_swept(tmp_path):
    path = tmp_path / "catalog" / "web.sqlite"
    Catalog(path).rebuild(PathRows(A))
    child = _child(_SLOW_BUILD, str(path))
    try:
        assert child.stdout.readline().strip() == "building", child.stderr.read()
        leftover = path.with_name(f"web.sqlite.{child.pid}.building")
        assert leftover.exists()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    assert leftover.exists()  # SIGKILL: nothing could clean up
    # a live process's build is never touched
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        other = path.with_name(f"web.sqlite.{live.pid}.building")
        other.write_bytes(b"x")
        cat = Catalog(path)  # opening sweeps the leftovers of dead processes
        assert not leftover.exists()
        assert other.exists()
        assert cat.count() == (30, 30)  # the catalog itself is intact
        cat.close()
    finally:
        live.kill()
        live.wait()
    assert sweep_leftovers(path.parent) == [other]


def test_failed_rebuild_leaves_nothing_and_keeps_the_old_catalog(tmp_path):
    path = tmp_path / "web.sqlite"
    cat = Catalog(path)
    cat.rebuild(PathRows(A))

    def broken():
        yield Dataset(B[0])
        raise KeyboardInterrupt  # Ctrl-C in the middle of a build

    with pytest.raises(KeyboardInterrupt):
        cat.rebuild(broken())
    with pytest.raises(Exception, match="not an ALF dataset path"):
        cat.rebuild([Dataset(B[0]), Dataset("not/alf.txt")])
    assert _leftovers(tmp_path) == []
    assert cat.count() == (30, 30) and len(cat.search(datasets=["spikes.times"])) == 30
    cat.close()


# -- rebuilds racing readers in other processes ----------------------------------------------------
_WRITER = """
import sys, time
from onecore.catalog import Catalog, PathRows
A, B = [l.split(",") for l in sys.argv[2:4]]
cat = Catalog(sys.argv[1])
for i in range(int(sys.argv[4])):
    cat.rebuild(PathRows(A if i % 2 else B))
    time.sleep(0.05)  # each state lasts a moment, so that a reader on a loaded machine can see it
print("done", flush=True)
"""

_READER = """
import json, sys, time
from onecore.catalog import Catalog
path, keep_open, seconds = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
expect = json.loads(sys.argv[4])
seen, n, end = set(), 0, time.monotonic() + seconds
cat = Catalog(path)
print("ready", flush=True)  # the writers start only when every reader reads
while time.monotonic() < end:
    counts = tuple(cat.count())
    assert counts in ((30, 30), (20, 20)), counts
    spikes = sorted(cat.search(datasets=["spikes.times"]))
    assert spikes in (expect["A"], []), spikes
    trials = sorted(cat.search(datasets=["trials"], date_range=("2022-01-01", None)))
    assert trials in (expect["B"], []), trials
    recs = [r.full_path for r in cat.datasets(expect["A"][3])]
    assert recs in ([expect["pathA"]], []), recs
    seen.add(counts)
    if len(seen) == 2 and n > 200:
        break  # both states seen: enough
    cat.set_meta("reader", n)  # a reader that writes too, as One does on an unchanged refresh
    n += 1
    if not keep_open:
        cat.close()
print(json.dumps({"reads": n, "seen": sorted(seen)}), flush=True)
"""


def test_rebuilds_in_several_processes_leave_readers_old_or_new(tmp_path):
    path = tmp_path / "catalog" / "web.sqlite"
    Catalog(path).rebuild(PathRows(A))
    sess = lambda paths: sorted(p.rsplit("/", 2)[0] for p in paths)  # noqa: E731
    expect = json.dumps({"A": sess(A), "B": sess(B), "pathA": sorted(A)[3]})
    procs = [_child(_READER, str(path), keep, "60", expect) for keep in ("1", "0")]
    try:
        for p in procs:  # on a loaded machine a reader may start after the writers have finished
            assert p.stdout.readline() == "ready\n"
        procs += [_child(_WRITER, str(path), ",".join(A), ",".join(B), "12") for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "Error" not in err, err[-3000:]
    reads = [json.loads(out) for out, _ in outs[:2]]
    assert all(r["reads"] > 0 for r in reads), reads
    assert all(r["seen"] == [[20, 20], [30, 30]] for r in reads), reads  # new catalogs reach open readers
    assert _leftovers(path.parent) == []
    final = Catalog(path)
    assert final.count() in ((30, 30), (20, 20))
    final.close()


def test_writer_replaces_file_when_nobody_reads_and_copies_when_someone_does(tmp_path):
    path = tmp_path / "web.sqlite"
    Catalog(path).rebuild(PathRows(A))
    ino = path.stat().st_ino
    Catalog(path).rebuild(PathRows(B))  # nobody has it open: renamed into place
    assert path.stat().st_ino != ino
    reader = Catalog(path)
    assert reader.count() == (20, 20)
    ino = path.stat().st_ino
    Catalog(path).rebuild(PathRows(A))  # a reader has it open: copied into the same file
    assert path.stat().st_ino == ino
    assert reader.count() == (30, 30) and len(reader.search(datasets=["spikes.times"])) == 30
    reader.close()
    time.sleep(0)


# -- a full or read-only disk ------------------------------------------------------------------------
def test_rebuild_on_a_full_disk_is_one_clear_message_and_leaves_nothing(tmp_path):
    from onecore.testing.disk import full_dir

    many = [f"lab/Subjects/S{i:05d}/2021-01-01/001/alf/spikes.times.npy" for i in range(20_000)]
    with full_dir(tmp_path / "catalog", size=256 * 1024) as folder:
        path = folder / "web.sqlite"
        cat = Catalog(path)
        cat.rebuild(PathRows(A))  # a small catalog fits
        with pytest.raises(CatalogError) as e:
            cat.rebuild(PathRows(many))
        assert str(path) in str(e.value) and "disk is full" in str(e.value)
        assert _leftovers(folder) == []
        assert cat.count() == (30, 30)  # the old catalog is still there, whole
        cat.close()


def test_catalog_in_a_read_only_folder_is_one_clear_message(tmp_path):
    from onecore.testing.disk import read_only_dir

    with read_only_dir(tmp_path / "catalog") as folder:
        with pytest.raises(CatalogError) as e:
            Catalog(folder / "web.sqlite").rebuild(PathRows(A))
        assert str(folder / "web.sqlite") in str(e.value) and "ONE_HOME" in str(e.value)
        with pytest.raises(CatalogError, match="web.sqlite"):
            Catalog(folder / "web.sqlite").search(datasets=["spikes"])
