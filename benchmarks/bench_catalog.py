"""Benchmark: index build, search and load with onecore, against a raw walk/np.load and the IBL's ONE-api.

Everything is measured in the same run on the same synthetic data root (2 labs x 50 subjects x 20
sessions x 10 ``.npy`` datasets = 20,000 files, kept under ``benchmarks/_work/`` and reused), plus a
synthetic 1,000,000-dataset / 100,000-session catalog built from generated rows (no files).
ONE-api runs in its own venv (``benchmarks/.venv-oneapi``, created by ``oneapi_venv.sh``) through
``oneapi_ops.py``; without it (``--no-oneapi`` or no network) those columns are left empty.

``python benchmarks/bench_catalog.py [--quick] [--no-oneapi] [--json]``
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
ONEAPI_VENV = HERE / ".venv-oneapi"
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import numpy as np  # noqa: E402

from onecore.catalog import Catalog  # noqa: E402
from onecore.repository import Dataset  # noqa: E402

# -- the synthetic data root -------------------------------------------------------------------
LABS = ("cortexlab", "churchlandlab")
ALWAYS = (
    "spikes.times",
    "spikes.clusters",
    "spikes.amps",
    "clusters.depths",
    "trials.intervals",
    "wheel.position",
    "wheel.timestamps",
)
ROTATING = ("trials.choice", "trials.feedbackType", "licks.times", "clusters.amps", "eye.area", "trials.goCue_times")
SIZES = {"spikes": 2000, "clusters": 200, "trials": 300, "wheel": 1000, "licks": 400, "eye": 500}


def _subject(lab: str, j: int) -> str:
    return f"{lab[:3].upper()}{j:03d}"


def _date(j: int, k: int) -> str:
    import datetime as dt

    return (dt.date(2021, 1, 4) + dt.timedelta(days=7 * k + j % 7)).isoformat()


def session_datasets(i: int) -> list[str]:
    """The 10 datasets of the i-th session (7 always, 3 of 6 rotating: each in half the sessions)."""
    return [*ALWAYS, *(ROTATING[(i + d) % len(ROTATING)] for d in range(3))]


def _npy_bytes(name: str) -> bytes:
    obj, attr = name.split(".")
    n = SIZES[obj]
    rng = np.random.default_rng(sum(name.encode()))
    arr = rng.random((n, 2)) if attr.endswith("intervals") else rng.random(n)
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def make_tree(subjects: int, sessions: int) -> Path:
    """Create (once) the data root; returns its path. Reused while ``.complete`` is there."""
    root = WORK / f"root-{len(LABS)}x{subjects}x{sessions}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    blobs = {n: _npy_bytes(n) for n in (*ALWAYS, *ROTATING)}
    i = 0
    for lab in LABS:
        for j in range(subjects):
            for k in range(sessions):
                alf = root / lab / "Subjects" / _subject(lab, j) / _date(j, k) / "001" / "alf"
                alf.mkdir(parents=True)
                for name in session_datasets(i):
                    (alf / f"{name}.npy").write_bytes(blobs[name])
                i += 1
    (root / ".complete").write_text("ok\n")
    return root


# -- timing ------------------------------------------------------------------------------------
def times(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def paired(fa: Callable[[], Any], fb: Callable[[], Any], repeat: int, warmup: int = 1) -> tuple[float, float]:
    """Medians of ``fa`` and ``fb`` timed alternately, so both see the same machine load."""
    for _ in range(warmup):
        fa()
        fb()
    ta, tb = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        fa()
        t1 = time.perf_counter()
        fb()
        t2 = time.perf_counter()
        ta.append(t1 - t)
        tb.append(t2 - t1)
    return med(ta), med(tb)


def med(ts: list[float]) -> float:
    return statistics.median(ts)


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} µs"


class Rows:
    """Result rows: ``measure``, ``value`` (seconds unless ``unit``), the reference it is compared
    with, the ratio, the target and whether it is met."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        measure: str,
        value: float,
        unit: str = "s",
        vs: str = "",
        ratio: str = "",
        target: str = "",
        ok: bool | None = None,
        **extra: Any,
    ) -> None:
        shown = fmt_time(value) if unit == "s" else f"{value:,.1f} {unit}"
        self.rows.append(
            {
                "measure": measure,
                "value": value,
                "unit": unit,
                "shown": shown,
                "vs": vs,
                "ratio": ratio,
                "target": target,
                "ok": ok,
                **extra,
            }
        )
        print(f"  {measure:<46} {shown:>12}  {vs:<28} {ratio:<22} {target}", file=sys.stderr)


