"""Uploading a data root into a figshare article (against the emulator), and publishing it."""

from __future__ import annotations

import hashlib
import re

import pytest
from onelight_figshare.api import FigshareAPI
from onelight_figshare.naming import INDEX_NAME, INDEX_NAMES

from onecore.errors import AuthError, ConfigError, NotFound, TransferError
from onecore.index import COMPANION_HEADER, COMPANION_NAME


def _index_files(emu, article):
    return sorted(n for n in emu.draft_names(article) if "one_root" in n or "one_index" in n)


def _index_text(emu, article, name=COMPANION_NAME) -> str:
    art = emu.articles[article]
    fid = next(i for i in art.files if emu.files[i].name == name)
    return emu.file_bytes(fid).decode()


# -- add-repo: the token is checked once -------------------------------------------------------
def test_check_good_and_bad_tokens(emu, article, fx):
    fx.make_repo(emu, article, token=fx.GOOD).check()
    with pytest.raises(AuthError) as e:
        fx.make_repo(emu, article, token="wrong-token").check()
    msg = str(e.value)
    assert f"figshare article {article}" in msg and "401" in msg and "token" in msg
    assert "wrong-token" not in msg
    with pytest.raises(AuthError, match="403"):
        fx.make_repo(emu, article, token=fx.OTHER).check()  # a valid token of someone else
    with pytest.raises(NotFound, match="figshare article 4242.*not found"):
        fx.make_repo(emu, 4242, token=fx.GOOD).check()
    with pytest.raises(NotFound, match="not published"):
        fx.make_repo(emu, article).check()  # no token: must be public
    emu.publish_now(article)
    fx.make_repo(emu, article).check()
    fx.make_repo(emu, article, token=fx.GOOD, public=True).check()


def test_token_from_environment(emu, article, fx, monkeypatch):
    monkeypatch.setenv("FIGSHARE_TOKEN", fx.GOOD)
    repo = fx.make_repo(emu, article)
    repo.check()
    assert repo.private_reads


# -- upload --------------------------------------------------------------------------------------
def test_upload_multipart_then_nothing_to_send(emu, article, repo, fx, tmp_path):
    rels = fx.write_root(tmp_path / "root")
    assert len(rels) > 10
    big = f"{fx.SESSION}/alf/spikes.times.npy"
    report = repo.upload(tmp_path / "root", rels)
    assert report.ok and sorted(report.downloaded) == rels and not report.skipped
    names = emu.draft_names(article)
    assert sorted(n for n in names if n not in INDEX_NAMES) == sorted(r.replace("/", "~") for r in rels)
    by_name = {emu.files[i].name: i for i in emu.articles[article].files}
    for rel in rels:
        f = emu.files[by_name[rel.replace("/", "~")]]
        assert f.status == "available"
        assert emu.file_bytes(f.id) == (tmp_path / "root" / rel).read_bytes()
    big_token = emu.files[by_name[big.replace("/", "~")]].upload_token
    assert len(emu.requests_matching("PUT", f"/upload/{big_token}/")) == 4  # > one part: 4 parts sent
    # the index: path, download URL, size, md5 of every dataset, from the real file list
    header, *lines = _index_text(emu, article).splitlines()
    assert header == COMPANION_HEADER and len(lines) == len(rels)
    for line in lines:
        path, url, size, md5 = line.split("\t")
        local = (tmp_path / "root" / path).read_bytes()
        assert url == f"{emu.base_url}/ndownloader/files/{by_name[path.replace('/', '~')]}"
        assert int(size) == len(local) and md5 == hashlib.md5(local).hexdigest()
    # listings were paginated with an explicit page size
    assert all("page" in q for q in _list_queries(emu))

    emu.log.clear()
    report = repo.upload(tmp_path / "root", rels)
    assert report.ok and not report.downloaded and sorted(report.skipped) == rels
    assert emu.requests_matching("POST", r"/files") == []  # nothing created (not even the index)
    assert emu.requests_matching("PUT", r"/upload/") == []
    assert emu.requests_matching("DELETE", r".") == []


