"""Test helpers: read an exported NWB file back, compare every array with ``One.load_object``, inspect it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .testing import SESSION


def attr(obj: Any, key: str) -> np.ndarray:
    """An attribute of a loaded object (the key of a timescale attribute is ``attr_timescale``)."""
    return np.asarray(obj[key])


def same(a: Any, b: Any) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        assert np.allclose(a.astype(float), b.astype(float), equal_nan=True, rtol=0, atol=0)
    else:
        assert np.array_equal(a, b)


def check_full_session(one: Any, path: Path) -> None:
    """Every array of the generated session (:data:`SESSION`) in the file equals what load_object returns."""
    import pynwb

    eid = one.to_eid(SESSION)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.identifier == eid and nwb.session_id == "2024-01-02-001" and nwb.lab == "nwblab"
        assert nwb.subject.subject_id == "KS.023"
        _check_units(one, eid, nwb)
        trials = one.load_object(eid, "trials", collection="alf")
        t = nwb.trials
        same(t["start_time"][:], attr(trials, "intervals")[:, 0])
        same(t["stop_time"][:], attr(trials, "intervals")[:, 1])
        for key in ("choice", "goCue_times", "feedbackType"):
            same(t[key][:], attr(trials, key))
        bpod = nwb.intervals["trials_bpod"]
        same(bpod["start_time"][:], attr(trials, "intervals_bpod")[:, 0])
        same(bpod["stop_time"][:], attr(trials, "intervals_bpod")[:, 1])
        wheel = one.load_object(eid, "wheel", collection="alf")
        beh = nwb.processing["behavior"]
        pos = beh["wheel_position"]
        assert type(pos).__name__ == "SpatialSeries" and pos.unit == "radians"
        same(pos.data[:], attr(wheel, "position"))
        same(pos.timestamps[:], attr(wheel, "timestamps"))
        pos_bpod = beh["wheel_position_bpod"]
        same(pos_bpod.data[:], attr(wheel, "position"))
        same(pos_bpod.timestamps[:], attr(wheel, "timestamps_bpod"))
        moves = one.load_object(eid, "wheelMoves", collection="alf")
        wm = beh["wheelMoves"]
        same(wm["start_time"][:], attr(moves, "intervals")[:, 0])
        same(wm["stop_time"][:], attr(moves, "intervals")[:, 1])
        same(wm["peakAmplitude"][:], attr(moves, "peakAmplitude"))
        alf = nwb.processing["alf"]
        same(alf["licks_times"].data[:], attr(one.load_object(eid, "licks", collection="alf"), "times"))
        cam = one.load_object(eid, "_ibl_leftCamera", collection="alf")
        same(alf["leftCamera_brightness"].data[:], attr(cam, "brightness"))
        same(alf["leftCamera_brightness"].timestamps[:], attr(cam, "times"))
        stim = one.load_object(eid, "stim", collection="alf")  # a table: one attribute per column
        same(alf["stim_contrast"].data[:], stim["contrast"])
        same(alf["stim_contrast"].timestamps[:], stim["times"])
        assert list(alf["stim_text"]["label"][:]) == list(stim["label"])
        chans = one.load_object(eid, "channels", collection="alf/probe00")
        table = nwb.processing["alf_probe00"]["channels"]
        same(table["localCoordinates"][:], attr(chans, "localCoordinates"))
        same(table["rawInd"][:], attr(chans, "rawInd"))
        for rel in ("alf/_ibl_experiment.description.json", "raw_behavior_data/_iblrig_taskData.raw.jsonable"):
            assert rel in nwb.notes


def _check_units(one: Any, eid: str, nwb: Any) -> None:
    units = nwb.units
    colls = list(units["collection"][:])
    ids = units["cluster_id"][:]
    for coll in ("alf/probe00", "alf/probe01"):
        spikes = one.load_object(eid, "spikes", collection=coll)
        clusters = one.load_object(eid, "clusters", collection=coll)
        clu = attr(spikes, "clusters")
        rows = [i for i, c in enumerate(colls) if c == coll]
        assert len(rows) == len(attr(clusters, "depths"))
        for row in rows:
            sel = clu == ids[row]
            same(units["spike_times"][row], attr(spikes, "times")[sel])
            same(units["spikes_amps"][row], attr(spikes, "amps")[sel])
            same(units["spikes_depths"][row], attr(spikes, "depths")[sel])
        for key in ("depths", "channels", "peakToTrough"):
            same(units[key][rows[0] : rows[-1] + 1], attr(clusters, key))
        if "amps" in clusters:
            same(units["amps"][rows[0] : rows[-1] + 1], attr(clusters, "amps"))
        else:
            assert np.isnan(units["amps"][rows[0] : rows[-1] + 1]).all()


def inspect_problems(path: Path) -> tuple[list[str], list[str]]:
    """(CRITICAL/ERROR messages, other messages) of nwbinspector, and pynwb.validate's errors first."""
    import pynwb
    from nwbinspector import inspect_nwbfile

    errors = [str(e) for e in pynwb.validate(path=str(path))]
    bad, other = list(errors), []
    for m in inspect_nwbfile(nwbfile_path=str(path)):
        text = f"{m.importance.name} {m.check_function_name} {m.object_name}: {m.message}"
        (bad if m.importance.name in ("CRITICAL", "ERROR", "PYNWB_VALIDATION") else other).append(text)
    return bad, other
