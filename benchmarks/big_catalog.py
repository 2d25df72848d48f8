"""The big synthetic catalog of ``bench_catalog.py``: N sessions x 10 datasets, streamed, never held whole.

- the index is written once as a ``.one_root`` file (path, URL, size, md5) under ``benchmarks/_work/``
  from a generator (kept and reused while ``.complete`` is there);
- build and first open run in a child process that reports its time and its peak RSS (``VmHWM``):
  *local build* parses the file and builds the catalog; *first open over HTTP* is what ``One()``
  does for an ``http`` repository the first time against a loopback ``FileServer`` running in
  another process: parse and build while downloading, and, from a second root publishing a prebuilt
  catalog (``one index --catalog``), hash the index, download the catalog and check it;
- then, in this process: catalog open time, dataset searches (rare, common, AND of two), subject and
  date-range searches, ``list_datasets`` of one session (medians).

``python benchmarks/bench_catalog.py --big`` runs it at 1,000,000 sessions (10,000,000 datasets);
``--big-sessions N`` picks any size.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"

BIG_COLLECTIONS = ("alf", "alf/probe00", "alf/probe01", "raw_ephys_data", "raw_behavior_data", "raw_video_data")
BIG_NAMES = (
    "spikes.times",
    "spikes.clusters",
    "spikes.amps",
    "spikes.depths",
    "clusters.depths",
    "clusters.channels",
    "trials.intervals",
    "trials.choice",
    "wheel.position",
    "wheel.timestamps",
)
BIG_TYPES = [f"{c}/{n}.npy" for c in BIG_COLLECTIONS for n in BIG_NAMES]  # 60 dataset types


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_url(root: Path) -> str:
    """The URL the index's rows point to: a port picked when it was written, which the benchmark's
    server binds again (as ``one index --base-url`` would have written it for that server)."""
    return f"http://127.0.0.1:{(root / '.port').read_text().strip()}/"


def big_paths(n_sessions: int, per_session: int = 10, seed: int = 1) -> Iterator[str]:
    """``n_sessions`` x ``per_session`` dataset paths: 4 types in every session, the others drawn with
    Zipf-like weights (so some types are in most sessions and some in a few)."""
    import datetime as dt

    rng = random.Random(seed)
    always = BIG_TYPES[:4]
    rest = BIG_TYPES[4:]
    cum, acc = [], 0.0
    for k in range(len(rest)):
        acc += 1 / (k + 1) ** 1.3
        cum.append(acc)
    labs = [f"lab{i:02d}" for i in range(10)]
    per_lab = max(1, n_sessions // len(labs))
    subjects_per_lab = max(1, per_lab // 10)
    day0 = dt.date(2015, 1, 1)
    i = 0
    for lab in labs:
        for s in range(subjects_per_lab):
            subject = f"{lab.upper()}_S{s:05d}"
            start = rng.randrange(0, 2500)
            for k in range(10):
                if i >= n_sessions:
                    return
                date = (day0 + dt.timedelta(days=start + 3 * k)).isoformat()
                sp = f"{lab}/Subjects/{subject}/{date}/001"
                picked = dict.fromkeys(always)
                while len(picked) < per_session:
                    for t in rng.choices(rest, cum_weights=cum, k=per_session):
                        picked.setdefault(t)
                        if len(picked) == per_session:
                            break
                for t in picked:
                    yield f"{sp}/{t}"
                i += 1


def write_index(n_sessions: int) -> Path:
    """The ``.one_root`` of ``n_sessions`` sessions (written once, streamed); returns its folder."""
    root = WORK / f"big-{n_sessions}"
    index = root / ".one_root"
    if (root / ".complete").exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    (root / ".port").write_text(f"{_free_port()}\n")
    base = base_url(root)
    with open(index, "w", encoding="utf-8", newline="") as f:
        buf = []
        for n, p in enumerate(big_paths(n_sessions)):
            md5 = hashlib.md5(p.encode(), usedforsecurity=False).hexdigest()
            buf.append(f"{p}\t{base}{p}\t{1000 + n % 99991}\t{md5}\n")
            if len(buf) >= 100_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    (root / ".complete").write_text("ok\n")
    return root


_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
kind, source, catalog, base = sys.argv[2:6]
t = time.perf_counter()
from onecore.catalog import Catalog
try:
    from onecore.catalog import IndexLines
except ImportError:  # a version from before IndexLines (--before)
    IndexLines = None
if kind == "file" and IndexLines is None:
    from onecore.index import read_index_file
    n = Catalog(catalog).rebuild(read_index_file(source, base_url=base))
elif kind == "file":
    with open(source, "rb") as f:
        chunks = iter(lambda: f.read(1 << 20), b"")
        n = Catalog(catalog).rebuild(IndexLines.from_chunks(chunks, base_url=base, source=source))
elif kind == "stream":  # what the transfer side can do: parse while downloading (IndexLines + lines_of)
    import requests
    with requests.get(source + ".one_root", stream=True, timeout=120) as r:
        r.raise_for_status()
        n = Catalog(catalog).rebuild(IndexLines.from_chunks(r.iter_content(1 << 20), base_url=source, source=source))
else:
    from pathlib import Path
    from onecore.builtins.http import HTTPRepository
    repo = HTTPRepository("big", {"base_url": source, "timeout": 120}, home=Path(sys.argv[6]))
    update = repo.fetch_index(None)
    n = Catalog(catalog).rebuild(update.rows, update.sessions, state=update.state)
    repo.close()
took = time.perf_counter() - t
import resource
ru = resource.getrusage(resource.RUSAGE_SELF)
hwm = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) * 1024
print(json.dumps({"seconds": took, "cpu": ru.ru_utime + ru.ru_stime, "rows": n, "peak_rss": hwm}))
"""