def _list_queries(emu):
    return ["page" for m, p in emu.log if m == "GET" and p.endswith("/files")]


def test_listing_is_paginated(emu, article, repo, fx, tmp_path, monkeypatch):
    rels = fx.write_root(tmp_path / "root")
    monkeypatch.setattr(FigshareAPI, "page_size", 4)
    repo.upload(tmp_path / "root", rels)
    emu.log.clear()
    report = repo.upload(tmp_path / "root", rels)  # sees all 13 files through 4 pages
    assert sorted(report.skipped) == rels
    assert len(emu.requests_matching("GET", rf"/account/articles/{article}/files$")) == 4


def test_changed_file_is_replaced_and_one_index_remains(emu, article, repo, fx, tmp_path):
    root = tmp_path / "root"
    rels = fx.write_root(root)
    legacy = emu.add_file(article, "one_root.tsv", b"old\tindex\r\n")  # an older onecore index is replaced too
    repo.upload(root, rels)
    changed = rels[0]
    (root / changed).write_bytes(b"new content")
    emu.log.clear()
    report = repo.upload(root, rels)
    assert report.downloaded == [changed] and len(report.skipped) == len(rels) - 1
    names = emu.draft_names(article)
    assert names.count(changed.replace("/", "~")) == 1
    fid = next(i for i in emu.articles[article].files if emu.files[i].name == changed.replace("/", "~"))
    assert emu.file_bytes(fid) == b"new content"
    assert _index_files(emu, article) == [COMPANION_NAME, INDEX_NAME]  # one of each after two uploads
    assert legacy not in emu.articles[article].files
    assert f"{changed}\t{emu.base_url}/ndownloader/files/{fid}\t11\t" in _index_text(emu, article)
    assert len(emu.requests_matching("POST", rf"/articles/{article}/files$")) == 3  # the file and the two index files


def test_interrupted_upload_resumes_pending_parts(emu, article, repo, fx, tmp_path, monkeypatch):
    root = tmp_path / "root"
    rels = fx.write_root(root)
    big = f"{fx.SESSION}/alf/spikes.times.npy"
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "2")
    emu.fail(r"^/upload/[0-9a-f]+/3$", 500, times=100, method="PUT")  # part 3 keeps failing
    report = repo.upload(root, rels, jobs=1)
    assert [r for r, _ in report.failed] == [big]
    assert "part 3" in report.failed[0][1] and f"figshare article {article}" in report.failed[0][1]
    assert INDEX_NAME in emu.draft_names(article)
    assert big not in _index_text(emu, article)  # the index lists only complete files
    token = next(f.upload_token for f in emu.files.values() if f.name == big.replace("/", "~"))
    emu.clear_faults()
    emu.log.clear()
    report = repo.upload(root, rels)
    assert report.ok and report.downloaded == [big]
    sent = sorted(emu.requests_matching("PUT", rf"/upload/{token}/"))
    assert sent == [f"/upload/{token}/3", f"/upload/{token}/4"]  # parts 1-2 were COMPLETE: not re-sent
    assert len(emu.requests_matching("PUT", r"/upload/")) == 4  # parts 3 and 4, and the two index files
    assert len(emu.requests_matching("POST", rf"/articles/{article}/files$")) == 2  # only the two index files
    fid = next(f.id for f in emu.files.values() if f.name == big.replace("/", "~"))
    assert emu.file_bytes(fid) == (root / big).read_bytes()
    assert big in _index_text(emu, article)


def test_lost_upload_is_created_again(emu, article, repo, fx, tmp_path):
    root = tmp_path / "root"
    rels = fx.write_root(root, n_small=1)
    md5 = hashlib.md5((root / rels[0]).read_bytes()).hexdigest()
    stale = emu.add_file(article, rels[0].replace("/", "~"), b"", complete=False)
    emu.files[stale].size = (root / rels[0]).stat().st_size
    emu.files[stale].supplied_md5 = md5
    emu.files[stale].upload_token = "0" * 32  # figshare no longer knows the upload
    emu.files[stale].parts_done.clear()
    report = repo.upload(root, rels[:1])
    assert report.ok
    assert emu.draft_names(article).count(rels[0].replace("/", "~")) == 1