def faster(
    ours: float, theirs: float | None, target: float, rows: Rows, measure: str, who: str = "ONE-api", **extra: Any
) -> None:
    """A row comparing with a slower reference: ``theirs / ours`` must be >= ``target``."""
    if theirs is None:
        rows.add(measure, ours, vs=f"{who}: not run", target=f">= {target:g}x faster", **extra)
        return
    r = theirs / ours
    rows.add(
        measure,
        ours,
        vs=f"{who} {fmt_time(theirs)}",
        ratio=f"{r:,.0f}x faster",
        target=f">= {target:g}x faster",
        ok=r >= target,
        speedup=r,
        reference=theirs,
        **extra,
    )


def within(ours: float, base: float, target: float, rows: Rows, measure: str, who: str, **extra: Any) -> None:
    """A row comparing with a raw baseline: ``ours / base`` must be <= ``target``."""
    r = ours / base
    rows.add(
        measure,
        ours,
        vs=f"{who} {fmt_time(base)}",
        ratio=f"{r:.2f}x {who}",
        target=f"<= {target:g}x {who}",
        ok=r <= target,
        slowdown=r,
        reference=base,
        **extra,
    )


# -- raw baselines -----------------------------------------------------------------------------
def raw_walk(root: Path) -> int:
    """Recursive ``os.scandir`` walk listing every file: the floor for any index build."""
    n = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir():
                    stack.append(e.path)
                else:
                    n += 1
    return n


# -- ONE-api -----------------------------------------------------------------------------------
def oneapi_python(allow_install: bool) -> Path | None:
    py = ONEAPI_VENV / "bin" / "python"
    ok = (
        py.exists()
        and subprocess.run([str(py), "-c", "import one.api, one.alf.cache"], capture_output=True).returncode == 0
    )
    if not ok and allow_install:
        print("creating benchmarks/.venv-oneapi (ONE-api from PyPI)...", file=sys.stderr)
        r = subprocess.run(["bash", str(HERE / "oneapi_venv.sh")], capture_output=True, text=True)
        ok = r.returncode == 0
        if not ok:
            print(f"ONE-api venv could not be created; skipping ONE-api:\n{r.stderr[-2000:]}", file=sys.stderr)
    return py if ok else None


