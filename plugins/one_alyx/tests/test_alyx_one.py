"""ONE on a real Alyx: ``ONE(base_url=...)``, searching, listing, loading, offline use, ``one upload``."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from one_alyx.client import server_key, token_path
from one_alyx.testing import seed_alyx
from one_alyx.testing.fault_proxy import FaultProxy

from onecore import ONE
from onecore.cli import cli
from onecore.config import Config
from onecore.errors import OneError
from onecore.repository import md5_file
from onecore.testing.secrets import DATA_PASSWORD

S1_PATH = "mainlab/Subjects/SWC_001/2021-03-04/001"

pytestmark = pytest.mark.alyx  # needs the real Alyx server (PostgreSQL + alyx-local)


@pytest.fixture
def data_auth(monkeypatch):
    monkeypatch.setenv("ONE_ALYX_DATA_LOGIN", "fileuser")
    monkeypatch.setenv("ONE_ALYX_DATA_PASSWORD", DATA_PASSWORD)


@pytest.fixture
def one(alyx, one_home, data_auth):
    o = ONE(base_url=alyx.base_url, username="admin", password="admin")
    yield o
    o.close()


def test_alyx_one_first_connection_then_reconnect(alyx, one_home, data_auth):
    one = ONE(base_url=alyx.base_url, username="admin", password="admin")
    name = server_key(alyx.base_url)
    assert one.repository.name == name and one.repository.type == "alyx"
    one.close()
    config = Config.load(one_home)
    assert config.current == name
    assert "password" not in config.get(name).settings
    assert "admin" not in config.path.read_text().replace("username: admin", "")
    tok = token_path(one_home, alyx.base_url)
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600
    one = ONE()  # no arguments: the saved server and token
    try:
        assert one.repository.name == name
        assert one.search(subject="KS_005") == [alyx.seeded["eids"]["s4"]]
    finally:
        one.close()


def test_alyx_one_search(alyx, one):
    e = alyx.seeded["eids"]
    terms = one.search_terms()
    assert {"dataset", "subject", "lab", "date_range", "number", "projects", "task_protocol", "django"} <= set(terms)
    assert one.search(subject="SWC_001") == [e["s2"], e["s1"]]
    assert one.search(lab="otherlab") == [e["s4"]]
    assert one.search(subj="SWC_0") == []  # subject names are exact
    assert one.search(date_range="2021-03-04") == [e["s1"]]
    assert one.search(date_range=["2021-03-05"], subject=["SWC_001", "SWC_002"]) == [e["s3"], e["s2"]]
    assert one.search(date_range=["2020-01-01", "2021-03-04"]) == [e["s1"], e["s4"]]
    assert one.search(number=2) == [e["s3"]]
    # (registration tests add sessions in 2022: the date ranges keep to the seeded ones)
    assert one.search(dataset="wheel.timestamps", date_range=["2021-01-01", "2021-12-31"]) == [e["s2"], e["s1"]]
    assert one.search(data=["probe00", "probe01"], project="brainwide") == [e["s1"]]  # the seed's example
    assert one.search(datasets=["probe00", "spikes.times"], date=[None, "2021-12-31"]) == [e["s3"], e["s1"]]
    assert one.search(django="subject__nickname,SWC_002") == [e["s3"]]
    _, recs = one.search(subject="KS_005", details=True)  # issue 14: ONE-api's (eids, details)
    assert recs[0]["lab"] == "otherlab" and recs[0]["subject"] == "KS_005"
    with pytest.raises(OneError, match="unknown search term 'colour'"):
        one.search(colour="red")


def test_alyx_one_list(alyx, one):
    s1 = alyx.seeded["eids"]["s1"]
    assert sorted(one.list_datasets(s1)) == sorted(
        [
            "alf/wheel.timestamps.npy",
            "alf/wheel.position.npy",
            "alf/probe00/spikes.times.npy",
            "alf/probe01/spikes.times.npy",
            "alf/probe00/#2024-05-06#/spikes.clusters.npy",
        ]
    )
    assert one.list_collections(s1) == ["alf", "alf/probe00", "alf/probe01"]
    assert one.list_revisions(s1) == ["", "2024-05-06"]  # issue 14: '' where datasets have none
    details = one.list_datasets(s1, collection="alf/probe00", details=True)
    if hasattr(details, "to_dict"):  # issue 14: a pandas DataFrame when pandas is installed
        details = details.to_dict("records")
    clusters = next(d for d in details if d["object"] == "clusters" or d["rel_path"].endswith("clusters.npy"))
    assert clusters["default_revision"] is True and clusters["revision"] == "2024-05-06"


def _expected(alyx, rel: str) -> np.ndarray:
    import io

    return np.load(io.BytesIO(alyx.seeded["files"][rel]))


def test_alyx_one_load(alyx, one):
    s1 = alyx.seeded["eids"]["s1"]
    wheel = one.load_object(s1, "wheel", collection="alf")
    assert set(wheel) == {"timestamps", "position"}
    np.testing.assert_array_equal(wheel.timestamps, _expected(alyx, f"{S1_PATH}/alf/wheel.timestamps.npy"))
    ts = one.load_dataset(s1, "wheel.timestamps.npy", collection="alf")
    np.testing.assert_array_equal(ts, wheel.timestamps)
    ts2 = one.load_dataset(s1, "wheel.timestamps", collection="alf")  # without extension
    np.testing.assert_array_equal(ts2, ts)
    rel = f"{S1_PATH}/alf/probe00/#2024-05-06#/spikes.clusters.npy"
    path = one.load_dataset(s1, "spikes.clusters", collection="alf/probe00", download_only=True)
    path = Path(path)
    assert path == one.repository.data_dir / rel  # stored without the dataset UUID
    assert path.read_bytes() == alyx.seeded["files"][rel]
    listed = one.list_datasets(s1, collection="alf/probe00", details=True)
    listed = listed.to_dict("records") if hasattr(listed, "to_dict") else listed  # issue 14: a DataFrame
    [rec] = [d for d in listed if d["full_path"] == rel]
    assert md5_file(path) == rec["md5"] and path.stat().st_size == rec["size"]
    probes = one.load_collection(s1, "alf/probe01")
    np.testing.assert_array_equal(probes["spikes"]["times"], _expected(alyx, f"{S1_PATH}/alf/probe01/spikes.times.npy"))


def test_alyx_one_offline_uses_the_catalog(alyx, one_home, data_auth):
    s1 = alyx.seeded["eids"]["s1"]
    with FaultProxy(alyx.base_url) as proxy:  # the server as seen by this client, until it goes away
        one = ONE(base_url=proxy.url + "/api", username="admin", password="admin")
        assert one.search(subject="SWC_001", date_range="2021-03-04") == [s1]
        expected = one.load_dataset(s1, "wheel.position", collection="alf")
        one.close()
    one = ONE()  # same server, same token: nothing answers any more
    try:
        assert one.search(subject="SWC_001", date_range="2021-03-04") == [s1]
        assert one.offline
        np.testing.assert_array_equal(one.load_dataset(s1, "wheel.position", collection="alf"), expected)
        assert "alf/wheel.position.npy" in one.list_datasets(s1, collection="alf")
    finally:
        one.close()


# -- registering ----------------------------------------------------------------------------------
def _make_root(alyx, root: Path, date: str, files: dict[str, bytes]) -> list[str]:
    """A data root with ``files`` (paths in the session) for REG_001, also put on the file server."""
    rels = []
    for rel, content in files.items():
        full = f"mainlab/Subjects/REG_001/{date}/001/{rel}"
        (root / full).parent.mkdir(parents=True, exist_ok=True)
        (root / full).write_bytes(content)
        alyx.put_file(f"REG_001/{date}/001/{rel}", content)
        rels.append(full)
    return rels


def _add_alyx_repo(name: str, alyx, *sets: str) -> None:
    args = [
        "add-repo",
        name,
        "--type",
        "alyx",
        "--set",
        f"base_url={alyx.base_url}",
        "--set",
        "username=admin",
        "--set",
        "password=admin",
        "--set",
        f"data_repository={seed_alyx.REPOSITORY}",
        "--set",
        "data_login=fileuser",
        "--set",
        "data_password=" + DATA_PASSWORD,
    ]
    for s in sets:
        args += ["--set", s]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output


def test_alyx_one_upload_registers(alyx, one_home, tmp_path):
    files = {
        "alf/wheel.timestamps.npy": seed_alyx.npy_bytes(101),
        "alf/probe00/#2022-02-02#/spikes.times.npy": seed_alyx.npy_bytes(102),
        "alf/trials.intervals.left.npy": seed_alyx.npy_bytes(103),
    }
    root = tmp_path / "root"
    _make_root(alyx, root, "2022-01-10", files)
    _add_alyx_repo("alyxreg", alyx)
    runner = CliRunner()
    r = runner.invoke(cli, ["upload", str(root), "--repo", "alyxreg", "-q"])
    assert r.exit_code != 0 or "FAILED" in r.output
    assert "REG_001/2022-01-10/001 does not exist" in r.output and "create_sessions" in r.output
    config = Config.load(one_home)
    config.get("alyxreg").settings["create_sessions"] = True
    config.save()
    r = runner.invoke(cli, ["upload", str(root), "--repo", "alyxreg", "-q"])
    assert r.exit_code == 0, r.output
    assert "3 transferred" in r.output and "0 failed" in r.output
    r = runner.invoke(cli, ["upload", str(root), "--repo", "alyxreg", "-q"])  # again: nothing to do
    assert r.exit_code == 0 and "0 transferred" in r.output and "3 already up to date" in r.output, r.output
    one = ONE(repo="alyxreg")
    try:
        [eid] = one.search(subject="REG_001", date_range="2022-01-10")
        assert sorted(one.list_datasets(eid)) == sorted(files)
        for rel, content in files.items():
            coll, _, name = rel.rpartition("/")
            coll = coll.replace("/#2022-02-02#", "")
            p = one.load_dataset(eid, name, collection=coll, download_only=True)
            assert Path(p).read_bytes() == content
    finally:
        one.close()


def test_alyx_one_upload_through_transfer_repo(alyx, one_home, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    r = CliRunner().invoke(cli, ["add-repo", "store", "--type", "local", "--set", f"root_dir={store}", "--no-current"])
    assert r.exit_code == 0, r.output
    _add_alyx_repo("alyxtx", alyx, "create_sessions=true", "transfer_repo=store")
    root = tmp_path / "root"
    rels = _make_root(alyx, root, "2022-01-11", {"alf/wheel.position.npy": seed_alyx.npy_bytes(104)})
    r = CliRunner().invoke(cli, ["upload", str(root), "--repo", "alyxtx", "-q"])
    assert r.exit_code == 0, r.output
    assert (store / rels[0]).read_bytes() == (root / rels[0]).read_bytes()  # sent through 'store'
    one = ONE(repo="alyxtx")
    try:
        [eid] = one.search(subject="REG_001", date_range="2022-01-11")
        assert one.list_datasets(eid) == ["alf/wheel.position.npy"]
    finally:
        one.close()


def test_alyx_one_upload_needs_data_repository(alyx, one_home, tmp_path):
    r = CliRunner().invoke(
        cli,
        [
            "add-repo",
            "nodr",
            "--type",
            "alyx",
            "--set",
            f"base_url={alyx.base_url}",
            "--set",
            "username=admin",
            "--set",
            "password=admin",
        ],
    )
    assert r.exit_code == 0, r.output
    root = tmp_path / "root"
    _make_root(alyx, root, "2022-01-12", {"alf/wheel.position.npy": b"x" * 10})
    r = CliRunner().invoke(cli, ["upload", str(root), "--repo", "nodr", "-q"])
    assert r.exit_code != 0 and "data_repository" in r.output
