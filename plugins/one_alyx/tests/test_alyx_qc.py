"""Dataset QC on Alyx (issue 14): ``list_datasets(qc=, ignore_qc_not_set=)`` and
``search(dataset_qc_lte=)`` filter where the server's datasets have a QC, and change nothing on
alyx-local, whose datasets have none.

alyx-local has no dataset QC: the filtering tests read the real server's records through a proxy
that adds the one field IBL's Alyx has (``'qc': 'NOT_SET'``... on each dataset record).
"""

from __future__ import annotations

import enum

import pytest
from one_alyx.repository import qc_value
from one_alyx.testing.fault_proxy import FaultProxy

from onecore import ONE
from onecore.errors import OneError

pytestmark = pytest.mark.alyx  # needs the real Alyx server (PostgreSQL + alyx-local)

S1 = "mainlab/Subjects/SWC_001/2021-03-04/001"
S2 = "mainlab/Subjects/SWC_001/2021-03-05/001"
S3 = "mainlab/Subjects/SWC_002/2021-03-05/002"
YEAR = ["2021-01-01", "2021-12-31"]  # the seeded sessions (registration tests add others)


class OneApiQC(enum.IntEnum):  # the shape of ONE-api's one.alf.spec.QC (not imported: duck-typed)
    CRITICAL = 50
    FAIL = 40
    WARNING = 30
    NOT_SET = 0
    PASS = 10


@pytest.fixture
def data_auth(monkeypatch):
    monkeypatch.setenv("ONE_ALYX_DATA_LOGIN", "fileuser")
    from onecore.testing.secrets import DATA_PASSWORD

    monkeypatch.setenv("ONE_ALYX_DATA_PASSWORD", DATA_PASSWORD)


@pytest.fixture
def qc_one(alyx, one_home, data_auth):
    """ONE on the real Alyx, seen through a proxy giving the seeded datasets IBL Alyx's QC field."""
    ids = alyx.seeded["datasets"]
    with FaultProxy(alyx.base_url) as proxy:
        proxy.dataset_qc = {
            ids[f"{S1}/alf/wheel.timestamps.npy"]: "CRITICAL",
            ids[f"{S1}/alf/wheel.position.npy"]: "WARNING",
            ids[f"{S1}/alf/probe00/spikes.times.npy"]: "PASS",
            ids[f"{S2}/alf/wheel.timestamps.npy"]: "FAIL",
            ids[f"{S3}/alf/probe00/spikes.times.npy"]: "WARNING",
        }
        one = ONE(base_url=proxy.url + "/api", username="admin", password="admin")
        try:
            yield one
        finally:
            one.close()


def test_alyx_list_datasets_filters_on_qc(alyx, qc_one):
    s1 = alyx.seeded["eids"]["s1"]
    assert qc_one.repository.has_qc()
    everything = [
        "alf/probe00/#2024-05-06#/spikes.clusters.npy",
        "alf/probe00/spikes.times.npy",
        "alf/probe01/spikes.times.npy",
        "alf/wheel.position.npy",
        "alf/wheel.timestamps.npy",
    ]
    assert qc_one.list_datasets(s1, qc="CRITICAL") == everything
    assert qc_one.list_datasets(s1) == [p for p in everything if p != "alf/wheel.timestamps.npy"]  # qc=FAIL
    assert qc_one.list_datasets(s1, qc="WARNING") == qc_one.list_datasets(s1)
    not_set = ["alf/probe00/#2024-05-06#/spikes.clusters.npy", "alf/probe01/spikes.times.npy"]
    assert qc_one.list_datasets(s1, qc="PASS") == sorted([*not_set, "alf/probe00/spikes.times.npy"])
    assert qc_one.list_datasets(s1, qc="PASS", ignore_qc_not_set=True) == ["alf/probe00/spikes.times.npy"]
    assert qc_one.list_datasets(s1, qc=30, ignore_qc_not_set=True) == [
        "alf/probe00/spikes.times.npy",
        "alf/wheel.position.npy",
    ]
    assert qc_one.list_datasets(s1, qc=OneApiQC.NOT_SET) == not_set
    assert qc_one.list_datasets(s1, qc="warning", collection="alf") == ["alf/wheel.position.npy"]
    df = qc_one.list_datasets(s1, qc="CRITICAL", details=True)
    assert dict(zip(df["rel_path"], df["qc"])) == {
        "alf/probe00/#2024-05-06#/spikes.clusters.npy": "NOT_SET",
        "alf/probe00/spikes.times.npy": "PASS",
        "alf/probe01/spikes.times.npy": "NOT_SET",
        "alf/wheel.position.npy": "WARNING",
        "alf/wheel.timestamps.npy": "CRITICAL",
    }
    with pytest.raises(OneError, match="'BAD' is not a QC level"):
        qc_one.list_datasets(s1, qc="BAD")


