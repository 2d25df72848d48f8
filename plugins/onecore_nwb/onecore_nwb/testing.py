"""Generated ALF sessions for the tests and the benchmark (numpy only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LAB, SUBJECT, DATE = "nwblab", "KS.023", "2024-01-02"
SESSION = f"{LAB}/Subjects/{SUBJECT}/{DATE}/001"  # everything below
TABLE_SESSION = f"{LAB}/Subjects/{SUBJECT}/{DATE}/002"  # trials as a table
EMPTY_SESSION = f"{LAB}/Subjects/{SUBJECT}/{DATE}/003"  # only non-array datasets


def _save(root: Path, rel: str, arr: np.ndarray) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    np.save(p, arr)


def write_spikes(root: Path, collection: str, n_spikes: int, n_clusters: int, seed: int, amps: bool = True) -> None:
    """``spikes.*`` (time-sorted) and ``clusters.*`` of one probe collection."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.random(n_spikes) * 3600.0)
    _save(root, f"{collection}/spikes.times.npy", times)
    _save(root, f"{collection}/spikes.clusters.npy", rng.integers(0, n_clusters, n_spikes).astype(np.int64))
    _save(root, f"{collection}/spikes.amps.npy", rng.random(n_spikes).astype(np.float32) * 1e-4)
    _save(root, f"{collection}/spikes.depths.npy", rng.random(n_spikes).astype(np.float32) * 3840)
    _save(root, f"{collection}/clusters.depths.npy", rng.random(n_clusters) * 3840)
    _save(root, f"{collection}/clusters.channels.npy", rng.integers(0, 384, n_clusters))
    _save(root, f"{collection}/clusters.peakToTrough.npy", rng.random((n_clusters, 2)))
    if amps:
        _save(root, f"{collection}/clusters.amps.npy", rng.random(n_clusters) * 1e-4)


def make_session(root: Path, n_spikes: int = 5000, n_clusters: int = 40) -> Path:
    """The full session of the tests under ``root`` (the data root); returns the session folder."""
    rng = np.random.default_rng(1)
    base = root / SESSION
    base.mkdir(parents=True, exist_ok=True)
    write_spikes(base, "alf/probe00", n_spikes, n_clusters, 2)
    write_spikes(base, "alf/probe01", n_spikes // 2 + 7, n_clusters // 2 + 3, 3, amps=False)
    _save(base, "alf/probe00/channels.localCoordinates.npy", rng.random((384, 2)) * 100)
    _save(base, "alf/probe00/channels.rawInd.npy", np.arange(384))
    n = 120
    starts = np.sort(rng.random(n) * 3000)
    intervals = np.c_[starts, starts + 1 + rng.random(n)]
    _save(base, "alf/trials.intervals.npy", intervals)
    _save(base, "alf/trials.intervals_bpod.npy", intervals + 0.0123)
    _save(base, "alf/trials.goCue_times.npy", starts + 0.2)
    _save(base, "alf/trials.choice.npy", rng.choice([-1, 1], n).astype(np.int64))
    _save(base, "alf/#2024-02-01#/trials.choice.npy", rng.choice([-1, 0, 1], n).astype(np.int64))  # newer
    _save(base, "alf/trials.feedbackType.npy", rng.choice([-1, 1], n).astype(np.int64))
    m = 20000
    _save(base, "alf/wheel.timestamps.npy", np.linspace(0, 3600, m))
    _save(base, "alf/wheel.timestamps_bpod.npy", np.linspace(0, 3600, m) + 0.0456)
    _save(base, "alf/wheel.position.npy", np.cumsum(rng.normal(0, 0.01, m)))
    k = 50
    ms = np.sort(rng.random(k) * 3500)
    _save(base, "alf/wheelMoves.intervals.npy", np.c_[ms, ms + 0.5])
    _save(base, "alf/wheelMoves.peakAmplitude.npy", rng.random(k))
    _save(base, "alf/licks.times.npy", np.sort(rng.random(300) * 3600))
    _save(base, "alf/_ibl_leftCamera.times.npy", np.linspace(0, 3600, 600))
    _save(base, "alf/_ibl_leftCamera.brightness.npy", rng.random(600))
    stim = ["times,contrast,label"] + [f"{i * 10.5!r},{i / 10!r},{'left' if i % 2 else 'right'}" for i in range(8)]
    (base / "alf" / "stim.table.csv").write_text("\n".join(stim) + "\n")
    (base / "alf" / "_ibl_experiment.description.json").write_text(json.dumps({"procedures": ["Behavior training"]}))
    (base / "raw_behavior_data").mkdir(exist_ok=True)
    (base / "raw_behavior_data" / "_iblrig_taskData.raw.jsonable").write_text('{"trial": 1}\n')
    (base / "raw_ephys_data").mkdir(exist_ok=True)
    (base / "raw_ephys_data" / "_spikeglx_ephysData_g0_t0.imec0.ap.cbin").write_bytes(rng.bytes(1000))
    _make_table_session(root / TABLE_SESSION, rng)
    empty = root / EMPTY_SESSION / "alf"
    empty.mkdir(parents=True, exist_ok=True)
    (empty / "_ibl_experiment.description.json").write_text("{}")
    return base


def _make_table_session(base: Path, rng: np.random.Generator) -> None:
    n = 30
    starts = np.sort(rng.random(n) * 100)
    lines = ["intervals_0,intervals_1,choice,goCue_times,contrastLeft"]
    for i in range(n):
        t = float(starts[i])
        lines.append(f"{t!r},{t + 1.5!r},{int(rng.choice([-1, 1]))},{t + 0.3!r},{float(rng.random())!r}")
    (base / "alf").mkdir(parents=True, exist_ok=True)
    (base / "alf" / "trials.table.csv").write_text("\n".join(lines) + "\n")
    _save(base, "alf/trials.stimOff_times.npy", starts + 1.2)
