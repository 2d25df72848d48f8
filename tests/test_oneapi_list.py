"""ONE-api's list_* signatures and revision rules (issue 14)."""

from __future__ import annotations

import sys

import pytest

from onecore import One
from onecore.testing.ibl_tree import SESSIONS, make_ibl_tree

A, B = SESSIONS["a"], SESSIONS["b"]


@pytest.fixture
def one(tmp_path, one_home):
    make_ibl_tree(tmp_path / "root")
    with One(cache_dir=tmp_path / "root", home=one_home) as o:
        yield o


def test_filename_is_the_second_positional_parameter_and_takes_wildcards(one):
    assert one.list_datasets(A, "*spikes.times*", "alf/probe00") == ["alf/probe00/spikes.times.npy"]
    assert one.list_datasets(A, ["licks.*", "lfp.raw.npy"]) == ["alf/lfp.raw.npy", "alf/licks.times.npy"]
    assert one.list_datasets(A, "spikes.times") == []  # exact as ONE-api: no extension, no match
    got = one.list_datasets(A, {"object": "spikes", "attribute": ["times", "clusters"]}, collection="alf/probe01")
    assert got == ["alf/probe01/spikes.clusters.npy", "alf/probe01/spikes.times.npy"]
    assert one.list_datasets(A, collection="alf/probe0?/pykilosort") == [
        "alf/probe00/pykilosort/#2024-01-01#/spikes.depths.npy",
        "alf/probe00/pykilosort/spikes.amps.npy",
        "alf/probe00/pykilosort/spikes.times.npy",
    ]
    assert one.list_datasets(A, collection="") == ["session.notes.json"]


def test_listing_shows_every_revision_unless_default_revisions_only(one):
    amps = one.list_datasets(A, "spikes.amps.npy", collection="alf/probe00")
    assert amps == [
        "alf/probe00/#2023-02-01#/spikes.amps.npy",
        "alf/probe00/#2023-03-01#/spikes.amps.npy",
        "alf/probe00/spikes.amps.npy",
    ]
    assert one.list_datasets(A, "spikes.amps.npy", "alf/probe00", default_revisions_only=True) == [
        "alf/probe00/#2023-03-01#/spikes.amps.npy"
    ]
    assert one.list_datasets(A, revision="2023-02-01") == ["alf/probe00/#2023-02-01#/spikes.amps.npy"]
    assert one.list_datasets(A, revision="2023-0*") == [
        "alf/probe00/#2023-02-01#/spikes.amps.npy",
        "alf/probe00/#2023-03-01#/spikes.amps.npy",
    ]
    # a dataset that exists only outside the default revision is listed
    assert "alf/probe00/pykilosort/#2024-01-01#/spikes.depths.npy" in one.list_datasets(A)


def test_collections_and_revisions_with_filters(one):
    assert one.list_revisions(A) == ["", "2023-02-01", "2023-03-01", "2024-01-01"]
    assert one.list_revisions(A, collection="alf/probe00/pykilosort") == ["", "2024-01-01"]
    assert one.list_revisions(A, filename="spikes.depths.npy") == ["2024-01-01"]
    assert one.list_revisions(B) == [""]
    colls = one.list_collections(A)
    assert colls[0] == "" and "alf/probe00/pykilosort" in colls and "raw_video_data" in colls
    assert one.list_collections(A, filename="*wheel*") == ["alf"]
    assert one.list_collections(A, collection="*probe*") == ["alf/probe00", "alf/probe00/pykilosort", "alf/probe01"]
    assert one.list_collections(A, revision="2024-01-01") == ["alf/probe00/pykilosort"]
    det = one.list_collections(A, filename="*wheel*", details=True)
    assert list(det) == ["alf"] and len(det["alf"]) == 4  # wheel and wheelMoves


def test_onapi_only_parameters_are_accepted(one):
    kw = dict(qc="PASS", ignore_qc_not_set=False, query_type="local", keep_eid_index=False)
    assert one.list_datasets(A, "lfp.raw.npy", **kw) == ["alf/lfp.raw.npy"]
    assert one.list_collections(A, query_type="local") == one.list_collections(A)
    assert one.list_revisions(A, details=False, query_type="remote") == one.list_revisions(A)


def test_details_is_a_dataframe_with_onapi_columns(one):
    df = one.list_datasets(A, "lfp.*", details=True)
    assert list(df.columns[:6]) == ["rel_path", "file_size", "hash", "exists", "default_revision", "qc"]
    assert list(df["rel_path"]) == ["alf/lfp.raw.npy", "alf/lfp.timestamps.npy"] and df.index.name == "id"
    both = one.list_datasets(A, "lfp.*", details=True, keep_eid_index=True)
    assert both.index.names == ["eid", "id"] and set(both.index.get_level_values("eid")) == {A}


def test_details_without_pandas_is_a_list_of_dicts(one, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    recs = one.list_datasets(A, "lfp.raw.npy", details=True)
    assert isinstance(recs, list) and recs[0]["rel_path"] == "alf/lfp.raw.npy" and recs[0]["exists"] is True
