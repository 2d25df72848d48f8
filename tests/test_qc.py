"""Dataset QC (issue 14): ONE-api's levels, the catalog's qc column, ``list_datasets(qc=,
ignore_qc_not_set=)`` and ``search(dataset_qc_lte=)`` semantics, and no-ops where QC is unknown."""

from __future__ import annotations

import enum
import sqlite3

import pytest

from onecore import One
from onecore.catalog import SCHEMA_VERSION, Catalog
from onecore.errors import OneError
from onecore.qc import QC, qc_keep, qc_name, qc_value
from onecore.repository import Dataset
from onecore.testing.ibl_tree import SESSIONS, make_ibl_tree

S1 = "lab/Subjects/sub/2021-01-01/001"
S2 = "lab/Subjects/sub/2021-01-02/001"
S3 = "lab/Subjects/sub/2021-01-03/001"
ROWS = [
    Dataset(f"{S1}/alf/wheel.position.npy", qc=int(QC.CRITICAL)),
    Dataset(f"{S1}/alf/trials.table.pqt", qc=int(QC.PASS)),
    Dataset(f"{S2}/alf/wheel.position.npy", qc=int(QC.WARNING)),
    Dataset(f"{S2}/alf/trials.table.pqt", qc=int(QC.NOT_SET)),
    Dataset(f"{S3}/alf/wheel.position.npy"),  # QC unknown: always kept
    Dataset(f"{S3}/alf/spikes.times.npy", qc=int(QC.FAIL)),
]


class OneApiQC(enum.IntEnum):  # the shape of ONE-api's one.alf.spec.QC (duck-typed, not imported)
    CRITICAL = 50
    FAIL = 40
    WARNING = 30
    NOT_SET = 0
    PASS = 10


def test_levels_are_onapis():
    assert {q.name: q.value for q in QC} == {"CRITICAL": 50, "FAIL": 40, "WARNING": 30, "NOT_SET": 0, "PASS": 10}
    for given in ("WARNING", "warning", 30, "30", QC.WARNING, OneApiQC.WARNING):
        assert QC.validate(given) is QC.WARNING
    for bad in ("BAD", 31, None, True, 3.5, ""):
        with pytest.raises(OneError, match="is not a QC level"):
            QC.validate(bad)
    assert [qc_value(v) for v in ("NOT_SET", 50, None, "odd")] == [0, 50, None, None]
    assert qc_name(30) == "WARNING" and qc_name(None) is None and qc_name(7) is None
    assert qc_keep(None, 0, True) and qc_keep(0, 10) and not qc_keep(0, 10, True) and not qc_keep(30, 10)


@pytest.fixture
def cat(tmp_path):
    c = Catalog(tmp_path / "c.sqlite")
    c.rebuild(ROWS)
    yield c
    c.close()


def _dates(cat: Catalog, eids: list[str]) -> list[str]:
    return [cat.session(e)["date"][-2:] for e in eids]


def test_catalog_stores_qc_and_search_filters(cat):
    eid = cat.search(["trials"], date_range=("2021-01-01", "2021-01-01"))[0]
    assert {r.filename: r.qc for r in cat.datasets(eid)} == {"wheel.position.npy": 50, "trials.table.pqt": 10}
    assert {r.filename: r.as_dict()["qc"] for r in cat.datasets(eid)} == {
        "wheel.position.npy": "CRITICAL",
        "trials.table.pqt": "PASS",
    }
    assert _dates(cat, cat.search(["wheel"])) == ["03", "02", "01"]
    # a dataset term needs a matching dataset of QC at most the level (unknown QC qualifies)
    assert _dates(cat, cat.search(["wheel"], dataset_qc_lte=40)) == ["03", "02"]
    assert _dates(cat, cat.search(["wheel"], dataset_qc_lte=10)) == ["03"]
    assert _dates(cat, cat.search(["wheel", "trials"], dataset_qc_lte=30)) == ["02"]
    assert _dates(cat, cat.search(["spikes"], dataset_qc_lte=30)) == []
    # without terms: any dataset of QC at most the level
    assert _dates(cat, cat.search(dataset_qc_lte=0)) == ["03", "02"]
    assert _dates(cat, cat.search(dataset_qc_lte=10)) == ["03", "02", "01"]
    all_qc = {d.rel_path.split("/", 3)[-1]: d.qc for d in cat.all_datasets()}
    assert all_qc["2021-01-03/001/alf/spikes.times.npy"] == 40


def test_catalog_without_qc_ignores_the_filter(tmp_path):
    cat = Catalog(tmp_path / "n.sqlite")
    try:
        cat.rebuild([Dataset(d.rel_path) for d in ROWS])
        assert cat.get_meta("qc") is False
        everything = cat.search(["wheel"])
        assert len(everything) == 3 and cat.search(["wheel"], dataset_qc_lte=0) == everything
        assert len(cat.search(dataset_qc_lte=0)) == 3
        cat.upsert(rows=[Dataset(f"{S1}/alf/wheel.position.npy", qc=50)])  # an Alyx listing with QC
        assert len(cat.search(["wheel"], dataset_qc_lte=40)) == 2
    finally:
        cat.close()


def test_an_old_catalog_is_replaced(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('schema', '\"3\"');"
    )
    db.close()
    assert int(SCHEMA_VERSION) > 3  # catalogs without the qc column are rebuilt
    cat = Catalog(path)
    try:
        assert cat.count() == (0, 0) and cat.get_meta("schema") == SCHEMA_VERSION
        cat.rebuild(ROWS)
        assert "qc" in [r[1] for r in cat._q("PRAGMA table_info(datasets)")]
    finally:
        cat.close()