def run_oneapi(py: Path, job: dict[str, Any]) -> dict[str, Any] | None:
    r = subprocess.run([str(py), str(HERE / "oneapi_ops.py")], input=json.dumps(job), capture_output=True, text=True)
    if r.returncode != 0:
        print(f"ONE-api run failed; skipping its columns:\n{r.stderr[-3000:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout)


# -- the 1M-dataset catalog --------------------------------------------------------------------
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


def big_rows(n_sessions: int, per_session: int = 10, seed: int = 1) -> Iterator[Dataset]:
    """``n_sessions`` x ``per_session`` index rows: 4 types in every session, the others drawn with
    Zipf-like weights (so some types are in most sessions and some in a few)."""
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
    import datetime as dt

    day0 = dt.date(2015, 1, 1)
    i = 0
    for lab in labs:
        for s in range(subjects_per_lab):
            subject = f"{lab.upper()}_S{s:04d}"
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
                    yield Dataset(f"{sp}/{t}")
                i += 1


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def bench_big_catalog(rows: Rows, n_sessions: int, repeat: int) -> dict[str, Any]:
    path = WORK / f"catalog-{n_sessions}.sqlite"
    cat = Catalog(path)
    t = time.perf_counter()
    n = cat.rebuild(big_rows(n_sessions))
    build = time.perf_counter() - t
    cat.close()
    label = f"{n:,} datasets / {n_sessions:,} sessions"
    rows.add(f"big catalog build ({label})", build, vs=f"{n / build:,.0f} rows/s")
    rows.add(
        "big catalog file size",
        path.stat().st_size / 2**20,
        unit="MB",
        vs=f"{path.stat().st_size / n:.0f} bytes/dataset",
    )
    gc.collect()
    rss0 = _rss_mb()
    t = time.perf_counter()
    cat = Catalog(path)
    counts = cat.count()
    opened = time.perf_counter() - t
    rss = _rss_mb() - rss0
    rows.add(
        "big catalog open + count()",
        opened,
        vs=f"{counts[1]:,} datasets; RSS +{rss:.1f} MB",
        target="no full load",
        ok=counts[1] == n and rss < 100,
    )

    # How common each type is, to pick a rare one and a common one (outside the timed part).
    freq = {
        r[0]: r[1]
        for r in cat.db.execute(
            "SELECT n.collection || '/' || n.filename, count(*) FROM datasets d JOIN names n ON n.id = d.name "
            "GROUP BY d.name"
        )
    }
    rare = min(freq, key=freq.get)
    drawn = sorted((t for t in BIG_TYPES[4:] if t in freq), key=freq.get)
    common = drawn[-1]
    second = drawn[-2]
    some = cat.subjects()[len(cat.subjects()) // 2]
    searches = {
        f"rare type {rare} ({freq[rare]:,} sessions)": dict(
            datasets=[rare.rsplit("/", 1)[1]], collection=rare.rsplit("/", 1)[0]
        ),
        f"common type {common} ({freq[common]:,} sessions)": dict(
            datasets=[common.rsplit("/", 1)[1]], collection=common.rsplit("/", 1)[0]
        ),
        "AND of two (spikes.times + probe01)": dict(datasets=["spikes.times", "probe01"]),
        f"AND of two common ({common.split('/')[-1]} + {second.split('/')[-1]})": dict(
            datasets=[common.split("/")[-1], second.split("/")[-1]]
        ),
        f"subject {some}": dict(subject=[some]),
        "date range 2016-03-01..2016-03-31": dict(date_range=("2016-03-01", "2016-03-31")),
    }
    out = {}
    for label, kw in searches.items():
        ts = times(lambda kw=kw: cat.search(**kw), repeat)
        hits = len(cat.search(**kw))
        is_dataset = "datasets" in kw
        rows.add(
            f"big catalog search: {label}",
            med(ts),
            vs=f"{hits:,} sessions found",
            target="< 20 ms" if is_dataset else "",
            ok=med(ts) < 0.020 if is_dataset else None,
        )
        out[label] = med(ts)
    cat.close()
    return out


# -- main --------------------------------------------------------------------------------------
def main(quick: bool = False, oneapi: bool = True, install_oneapi: bool = True) -> dict[str, Any]:
    """Run the benchmark; returns ``{"title", "machine", "rows": [...]}`` (rows as printed)."""
    from onecore.api import One

    subjects, sessions = (10, 10) if quick else (50, 20)
    big_sessions = 10_000 if quick else 100_000
    repeat = 5 if quick else 21
    WORK.mkdir(parents=True, exist_ok=True)
    rows = Rows()
    t = time.perf_counter()
    root = make_tree(subjects, sessions)
    created = time.perf_counter() - t
    nfiles = len(LABS) * subjects * sessions * len(session_datasets(0))
    print(
        f"data root {root} ({nfiles:,} files; {'created in ' + fmt_time(created) if created > 1 else 'reused'})",
        file=sys.stderr,
    )

    eid_path = f"{LABS[0]}/Subjects/{_subject(LABS[0], 3)}/{_date(3, 5)}/001"
    searches_ours = {
        "dataset spikes.times": dict(dataset="spikes.times"),
        "AND spikes.times + licks.times": dict(dataset=["spikes.times", "licks.times"]),
        "subject": dict(subject=_subject(LABS[1], 7)),
        "date range (February 2021)": dict(date_range=["2021-02-01", "2021-02-28"]),
    }
    searches_oneapi = {
        "dataset spikes.times": dict(datasets="spikes.times.npy"),
        "AND spikes.times + licks.times": dict(datasets=["spikes.times.npy", "licks.times.npy"]),
        "subject": dict(subject=_subject(LABS[1], 7)),
        "date range (February 2021)": dict(date_range=["2021-02-01", "2021-02-28"]),
    }

    # ONE-api first (it writes its parquet tables into the root, which onecore's scan ignores).
    theirs: dict[str, Any] | None = None
    py = oneapi_python(install_oneapi) if oneapi else None
    if py is not None:
        print("timing ONE-api (separate venv)...", file=sys.stderr)
        theirs = run_oneapi(
            py,
            {
                "root": str(root),
                "build_repeat": 1 if quick else 3,
                "repeat": 3 if quick else 5,
                "searches": searches_oneapi,
                "session": eid_path,
                "object": "spikes",
                "dataset": "spikes.times.npy",
                "collection": None,
            },
        )

    home = WORK / "home"
    os.environ["ONE_HOME"] = str(home)  # never the user's ~/.one

    # 1. index build
    from onecore.scan import scan

    n_build = 3 if quick else 7
    walk, sc = paired(lambda: raw_walk(root), lambda: sum(1 for _ in scan(root)), n_build)
    walk2, build = paired(
        lambda: raw_walk(root), lambda: One(cache_dir=root, mode="refresh", home=home).close(), n_build
    )
    print("index build:", file=sys.stderr)
    within(sc, walk, 2, rows, f"scan ({nfiles:,} files)", "raw walk")
    within(build, walk2, 2, rows, "One(mode='refresh') index build", "raw walk")
    faster(build, med(theirs["build"]) if theirs else None, 10, rows, "index build vs make_parquet_db")

    # 2. searches
    one = One(cache_dir=root, mode="local", home=home)
    print("searches:", file=sys.stderr)
    counts = {}
    for label, kw in searches_ours.items():
        ours = med(times(lambda kw=kw: one.search(**kw), repeat * 5))
        counts[label] = n = len(one.search(**kw))
        th = theirs["searches"][label] if theirs else None
        same = "" if th is None else ("" if th["count"] == n else f" (ONE-api found {th['count']}!)")
        target = 100 if label.startswith(("dataset", "AND")) else 1
        faster(ours, med(th["times"]) if th else None, target, rows, f"search {label} [{n} sessions]{same}")

    # 3. loads
    print("loads:", file=sys.stderr)
    spikes = [str(root / eid_path / "alf" / f"spikes.{a}.npy") for a in ("times", "clusters", "amps")]
    obj = one.load_object(eid_path, "spikes")
    assert sorted(obj) == ["amps", "clusters", "times"], sorted(obj)
    assert all(np.array_equal(obj[k], np.load(p)) for k, p in zip(("times", "clusters", "amps"), spikes))
    raw_obj, lo = paired(lambda: [np.load(p) for p in spikes], lambda: one.load_object(eid_path, "spikes"), repeat * 20)
    raw_ds, ld = paired(lambda: np.load(spikes[0]), lambda: one.load_dataset(eid_path, "spikes.times.npy"), repeat * 20)
    within(lo, raw_obj, 2, rows, "load_object(eid, 'spikes') vs np.load x3", "np.load")
    faster(lo, med(theirs["load_object"]) if theirs else None, 40, rows, "load_object(eid, 'spikes')")
    within(ld, raw_ds, 2, rows, "load_dataset(eid, 'spikes.times.npy')", "np.load")
    faster(ld, med(theirs["load_dataset"]) if theirs else None, 40, rows, "load_dataset(eid, 'spikes.times.npy')")
    one.close()

    # 4. the 1M-dataset catalog
    print("big catalog:", file=sys.stderr)
    bench_big_catalog(rows, big_sessions, repeat)

    return {
        "title": "catalog: index build, search, load (onecore vs raw baselines vs ONE-api)",
        "machine": machine(),
        "oneapi": theirs["version"] if theirs else None,
        "tree": {"root": str(root), "files": nfiles, "sessions": len(LABS) * subjects * sessions},
        "rows": rows.rows,
    }


def machine() -> str:
    import platform

    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, NumPy {np.__version__}, SQLite {__import__('sqlite3').sqlite_version}"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--no-oneapi", action="store_true", help="do not time ONE-api")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args()
    res = main(quick=a.quick, oneapi=not a.no_oneapi)
    if a.json:
        print(json.dumps(res, indent=1))