def test_bursts_of_429_and_500_are_absorbed(emu, article, repo, fx, tmp_path):
    root = tmp_path / "root"
    rels = fx.write_root(root)
    emu.fail(rf"/articles/{article}/files$", 429, times=3, retry_after=0, method="GET")
    emu.fail(r"^/upload/[0-9a-f]+/2$", 500, times=2, method="PUT")
    emu.fail(rf"/articles/{article}/files/\d+$", 503, times=2, method="POST")
    emu.fail(rf"/articles/{article}/files$", 502, times=1, method="POST")
    report = repo.upload(root, rels)
    assert report.ok and sorted(report.downloaded) == rels
    assert len(emu.draft_names(article)) == len(rels) + 2  # and .one_root, .one_index.tsv
    assert all(f.status == "available" for f in emu.files.values())


def test_clear_errors(emu, article, fx, tmp_path, monkeypatch):
    root = tmp_path / "root"
    rels = fx.write_root(root, n_small=2)
    with pytest.raises(AuthError, match=f"figshare article {article}: listing the files.*401"):
        fx.make_repo(emu, article, token="bad").upload(root, rels)
    with pytest.raises(NotFound, match="figshare article 777: listing the files.*404"):
        fx.make_repo(emu, 777, token=fx.GOOD).upload(root, rels)
    with pytest.raises(ConfigError, match="needs a token"):
        fx.make_repo(emu, article).upload(root, rels)
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "2")
    emu.fail(r"/files$", 500, times=10)
    expected = f"figshare article {article}: listing the files.*2 attempts.*500"
    with pytest.raises(TransferError, match=expected):
        fx.make_repo(emu, article, token=fx.GOOD).upload(root, rels)
    emu.clear_faults()

    # a 422 from completion (the bytes do not match the declared md5) names the file and the operation
    class Liar:
        def md5(self, path):
            return "0" * 32

        def close(self):
            pass

    import onecore.sdk

    monkeypatch.setattr(onecore.sdk, "HashCache", lambda path: Liar())  # what the plugin imports
    report = fx.make_repo(emu, article, token=fx.GOOD).upload(root, rels[:1])
    assert not report.ok
    assert re.search(rf"figshare article {article}: completing the upload of .*422.*MD5", report.failed[0][1])


def test_dry_run_sends_nothing(emu, article, repo, fx, tmp_path):
    rels = fx.write_root(tmp_path / "root")
    report = repo.upload(tmp_path / "root", rels, dry_run=True)
    assert sorted(report.downloaded) == rels and report.bytes > 0
    assert emu.draft_names(article) == []
    assert [m for m, _ in emu.log if m != "GET"] == []


def test_progress_is_reported(emu, article, repo, fx, tmp_path):
    rels = fx.write_root(tmp_path / "root")
    seen = []
    repo.upload(tmp_path / "root", rels, progress=seen.append)
    assert seen and seen[-1].files_done == len(rels) and seen[-1].bytes_done == seen[-1].bytes_total


# -- publish -------------------------------------------------------------------------------------
def test_publish(emu, fx, tmp_path):
    aid = emu.create_article("alice", title="No description yet")
    repo = fx.make_repo(emu, aid, token=fx.GOOD)
    with pytest.raises(TransferError) as e:
        repo.publish()
    assert "description is required" in str(e.value) and f"figshare article {aid}" in str(e.value)
    assert "metadata" in str(e.value)
    emu.articles[aid].description = "Now described."
    msg = repo.publish()
    assert f"figshare article {aid}" in msg and emu.articles[aid].versions
    with pytest.raises(ConfigError, match="needs a token"):
        fx.make_repo(emu, aid).publish()


