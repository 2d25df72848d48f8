"""Generate example ALF data roots (used by the demo, the tests, the benchmarks and plugin authors)."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

#: (collection, file name, length key) of each dataset of a generated session.
DEFAULT_DATASETS = (
    ("alf", "spikes.times.npy", "spikes"),
    ("alf", "spikes.clusters.npy", "spikes"),
    ("alf", "spikes.amps.npy", "spikes"),
    ("alf", "clusters.depths.npy", "clusters"),
    ("alf", "trials.intervals.npy", "trials"),
    ("alf", "trials.table.tsv", "trials"),
    ("alf", "wheel.position.npy", "wheel"),
    ("alf", "wheel.timestamps.npy", "wheel"),
    ("alf/probe00", "spikes.times.npy", "spikes"),
    ("alf/probe00", "spikes.clusters.npy", "spikes"),
)


def make_data_root(
    root: str | Path,
    labs: tuple[str, ...] = ("nicklab", "haisslab"),
    subjects: int = 2,
    sessions: int = 2,
    datasets: tuple[tuple[str, str, str], ...] = DEFAULT_DATASETS,
    n: int = 1000,
    start: str = "2021-01-04",
    seed: int = 0,
    extras: bool = True,
) -> list[str]:
    """Write a small but realistic ALF tree under ``root``; returns the relative paths written.

    Each session gets the ``datasets`` with consistent lengths per object (``n`` spikes). With
    ``extras``, the first session also gets a second probe, a revision folder, a JSON dataset, a
    namespaced dataset and a non-ALF file (``notes.txt``) that scanners must report, not index.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    root = Path(root)
    written = []
    day = _dt.date.fromisoformat(start)
    lengths = {"spikes": n, "clusters": max(1, n // 50), "trials": max(2, n // 100), "wheel": n * 2}
    first = True
    for lab in labs:
        for s in range(subjects):
            subject = f"{lab[:4].upper()}_{s + 1:03d}"
            for k in range(sessions):
                date = (day + _dt.timedelta(days=k * 7 + s)).isoformat()
                sess = f"{lab}/Subjects/{subject}/{date}/{k + 1:03d}"
                items = list(datasets)
                if extras and first:
                    items += [
                        ("alf/probe01", "spikes.times.npy", "spikes"),
                        ("alf/probe01", "spikes.clusters.npy", "spikes"),
                        ("alf/#2021-06-01#", "spikes.times.npy", "spikes"),
                        ("alf", "_ibl_wheel.position.npy", "wheel"),
                        ("alf", "session.meta.json", ""),
                    ]
                for coll, name, key in items:
                    rel = f"{sess}/{coll}/{name}"
                    path = root / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    _write(path, name, lengths.get(key, 1), rng)
                    written.append(rel)
                if extras and first:
                    (root / sess / "notes.txt").write_text("not an ALF file\n")
                    first = False
    return written


def _write(path: Path, name: str, length: int, rng) -> None:  # noqa: ANN001
    import numpy as np

    ext = name.rsplit(".", 1)[-1]
    if ext == "npy":
        if "times" in name or "timestamps" in name:
            data = np.sort(rng.uniform(0, 3600, length))
        elif "intervals" in name:
            t = np.sort(rng.uniform(0, 3600, length))
            data = np.c_[t, t + 1.0]
        elif "clusters" in name:
            data = rng.integers(0, 50, length).astype(np.int32)
        else:
            data = rng.normal(size=length).astype(np.float32)
        np.save(path, data)
    elif ext == "tsv":
        rows = ["trial\tstim_on\tresponse"] + [f"{i}\t{i * 2.5:.2f}\t{i % 2}" for i in range(length)]
        path.write_text("\n".join(rows) + "\n")
    elif ext == "json":
        path.write_text(json.dumps({"rig": "rig1", "task": "passive"}))
    else:
        path.write_bytes(rng.bytes(max(1, length)))


def write_datasets(root: str | Path, spec: dict[str, int], kind: str = "bytes", seed: int = 0) -> list[str]:
    """Write the datasets of ``spec`` (relative path -> size) under ``root``; returns the sorted paths.

    ``kind="bytes"``: each file holds ``size`` random bytes (for transfer tests, where sizes matter:
    an empty file, one larger than a block or an upload part); ``kind="npy"``: each file is a ``.npy``
    array of ``size`` random floats (for tests that load what they wrote). The same ``seed`` writes the
    same bytes. This and :func:`make_data_root` are the data-root generators of onecore's and the
    shipped plugins' tests.
    """
    import random

    if kind not in ("bytes", "npy"):
        raise ValueError(f"unknown kind {kind!r}: bytes or npy")
    root = Path(root)
    rng = random.Random(seed)
    np_rng = None
    for rel, size in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "bytes":
            path.write_bytes(rng.randbytes(size))
            continue
        import numpy as np

        np_rng = np_rng if np_rng is not None else np.random.default_rng(seed)
        np.save(path, np_rng.normal(size=size))
    return sorted(spec)
