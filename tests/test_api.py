"""The ONE API on the local repository: search filters, listing, revisions, loading, errors."""

from __future__ import annotations

import numpy as np
import pytest

from onecore import ONE, One
from onecore.errors import AmbiguousError, ConfigError, NotFound, OneError

S1 = "nicklab/Subjects/NICK_001/2021-01-04/001"  # the session with probe01, a revision, a namespace


@pytest.fixture
def one(data_root):
    o = One(cache_dir=data_root)
    yield o
    o.close()


def test_search_all_sessions_newest_first(one):
    eids = one.search()
    assert len(eids) == 8
    dates = [one.catalog.session(e)["date"] for e in eids]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"dataset": "spikes"}, 8),
        ({"dataset": "spikes.times"}, 8),
        ({"dataset": "spikes.times.npy"}, 8),
        ({"datasets": ["probe00", "probe01"]}, 1),
        ({"data": ["probe00", "probe01"]}, 1),
        ({"dataset": "probe01"}, 1),
        ({"dataset": "_ibl_wheel.position"}, 1),
        ({"dataset": "*.json"}, 1),
        ({"dataset": "alf/probe01/*"}, 1),
        ({"dataset": "nothing.here"}, 0),
        ({"dataset": ["spikes.times", "nothing"]}, 0),
        ({"lab": "haisslab"}, 4),
        ({"lab": ["haisslab", "nicklab"]}, 8),
        ({"subject": "NICK_001"}, 2),
        ({"subj": "NICK_*"}, 4),
        ({"date_range": "2021-01-04"}, 2),
        ({"date_range": ["2021-01-10"]}, 4),
        ({"date": ["2021-01-04", "2021-01-05"]}, 4),
        ({"date_range": [None, "2021-01-04"]}, 2),
        ({"number": 2}, 4),
        ({"number": "002"}, 4),
        ({"collection": "alf/probe01"}, 1),
        ({"revision": "2021-06-01"}, 1),
        ({"namespace": "ibl"}, 1),
        ({"dataset": "spikes.times", "collection": "alf/probe01"}, 1),
        ({"dataset": "wheel", "subject": "HAIS_002", "number": 1}, 1),
    ],
)
def test_search_filters(one, kwargs, expected):
    assert len(one.search(**kwargs)) == expected


def test_search_terms_and_errors(one):
    assert one.search_terms() == [  # issue 14: ONE-api's names too (laboratory, projects, ...)
        "dataset",
        "datasets",
        "lab",
        "laboratory",
        "subject",
        "date_range",
        "number",
        "collection",
        "revision",
        "namespace",
        "projects",
        "task_protocol",
        "dataset_qc_lte",
    ]
    with pytest.raises(OneError, match="unknown search term 'colour'.*valid terms: dataset"):
        one.search(colour="red")
    with pytest.raises(OneError, match="ambiguous search term 'd'"):
        one.search(d="x")
    with pytest.raises(OneError, match="not a date"):
        one.search(date_range="yesterday")
    with pytest.raises(OneError, match="start .* is after the end"):
        one.search(date_range=["2021-02-01", "2021-01-01"])
    with pytest.raises(OneError, match="given twice"):
        one.search(dataset="a", datasets=["b"])


def test_search_details(one):
    [eid], [rec] = one.search(details=True, data="probe01")  # issue 14: ONE-api's (eids, details)
    assert eid == S1
    assert rec["eid"] == S1 and rec["subject"] == "NICK_001" and rec["number"] == 1 and rec["lab"] == "nicklab"


def test_list_datasets_default_revision_and_filters(one):
    ds = one.list_datasets(S1, default_revisions_only=True)  # issue 14: ONE-api lists every revision
    assert "alf/#2021-06-01#/spikes.times.npy" in ds and "alf/spikes.times.npy" not in ds
    assert "alf/probe01/spikes.times.npy" in ds
    old = one.list_datasets(S1, collection="alf", revision="")  # issue 14: '' = no revision
    assert "alf/spikes.times.npy" in old and not any("#" in d for d in old)
    assert one.list_datasets(S1, collection="alf/probe0*") == [
        "alf/probe00/spikes.clusters.npy",
        "alf/probe00/spikes.times.npy",
        "alf/probe01/spikes.clusters.npy",
        "alf/probe01/spikes.times.npy",
    ]
    assert one.list_datasets(S1, filename="*.json") == ["alf/session.meta.json"]
    det = one.list_datasets(S1, collection="alf", filename="wheel.position.npy", details=True)
    row = det.iloc[0]  # issue 14: a pandas DataFrame when pandas is installed
    assert row["object"] == "wheel" and row["full_path"] == f"{S1}/alf/wheel.position.npy"
    assert one.list_collections(S1) == ["alf", "alf/probe00", "alf/probe01"]
    assert one.list_revisions(S1) == ["", "2021-06-01"]  # issue 14: '' listed, as ONE-api
    assert one.list_subjects() == ["HAIS_001", "HAIS_002", "NICK_001", "NICK_002"]
    assert len(one.list_datasets()) == len(one.list_datasets()) > 80
    assert one.list(S1) == one.list_datasets(S1)  # ONE light's name