@pytest.fixture
def one(tmp_path, one_home):
    make_ibl_tree(tmp_path / "root")
    with One(cache_dir=tmp_path / "root", home=one_home) as o:
        yield o


A = SESSIONS["a"]


def test_local_accepts_the_qc_parameters_and_they_change_nothing(one):
    assert not one.repository.has_qc()
    every = one.list_datasets(A)
    for kw in (dict(qc="PASS"), dict(qc=0, ignore_qc_not_set=True), dict(qc=OneApiQC.NOT_SET), dict(qc=QC.CRITICAL)):
        assert one.list_datasets(A, **kw) == every
    assert one.list_datasets(None, qc="PASS", ignore_qc_not_set=True) == one.list_datasets()
    df = one.list_datasets(A, "lfp.*", details=True, qc="PASS", ignore_qc_not_set=True)
    assert list(df["rel_path"]) == ["alf/lfp.raw.npy", "alf/lfp.timestamps.npy"] and df["qc"].isna().all()
    for terms in ({}, {"dataset": "lfp.raw.npy"}, {"dataset": ["spikes", "wheel"], "subject": "KS"}):
        assert one.search(**terms, dataset_qc_lte="PASS") == one.search(**terms) != []
    assert one.search(dataset_qc_lte=OneApiQC.NOT_SET) == one.search()
    with pytest.raises(OneError, match="'nope' is not a QC level"):
        one.list_datasets(A, qc="nope")
    with pytest.raises(OneError, match="is not a QC level"):
        one.search(dataset_qc_lte=99)


def test_list_and_search_filter_where_qc_is_known(one):
    """A repository that knows QC fills the catalog with it (as the Alyx type's listings do)."""
    wheel = f"{A}/alf/wheel.position.npy"
    times = f"{A}/alf/wheel.timestamps.npy"
    lfp = f"{A}/alf/lfp.raw.npy"
    one.catalog.upsert(rows=[Dataset(wheel, qc=50), Dataset(times, qc=30), Dataset(lfp, qc=0)])
    every = one.list_datasets(A, qc="CRITICAL")
    assert "alf/wheel.position.npy" in every
    assert one.list_datasets(A) == [p for p in every if p != "alf/wheel.position.npy"]  # ONE-api's qc=FAIL
    assert one.list_datasets(A, "wheel.*", qc="WARNING") == ["alf/wheel.timestamps.npy"]
    assert one.list_datasets(A, "wheel.*", qc="PASS") == []
    assert "alf/lfp.raw.npy" in one.list_datasets(A, qc="PASS")  # NOT_SET passes any level...
    assert "alf/lfp.raw.npy" not in one.list_datasets(A, qc="PASS", ignore_qc_not_set=True)  # ...unless ignored
    assert "alf/licks.times.npy" in one.list_datasets(A, qc="PASS", ignore_qc_not_set=True)  # unknown: kept
    df = one.list_datasets(A, "wheel.*", details=True, qc=QC.CRITICAL)
    assert dict(zip(df["rel_path"], df["qc"])) == {
        "alf/wheel.position.npy": "CRITICAL",
        "alf/wheel.timestamps.npy": "WARNING",
    }
    assert wheel not in one.list_datasets(None) and wheel in one.list_datasets(None, qc="CRITICAL")
    eid = one.search(dataset="wheel.position.npy", dataset_qc_lte="CRITICAL")
    assert eid == [one.to_eid(A)]
    assert one.search(dataset="wheel.position.npy") == []  # ONE-api: dataset terms default to FAIL
    assert one.search(dataset="wheel.timestamps.npy", dataset_qc_lte="WARNING") == eid
    assert one.search(dataset="wheel.timestamps.npy", dataset_qc_lte="PASS") == []
    assert one.search(dataset=["wheel.timestamps.npy", "lfp.raw.npy"], dataset_qc_lte="WARNING") == eid


def test_loading_skips_critical_datasets_where_qc_is_known(one):
    """ONE-api's load_* filter at FAIL: a CRITICAL dataset is not loaded, an object is assembled from
    its other attributes, and downloads and `one list` leave it out; unknown QC loads as before."""
    from onecore.errors import NotFound

    raw = f"{A}/alf/lfp.raw.npy"
    assert one.load_dataset(A, "lfp.raw.npy") is not None
    assert {"raw", "timestamps"} <= set(one.load_object(A, "lfp"))
    one.catalog.upsert(rows=[Dataset(raw, qc=int(QC.CRITICAL)), Dataset(f"{A}/alf/lfp.timestamps.npy", qc=30)])
    with pytest.raises(NotFound):
        one.load_dataset(A, "lfp.raw.npy")
    lfp = one.load_object(A, "lfp")
    assert "raw" not in lfp and "timestamps" in lfp  # a WARNING attribute still loads
    data, _ = one.load_datasets(A, ["lfp.raw.npy", "lfp.timestamps.npy"], assert_present=False)
    assert data[0] is None and data[1] is not None
    assert "raw" not in one.load_collection(A, "alf")["lfp"]
    assert "alf/lfp.raw.npy" not in [str(r.rel_path) for r in one.download(A, dry_run=True)]
    assert "alf/lfp.raw.npy" in one.list_datasets(A, qc="CRITICAL")  # still listed when asked for