def test_alyx_search_dataset_qc_lte(alyx, qc_one):
    e = alyx.seeded["eids"]
    one = qc_one
    assert one.search(dataset="wheel.timestamps", date_range=YEAR) == [e["s2"], e["s1"]]
    assert one.search(dataset="wheel.timestamps", date_range=YEAR, dataset_qc_lte="FAIL") == [e["s2"]]
    assert one.search(dataset="wheel.timestamps", date_range=YEAR, dataset_qc_lte="WARNING") == []
    assert one.search(dataset="wheel.timestamps", date_range=YEAR, dataset_qc_lte=OneApiQC.CRITICAL) == [
        e["s2"],
        e["s1"],
    ]
    # without dataset terms: sessions with any dataset of QC at most that (NOT_SET counts)
    assert one.search(subject="SWC_002", dataset_qc_lte="PASS") == []  # s3's one dataset is WARNING
    assert one.search(subject="SWC_002", dataset_qc_lte="WARNING") == [e["s3"]]
    assert one.search(subject="SWC_001", date_range=YEAR, dataset_qc_lte="PASS") == [e["s2"], e["s1"]]
    # the catalog (filled by the listings above) filters the same way, offline; dataset terms
    # default to FAIL there, as ONE-api's local search
    local = dict(query_type="local", date_range=YEAR)
    assert one.search(dataset="wheel.timestamps", **local) == [e["s2"]]
    assert one.search(dataset="wheel.timestamps", dataset_qc_lte="CRITICAL", **local) == [e["s2"], e["s1"]]
    assert one.search(dataset="wheel.timestamps", dataset_qc_lte="WARNING", **local) == []
    assert one.search(subject="SWC_002", dataset_qc_lte="PASS", **local) == []
    assert one.search(subject="SWC_002", dataset_qc_lte="WARNING", **local) == [e["s3"]]


def test_alyx_local_has_no_dataset_qc_and_the_filters_change_nothing(alyx, one_home, data_auth):
    e = alyx.seeded["eids"]
    one = ONE(base_url=alyx.base_url, username="admin", password="admin")
    try:
        assert not one.repository.has_qc()
        everything = one.list_datasets(e["s1"])
        assert len(everything) == 5
        assert one.list_datasets(e["s1"], qc="PASS", ignore_qc_not_set=True) == everything
        assert list(one.list_datasets(e["s1"], details=True)["qc"].isna()) == [True] * 5
        found = one.search(subject="SWC_001", date_range=YEAR)
        assert one.search(subject="SWC_001", date_range=YEAR, dataset_qc_lte="PASS") == found == [e["s2"], e["s1"]]
    finally:
        one.close()


def test_alyx_qc_field_values():
    assert [qc_value(v) for v in ("NOT_SET", "pass", "CRITICAL", 30, "40", None, "", "odd", 7, True)] == [
        0,
        10,
        50,
        30,
        40,
        None,
        None,
        None,
        None,
        None,
    ]
