"""ONE-api's load_* semantics (issue 14): namespaces, wildcards, ALF object assembly, paths, errors."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from onecore import One
from onecore.alfpath import ALFPath
from onecore.errors import AmbiguousError, LoaderError, NotFound, OneError
from onecore.testing.ibl_tree import N_FRAMES, N_TRIALS, SESSIONS, make_ibl_tree

A, B = SESSIONS["a"], SESSIONS["b"]


@pytest.fixture
def root(tmp_path):
    make_ibl_tree(tmp_path / "root")
    return tmp_path / "root"


@pytest.fixture
def one(root, one_home):
    with One(cache_dir=root, home=one_home) as o:
        yield o


def test_an_object_gathers_every_namespace(one):
    cam = one.load_object(A, "leftCamera", collection="alf")
    assert set(cam) == {"times", "dlc", "ROIMotionEnergy"}  # _ibl_ times and dlc, plain motion energy
    assert list(cam.dlc.columns) == ["nose_x", "nose_y"] and len(cam.dlc) == N_FRAMES  # only 'table' splits
    only = one.load_object(A, "leftCamera", collection="alf", namespace="ibl")
    assert set(only) == {"times", "dlc"}
    assert set(one.load_object(A, "_ibl_leftCamera", collection="alf")) == {"times", "dlc"}


def test_the_same_attribute_in_two_namespaces_asks_for_namespace(tmp_path, one_home):
    s = tmp_path / "r" / "lab/Subjects/s/2020-01-01/001/alf"
    s.mkdir(parents=True)
    np.save(s / "wheel.position.npy", np.arange(3))
    np.save(s / "_ibl_wheel.position.npy", np.arange(3))
    with One(cache_dir=tmp_path / "r", home=one_home) as one:
        with pytest.raises(AmbiguousError, match="several namespaces.*namespace="):
            one.load_object("lab/Subjects/s/2020-01-01/001", "wheel")
        assert list(one.load_object("lab/Subjects/s/2020-01-01/001", "wheel", namespace="ibl")) == ["position"]


def test_tables_are_split_and_pairs_joined(one):
    trials = one.load_object(A, "trials")
    assert trials.intervals.shape == (N_TRIALS, 2) and "intervals_0" not in trials
    np.testing.assert_array_equal(trials.intervals[:, 1], np.arange(N_TRIALS) + 0.5)
    assert {"choice", "feedbackType", "stimOn_times", "goCueTrigger_times"} <= set(trials)
    df = trials.to_df()
    assert len(df) == N_TRIALS and "intervals_0" in df.columns and "choice" in df.columns


def test_n1_arrays_flattened_timestamps_expanded_metadata_columns(one):
    assert one.load_object(A, "licks").times.shape == (4,)
    assert one.load_dataset(A, "licks.times").shape == (4,)
    lfp = one.load_object(A, "lfp")
    assert lfp.timestamps.shape == (100,) and lfp.timestamps[-1] == pytest.approx(1.0)
    clusters = one.load_object(A, "clusters")
    assert set(clusters) == {"amp", "fr", "depths"} and clusters.amp.shape == (6,)


def test_check_dimensions_only_when_asked(tmp_path, one_home, caplog):
    s = tmp_path / "r" / "lab/Subjects/s/2020-01-01/001"
    s.mkdir(parents=True)
    np.save(s / "obj.a.npy", np.arange(3))
    np.save(s / "obj.b.npy", np.arange(4))
    with One(cache_dir=tmp_path / "r", home=one_home) as one:
        with caplog.at_level("WARNING"):
            got = one.load_object("lab/Subjects/s/2020-01-01/001", "obj")
        assert got.check_dimensions == 1  # loaded, with a warning that names the object and the cure
        assert "object 'obj' has attributes of inconsistent lengths" in caplog.text
        assert "check_dimensions=True" in caplog.text
        with pytest.raises(LoaderError, match="inconsistent lengths"):
            one.load_object("lab/Subjects/s/2020-01-01/001", "obj", check_dimensions=True)


def test_filters_wildcards_and_unknown_keywords(one):
    assert set(one.load_object(A, "spikes", collection="alf/probe01", attribute=["times", "amps"])) == {"times", "amps"}
    assert set(one.load_object(A, "spike?", collection="*probe01")) == {"times", "amps", "clusters"}
    assert set(one.load_object(A, "spikes", collection="alf", timescale="ephysClock")) == {"times_ephysClock"}
    assert set(one.load_object(A, "spikes", collection="alf", extra="part1.part2")) == {"samples.part1.part2"}
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        one.load_object(A, "spikes", collection="alf/probe01", colour="red")
    one.wildcards = False  # regular expressions, as brainbox passes them
    got = one.load_object(A, "trials", attribute=r"(?!goCueTrigger).*")  # filters files, not table columns
    assert "goCueTrigger_times" not in got and "feedbackType" in got
    assert set(one.load_object(A, "spikes", collection=r".*probe01")) == {"times", "amps", "clusters"}


def test_revisions_last_before_when_loading(one):
    amps = one.load_dataset(A, "spikes.amps", collection="alf/probe00")
    assert amps.min() >= 20  # the latest revision (no default flag)
    assert one.load_dataset(A, "spikes.amps", "alf/probe00", revision="2023-02-15").min() >= 10
    assert one.load_dataset(A, "spikes.amps", "alf/probe00", revision="2000-01-01").max() < 10


def test_load_dataset_forms(one):
    for rel in one.list_datasets(A, collection="alf/probe00*"):  # every listed path loads
        assert one.load_dataset(A, rel) is not None
    assert one.load_dataset(A, "alf/probe00/#2023-02-01#/spikes.amps.npy").min() >= 10
    np.testing.assert_array_equal(one.load_dataset(A, "spikes.samples", collection="alf"), np.arange(3))
    assert one.load_dataset(B, "trials.choice").shape == (3,)  # _ibl_trials.choice.npy
    got = one.load_dataset(A, {"object": "lfp", "attribute": "raw"}, collection="alf")
    assert got.shape == (100,)
    path = one.load_dataset(A, "spikes.times", collection="alf/probe01", download_only=True)
    assert isinstance(path, ALFPath) and path.collection == "alf/probe01" and path.object == "spikes"
    assert path.session_path().name == "001" and path.parse_alf_name()["attribute"] == "times"


def test_load_datasets_and_collection(one):
    with pytest.raises(OneError, match="list of datasets"):
        one.load_datasets(A, "spikes.times")
    data, recs = one.load_datasets(A, ["spikes.times", "nothing.here"], collections="alf/probe01", assert_present=False)
    assert data[0].shape == (10,) and data[1] is None and recs[1] is None
    with pytest.raises(NotFound):
        one.load_datasets(A, ["spikes.times", "nothing.here"], collections="alf/probe01")
    coll = one.load_collection(A, "alf/probe01")
    assert set(coll) == {"spikes"} and set(coll.spikes) == {"times", "amps", "clusters"}
    with pytest.raises(AmbiguousError, match="several collections"):
        one.load_collection(A, "alf/probe0*", object="spikes")
    paths = one.load_collection(A, "alf/probe01", download_only=True)
    assert all(isinstance(p, ALFPath) for p in paths)


def test_session_helpers_and_attributes(one, root):
    assert one.path2eid(root / "nolab/Subjects/x/2020-01-01/001") is None
    assert one.to_eid("not-a-session") is None
    assert one.eid2path("cortexlab/Subjects/NOBODY/2020-01-01/001") is None
    p = one.eid2path(A)
    assert isinstance(p, ALFPath) and p.subject == "KS005" and p == root / A
    assert one.eid2ref(A, as_dict=False) == "2023-01-01_1_KS005"
    assert one.eid2ref(B) == {"subject": "KS023", "date": dt.date(2023, 1, 2), "sequence": 1}
    det = one.get_details(A)
    assert det["subject"] == "KS005" and det["lab"] == "cortexlab"
    assert one.wildcards is True and one.mode == "auto" and one.cache_dir == root and one.offline is False
    assert one.list_subjects() == ["KS005", "KS0050", "KS023"]
    with One(cache_dir=root, home=one.home, silent=True, mode="local", wildcards=False) as o:
        assert o.wildcards is False and o.mode == "local"


def test_unknown_extension_and_empty_file(one):
    video = one.load_dataset(A, "_iblrig_leftCamera.raw.mp4")
    assert isinstance(video, ALFPath) and video.suffix == ".mp4"
    assert one.load_dataset(A, "_ibl_empty.thing.json") is None


_FAKE_ONEAPI = {
    "one/__init__.py": "",
    "one/alf/__init__.py": "",
    "one/alf/exceptions.py": textwrap.dedent(
        """
        class ALFError(Exception):
            def __init__(self, *args, terse=False):
                self.message = args[0] if args else ''
        class ALFObjectNotFound(ALFError): pass
        class ALFMultipleObjectsFound(ALFError): pass
        class ALFMultipleCollectionsFound(ALFError): pass
        """
    ),
}


def test_errors_are_onapi_exceptions_only_when_onapi_is_importable(tmp_path):
    fake = tmp_path / "fake"
    for rel, text in _FAKE_ONEAPI.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    code = textwrap.dedent(
        """
        import sys
        from onecore import one_errors as e
        from onecore.errors import NotFound, AmbiguousError
        with_oneapi = 'one.alf.exceptions' in sys.modules
        assert issubclass(e.ObjectNotFound, NotFound) and issubclass(e.MultipleObjectsFound, AmbiguousError)
        if with_oneapi:
            from one.alf.exceptions import ALFObjectNotFound, ALFMultipleCollectionsFound, ALFMultipleObjectsFound
            try:
                raise e.ObjectNotFound('no object x')
            except ALFObjectNotFound as err:
                assert str(err) == 'no object x'
            assert issubclass(e.MultipleCollectionsFound, ALFMultipleCollectionsFound)
            assert issubclass(e.MultipleObjectsFound, ALFMultipleObjectsFound)
        else:
            assert not any(m == 'one' or m.startswith('one.') for m in sys.modules)
        print('with' if with_oneapi else 'without')
        """
    )
    import os

    for path, expected in ((str(fake), "with"), ("", "without")):
        env = {**os.environ, "PYTHONPATH": path}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected


def test_constructor_takes_onapi_positional_parameters(root, one_home):
    with One(root, "local", False, None, home=one_home) as one:
        assert one.mode == "local" and one.wildcards is False and one.cache_dir == root