def test_default_revision_flag_wins_over_latest(one):
    from onecore.repository import Dataset

    rows = [
        Dataset(f"{S1}/alf/#2021-06-01#/spikes.times.npy", default=False),
        Dataset(f"{S1}/alf/spikes.times.npy", default=True),
    ]
    one.catalog.upsert(rows=rows)
    assert "alf/spikes.times.npy" in one.list_datasets(S1, collection="alf", default_revisions_only=True)


def test_load_object(one, data_root):
    spikes = one.load_object(S1, "spikes", collection="alf/probe00")
    assert sorted(spikes) == ["clusters", "times"]
    raw = np.load(data_root / S1 / "alf/probe00/spikes.times.npy")
    np.testing.assert_array_equal(spikes.times, raw)
    # issue 14: ONE-api's namespace rule (an object gathers every namespace; a clash asks for namespace=)
    with pytest.raises(AmbiguousError, match="several namespaces.*namespace="):
        one.load_object(S1, "wheel", collection="alf")
    wheel = one.load_object(S1, "wheel", collection="alf", namespace="")
    assert sorted(wheel) == ["position", "timestamps"]
    assert list(one.load_object(S1, "wheel", collection="alf", namespace="ibl")) == ["position"]
    ns = one.load_object(S1, "_ibl_wheel", collection="alf")
    assert list(ns) == ["position"]
    only = one.load_object(S1, "spikes", collection="alf", attribute="times")
    assert list(only) == ["times"]
    paths = one.load_object(S1, "spikes", collection="alf", download_only=True)
    assert all(p.exists() for p in paths)
    assert [p.parent.name for p in paths if p.name == "spikes.times.npy"] == ["#2021-06-01#"]
    mm = one.load_object(S1, "spikes", collection="alf/probe00", mmap=True)
    assert isinstance(mm.times, np.memmap)


def test_load_object_keys_carry_timescale_and_extra(tmp_path):
    root = tmp_path / "r"
    d = root / "lab/Subjects/s/2020-01-01/001/alf"
    d.mkdir(parents=True)
    for name in ("trials.goCue_times_bpod.npy", "trials.intervals.part1.npy", "trials.choice.npy"):
        np.save(d / name, np.arange(3))
    one = One(cache_dir=root)
    t = one.load_object("lab/Subjects/s/2020-01-01/001", "trials")
    assert sorted(t) == ["choice", "goCue_times_bpod", "intervals.part1"]


def test_load_object_errors_name_what_exists(one):
    with pytest.raises(AmbiguousError, match="several collections.*'alf', 'alf/probe00', 'alf/probe01'.*collection="):
        one.load_object(S1, "spikes")
    with pytest.raises(NotFound, match="no object 'spoke'.*objects there: clusters, session, spikes, trials, wheel"):
        one.load_object(S1, "spoke")
    with pytest.raises(NotFound, match="no session"):
        one.load_object("nicklab/Subjects/NOPE/2021-01-04/001", "spikes")


def test_load_dataset_forms(one, data_root):
    a = one.load_dataset(S1, "wheel.timestamps", collection="alf")
    b = one.load_dataset(S1, "wheel.timestamps.npy", collection="alf")
    c = one.load_dataset(S1, "alf/wheel.timestamps.npy")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    p = one.load_dataset(S1, "wheel.timestamps", collection="alf", download_only=True)
    assert p == data_root / S1 / "alf/wheel.timestamps.npy"
    assert one.load_dataset(S1, "session.meta.json") == {"rig": "rig1", "task": "passive"}
    table = one.load_dataset(S1, "trials.table", collection="alf")
    assert list(table.columns) == ["trial", "stim_on", "response"]  # issue 14: a DataFrame with pandas
    with pytest.raises(AmbiguousError, match="several datasets"):
        one.load_dataset(S1, "spikes.times")
    with pytest.raises(NotFound, match="no dataset 'spikes.depths'.*datasets there"):
        one.load_dataset(S1, "spikes.depths", collection="alf")


def test_load_datasets_and_collection(one):
    data, recs = one.load_datasets(S1, ["spikes.times", "spikes.clusters"], collections="alf/probe01")
    assert len(data) == 2 and recs[0]["collection"] == "alf/probe01"
    paths, _ = one.load_datasets(S1, ["wheel.position"], collections=["alf"], download_only=True)
    assert paths[0].name == "wheel.position.npy"
    coll = one.load_collection(S1, "alf/probe00")
    assert sorted(coll) == ["spikes"] and sorted(coll.spikes) == ["clusters", "times"]
    with pytest.raises(NotFound, match="collections: alf, alf/probe00"):
        one.load_collection(S1, "raw_video_data")
    with pytest.raises(OneError, match="as long as datasets"):
        one.load_datasets(S1, ["a.b", "c.d"], collections=["alf"])


