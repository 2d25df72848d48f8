"""Benchmark of ``onecore_nwb.export`` against pynwb writing the same arrays directly.

Run: ``.venv/bin/python benchmarks/bench_nwb.py`` (needs the onecore-nwb plugin: ``pip install
./plugins/onecore_nwb``).

Data: one probe collection with ``BENCH_NWB_SPIKES`` spikes (default 10,000,000; 1,000,000 with
``--quick``) in ``BENCH_NWB_CLUSTERS`` clusters (default 500): ``spikes.times`` (float64),
``spikes.clusters`` (int64), ``spikes.amps`` and ``spikes.depths`` (float32), four ``clusters.*``.

- onecore: ``onecore_nwb.export(One(cache_dir=root), eid, out, collections=['alf/probe00'])``: reads the
  ``.npy`` files (memory-mapped), builds the Units table and writes it (gzip 4 + shuffle, chunked).
- pynwb directly: ``numpy.load`` of the same files, a stable argsort by cluster, the sorted copies, and
  the same Units table (same columns, same compression) written with ``NWBHDF5IO`` - what one writes
  by hand with the arrays in memory.

Each runs in a fresh process; time is the export (or load + write) alone, memory the process's peak
resident size (``ru_maxrss``) minus its size before the export. Target (issue 17): both <= 1.3x.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "nwb"
COLL = "alf/probe00"
EID = "benchlab/Subjects/mouse/2024-01-01/001"


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def make_root(root: Path, n_spikes: int, n_clusters: int) -> None:
    from onecore_nwb.testing import write_spikes

    stamp = root / f".made-{n_spikes}-{n_clusters}"
    if stamp.exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    write_spikes(root / EID, COLL, n_spikes, n_clusters, seed=5)
    stamp.write_text("ok")


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _current_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def child_onecore(root: Path, out: Path) -> dict:
    import warnings

    import onecore_nwb
    import pynwb  # noqa: F401  (imported before the measure, as in the baseline)

    from onecore import One

    warnings.simplefilter("ignore")
    one = One(cache_dir=root, home=out / "home")
    base = _current_kib()
    t = time.perf_counter()
    path = onecore_nwb.export(one, EID, out, collections=[COLL], overwrite=True)
    dt = time.perf_counter() - t
    return {"seconds": dt, "peak_mib": (_rss_kib() - base) / 1024, "bytes": path.stat().st_size}


def child_pynwb(root: Path, out: Path) -> dict:
    import datetime as _dt
    import warnings

    import numpy as np
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.file import Subject
    from pynwb.misc import Units

    warnings.simplefilter("ignore")
    base = _current_kib()
    t = time.perf_counter()
    folder = root / EID / COLL
    clu = np.load(folder / "spikes.clusters.npy")
    order = np.argsort(clu, kind="stable")
    counts = np.bincount(clu)
    index = np.cumsum(counts).astype(np.uint64)

    def gz(a):  # noqa: ANN001, ANN202
        return H5DataIO(a, compression="gzip", compression_opts=4, shuffle=True, chunks=True)

    cols = []
    for key, name in (("times", "spike_times"), ("amps", "spikes_amps"), ("depths", "spikes_depths")):
        data = VectorData(name=name, description=key, data=gz(np.load(folder / f"spikes.{key}.npy")[order]))
        cols += [VectorIndex(name=f"{name}_index", data=index.copy(), target=data), data]
    for key in ("amps", "channels", "depths", "peakToTrough"):
        cols.append(VectorData(name=key, description=key, data=np.load(folder / f"clusters.{key}.npy")))
    nwb = NWBFile(
        session_description="bench",
        identifier=EID,
        session_start_time=_dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc),
        subject=Subject(subject_id="mouse"),
    )
    nwb.units = Units(
        name="units", description="units", id=ElementIdentifiers(name="id", data=np.arange(len(counts))), columns=cols
    )
    path = out / "direct.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    dt = time.perf_counter() - t
    return {"seconds": dt, "peak_mib": (_rss_kib() - base) / 1024, "bytes": path.stat().st_size}


def _spawn(mode: str, root: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(root), str(out)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> dict:
    """Run the NWB export benchmark; returns the rows for run.py."""
    n = _env_int("BENCH_NWB_SPIKES", 1_000_000 if quick else 10_000_000)
    k = _env_int("BENCH_NWB_CLUSTERS", 500)
    root = WORK / "root"
    make_root(root, n, k)
    shutil.rmtree(WORK / "out", ignore_errors=True)
    direct = _spawn("pynwb", root, WORK / "out" / "pynwb")
    ours = _spawn("onecore", root, WORK / "out" / "onecore")
    t_ratio = ours["seconds"] / direct["seconds"]
    m_ratio = ours["peak_mib"] / max(direct["peak_mib"], 1e-9)
    rows = [
        {
            "measure": f"export {n:,} spikes / {k} units (s)",
            "value": ours["seconds"],
            "vs": f"pynwb directly {direct['seconds']:.2f} s",
            "ratio": t_ratio,
            "target": "<= 1.3",
            "ok": t_ratio <= 1.3,
        },
        {
            "measure": "peak memory of the export (MiB)",
            "value": ours["peak_mib"],
            "vs": f"pynwb directly {direct['peak_mib']:.0f} MiB",
            "ratio": m_ratio,
            "target": "<= 1.3",
            "ok": m_ratio <= 1.3,
        },
        {
            "measure": "file size (MiB)",
            "value": ours["bytes"] / 2**20,
            "vs": f"pynwb directly {direct['bytes'] / 2**20:.1f} MiB",
            "ratio": ours["bytes"] / direct["bytes"],
        },
    ]
    return {"rows": rows}


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        fn = child_onecore if sys.argv[2] == "onecore" else child_pynwb
        print(json.dumps(fn(Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        quick = "--quick" in sys.argv or os.environ.get("ONE_BENCH_QUICK") == "1"
        for row in main(quick=quick)["rows"]:
            print(row)
