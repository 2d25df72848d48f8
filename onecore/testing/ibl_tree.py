"""An IBL-like ALF data root with the cases ONE-api scripts meet, for the ONE-api compatibility tests.

Revisions, nested collections, extras, timescales, namespaces (one object across several), tables
(``.pqt`` with ``x_0``/``x_1`` pairs, ``.csv``), ``(N, 1)`` arrays, 2-column timestamps, metadata
columns, unpadded session numbers, an empty file, a file with no loader and the other ONE-api
formats (``.yaml``, ``.jsonable``, ``.ssv``, ``.htsv``, ``.npz``). Needs numpy; the ``.pqt`` files need
pandas and pyarrow (left out without them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["make_ibl_tree", "SESSIONS"]

#: The sessions of the tree: key -> path from the data root.
SESSIONS = {
    "a": "cortexlab/Subjects/KS005/2023-01-01/001",
    "b": "cortexlab/Subjects/KS023/2023-01-02/1",
    "c": "churchlandlab/Subjects/KS0050/2023-01-02/002",
    "d": "cortexlab/Subjects/KS023/2023-01-04/003",
}
N_TRIALS = 5
N_FRAMES = 8


def _save(path: Path, value: Any) -> None:
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, value)


def _session_a(s: Path, tables: bool) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    alf = s / "alf"
    if tables:
        import pandas as pd

        trials = pd.DataFrame(
            {
                "intervals_0": np.arange(N_TRIALS, dtype=float),
                "intervals_1": np.arange(N_TRIALS, dtype=float) + 0.5,
                "choice": np.array([1, -1, 1, 0, -1], dtype=float),
                "feedbackType": np.array([1, -1, 1, 1, -1], dtype=float),
                "stimOn_times": np.arange(N_TRIALS, dtype=float) + 0.1,
            }
        )
        alf.mkdir(parents=True, exist_ok=True)
        trials.to_parquet(alf / "_ibl_trials.table.pqt")
        dlc = pd.DataFrame({"nose_x": rng.random(N_FRAMES), "nose_y": rng.random(N_FRAMES)})
        dlc.to_parquet(alf / "_ibl_leftCamera.dlc.pqt")
    _save(alf / "_ibl_trials.goCueTrigger_times.npy", np.arange(N_TRIALS) + 0.05)
    _save(alf / "_ibl_leftCamera.times.npy", np.arange(N_FRAMES) / 60)
    _save(alf / "leftCamera.ROIMotionEnergy.npy", rng.random(N_FRAMES))
    _save(alf / "_ibl_wheel.position.npy", rng.random(20))
    _save(alf / "_ibl_wheel.timestamps.npy", np.arange(20) / 1000)
    _save(alf / "_ibl_wheelMoves.intervals.npy", np.c_[np.arange(3), np.arange(3) + 0.2])
    _save(alf / "_ibl_wheelMoves.peakAmplitude.npy", rng.random(3))
    _save(alf / "licks.times.npy", (np.arange(4) * 0.3).reshape(-1, 1))  # (N, 1): flattened
    _save(alf / "lfp.raw.npy", rng.random(100))
    _save(alf / "lfp.timestamps.npy", np.array([[0, 0.0], [99, 1.0]]))  # ts2vec: 100 times
    _save(alf / "clusters.metrics.npy", rng.random((6, 2)))
    (alf / "clusters.metrics.metadata.json").write_text(json.dumps({"columns": ["amp", "fr"]}))
    _save(alf / "clusters.depths.npy", rng.random(6))
    for probe in ("probe00", "probe01"):
        p = alf / probe
        _save(p / "spikes.times.npy", np.sort(rng.random(10)))
        _save(p / "spikes.amps.npy", rng.random(10))
        _save(p / "spikes.clusters.npy", rng.integers(0, 6, 10))
    _save(alf / "probe00" / "#2023-02-01#" / "spikes.amps.npy", rng.random(10) + 10)
    _save(alf / "probe00" / "#2023-03-01#" / "spikes.amps.npy", rng.random(10) + 20)
    _save(alf / "probe00" / "pykilosort" / "spikes.times.npy", np.sort(rng.random(12)))
    _save(alf / "probe00" / "pykilosort" / "spikes.amps.npy", rng.random(12))
    _save(alf / "probe00" / "pykilosort" / "#2024-01-01#" / "spikes.depths.npy", rng.random(12))
    _save(alf / "spikes.samples.part1.part2.npy", np.arange(3))  # extras
    _save(alf / "spikes.times_ephysClock.npy", np.arange(3) / 3)  # a timescale
    raw = s / "raw_video_data"
    raw.mkdir(parents=True)
    (raw / "_iblrig_leftCamera.raw.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (alf / "_ibl_empty.thing.json").write_bytes(b"")
    (alf / "task.settings.yaml").write_text("protocol: biased\nn_trials: 5\n")
    (alf / "_iblrig_taskData.raw.jsonable").write_text('{"trial": 0}\n{"trial": 1}\n')
    (alf / "probes.description.ssv").write_text("label x\nprobe00 1\nprobe01 2\n")
    (alf / "channels.labels.htsv").write_text("label\tdepth\nA\t1\nB\t2\n")
    (alf / "table.values.csv").write_text("a,b\n1,2\n3,4\n")
    np.savez(alf / "probes.single.npz", np.arange(4))
    np.savez(alf / "probes.multi.npz", first=np.arange(2), second=np.arange(3))
    (s / "session.notes.json").write_text(json.dumps({"note": "root collection"}))


def _session_b(s: Path) -> None:
    import numpy as np

    alf = s / "alf" / "task_00"
    _save(alf / "_ibl_trials.choice.npy", np.array([1.0, -1.0, 1.0]))
    _save(alf / "_ibl_trials.intervals.npy", np.c_[np.arange(3.0), np.arange(3.0) + 0.5])
    _save(alf / "_ibl_wheel.position.npy", np.arange(5.0))
    _save(alf / "_ibl_wheel.timestamps.npy", np.arange(5.0) / 10)


def make_ibl_tree(root: str | Path, tables: bool | None = None) -> dict[str, Path]:
    """Write the tree under ``root``; returns ``{key: session folder}`` for :data:`SESSIONS`.

    ``tables``: write the ``.pqt`` files (default: when pandas and pyarrow are importable).
    """
    import numpy as np

    root = Path(root)
    if tables is None:
        try:
            import pandas  # noqa: F401
            import pyarrow  # noqa: F401

            tables = True
        except ImportError:
            tables = False
    out = {k: root / v for k, v in SESSIONS.items()}
    _session_a(out["a"], tables)
    _session_b(out["b"])
    _save(out["c"] / "alf" / "spikes.times.npy", np.arange(4.0))
    _save(out["d"] / "alf" / "_ibl_trials.choice.npy", np.array([1.0]))
    return out
