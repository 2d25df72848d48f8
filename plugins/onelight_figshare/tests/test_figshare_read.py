"""Reading a figshare article: the index (ours, ONE light's, or none), public vs private, downloads."""

from __future__ import annotations

import hashlib

import pytest
from onelight_figshare.api import ArticleNotFound
from onelight_figshare.repository import FigshareFetcher

from onecore.transfer import TransferItem, download


def _items(update):
    rows = list(update.rows)
    return rows, [TransferItem(r.rel_path, r.url, r.size, r.md5) for r in rows]


def test_registered_through_the_entry_point():
    from onecore.plugins import make_plugin_manager, make_registry

    registry = make_registry(make_plugin_manager())
    assert registry.repository_type("figshare").__name__ == "FigshareRepository"


def test_public_read_and_download_back(emu, article, repo, fx, tmp_path):
    root = tmp_path / "root"
    rels = fx.write_root(root)
    repo.upload(root, rels)
    reader = fx.make_repo(emu, article)  # no token: the public view
    with pytest.raises(ArticleNotFound, match=f"figshare article {article} has no public version"):
        reader.fetch_index(None)
    repo.publish()
    emu.log.clear()
    update = reader.fetch_index(None)
    rows, items = _items(update)
    assert sorted(r.rel_path for r in rows) == rels and not update.problems
    assert all(r.size and r.md5 and r.url for r in rows)
    report = download(items, tmp_path / "dl", reader.fetcher(), jobs=4)
    assert report.ok and len(report.downloaded) == len(rels)
    for rel in rels:
        assert (tmp_path / "dl" / rel).read_bytes() == (root / rel).read_bytes()
    assert not any(p.startswith("/v2/account") for _, p in emu.log)  # never the private API
    assert reader.fetch_index(update.state) is None  # unchanged index: nothing downloaded again
    reader.close()


def test_private_read_of_the_draft(emu, article, repo, fx, tmp_path):
    root = tmp_path / "root"
    rels = fx.write_root(root, n_small=3)
    repo.upload(root, rels)
    assert repo.private_reads
    update = repo.fetch_index(None)
    rows, items = _items(update)
    assert sorted(r.rel_path for r in rows) == rels
    # unpublished files need the token: the fetcher sends it (to figshare's own hosts only)
    report = download(items, tmp_path / "dl", repo.fetcher())
    assert report.ok
    assert all((tmp_path / "dl" / r).read_bytes() == (root / r).read_bytes() for r in rels)
    plain = download(items[:1], tmp_path / "dl2", FigshareFetcher(None, emu.api_url))
    assert not plain.ok and "403" in plain.failed[0][1]
    # a new upload changes the index: the old state no longer matches
    (root / rels[0]).write_bytes(b"changed")
    repo.upload(root, rels)
    again = repo.fetch_index(update.state)
    assert again is not None
    rows = {r.rel_path: r for r in again.rows}
    assert rows[rels[0]].size == 7 and rows[rels[0]].md5 == hashlib.md5(b"changed").hexdigest()


def test_token_only_sent_to_figshare_hosts():
    f = FigshareFetcher("tok", "http://127.0.0.1:5000/v2")
    assert f.trusted("http://127.0.0.1:5000/ndownloader/files/1")
    assert f.trusted("https://ndownloader.figshare.com/files/1")
    assert f.trusted("https://figshare.com/ndownloader/files/1")
    assert not f.trusted("https://example.org/files/1")
    assert not f.trusted("https://figshare.com.evil.org/files/1")
    assert not f.trusted("http://127.0.0.1:5001/x")


def test_public_setting_reads_published_version_even_with_token(emu, article, fx):
    emu.add_file(article, "lab~Subjects~s1~2020-01-01~001~alf~a.b.npy", b"one")
    emu.publish_now(article)
    emu.add_file(article, "lab~Subjects~s1~2020-01-01~001~alf~c.d.npy", b"two")  # draft only
    public = fx.make_repo(emu, article, token=fx.GOOD, public=True)
    assert [r.rel_path for r in public.fetch_index(None).rows] == ["lab/Subjects/s1/2020-01-01/001/alf/a.b.npy"]
    assert public.fetcher()._token is None  # public reads never send the token
    private = fx.make_repo(emu, article, token=fx.GOOD)
    assert len(list(private.fetch_index(None).rows)) == 2


