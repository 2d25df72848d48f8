"""Benchmark: index build, search and load with onecore, against a raw walk/np.load and the IBL's ONE-api.

Everything is measured in the same run on the same synthetic data root (2 labs x 50 subjects x 20
sessions x 10 ``.npy`` datasets = 20,000 files, kept under ``benchmarks/_work/`` and reused), plus a
synthetic 1,000,000-dataset / 100,000-session catalog built from generated rows (no files).
ONE-api runs in its own venv (``benchmarks/.venv-oneapi``, created by ``oneapi_venv.sh``) through
``oneapi_ops.py``; without it (``--no-oneapi`` or no network) those columns are left empty.

``python benchmarks/bench_catalog.py [--quick] [--no-oneapi] [--json] [--big | --big-sessions N]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
ONEAPI_VENV = HERE / ".venv-oneapi"
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing
sys.path.insert(0, str(HERE))  # big_catalog

import numpy as np  # noqa: E402

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


# -- main --------------------------------------------------------------------------------------
def main(
    quick: bool = False,
    oneapi: bool = True,
    install_oneapi: bool = True,
    big_sessions: int | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """Run the benchmark; returns ``{"title", "machine", "rows": [...]}`` (rows as printed).

    ``big_sessions``: size of the synthetic big catalog (10 datasets each); default 100,000 (10,000
    with ``quick``); ``--big`` is 1,000,000 (10M datasets). ``before``: a git revision whose onecore
    is timed too (local build, first open over HTTP), for before/after figures in the same run."""
    from onecore.api import One

    subjects, sessions = (10, 10) if quick else (50, 20)
    if big_sessions is None:
        big_sessions = int(os.environ.get("ONE_BENCH_BIG_SESSIONS") or 0) or (
            1_000_000 if os.environ.get("ONE_BENCH_BIG") else 10_000 if quick else 100_000
        )
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
    before = before or os.environ.get("ONE_BENCH_BEFORE")
    if before:
        from big_catalog import before_tree, local_build_child

        was = local_build_child(before_tree(before), root, WORK / "home-before", n_build)
        within(was["build"], was["walk"], 2, rows, f"index build before ({before}), in a child", "raw walk")

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

    # 4. the big synthetic catalog (1M datasets by default)
    print("big catalog:", file=sys.stderr)
    from big_catalog import bench_big

    bench_big(rows, big_sessions, repeat, med, times, before=before)

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
        f"{platform.python_version()}, NumPy {np.__version__}, SQLite {__import__('sqlite3').sqlite_version}, "
        f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--no-oneapi", action="store_true", help="do not time ONE-api")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--big", action="store_true", help="the big catalog at 1,000,000 sessions (10M datasets)")
    ap.add_argument("--big-sessions", type=int, help="the big catalog's number of sessions (10 datasets each)")
    ap.add_argument("--before", metavar="REV", help="also time the onecore of this git revision (e.g. main)")
    a = ap.parse_args()
    n_big = a.big_sessions or (1_000_000 if a.big else None)
    res = main(quick=a.quick, oneapi=not a.no_oneapi, big_sessions=n_big, before=a.before)
    if a.json:
        print(json.dumps(res, indent=1))
