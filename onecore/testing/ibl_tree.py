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


#: The session :func:`make_session_loader_tree` writes (what brainbox's SessionLoader reads).
LOADER_SESSION = "mainenlab/Subjects/ZM_001/2024-03-01/001"


def make_session_loader_tree(root: str | Path, n_trials: int = 40, n_frames: int = 600) -> Path:
    """An IBL-like behaviour session for brainbox's ``SessionLoader``; returns its folder.

    ``alf/task_00``: a ``_ibl_trials.table.pqt`` with the standard columns plus ``_ibl_trials.*``
    attributes and a newer revision of the table, wheel and wheelMoves; ``alf``: left/right/body camera
    times, DLC tables, motion energy, pupil features and licks; ``alf/lightningaction``: paw states.
    Needs numpy, pandas and pyarrow.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(14)
    s = Path(root) / LOADER_SESSION
    task = s / "alf" / "task_00"
    task.mkdir(parents=True)
    start = np.cumsum(rng.uniform(2, 4, n_trials))
    contrast = rng.choice([1.0, 0.25, 0.125, 0.0625, 0.0], n_trials)
    side = rng.choice([-1, 1], n_trials)
    trials = pd.DataFrame(
        {
            "intervals_0": start,
            "intervals_1": start + 1.8,
            "goCue_times": start + 0.5,
            "stimOn_times": start + 0.5,
            "response_times": start + 0.5 + rng.uniform(0.2, 1.0, n_trials),
            "firstMovement_times": start + 0.5 + rng.uniform(0.1, 0.2, n_trials),
            "feedback_times": start + 1.6,
            "choice": rng.choice([-1.0, 1.0], n_trials),
            "feedbackType": rng.choice([-1.0, 1.0], n_trials, p=[0.2, 0.8]),
            "contrastLeft": np.where(side < 0, contrast, np.nan),
            "contrastRight": np.where(side > 0, contrast, np.nan),
            "probabilityLeft": np.repeat([0.5, 0.8, 0.2, 0.8], n_trials // 4 + 1)[:n_trials],
            "rewardVolume": rng.choice([0.0, 1.5], n_trials),
        }
    )
    trials.to_parquet(task / "_ibl_trials.table.pqt")
    newer = task / "#2024-04-01#"
    newer.mkdir()
    trials.assign(rewardVolume=trials.rewardVolume * 2).to_parquet(newer / "_ibl_trials.table.pqt")
    np.save(task / "_ibl_trials.stimOff_times.npy", start + 1.7)
    np.save(task / "_ibl_trials.quiescencePeriod.npy", rng.uniform(0.2, 0.6, n_trials))
    np.save(task / "_ibl_trials.itiDuration.npy", np.ones(n_trials + 3))  # mismatched: brainbox skips it
    wt = np.sort(rng.uniform(0, start[-1] + 3, 4000))
    np.save(task / "_ibl_wheel.timestamps.npy", wt)
    np.save(task / "_ibl_wheel.position.npy", np.cumsum(rng.normal(0, 0.01, wt.size)))
    moves = np.sort(rng.uniform(0, start[-1], 2 * n_trials)).reshape(-1, 2)
    np.save(task / "_ibl_wheelMoves.intervals.npy", moves)
    np.save(task / "_ibl_wheelMoves.peakAmplitude.npy", rng.normal(0, 1, moves.shape[0]))
    alf = s / "alf"
    for view, n in (("left", n_frames), ("right", n_frames + 5), ("body", n_frames // 2)):
        np.save(alf / f"_ibl_{view}Camera.times.npy", np.linspace(0, start[-1] + 3, n + 2))
        parts = {}
        for part in ("nose_tip", "paw_l", "pupil_top_r", "pupil_bottom_r", "pupil_left_r", "pupil_right_r"):
            parts[f"{part}_x"] = rng.uniform(0, 100, n)
            parts[f"{part}_y"] = rng.uniform(0, 100, n)
            parts[f"{part}_likelihood"] = rng.uniform(0.5, 1, n)
        pd.DataFrame(parts).to_parquet(alf / f"_ibl_{view}Camera.dlc.pqt")
        np.save(alf / f"{view}Camera.ROIMotionEnergy.npy", rng.uniform(0, 1, n))
    t = np.linspace(0, 20, n_frames)
    smooth = 10 + np.sin(t)
    feats = pd.DataFrame({"pupilDiameter_raw": smooth + rng.normal(0, 0.01, n_frames), "pupilDiameter_smooth": smooth})
    feats.to_parquet(alf / "_ibl_leftCamera.features.pqt")
    np.save(alf / "licks.times.npy", np.sort(rng.uniform(0, start[-1], 200)))
    la = alf / "lightningaction"
    la.mkdir()
    for view, n in (("left", n_frames), ("right", n_frames + 5)):
        pd.DataFrame({s: rng.uniform(0, 1, n) for s in ("still", "move", "wiggle", "groom")}).to_parquet(
            la / f"_ibl_{view}Camera.pawstates.pqt"
        )
    np.save(alf / "_ibl_passiveRFM.times.npy", np.linspace(0, 10, 30))
    raw = s / "raw_passive_data"
    raw.mkdir()
    rng.integers(0, 255, 15 * 15 * 30, dtype=np.uint8).tofile(raw / "_iblrig_RFMapStim.raw.bin")
    _spike_sorting(alf / "probe00" / "pykilosort", rng, 300, 20)
    _spike_sorting(alf / "probe01", rng, 200, 12)
    return s


def _spike_sorting(folder: Path, rng: Any, n_spikes: int, n_clusters: int) -> None:
    """spikes, clusters and channels (with brain locations) of one probe, as the IBL pipeline writes them."""
    import numpy as np
    import pandas as pd

    folder.mkdir(parents=True)
    n_channels = 16
    np.save(folder / "spikes.times.npy", np.sort(rng.uniform(0, 100, n_spikes)))
    np.save(folder / "spikes.clusters.npy", rng.integers(0, n_clusters, n_spikes))
    np.save(folder / "spikes.amps.npy", rng.uniform(50e-6, 200e-6, n_spikes))
    np.save(folder / "spikes.depths.npy", rng.uniform(0, 3800, n_spikes))
    np.save(folder / "clusters.channels.npy", rng.integers(0, n_channels, n_clusters))
    np.save(folder / "clusters.depths.npy", rng.uniform(0, 3800, n_clusters))
    pd.DataFrame({"cluster_id": np.arange(n_clusters), "label": rng.uniform(0, 1, n_clusters)}).to_parquet(
        folder / "clusters.metrics.pqt"
    )
    (folder / "clusters.uuids.csv").write_text(
        "uuids\n" + "\n".join(f"00000000-0000-0000-0000-{i:012d}" for i in range(n_clusters)) + "\n"
    )
    np.save(
        folder / "channels.localCoordinates.npy", np.c_[np.tile([11, 43], n_channels // 2), np.arange(n_channels) * 20]
    )
    np.save(folder / "channels.rawInd.npy", np.arange(n_channels))
    np.save(folder / "channels.mlapdv.npy", rng.integers(-4000, 4000, (n_channels, 3)))
    np.save(folder / "channels.brainLocationIds_ccf_2017.npy", rng.choice([0, 315, 549, 1089], n_channels))