_LOCAL_CHILD = r"""
import json, os, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from onecore.api import One
root, home, repeat = sys.argv[2], sys.argv[3], int(sys.argv[4])
def walk():
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir():
                    stack.append(e.path)
tw, tb = [], []
for i in range(repeat + 1):
    t = time.perf_counter(); walk(); t1 = time.perf_counter()
    One(cache_dir=root, mode="refresh", home=home).close(); t2 = time.perf_counter()
    if i:
        tw.append(t1 - t); tb.append(t2 - t1)
print(json.dumps({"walk": statistics.median(tw), "build": statistics.median(tb)}))
"""


def before_tree(rev: str) -> Path:
    """``onecore/`` as it was at git revision ``rev`` (exported once under ``_work/``)."""
    sha = subprocess.run(
        ["git", "-C", str(HERE.parent), "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = WORK / f"before-{sha}"
    if not (dest / "onecore").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(HERE.parent), "archive", sha, "onecore"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def local_build_child(code_root: Path, root: Path, home: Path, repeat: int) -> dict[str, float]:
    """Median raw walk and ``One(mode='refresh')`` build times, timed alternately in a child running
    the onecore found at ``code_root``."""
    r = subprocess.run(
        [sys.executable, "-c", _LOCAL_CHILD, str(code_root), str(root), str(home), str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise RuntimeError(f"local build child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout)


def write_published_root(n_sessions: int) -> Path:
    """A second data root serving the same index as a companion whose header announces a prebuilt
    catalog, and that catalog (``one index --catalog`` does the same); written once, reused."""
    from onecore.catalog.published import write_published
    from onecore.index import COMPANION_HEADER

    root = write_index(n_sessions)
    dest = WORK / f"big-{n_sessions}-catalog"
    if (dest / ".complete").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    (dest / ".port").write_text((root / ".port").read_text())
    with open(root / ".one_root", "rb") as src, open(dest / ".one_index.tsv", "wb") as f:
        f.write((COMPANION_HEADER + "\tcatalog=.one_catalog.sqlite\n").encode())
        for chunk in iter(lambda: src.read(1 << 20), b""):
            f.write(chunk)
    write_published(dest, base_url(root))
    (dest / ".complete").write_text("ok\n")
    return dest


def _child(*args: str, code_root: Path = HERE.parent) -> dict[str, Any]:
    r = subprocess.run(
        [sys.executable, "-c", _CHILD, str(code_root), *args], capture_output=True, text=True, check=False
    )
    if r.returncode != 0:
        raise RuntimeError(f"big catalog child failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout)


class _Server:
    """A ``FileServer`` serving ``root`` in a child process (so it does not share our CPU time slice)."""

    def __init__(self, root: Path, port: int = 0):
        code = (
            "import sys\nfrom onecore.testing.servers import FileServer\n"
            f"try:\n    s = FileServer({str(root)!r}, port={port}).start()\n"
            f"except OSError:\n    s = FileServer({str(root)!r}).start()\n"
            "print(s.url, flush=True)\nsys.stdin.read()\ns.stop()\n"
        )
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bench_big(
    rows: Any,
    n_sessions: int,
    repeat: int,
    med: Callable,
    times: Callable,
    http: bool = True,
    before: str | None = None,
) -> None:
    """Add the big-catalog rows to ``rows`` (a ``bench_catalog.Rows``)."""
    from onecore.catalog import Catalog

    t = time.perf_counter()
    root = write_index(n_sessions)
    made = time.perf_counter() - t
    index = root / ".one_root"
    n_rows = n_sessions * 10
    label = f"{n_rows:,} datasets / {n_sessions:,} sessions"
    print(f"big index {index} ({index.stat().st_size / 2**20:,.0f} MB, {fmt(made)})", file=sys.stderr)
    gib2 = 2 * 2**30
    path = WORK / f"catalog-{n_sessions}.sqlite"
    for p in WORK.glob(f"catalog-{n_sessions}.sqlite*"):
        p.unlink()
    base = base_url(root)
    built = _child("file", str(index), str(path), base)
    rows.add(
        f"big catalog build from the index file ({label})",
        built["seconds"],
        vs=f"{n_rows / built['seconds']:,.0f} rows/s; CPU {built['cpu']:.1f} s",
        target="",
    )
    rows.add(
        "big catalog build: peak RSS",
        built["peak_rss"] / 2**20,
        unit="MB",
        target="<= 2048 MB",
        ok=built["peak_rss"] <= gib2,
    )
    if http:
        home = WORK / f"home-big-{n_sessions}"
        web = WORK / f"catalog-{n_sessions}-http.sqlite"
        for p in WORK.glob(f"catalog-{n_sessions}-http.sqlite*"):
            p.unlink()
        port = int(base.rsplit(":", 1)[1].strip("/"))
        server = _Server(root, port)
        try:
            first = _child("http", server.url, str(web), base, str(home))
            if before:
                for p in WORK.glob(f"catalog-{n_sessions}-http.sqlite*"):
                    p.unlink()
                old = _child("http", server.url, str(web), base, str(home), code_root=before_tree(before))
        finally:
            server.stop()
        t = time.perf_counter()
        published_root = write_published_root(n_sessions)
        print(f"published catalog ready ({fmt(time.perf_counter() - t)})", file=sys.stderr)
        for p in WORK.glob(f"catalog-{n_sessions}-http.sqlite*"):
            p.unlink()
        server = _Server(published_root, port)
        try:
            published = _child("http", server.url, str(web), base, str(home))
        finally:
            server.stop()
        limit = 5.0 if n_rows <= 1_000_000 else 60.0 * n_rows / 10_000_000
        for what, got in (
            ("One(), no prebuilt catalog: parse + build while downloading", first),
            ("One(), prebuilt catalog (one index --catalog): index hashed, catalog downloaded + checked", published),
        ):
            rows.add(
                f"first open over HTTP, {what} ({n_rows:,} rows)",
                got["seconds"],
                vs=f"CPU {got['cpu']:.1f} s; peak RSS {got['peak_rss'] / 2**20:,.0f} MB",
                target=f"<= {limit:g} s",
                ok=got["seconds"] <= limit and got["peak_rss"] <= gib2,
            )
        if before:
            rows.add(
                f"first open over HTTP, before ({before}) ({n_rows:,} rows)",
                old["seconds"],
                vs=f"CPU {old['cpu']:.1f} s; peak RSS {old['peak_rss'] / 2**20:,.0f} MB",
                ratio=f"now {old['seconds'] / first['seconds']:.1f}x faster",
            )
        for p in WORK.glob(f"catalog-{n_sessions}-http.sqlite*"):
            p.unlink()
    size = path.stat().st_size
    rows.add("big catalog file size", size / 2**20, unit="MB", vs=f"{size / n_rows:.0f} bytes/dataset")
    t = time.perf_counter()
    cat = Catalog(path)
    counts = cat.count()
    opened = time.perf_counter() - t
    rows.add("big catalog open + count()", opened, vs=f"{counts[1]:,} datasets", target="< 100 ms", ok=opened < 0.1)
    _searches(rows, cat, repeat, med, times)
    cat.close()


def _searches(rows: Any, cat: Any, repeat: int, med: Callable, times: Callable) -> None:
    freq = {}  # sessions per type, from the bitmap index (outside the timed part)
    for t in BIG_TYPES:
        coll, name = t.rsplit("/", 1)
        freq[t] = len(cat.search(datasets=[name], collection=coll))
    drawn = sorted((t for t in BIG_TYPES[4:] if freq[t]), key=freq.get)
    rare, common, second = drawn[0], drawn[-1], drawn[-2]
    subjects = cat.subjects()
    some = subjects[len(subjects) // 2]
    one_session = cat.search(subject=[some])[0]
    searches = {
        f"rare type {rare} ({freq[rare]:,} sessions)": (
            dict(datasets=[rare.rsplit("/", 1)[1]], collection=rare.rsplit("/", 1)[0]),
            0.020,
        ),
        f"common type {common} ({freq[common]:,} sessions)": (
            dict(datasets=[common.rsplit("/", 1)[1]], collection=common.rsplit("/", 1)[0]),
            0.1,
        ),
        "AND of two (spikes.times + probe01)": (dict(datasets=["spikes.times", "probe01"]), 0.1),
        f"AND of two common ({common.split('/')[-1]} + {second.split('/')[-1]})": (
            dict(datasets=[common.split("/")[-1], second.split("/")[-1]]),
            0.1,
        ),
        f"subject {some}": (dict(subject=[some]), None),
        "date range 2016-03-01..2016-03-31": (dict(date_range=("2016-03-01", "2016-03-31")), None),
    }
    for label, (kw, target) in searches.items():
        ts = times(lambda kw=kw: cat.search(**kw), repeat)
        hits = len(cat.search(**kw))
        rows.add(
            f"big catalog search: {label}",
            med(ts),
            vs=f"{hits:,} sessions found",
            target=f"< {target * 1000:g} ms" if target else "",
            ok=med(ts) < target if target else None,
        )
    cat._recent.clear()
    ts = []
    for _ in range(repeat):
        cat._recent.clear()  # not the per-session memo: the query itself
        t = time.perf_counter()
        recs = cat.datasets(one_session)
        ts.append(time.perf_counter() - t)
    rows.add(
        "big catalog list_datasets of one session",
        med(ts),
        vs=f"{len(recs)} datasets",
        target="< 5 ms",
        ok=med(ts) < 0.005,
    )


def fmt(s: float) -> str:
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.1f} ms"
