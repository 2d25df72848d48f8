"""The type's fetcher with the engine, unsafe paths and rows, missing files and unreachable servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from onecore.errors import TransferError
from onecore.repository import Repository
from onecore.testing.fixtures import configure

from .base import ConformanceBase, _rows, session_of


class SafetyConformance(ConformanceBase):
    """The type's fetcher with the engine, unsafe paths and rows, missing files and unreachable servers."""

    def test_fetcher_with_the_engine(self, repository: Repository, published: Path, tmp_path: Path) -> None:
        from onecore.transfer import TransferItem, download

        if repository.is_local:
            pytest.skip(f"type {repository.type!r} is local: its files are read in place")
        rows = _rows(repository.fetch_index(None))
        items = [TransferItem(r.rel_path, r.url or "", r.size, r.md5) for r in rows[:10]]
        report = download(items, tmp_path / "engine", repository.fetcher(), jobs=4)
        assert report.ok, report.failed
        for it in items:
            assert (tmp_path / "engine" / it.rel_path).read_bytes() == (published / it.rel_path).read_bytes()

    # ----------------------------------------------------------------------------------------------
    # Unsafe paths
    # ----------------------------------------------------------------------------------------------
    def test_unsafe_items_are_refused_by_the_engine(
        self, repository: Repository, published: Path, tmp_path: Path
    ) -> None:
        from onecore.transfer import TransferItem, download

        rows = _rows(repository.fetch_index(None))
        url = next((r.url for r in rows if r.url), None) or "http://127.0.0.1:9/never-contacted"
        area = tmp_path / "area"
        dest = area / "cache"
        outside = tmp_path / "outside"
        outside.mkdir(parents=True)
        dest.mkdir(parents=True)
        (dest / "lab").symlink_to(outside, target_is_directory=True)
        unsafe = [
            "../escape.npy",
            "../../escape.npy",
            "lab/../../escape.npy",
            "/tmp/escape.npy",
            "a/./escape.npy",
            "..\\escape.npy",
            "lab/Subjects/S/2020-01-01/001/alf/escape.npy",
            "lab%2F..%2F..%2Fescape.npy",
            "",
        ]
        items = [TransferItem(p, url, 1, None) for p in unsafe]
        report = download(items, dest, repository.fetcher(), jobs=2)
        assert sorted(p for p, _ in report.failed) == sorted(unsafe), report
        assert report.downloaded == [] and report.paths == {}
        assert list(outside.iterdir()) == []
        assert not any(p.name.startswith("escape") for p in tmp_path.rglob("*"))

    def test_unsafe_index_rows_are_never_written(
        self,
        repository: Repository,
        published: Path,
        publish_index_text: Callable[[str], None] | None,
        registry: Any,
        tmp_path: Path,
    ) -> None:
        from onecore.api import One
        from onecore.index import write_one_root

        if publish_index_text is None:
            pytest.skip(f"{type(self).__name__} cannot write a raw index (publish_index_text is None)")
        import io

        rows = _rows(repository.fetch_index(None))
        good = io.StringIO()
        write_one_root(rows, good)
        url = next(r.url for r in rows if r.url)
        session = session_of(rows[0].rel_path)[0]
        bad = [
            f"../../escape.npy\t{url}\t\t",
            f"{session}/../../../../../../escape.npy\t{url}\t\t",
            f"/tmp/escape.npy\t{url}\t\t",
            f"{session}/alf/..\\..\\escape.npy\t{url}\t\t",
            f"{session}/alf/%2e%2e/escape.npy\t{url}\t\t",
        ]
        publish_index_text(good.getvalue() + "\n".join(bad) + "\n")
        update = repository.fetch_index(None)
        assert update is not None
        listed = [r.rel_path for r in update.rows]
        assert sorted(listed) == sorted(r.rel_path for r in rows), "unsafe rows must be dropped"
        assert len(update.problems) >= len(bad), "each unsafe row is reported as an index problem"
        configure(repository)
        with One(repo=repository.name, home=repository.home, registry=registry) as one:
            for eid in one.search():
                report = one.download(eid)
                assert report.ok, report.failed
        assert not any(p.name.startswith("escape") for p in tmp_path.rglob("*"))
        assert not any(p.name.startswith("escape") for p in repository.home.rglob("*"))

    # ----------------------------------------------------------------------------------------------
    # Errors
    # ----------------------------------------------------------------------------------------------
    def test_missing_file_is_a_transfer_error(self, repository: Repository, published: Path, tmp_path: Path) -> None:
        from onecore.transfer import TransferItem, download

        rows = _rows(repository.fetch_index(None))
        row = next((r for r in rows if r.url), None)
        if row is None or repository.is_local:
            pytest.skip(f"type {repository.type!r} has no download URLs")
        bad = self.missing_url(row.url or "")
        fetcher = repository.fetcher()
        with pytest.raises(TransferError):
            fetcher.open(bad, 0).close()
        report = download([TransferItem(row.rel_path, bad, row.size, row.md5)], tmp_path / "dl", fetcher)
        assert [p for p, _ in report.failed] == [row.rel_path]
        assert not (tmp_path / "dl" / row.rel_path).exists()
        with pytest.raises(TransferError, match="failed"):
            report.raise_for_failures()

    def test_unreachable_repository(
        self, repository: Repository, unreachable_repository: Repository | None, published: Path, registry: Any
    ) -> None:
        from onecore.api import One

        if unreachable_repository is None:
            pytest.skip(f"{type(self).__name__} provides no unreachable_repository")
        with pytest.raises(self.expected_unreachable_error):
            unreachable_repository.fetch_index(None)
        if not issubclass(self.expected_unreachable_error, TransferError):
            return
        # With a catalog already built, One keeps working offline.
        configure(repository)
        with One(repo=repository.name, home=repository.home, registry=registry) as one:
            expected = sorted(one.search())
        gone = type(unreachable_repository)(repository.name, unreachable_repository.settings, home=repository.home)
        configure(gone)
        with One(repo=repository.name, home=repository.home, registry=registry) as one:
            assert one.offline, "One must say it uses the cached catalog"
            assert sorted(one.search()) == expected
