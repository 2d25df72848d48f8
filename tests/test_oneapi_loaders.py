"""ONE-api's file formats through the loader hook (issue 14)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from onecore import One
from onecore.errors import LoaderError
from onecore.testing.ibl_tree import SESSIONS, make_ibl_tree

A = SESSIONS["a"]


@pytest.fixture
def one(tmp_path, one_home):
    make_ibl_tree(tmp_path / "root")
    from onecore.testing.fixtures import build_registry

    # the built-in loaders only (the example plugin, when installed, replaces the .npz one)
    with One(cache_dir=tmp_path / "root", home=one_home, registry=build_registry()) as o:
        yield o


def test_onapi_formats(one):
    import pandas as pd

    assert isinstance(one.load_dataset(A, "_ibl_trials.table.pqt"), pd.DataFrame)
    assert one.load_dataset(A, "task.settings.yaml") == {"protocol": "biased", "n_trials": 5}
    assert one.load_dataset(A, "_iblrig_taskData.raw.jsonable") == [{"trial": 0}, {"trial": 1}]
    ssv = one.load_dataset(A, "probes.description.ssv")
    assert list(ssv.columns) == ["label", "x"] and list(ssv["x"]) == [1, 2]
    htsv = one.load_dataset(A, "channels.labels.htsv")
    assert list(htsv.columns) == ["label", "depth"]
    csv = one.load_dataset(A, "table.values.csv")
    assert isinstance(csv, pd.DataFrame) and list(csv["b"]) == [2, 4]
    np.testing.assert_array_equal(one.load_dataset(A, "probes.single.npz"), np.arange(4))
    multi = one.load_dataset(A, "probes.multi.npz")
    assert set(multi.files) == {"first", "second"}
    multi.close()
    assert one.load_dataset(A, "_ibl_empty.thing.json") is None


def test_csv_without_pandas_is_a_structured_array(one, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    got = one.load_dataset(A, "table.values.csv")
    assert got.dtype.names == ("a", "b")


def test_pqt_without_the_tables_extra_says_what_to_install(one, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(LoaderError, match=r"pip install 'onecore\[tables\]'"):
        one.load_dataset(A, "_ibl_trials.table.pqt")


def test_npy_never_unpickles(tmp_path, one_home):
    s = tmp_path / "r" / "lab/Subjects/s/2020-01-01/001"
    s.mkdir(parents=True)
    np.save(s / "obj.things.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with One(cache_dir=tmp_path / "r", home=one_home) as one:
        with pytest.raises(LoaderError, match="pickle"):
            one.load_dataset("lab/Subjects/s/2020-01-01/001", "obj.things")