def test_eid_forms(one, data_root):
    assert one.to_eid(S1) == S1
    assert one.path2eid(data_root / S1 / "alf/spikes.amps.npy") == S1
    assert one.eid2path(S1) == data_root / S1
    assert one.to_eid("NICK_001/2021-01-04/001") == S1
    assert one.to_eid("garbage") is None  # issue 14: ONE-api's contract (was NotFound)


def test_unknown_extension_returns_the_local_path(tmp_path):  # issue 14: ONE-api returns the path
    root = tmp_path / "r"
    f = root / "lab/Subjects/s/2020-01-01/001/alf/video.raw.mp4"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"\x00")
    one = One(cache_dir=root)
    assert one.load_dataset("lab/Subjects/s/2020-01-01/001", "video.raw") == f
    assert one.load_dataset("lab/Subjects/s/2020-01-01/001", "video.raw", download_only=True) == f


def test_catalog_refreshes_only_when_the_root_changes(data_root):
    one = One(cache_dir=data_root)
    built = one.catalog.get_meta("built")
    one2 = One(cache_dir=data_root)
    assert one2.catalog.get_meta("built") == built
    new = data_root / "nicklab/Subjects/NICK_009/2022-02-02/001/alf/spikes.times.npy"
    new.parent.mkdir(parents=True)
    np.save(new, np.arange(3))
    one3 = One(cache_dir=data_root)
    assert one3.search(subject="NICK_009") == ["nicklab/Subjects/NICK_009/2022-02-02/001"]
    local = One(cache_dir=data_root, mode="local")
    assert local.search(subject="NICK_009")
    with pytest.raises(OneError, match="unknown mode"):
        One(cache_dir=data_root, mode="sideways")


def test_configured_repositories(data_root, isolated_home, monkeypatch):
    from onecore.config import Config, RepoConfig

    with pytest.raises(ConfigError, match="no repository is configured"):
        ONE()
    c = Config.load()
    c.add(RepoConfig("mylab", "local", {"root_dir": str(data_root)}))
    c.save()
    assert len(ONE().search()) == 8
    assert len(ONE(repo="mylab").search()) == 8
    with pytest.raises(ConfigError, match="unknown repository 'other'"):
        ONE(repo="other")
    c.add(RepoConfig("fs", "figshare", {"article": "1"}))
    c.save()
    monkeypatch.setenv("ONE_PLUGINS", "none")
    from onecore.plugins import set_registry

    set_registry(None)
    with pytest.raises(ConfigError, match="type 'figshare'; install it with: pip install onelight-figshare"):
        ONE(repo="fs")


def test_base_url_without_alyx_plugin_says_so(monkeypatch):
    monkeypatch.setenv("ONE_PLUGINS", "none")
    with pytest.raises(ConfigError, match="Alyx.*pip install one-alyx"):
        ONE(base_url="http://127.0.0.1:9")


def test_upload_local_to_local_is_incremental(data_root, tmp_path):
    from onecore.builtins.local import LocalRepository
    from onecore.scan import scan

    target = LocalRepository("mirror", {"root_dir": str(tmp_path / "mirror")}, home=tmp_path / "h")
    paths = list(scan(data_root))
    rep = target.upload(data_root, paths)
    assert len(rep.downloaded) == len(paths) and not rep.failed
    assert (tmp_path / "mirror/.one_root").read_text().count("\n") == len(paths)
    rep2 = target.upload(data_root, paths)
    assert rep2.downloaded == [] and len(rep2.skipped) == len(paths)
    f = data_root / paths[0]
    f.write_bytes(b"changed")
    rep3 = target.upload(data_root, paths)
    assert rep3.downloaded == [paths[0]]
    assert (tmp_path / "mirror" / paths[0]).read_bytes() == b"changed"


def _upload_worker(args):  # noqa: ANN001 - run in a separate process
    import os

    src, mirror, home = args
    os.environ["ONE_HOME"] = home
    from pathlib import Path

    from onecore.builtins.local import LocalRepository
    from onecore.scan import scan

    repo = LocalRepository("mirror", {"root_dir": mirror}, home=Path(home))
    rep = repo.upload(Path(src), list(scan(src)), jobs=4)
    return len(rep.failed)


def test_two_processes_uploading_the_same_root(data_root, tmp_path):
    import multiprocessing

    from onecore.index import read_index_file
    from onecore.scan import scan

    big = data_root / "nicklab/Subjects/NICK_001/2021-01-04/001/alf/spikes.big.npy"
    np.save(big, np.arange(3_000_000))
    mirror = tmp_path / "mirror"
    args = (str(data_root), str(mirror), str(tmp_path / "home"))
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(_upload_worker, [args, args]) == [0, 0]
    for rel in scan(data_root):
        assert (mirror / rel).read_bytes() == (data_root / rel).read_bytes()
    rows = {r.rel_path for r in read_index_file(mirror / ".one_root")}
    assert rows == set(scan(data_root))
    assert not list(mirror.rglob("*.part"))
