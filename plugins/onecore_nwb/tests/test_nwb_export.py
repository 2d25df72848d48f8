"""`onecore_nwb.export` and `one export-nwb` on a local data root: mapping, validity, layout, errors."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onecore_nwb
import pytest
from click.testing import CliRunner
from onecore_nwb import ExportError, ExportWarning
from onecore_nwb.checks import check_full_session, inspect_problems, same
from onecore_nwb.session import dandi_label, dandi_relpath, modalities
from onecore_nwb.testing import EMPTY_SESSION, SESSION, TABLE_SESSION

from onecore import One
from onecore.cli import cli

SUBJECT = {"species": "Mus musculus", "sex": "F", "age": "P90D"}
NAME = "sub-KS-023/sub-KS-023_ses-2024-01-02-001_behavior.nwb"


@pytest.fixture
def one(root: Path, one_home: Path):
    with One(cache_dir=root) as one:
        yield one


def test_full_session_round_trip_and_valid(one: One, tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = onecore_nwb.export(one, SESSION, tmp_path / "out", subject=SUBJECT)
    assert path == tmp_path / "out" / NAME and path.is_file()
    assert not any(issubclass(w.category, ExportWarning) for w in caught)
    assert not list(path.parent.glob(".*partial*"))
    check_full_session(one, path)
    bad, other = inspect_problems(path)
    assert bad == []
    assert all(m.split()[0] in ("BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION") for m in other)


def test_arrays_are_chunked_and_compressed(one: One, tmp_path: Path) -> None:
    import h5py

    path = onecore_nwb.export(one, SESSION, tmp_path, subject=SUBJECT)
    with h5py.File(path, "r") as f:
        st = f["units/spike_times"]
        assert st.chunks is not None and st.compression == "gzip"
        wheel = f["processing/behavior/wheel_position/data"]
        assert wheel.compression == "gzip"
        # the bpod series links to the same data instead of copying it
        link = f["processing/behavior/wheel_position_bpod"].get("data", getlink=True)
        assert isinstance(link, h5py.SoftLink) and link.path == "/processing/behavior/wheel_position/data"


def test_trials_table_and_separate_attributes(one: One, tmp_path: Path) -> None:
    import pynwb

    path = onecore_nwb.export(one, TABLE_SESSION, tmp_path, subject=SUBJECT)
    assert path.name == "sub-KS-023_ses-2024-01-02-002.nwb"  # no modality dandi recognises: no suffix
    trials = one.load_object(TABLE_SESSION, "trials", collection="alf")
    with pynwb.NWBHDF5IO(str(path), "r") as io:  # the table's columns are attributes of the object
        t = io.read().trials
        same(t["start_time"][:], trials["intervals"][:, 0])
        same(t["stop_time"][:], trials["intervals"][:, 1])
        for key in ("choice", "goCue_times", "contrastLeft"):
            same(t[key][:], trials[key])
        same(t["stimOff_times"][:], trials["stimOff_times"])
    assert inspect_problems(path)[0] == []


def test_missing_subject_fields_are_named_in_a_warning(one: One, tmp_path: Path) -> None:
    with pytest.warns(ExportWarning, match=r"does not give species, sex, age"):
        onecore_nwb.export(one, SESSION, tmp_path, subject=None)
    with pytest.warns(ExportWarning, match=r"does not give age") as rec:
        onecore_nwb.export(one, SESSION, tmp_path / "b", subject={"species": "Mus musculus", "sex": "M"})
    assert "species" not in str(rec[0].message).split("give")[1].split(";")[0]


def test_collection_filter_and_revision(one: One, tmp_path: Path) -> None:
    import pynwb

    path = onecore_nwb.export(one, SESSION, tmp_path, collections=["alf"], subject=SUBJECT)
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.units is None and "alf_probe00" not in nwb.processing
        choice = nwb.trials["choice"][:]
    newest = np.load(one.eid2path(SESSION) / "alf" / "#2024-02-01#" / "trials.choice.npy")
    same(choice, newest)  # the default (latest) revision, as load_object gives it
    same(choice, one.load_object(SESSION, "trials", collection="alf")["choice"])


def test_overwrite_is_refused_without_the_flag(root: Path, one_home: Path, tmp_path: Path, plugin_registry) -> None:
    plugin_registry("onecore_nwb.plugin")
    runner = CliRunner()
    r = runner.invoke(cli, ["add-repo", "here", "--type", "local", "--set", f"root_dir={root}"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = runner.invoke(cli, ["export-nwb", SESSION, "--out", str(out), "--timezone", "Europe/London"])
    assert r.exit_code == 0, r.output
    path = out / NAME
    assert str(path) in r.stdout and "Warning: subject 'KS.023'" in r.stderr
    before = path.stat().st_mtime_ns
    r = runner.invoke(cli, ["export-nwb", SESSION, "--out", str(out)])
    assert r.exit_code == 1 and "exists; pass --overwrite" in r.output and "Traceback" not in r.output
    assert path.stat().st_mtime_ns == before
    r = runner.invoke(cli, ["export-nwb", SESSION, "--out", str(out), "--overwrite", "--repo", "here"])
    assert r.exit_code == 0, r.output
    import pynwb

    with pynwb.NWBHDF5IO(str(path), "r") as io:
        start = io.read().session_start_time
    assert start.isoformat() == "2024-01-02T00:00:00+00:00"  # Europe/London in winter is UTC+0
    r = runner.invoke(cli, ["export-nwb", SESSION, "--out", str(out), "--overwrite", "--timezone", "+02:00"])
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        assert io.read().session_start_time.isoformat() == "2024-01-02T00:00:00+02:00"
    r = runner.invoke(cli, ["export-nwb", SESSION, "--out", str(out), "--timezone", "Mars/Olympus"])
    assert r.exit_code == 1 and "Mars/Olympus" in r.output and "Traceback" not in r.output


def test_no_convertible_object_is_a_clear_error(root: Path, one_home: Path, tmp_path: Path, plugin_registry) -> None:
    plugin_registry("onecore_nwb.plugin")
    runner = CliRunner()
    runner.invoke(cli, ["add-repo", "here", "--type", "local", "--set", f"root_dir={root}"])
    r = runner.invoke(cli, ["export-nwb", EMPTY_SESSION, "--out", str(tmp_path / "o")])
    assert r.exit_code == 1, r.output
    assert "nothing to convert" in r.output and "_ibl_experiment.description.json" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o").exists()
    r = runner.invoke(cli, ["export-nwb", SESSION, "--out", str(tmp_path / "o"), "--collection", "nope"])
    assert r.exit_code == 1 and "nothing to convert" in r.output and "nope" in r.output


def test_missing_attribute_is_a_clear_error(root: Path, one_home: Path, tmp_path: Path) -> None:
    (root / SESSION / "alf" / "probe01" / "spikes.clusters.npy").unlink()
    with One(cache_dir=root) as one:
        with pytest.raises(ExportError, match=r"'alf/probe01/spikes' has no 'clusters' attribute"):
            onecore_nwb.export(one, SESSION, tmp_path, subject=SUBJECT)
    (root / SESSION / "alf" / "wheel.timestamps.npy").unlink()
    with One(cache_dir=root) as one:
        with pytest.raises(ExportError, match=r"'alf/wheel' has no 'timestamps'"):
            onecore_nwb.export(one, SESSION, tmp_path, collections=["alf"], subject=SUBJECT)
    assert not list(tmp_path.rglob("*.nwb"))


def test_unequal_lengths_name_the_object(root: Path, one_home: Path, tmp_path: Path) -> None:
    np.save(root / SESSION / "alf" / "wheelMoves.peakAmplitude.npy", np.zeros(49))
    with One(cache_dir=root) as one:
        with pytest.raises(
            ExportError, match=r"'alf/wheelMoves' has attributes of unequal length: .*peakAmplitude \(49\)"
        ):
            onecore_nwb.export(one, SESSION, tmp_path, subject=SUBJECT)
    assert not list(tmp_path.rglob("*.nwb*"))


def test_dandi_labels_and_modalities() -> None:
    assert dandi_label("KS.023_a*b:c") == "KS-023-a-b-c"
    assert modalities(["SpatialSeries", "Units", "TimeSeries", "ElectricalSeries"]) == ["behavior", "ecephys"]
    assert dandi_relpath("a_b", "2024-01-02-001", ["behavior", "ecephys"]) == (
        "sub-a-b/sub-a-b_ses-2024-01-02-001_behavior+ecephys.nwb"
    )


def test_plugin_is_light_and_listed(one_home: Path) -> None:
    code = (
        "import sys, onecore_nwb.plugin, onecore_nwb, onecore_nwb.commands; "
        "assert not {'pynwb', 'hdmf', 'h5py', 'numpy'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "onecore.cli", "plugins"], capture_output=True, text=True)
    assert "nwb (onecore-nwb 0.1.0): one_register_commands" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "onecore.cli", "export-nwb", "--help"], capture_output=True, text=True)
    assert "--timezone TZ" in out.stdout and "--collection C" in out.stdout and "--out DIR" in out.stdout


def test_a_failed_write_leaves_nothing_behind(root: Path, one_home: Path, tmp_path: Path) -> None:
    alf = root / SESSION / "alf"
    np.save(alf / "weird.times.npy", np.arange(5.0))
    np.save(alf / "weird.values.npy", np.arange(5) * 1j)  # complex numbers: no NWB type for them
    with One(cache_dir=root) as one:
        with pytest.raises(ExportError, match=r"could not write .*weird_values"):
            onecore_nwb.export(one, SESSION, tmp_path / "out", subject=SUBJECT)
        assert not (tmp_path / "out" / "sub-KS-023").exists()
        (tmp_path / "file").write_text("x")
        with pytest.raises(ExportError, match=r"could not write .*file"):
            onecore_nwb.export(one, SESSION, tmp_path / "file", collections=["alf/probe00"], subject=SUBJECT)


def test_subject_and_start_time_from_a_repository_that_knows_them() -> None:
    import datetime as dt

    from onecore_nwb.session import parse_timezone, start_time, subject_fields

    info = {
        "subject": "m1",
        "date": "2024-07-01",
        "species": "Mus musculus",
        "sex": "female",
        "birth_date": "2024-01-01",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExportWarning)  # nothing missing: no warning
        fields = subject_fields(info, {})
    assert fields["species"] == "Mus musculus" and fields["sex"] == "F"
    assert fields["date_of_birth"] == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    tz = parse_timezone("Europe/Lisbon")
    alyx = {**info, "start_time": "2024-07-01T10:30:00"}  # Alyx gives the start time without a zone
    assert start_time(alyx, tz).isoformat() == "2024-07-01T10:30:00+01:00"
    assert start_time(info, tz).isoformat() == "2024-07-01T00:00:00+01:00"
    with pytest.raises(ExportError, match="unknown field"):
        subject_fields(info, {"colour": "brown"})