def test_empty_and_unreadable_files(emu, article, repo, fx, tmp_path):
    root = tmp_path / "root"
    rel = f"{fx.SESSION}/alf/empty.flag.npy"
    (root / fx.SESSION / "alf").mkdir(parents=True)
    (root / rel).write_bytes(b"")
    missing = f"{fx.SESSION}/alf/gone.file.npy"
    report = repo.upload(root, [rel, missing])
    assert report.downloaded == [rel]
    assert [p for p, _ in report.failed] == [missing] and "cannot read" in report.failed[0][1]
    assert f"{rel}\t" in _index_text(emu, article)
    assert repo.upload(root, [rel]).skipped == [rel]


def test_leftovers_cleaned_and_index_failure_reported(emu, article, repo, fx, tmp_path, monkeypatch):
    root = tmp_path / "root"
    rels = fx.write_root(root, n_small=2)
    repo.upload(root, rels)
    name = rels[0].replace("/", "~")
    leftover = emu.add_file(article, name, b"half", complete=False)  # an abandoned upload of that name
    report = repo.upload(root, rels)
    assert sorted(report.skipped) == rels and leftover not in emu.articles[article].files
    assert emu.draft_names(article).count(name) == 1
    # the index cannot be written: the datasets' outcome is still reported, with the index as a failure
    art = emu.articles[article]
    art.files = [i for i in art.files if emu.files[i].name not in INDEX_NAMES]
    monkeypatch.setenv("ONE_RETRY_ATTEMPTS", "1")
    emu.fail(r"^/upload/", 500, times=1, method="PUT")
    report = fx.make_repo(emu, article, token=fx.GOOD).upload(root, rels)
    assert sorted(report.skipped) == rels
    assert [p for p, _ in report.failed] == [INDEX_NAME] and "index was not updated" in report.failed[0][1]


# -- issue 15: ONE light's names and reader, --delete ----------------------------------------------
def test_index_uploaded_as_one_root_and_companion_readable_by_one_light(emu, article, repo, fx, tmp_path):
    """ONE light looks for a file named exactly ``.one_root`` with 1 or 2 columns (main uploaded
    ``one_root.tsv`` with 4 and deleted ``.one_root``); sizes and md5s go to ``.one_index.tsv``."""
    from onecore.testing.onelight import onelight_read_root_file

    root = tmp_path / "root"
    rels = fx.write_root(root, n_small=3, big=10)
    assert repo.upload(root, rels).failed == []
    assert _index_files(emu, article) == [COMPANION_NAME, ".one_root"]
    rows = onelight_read_root_file(_index_text(emu, article, ".one_root"))
    assert sorted(p for p, _ in rows) == sorted(rels) and all("/ndownloader/files/" in u for _, u in rows)
    update = fx.make_repo(emu, article, token=fx.GOOD).fetch_index(None)
    assert update.state["index_name"] == COMPANION_NAME
    assert all(r.md5 and r.size is not None for r in update.rows)


def test_upload_delete_removes_article_files_no_longer_local(emu, article, repo, fx, tmp_path):
    root = tmp_path / "root"
    rels = fx.write_root(root, n_small=3, big=10)
    assert repo.upload(root, rels).failed == []
    gone, kept = rels[:1], rels[1:]
    (root / gone[0]).unlink()
    report = repo.upload(root, kept)
    assert report.remote_only == gone and report.deleted == []
    dry = repo.upload(root, kept, dry_run=True, delete=True)
    assert dry.deleted == gone and gone[0].replace("/", "~") in emu.draft_names(article)
    report = repo.upload(root, kept, delete=True)
    assert report.failed == [] and report.deleted == gone
    assert gone[0].replace("/", "~") not in emu.draft_names(article)
    listed = {d.rel_path for d in fx.make_repo(emu, article, token=fx.GOOD).fetch_index(None).rows}
    assert listed == set(kept)