def test_onelight_article_reads_correctly(emu, fx, tmp_path):
    """An article written by ONE light: '~' names and a 2-column '.one_root' with CRLF line ends."""
    aid = emu.create_article("alice", title="Steinmetz-like", description="d")
    rels = [
        "nicklab/Subjects/Cori/2016-12-14/001/alf/spikes.times.npy",
        "nicklab/Subjects/Cori/2016-12-14/001/alf/spikes.clusters.npy",
        "nicklab/Subjects/Cori/2016-12-14/001/alf/probe00/clusters.depths.npy",
    ]
    content = {rel: hashlib.sha256(rel.encode()).digest() * 100 for rel in rels}
    ids = {rel: emu.add_file(aid, rel.replace("/", "~"), content[rel]) for rel in rels}
    lines = [f"{rel}\t{emu.base_url}/ndownloader/files/{ids[rel]}\r\n" for rel in rels]
    emu.add_file(aid, ".one_root", "".join(lines).encode())
    emu.add_file(aid, "README.txt", b"not a dataset")
    emu.publish_now(aid)
    # ONE light's config field name still works
    from onelight_figshare import FigshareRepository

    repo = FigshareRepository("old", {"article_id": aid, "api_url": emu.api_url}, home=tmp_path / "home")
    update = repo.fetch_index(None)
    rows, items = _items(update)
    assert sorted(r.rel_path for r in rows) == sorted(rels) and not update.problems
    for r in rows:  # size and md5 filled from the file list, so downloads are verified
        assert r.size == len(content[r.rel_path]) and r.md5 == hashlib.md5(content[r.rel_path]).hexdigest()
    report = download(items, tmp_path / "dl", repo.fetcher())
    assert report.ok
    assert all((tmp_path / "dl" / rel).read_bytes() == content[rel] for rel in rels)
    assert update.state["index_name"] == ".one_root"
    assert repo.fetch_index(update.state) is None


def test_article_without_index_reads_its_file_list(emu, fx):
    aid = emu.create_article("alice", title="t", description="d")
    good = "lab/Subjects/s1/2020-01-01/001/alf/trials.intervals.npy"
    emu.add_file(aid, good.replace("/", "~"), b"abc")
    emu.add_file(aid, "notes.pdf", b"%PDF")
    emu.add_file(aid, "lab~Subjects~s1~2020-01-01~001~alf~late.file.npy", b"x", complete=False)
    repo = fx.make_repo(emu, aid, token=fx.GOOD)
    update = repo.fetch_index(None)
    rows = list(update.rows)
    assert [(r.rel_path, r.size, r.md5) for r in rows] == [(good, 3, hashlib.md5(b"abc").hexdigest())]
    reasons = {p.text: p.reason for p in update.problems}
    assert "not an ALF dataset" in reasons["notes.pdf"]
    assert "not complete" in reasons["lab~Subjects~s1~2020-01-01~001~alf~late.file.npy"]
    assert repo.fetch_index(update.state) is None
    emu.add_file(aid, "lab~Subjects~s1~2020-01-01~001~alf~new.file.npy", b"y")
    assert repo.fetch_index(update.state) is not None


def test_index_problems_are_reported_not_fatal(emu, fx):
    aid = emu.create_article("alice", title="t", description="d")
    fid = emu.add_file(aid, "lab~Subjects~s1~2020-01-01~001~alf~a.b.npy", b"abc")
    text = (
        f"lab/Subjects/s1/2020-01-01/001/alf/a.b.npy\t{emu.base_url}/ndownloader/files/{fid}\t3\t\n"
        "../../etc/passwd\thttp://x/\t1\t\n"
        "lab/Subjects/s1/2020-01-01/001/alf/missing.file.npy\n"
    )
    emu.add_file(aid, "one_root.tsv", text.encode())
    update = fx.make_repo(emu, aid, token=fx.GOOD).fetch_index(None)
    rows = list(update.rows)
    assert [r.rel_path for r in rows] == ["lab/Subjects/s1/2020-01-01/001/alf/a.b.npy"]
    assert rows[0].md5 == hashlib.md5(b"abc").hexdigest()
    assert len(update.problems) == 2
