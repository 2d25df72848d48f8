"""A prebuilt catalog published next to the index (``one index ROOT --catalog``): downloaded instead
of parsing the index when it matches it, ignored (one log line, the index parsed) when it is stale,
damaged, too large or hostile."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import onecore.catalog.lines as lines_module
from onecore import One
from onecore.catalog import Catalog
from onecore.catalog.published import CATALOG_NAME
from onecore.cli import cli
from onecore.testing import make_data_root
from onecore.testing.servers import FileServer


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_data_root(root, labs=("nicklab",), subjects=2, sessions=2, n=40)
    return root


def index(root: Path, url: str, *more: str) -> None:
    r = CliRunner().invoke(cli, ["index", str(root), "--base-url", url, *more])
    assert r.exit_code == 0, r.output


@pytest.fixture
def served(root: Path):
    with FileServer(root) as server:
        index(root, server.url, "--catalog")
        r = CliRunner().invoke(cli, ["add-repo", "web", "--type", "http", "--set", f"base_url={server.url}"])
        assert r.exit_code == 0, r.output
        server.clear_log()
        yield server


def _rows(cat: Catalog) -> list[tuple]:
    return sorted((d.rel_path, d.url, d.size, d.md5) for d in cat.all_datasets())


def _reference(root: Path, tmp_path: Path, url: str) -> list[tuple]:
    """The catalog parsed from the index (what the published one must equal)."""
    from onecore.index import read_index_file

    cat = Catalog(tmp_path / "reference.sqlite")
    cat.rebuild(read_index_file(root / ".one_index.tsv", base_url=url))
    try:
        return _rows(cat)
    finally:
        cat.close()


def _no_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the index was parsed")

    monkeypatch.setattr(lines_module, "load_lines", refuse)


def _tmp(home: Path) -> list[Path]:
    return list((home / "tmp").iterdir()) if (home / "tmp").exists() else []


def test_a_matching_catalog_is_used_instead_of_parsing(
    served: FileServer, root: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = (root / ".one_index.tsv").read_text().split("\n", 1)[0]
    assert header.endswith("\tcatalog=.one_catalog.sqlite") and (root / CATALOG_NAME).is_file()
    reference = _reference(root, tmp_path, served.url)
    _no_parse(monkeypatch)
    with One(repo="web") as one:
        assert [r.status for r in served.requests_for(CATALOG_NAME)] == [200]
        assert _rows(one.catalog) == reference
        eid = sorted(one.search())[0]
        assert one.search(dataset="spikes.times") and "alf/spikes.amps.npy" in one.list_datasets(eid)
        state = one.catalog.get_meta("state")
        assert state["index_name"] == ".one_index.tsv" and state["etag"] and state["sha256"]
        assert one.load_dataset(eid, "spikes.amps").shape
    served.clear_log()
    with One(repo="web"):  # then: the usual conditional check, nothing downloaded
        assert [r.status for r in served.requests_for(".one_index.tsv")] == [304]
        assert served.requests_for(CATALOG_NAME) == []
    assert _tmp(home) == []


def test_without_the_flag_no_catalog_is_asked_for(root: Path, home: Path) -> None:
    with FileServer(root) as server:
        index(root, server.url)
        CliRunner().invoke(cli, ["add-repo", "web", "--type", "http", "--set", f"base_url={server.url}"])
        with One(repo="web") as one:
            assert one.search()
        assert server.requests_for(CATALOG_NAME) == []


def _refused(
    served: FileServer, root: Path, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, reason: str
) -> None:
    """One() falls back to parsing the index, with one log line naming the catalog and ``reason``."""
    reference = _reference(root, tmp_path, served.url)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="onecore"), One(repo="web") as one:
        assert _rows(one.catalog) == reference
    [line] = [r.getMessage() for r in caplog.records if "prebuilt catalog" in r.getMessage()]
    assert CATALOG_NAME in line and reason in line and "reading the index instead" in line, line
    assert len(served.requests_for(".one_index.tsv")) == 2  # hashed, then fetched again to be parsed
    assert _tmp(home) == []


def test_a_stale_catalog_is_ignored(
    served: FileServer, root: Path, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = tmp_path / "old.sqlite"
    shutil.copy(root / CATALOG_NAME, old)
    eid = next(p for p in (root / "nicklab" / "Subjects").glob("*/*/*") if p.is_dir())
    (eid / "alf" / "licks.times.npy").write_bytes((eid / "alf" / "spikes.amps.npy").read_bytes())
    index(root, served.url, "--catalog")
    shutil.copy(old, root / CATALOG_NAME)  # the catalog of the index before
    _refused(served, root, home, tmp_path, caplog, "built from another version of .one_index.tsv")


def _edit(root: Path, sql: str) -> None:
    db = sqlite3.connect(root / CATALOG_NAME, isolation_level=None)
    db.executescript(sql)
    db.close()


HOSTILE = {
    "trigger": ("CREATE TRIGGER t AFTER INSERT ON meta BEGIN DELETE FROM meta; END;", "not the catalog schema"),
    "view": ("CREATE VIEW v AS SELECT * FROM datasets;", "not the catalog schema"),
    "escaping session": (
        "UPDATE sessions SET path = '../../../outside', eid = '../../../outside' WHERE id = 1;",
        "session rows are not what the index reader writes",
    ),
    "escaping subject": (
        "UPDATE sessions SET subject = '..' WHERE id = 1;",
        "unsafe subject name",
    ),
    "escaping name": ("UPDATE names SET collection = '../../..' WHERE id = 1;", "unsafe dataset name"),
    "foreign ids": ("UPDATE datasets SET session = 99999 WHERE id = (SELECT min(id) FROM datasets);", "dataset rows"),
    "qc": ("UPDATE datasets SET qc = 50 WHERE id = (SELECT min(id) FROM datasets);", "dataset rows"),
    "odd url": ("UPDATE datasets SET url = 'file:///etc/passwd' WHERE id = (SELECT min(id) FROM datasets);", "dataset"),
    "schema version": ("UPDATE meta SET value = '\"2\"' WHERE key = 'schema';", "schema version"),
    "bitmaps": ("UPDATE blobs SET value = x'00' WHERE key = 'rank_of';", "search index"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_catalog_is_ignored(
    kind: str, served: FileServer, root: Path, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sql, reason = HOSTILE[kind]
    _edit(root, sql)
    _refused(served, root, home, tmp_path, caplog, reason)


def test_a_damaged_or_foreign_file_is_ignored(
    served: FileServer, root: Path, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = root / CATALOG_NAME
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 3000] = b"\xff" * 3000
    path.write_bytes(bytes(data))
    _refused(served, root, home, tmp_path, caplog, "")
    path.write_bytes(b"not a database at all\n" * 100)
    Catalog(home / "catalog" / "web.sqlite").rebuild([])  # no stored state: the next open is a first one
    served.clear_log()
    _refused(served, root, home, tmp_path, caplog, "not an SQLite database")


def test_a_catalog_over_the_size_cap_is_ignored(
    served: FileServer,
    root: Path,
    home: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index_size = (root / ".one_index.tsv").stat().st_size
    assert (root / CATALOG_NAME).stat().st_size > 2 * index_size
    monkeypatch.setenv("ONE_MAX_INDEX_BYTES", str(2 * index_size))
    _refused(served, root, home, tmp_path, caplog, "ONE_MAX_INDEX_BYTES")


def test_a_catalog_for_another_base_url_is_ignored(
    served: FileServer, root: Path, home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _edit(root, "UPDATE meta SET value = '\"http://elsewhere.example/\"' WHERE key = 'url_base';")
    _refused(served, root, home, tmp_path, caplog, "base URL")


def test_hostile_paths_in_a_catalog_never_leave_the_cache(root: Path, home: Path, tmp_path: Path) -> None:
    """Even a catalog that got past the checks: downloads go through safe_join."""
    with FileServer(root) as server:
        index(root, server.url)
        CliRunner().invoke(cli, ["add-repo", "web", "--type", "http", "--set", f"base_url={server.url}"])
        with One(repo="web") as one:
            eid = sorted(one.search())[0]
        db = sqlite3.connect(home / "catalog" / "web.sqlite", isolation_level=None)
        db.execute("UPDATE sessions SET path = '../../../../outside' WHERE eid = ?", (eid,))
        db.close()
        with One(repo="web", mode="local") as one:
            with pytest.raises(Exception) as e:
                one.load_dataset(eid, "spikes.amps")
            assert "refused" in str(e.value) or "unsafe" in str(e.value).lower(), e.value
    import os

    escaped = Path(os.path.normpath(home / "data" / "web" / "../../../../outside"))
    assert not escaped.exists()
