"""The first open of an ``http`` repository parses and loads its index while it downloads
(``fetch_index_url(..., build=True)``): same catalog as the spooled path, same bounds (size cap,
deadline, cut answers retried), nothing left in ``$ONE_HOME/tmp``, the old catalog kept on failure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from onecore import One
from onecore.builtins.http import HTTPRepository, fetch_index_base
from onecore.catalog import Catalog
from onecore.catalog.prebuilt import BuiltCatalog
from onecore.cli import cli
from onecore.errors import TransferError
from onecore.testing import make_data_root
from onecore.testing.servers import FileServer


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    make_data_root(root, labs=("nicklab",), subjects=2, sessions=3, n=40)
    return root


@pytest.fixture
def served(root: Path):
    with FileServer(root) as server:
        runner = CliRunner()
        r = runner.invoke(cli, ["index", str(root), "--base-url", server.url])
        assert r.exit_code == 0, r.output
        r = runner.invoke(cli, ["add-repo", "web", "--type", "http", "--set", f"base_url={server.url}"])
        assert r.exit_code == 0, r.output
        server.clear_log()
        yield server


def _rows(rows) -> list[tuple]:  # noqa: ANN001
    return sorted((d.rel_path, d.url, d.size, d.md5) for d in rows)


def _n_rows(root: Path) -> int:
    return sum(1 for line in (root / ".one_index.tsv").read_text().splitlines() if not line.startswith("#"))


def _tmp_files(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "tmp").iterdir()) if (home / "tmp").exists() else []


def test_first_open_builds_while_downloading_the_same_catalog(served: FileServer, home: Path) -> None:
    repo = HTTPRepository("web", {"base_url": served.url}, home=home)
    streamed = repo.fetch_index(None)
    assert streamed is not None and isinstance(streamed.rows, BuiltCatalog)
    assert streamed.state["sha256"] and streamed.state["index_name"] == ".one_index.tsv"
    spooled = fetch_index_base(repo.fetcher(), served.url, None, home)  # the reference: spool, then parse
    assert spooled is not None and not isinstance(spooled.rows, BuiltCatalog)
    assert spooled.state == streamed.state
    reference = _rows(spooled.rows)
    assert len(reference) == _n_rows(served.root) and _rows(streamed.rows) == reference  # read once, then deleted
    assert _tmp_files(home) == []
    repo.close()

    with One(repo="web") as one:
        assert len(served.requests_for(".one_index.tsv")) == 3  # the three fetches above and this one
        assert _rows(one.catalog.all_datasets()) == reference
        state = one.catalog.get_meta("state")
        assert state["sha256"] == streamed.state["sha256"] and state["index_name"] == ".one_index.tsv"
        assert state["etag"]
    served.clear_log()
    with One(repo="web"):  # the stored validator: a 304, no rebuild
        assert [r.status for r in served.requests_for(".one_index.tsv")] == [304]
    assert _tmp_files(home) == []


def test_an_unread_streamed_update_leaves_nothing(served: FileServer, home: Path) -> None:
    repo = HTTPRepository("web", {"base_url": served.url}, home=home)
    update = repo.fetch_index(None)
    assert update is not None and isinstance(update.rows, BuiltCatalog)
    assert len(_tmp_files(home)) == 1 and _tmp_files(home)[0].startswith("index-")
    del update
    assert _tmp_files(home) == []
    repo.close()


def test_a_cut_answer_is_fetched_and_parsed_again(served: FileServer, root: Path, home: Path) -> None:
    size = (root / ".one_index.tsv").stat().st_size
    served.inject(".one_index.tsv", "drop", after=size // 2, times=1)
    with One(repo="web") as one:
        assert one.catalog.count()[1] == _n_rows(root)
    assert len(served.requests_for(".one_index.tsv")) == 2
    assert _tmp_files(home) == []


def test_failures_keep_the_old_catalog_and_leave_nothing(
    served: FileServer, root: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with One(repo="web") as one:
        before = _rows(one.catalog.all_datasets())
    size = (root / ".one_index.tsv").stat().st_size
    # cut every time: retried, then given up; a truncated body never becomes a catalog
    served.inject(".one_index.tsv", "short", after=size // 3, times=None)
    repo = HTTPRepository("web", {"base_url": served.url}, home=home)
    with pytest.raises(TransferError, match="cut"):
        repo.fetch_index(None)
    with One(repo="web", mode="refresh") as one:  # offline fallback: the cached catalog, unchanged
        assert one.offline and _rows(one.catalog.all_datasets()) == before
    served.clear_faults()
    # too large: one clear message naming the variable
    monkeypatch.setenv("ONE_MAX_INDEX_BYTES", str(size // 2))
    with pytest.raises(TransferError, match="ONE_MAX_INDEX_BYTES"):
        repo.fetch_index(None)
    repo.close()
    assert _rows(Catalog(home / "catalog" / "web.sqlite").all_datasets()) == before
    assert _tmp_files(home) == []


def test_the_deadline_counts_the_server_not_the_parser(
    served: FileServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow consumer (a loaded machine parsing a big index) does not use up ONE_INDEX_SECONDS; a
    server dripping the index does (test_transfer_integrity's dripping index)."""
    import onecore.catalog.lines as lines

    monkeypatch.setenv("ONE_INDEX_SECONDS", "0.5")
    original = lines._check_header

    def slow_header(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        time.sleep(1.0)  # the parser, busy: longer than the whole deadline
        return original(*args, **kwargs)

    monkeypatch.setattr(lines, "_check_header", slow_header)
    repo = HTTPRepository("web", {"base_url": served.url}, home=home)
    update = repo.fetch_index(None)
    assert update is not None and len(list(update.rows)) == _n_rows(served.root)
    repo.close()


def test_duplicates_across_batches_and_blocks_are_reported_with_their_line(tmp_path: Path) -> None:
    """Rows refused by the unique key are found batch by batch (12,000 rows), from blocks of 64 KiB:
    each is reported once, with its own line number and text, in line order."""
    from onecore.catalog import IndexLines

    types = ("alf/spikes.times.npy", "alf/probe00/spikes.amps.npy", "raw/a.b.bin", "c.d.npy")
    lines = ["#one_index 1"]
    for i in range(4000):
        sp = f"lab/Subjects/S{i % 50}/2020-01-{1 + i % 10:02d}/{i % 5:03d}"
        lines += [f"{sp}/{t}\t\t{i}\t{'a' * 32}" for t in types]
    data = ("\n".join(lines) + "\n").encode()
    problems: list = []
    chunks = iter([data[i : i + 65536] for i in range(0, len(data), 65536)])
    n = Catalog(tmp_path / "c.sqlite").rebuild(IndexLines.from_chunks(chunks, problems=problems))
    seen: set[str] = set()
    expected = []
    for k, line in enumerate(lines[1:], 2):
        rel = line.split("\t")[0]
        if rel in seen:
            expected.append((k, line, f"duplicate row for {rel}"))
        seen.add(rel)
    assert n == 50 * 4 and len(expected) == 16000 - 50 * 4
    assert [(p.line, p.text, p.reason) for p in problems] == expected


def test_a_killed_fetch_leftover_is_swept(served: FileServer, home: Path) -> None:
    """A catalog file a killed process was building from a download (its pid is gone) is removed by
    the next fetch; one of a live process is left alone."""
    import os

    tmp = home / "tmp"
    tmp.mkdir(exist_ok=True)
    dead = tmp / "index-0123456789ab.999999999.building"
    dead.write_bytes(b"x")
    (tmp / "published-0123456789ab.999999999.building-journal").write_bytes(b"x")
    alive = tmp / f"index-0123456789ab.{os.getppid()}.building"
    alive.write_bytes(b"x")
    repo = HTTPRepository("web", {"base_url": served.url}, home=home)
    update = repo.fetch_index(None)
    assert update is not None
    list(update.rows)
    repo.close()
    assert _tmp_files(home) == [alive.name]


def test_a_row_shaped_like_a_name_key_is_refused_like_the_reference_reader(tmp_path: Path) -> None:
    """Known names are also remembered by (collection, revision, file name): no path can look like
    one of those keys and pass as an earlier row's name."""
    from onecore.catalog import IndexLines
    from onecore.index import read_one_root

    a, b = "lab/Subjects/S1/2020-01-01/001", "lab/Subjects/S1/2020-01-02/001"
    md5 = "a" * 32
    text = (
        f"{a}/alf/spikes.times.npy\t\t1\t{md5}\n{b}/c.d.npy\t\t1\t{md5}\n{b}/alf\x00\x00spikes.times.npy\t\t1\t{md5}\n"
    )
    problems: list = []
    cat = Catalog(tmp_path / "c.sqlite")
    n = cat.rebuild(IndexLines.from_chunks(iter([text.encode()]), problems=problems))
    reference: list = []
    assert len(list(read_one_root(text.splitlines(), problems=reference))) == 2
    assert n == 2 and [(p.line, p.reason) for p in problems] == [(p.line, p.reason) for p in reference]
    assert sorted(d.rel_path for d in cat.all_datasets()) == [f"{a}/alf/spikes.times.npy", f"{b}/c.d.npy"]
