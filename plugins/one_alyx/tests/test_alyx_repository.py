"""The alyx repository type against a real alyx-local server (and a fault-injecting proxy)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from one_alyx.client import token_path, write_token
from one_alyx.repository import AlyxRepository
from one_alyx.testing.fault_proxy import FaultProxy

from onecore.errors import AuthError, ConfigError, OneError, TransferError
from onecore.testing.secrets import DATA_PASSWORD
from onecore.transfer import TransferItem, download

pytestmark = pytest.mark.alyx  # needs the real Alyx server (PostgreSQL + alyx-local)


def make_repo(alyx, home: Path, base_url: str | None = None, **extra) -> AlyxRepository:
    settings = {
        "base_url": base_url or alyx.base_url,
        "username": "admin",
        "password": "admin",
        "data_login": "fileuser",
        "data_password": DATA_PASSWORD,
        **extra,
    }
    return AlyxRepository("alyxtest", settings, home=home)


def eids(alyx, *keys):
    return [alyx.seeded["eids"][k] for k in keys]


def found(repo, **filters):
    """Session ids; only the seeded ones (before 2022: the registration tests add later sessions)."""
    filters.setdefault("date_range", (None, "2021-12-31"))
    return [r.eid for r in repo.search(filters)]


# -- connecting -----------------------------------------------------------------------------------
def test_alyx_setup_stores_token_not_password(alyx, one_home):
    rc = AlyxRepository.from_url(alyx.base_url + "/", username="admin", password="admin", home=one_home)
    assert rc.type == "alyx" and rc.name.startswith("127.0.0.1_")
    assert rc.settings == {"base_url": alyx.base_url, "username": "admin"}
    tok = token_path(one_home, alyx.base_url)
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600
    data = json.loads(tok.read_text())
    assert data["username"] == "admin" and data["token"] and "admin" not in data["token"]
    assert "password" not in tok.read_text()
    # a second connection reuses the cached token without a password
    rc2 = AlyxRepository.from_url(alyx.base_url, home=one_home)
    assert rc2 == rc


def test_alyx_setup_wrong_password_is_auth_error(alyx, one_home):
    with pytest.raises(AuthError) as e:
        AlyxRepository.from_url(alyx.base_url, username="admin", password="wrong-s3cret", home=one_home)
    assert "wrong-s3cret" not in str(e.value) and "admin" in str(e.value)
    assert not token_path(one_home, alyx.base_url).exists()


def test_alyx_setup_needs_username(alyx, one_home):
    with pytest.raises(ConfigError, match="username"):
        AlyxRepository.from_url(alyx.base_url, home=one_home)


def test_alyx_wrong_base_url_is_explained(alyx, one_home):
    root = alyx.base_url.rsplit("/api", 1)[0]  # alyx-local serves its API under /api
    with pytest.raises(OneError, match="auth-token"):
        AlyxRepository.from_url(root, username="admin", password="admin", home=one_home)


def test_alyx_repr_hides_secrets(alyx, one_home):
    repo = make_repo(alyx, one_home)
    assert DATA_PASSWORD not in repr(repo) and "'admin'" in repr(repo) and "****" in repr(repo)


# -- searching ------------------------------------------------------------------------------------
def test_alyx_search_basic_terms(alyx, one_home):
    repo = make_repo(alyx, one_home)
    s1, s2, s3, s4 = eids(alyx, "s1", "s2", "s3", "s4")
    assert found(repo, subject=["SWC_001"]) == [s2, s1]  # newest first
    assert set(found(repo, subject=["SWC_001", "SWC_002"])) == {s1, s2, s3}
    assert found(repo, lab=["otherlab"]) == [s4]
    assert found(repo, date_range=("2021-03-05", "2021-03-05")) == [s3, s2]
    assert found(repo, date_range=("2021-03-04", None), subject=["SWC_001"]) == [s2, s1]
    assert found(repo, date_range=(None, "2021-01-01")) == [s4]
    assert found(repo, date_range=("2021-03-06", None)) == [
        r.eid for r in repo.search({"date_range": ("2022-01-01", None)})
    ]
    assert found(repo, number=2) == [s3]
    assert set(found(repo, projects=["brainwide"])) == {s1, s3}
    assert found(repo, task_protocol=["training"]) == [s2]
    assert found(repo, django="subject__nickname,KS_005") == [s4]
    recs = repo.search({"subject": ["KS_005"]})
    assert (recs[0].lab, recs[0].date, recs[0].number) == ("otherlab", "2020-12-01", 1)


def test_alyx_search_datasets(alyx, one_home):
    repo = make_repo(alyx, one_home)
    s1, s2, s3, s4 = eids(alyx, "s1", "s2", "s3", "s4")
    assert found(repo, datasets=["wheel.timestamps"]) == [s2, s1]  # dataset type
    assert found(repo, datasets=["trials.intervals.npy"]) == [s2, s4]  # dataset name
    assert found(repo, datasets=["probe00"]) == [s3, s1]  # collection folder
    assert found(repo, datasets=["probe01"]) == [s1]
    assert found(repo, datasets=["probe00", "probe01"]) == [s1]  # AND
    assert found(repo, datasets=["wheel", "trials"]) == [s2]  # objects, AND
    assert found(repo, datasets=["spikes.times"], projects=["brainwide"]) == [s3, s1]
    assert found(repo, datasets=["nothing.here"]) == []
    assert found(repo, collection=["alf/probe01"]) == [s1]
    assert found(repo, revision="2024-05-06") == [s1]


def test_alyx_search_refuses_what_it_cannot_send(alyx, one_home):
    repo = make_repo(alyx, one_home)
    with pytest.raises(OneError, match="namespace"):
        repo.search({"namespace": "ibl"})
    with pytest.raises(OneError, match="wildcards"):
        repo.search({"datasets": ["wheel.*"]})


def test_alyx_resolve_session(alyx, one_home):
    repo = make_repo(alyx, one_home)
    s1 = alyx.seeded["eids"]["s1"]
    rec = repo.resolve_session(s1)
    assert (rec.lab, rec.subject, rec.date, rec.number, rec.projects) == (
        "mainlab",
        "SWC_001",
        "2021-03-04",
        1,
        ["brainwide"],
    )
    assert rec.task_protocol == "ephysChoiceWorld"
    assert repo.resolve_session("00000000-0000-0000-0000-000000000000") is None
    assert repo.resolve_session("not-a-uuid") is None


# -- listing and downloading ----------------------------------------------------------------------
def test_alyx_list_session_and_download(alyx, one_home, tmp_path):
    repo = make_repo(alyx, one_home)
    s1 = alyx.seeded["eids"]["s1"]
    rows = {d.rel_path: d for d in repo.list_session(s1)}
    expected = {p for p in alyx.seeded["files"] if p.startswith("mainlab/Subjects/SWC_001/2021-03-04/001/")}
    assert set(rows) == expected
    rev = rows["mainlab/Subjects/SWC_001/2021-03-04/001/alf/probe00/#2024-05-06#/spikes.clusters.npy"]
    assert "%232024-05-06%23/spikes.clusters.npy" in rev.url and "#" not in rev.url
    assert rev.default is True and rev.eid == s1 and len(rev.id) == 36
    assert rev.id == alyx.seeded["datasets"][rev.rel_path]
    items = [TransferItem(d.rel_path, d.url, d.size, d.md5) for d in rows.values()]
    assert all(i.md5 and i.size for i in items)
    report = download(items, tmp_path / "dl", repo.fetcher(), jobs=2)
    assert report.ok, report.failed
    for rel, content in alyx.seeded["files"].items():
        if rel in rows:
            assert (tmp_path / "dl" / rel).read_bytes() == content


def test_alyx_file_server_auth_is_needed(alyx, one_home, tmp_path):
    repo = make_repo(alyx, one_home, data_login=None, data_password=None)
    d = repo.list_session(alyx.seeded["eids"]["s4"])[0]
    report = download([TransferItem(d.rel_path, d.url, d.size, d.md5)], tmp_path, repo.fetcher())
    assert not report.ok and "401" in report.failed[0][1]


# -- error paths ----------------------------------------------------------------------------------
def test_alyx_stale_token_is_renewed_once(alyx, one_home):
    write_token(one_home, alyx.base_url, "admin", "0" * 40)  # a token the server does not know
    repo = make_repo(alyx, one_home)
    assert found(repo, subject=["KS_005"]) == eids(alyx, "s4")
    assert json.loads(token_path(one_home, alyx.base_url).read_text())["token"] != "0" * 40


def test_alyx_stale_token_without_password_is_clear(alyx, one_home):
    write_token(one_home, alyx.base_url, "admin", "0" * 40)
    repo = make_repo(alyx, one_home, password=None)
    with pytest.raises(AuthError, match="password"):
        repo.search({"subject": ["KS_005"]})


def test_alyx_proxy_403_renewal_5xx_retry_and_pagination(alyx, one_home):
    with FaultProxy(alyx.base_url) as proxy:
        base = proxy.url + "/api"
        repo = make_repo(alyx, one_home, base_url=base)
        all_eids = found(repo)  # authenticates through the proxy
        proxy.reject_token = json.loads(token_path(one_home, base).read_text())["token"]
        proxy.force_limit = 1
        proxy.seen.clear()
        assert found(repo) == all_eids and len(all_eids) >= 4
        assert sum(1 for m, p in proxy.seen if p.startswith("/api/auth-token")) == 1  # renewed once
        assert sum(1 for m, p in proxy.seen if p.startswith("/api/sessions")) >= len(all_eids) + 1
        rows = repo.list_session(alyx.seeded["eids"]["s1"])  # 5 datasets, one per page
        assert len(rows) == 5
        proxy.fail_next = 3
        assert found(repo, number=2) == eids(alyx, "s3")
        proxy.fail_next = 50
        with pytest.raises(TransferError, match="503"):
            repo.search({"number": 2})


def test_alyx_server_gone_is_a_clear_error(alyx, one_home):
    from one_alyx.testing.alyx_server import free_port

    repo = make_repo(alyx, one_home, base_url=f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(TransferError, match="cannot reach the Alyx server"):
        repo.search({"subject": ["SWC_001"]})


def test_alyx_setup_prompts_only_when_interactive(alyx, one_home, monkeypatch):
    import click

    asked = []

    def prompt(text, hide_input=False, **kw):
        asked.append((text, hide_input))
        return "admin"

    monkeypatch.setattr(click, "prompt", prompt)
    with pytest.raises(ConfigError, match="username"):
        AlyxRepository.from_url(alyx.base_url, home=one_home, interactive=False)
    assert asked == []
    rc = AlyxRepository.from_url(alyx.base_url, home=one_home, interactive=True)
    assert rc.settings["username"] == "admin"
    assert [h for _, h in asked] == [False, True]  # the username in clear, the password hidden


def test_alyx_setup_keeps_other_settings_of_the_server(alyx, one_home):
    from onecore.config import Config

    rc = AlyxRepository.from_url(alyx.base_url, username="admin", password="admin", home=one_home)
    config = Config.load(one_home)
    rc.settings["data_login"] = "fileuser"
    config.add(rc)
    config.save()
    again = AlyxRepository.from_url(alyx.base_url, username="admin", home=one_home)
    assert again.settings == {"base_url": alyx.base_url, "username": "admin", "data_login": "fileuser"}


# -- a lab's view ---------------------------------------------------------------------------------
def test_alyx_lab_scope_search_list_index(alyx, one_home, tmp_path):
    from onecore.errors import NotFound

    repo = make_repo(alyx, one_home, lab="otherlab", data_repository=alyx.seeded["repository"])
    s1, s4 = eids(alyx, "s1", "s4")
    assert found(repo) == [s4]
    assert found(repo, lab=["mainlab"]) == [] and found(repo, subject=["SWC_001"]) == []
    assert found(repo, lab=["otherlab", "mainlab"]) == [s4]
    assert repo.resolve_session(s1) is None
    with pytest.raises(NotFound, match="otherlab"):
        repo.list_session(s1)
    update = repo.fetch_index(None)
    rows = list(update.rows)
    assert {r.rel_path for r in rows} == {p for p in alyx.seeded["files"] if p.startswith("otherlab/")}
    assert all(r.url and r.md5 and r.size and r.eid == s4 for r in rows)
    assert [s.eid for s in update.sessions] == [s4]
    assert repo.fetch_index(update.state) is None  # unchanged: two small requests, no listing
    ds = alyx.seeded["datasets"][rows[0].rel_path]
    alyx.request("PATCH", f"datasets/{ds}", {"file_size": rows[0].size})  # touched: modified later
    again = repo.fetch_index(update.state)
    assert again is not None and [r.rel_path for r in again.rows] == [r.rel_path for r in rows]
    report = repo.upload(tmp_path, ["mainlab/Subjects/SWC_001/2021-03-04/001/alf/wheel.position.npy"])
    assert [p for p, _ in report.failed] == ["mainlab/Subjects/SWC_001/2021-03-04/001/alf/wheel.position.npy"]
    assert "not the lab 'otherlab'" in report.failed[0][1]


def test_alyx_without_lab_the_index_is_lazy(alyx, one_home):
    from one_alyx.testing.alyx_server import free_port

    repo = make_repo(alyx, one_home, base_url=f"http://127.0.0.1:{free_port()}/api")  # nothing is asked
    update = repo.fetch_index(None)
    assert list(update.rows) == [] and repo.fetch_index(update.state) is None
