"""Search, list, load and download through ``One``, and not-found errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onecore.errors import NotFound

from .base import ConformanceBase, CountingFetcher, _by_session, _scan, session_of


class OneApiConformance(ConformanceBase):
    """Search, list, load and download through ``One``, and not-found errors."""

    # ----------------------------------------------------------------------------------------------
    # Search, list, load, download through One
    # ----------------------------------------------------------------------------------------------
    def test_search_through_one(self, one: Any, published: Path) -> None:
        from onecore import alf

        paths = _scan(published)
        sessions = _by_session(paths)
        found = {d["path"] for d in one.search(details=True)[1]}
        assert found == set(sessions), "search() without filters returns every session"
        with_spikes = {s for s, rest in sessions.items() if any(r.endswith("spikes.times.npy") for r in rest)}
        assert {d["path"] for d in one.search(details=True, dataset="spikes.times")[1]} == with_spikes
        subject = alf.parse(paths[0])["subject"]
        of_subject = {s for s in sessions if alf.parse_session_path(s)["subject"] == subject}
        assert {d["path"] for d in one.search(details=True, subject=subject)[1]} == of_subject
        collections = {(s, r.rsplit("/", 1)[0]) for s, rest in sessions.items() for r in rest if "/" in r}
        coll = sorted(c for _, c in collections)[-1]
        with_coll = {s for s, c in collections if c == coll}
        assert {d["path"] for d in one.search(details=True, collection=coll)[1]} == with_coll
        assert one.search(dataset="no_such_object.never") == []

    def test_list_through_one(self, one: Any, published: Path) -> None:
        paths = _scan(published)
        assert set(one.list_datasets()) == set(paths)
        for session, rest in _by_session(paths).items():
            eid = one.path2eid(session)
            listed = one.list_datasets(eid)
            if any("#" in r for r in rest):  # revisions: only the default one of each dataset is listed
                assert {r.rsplit("/", 1)[-1] for r in listed} == {r.rsplit("/", 1)[-1] for r in rest}
                revs = {r.split("#")[1] for r in rest if "#" in r}
                assert set(one.list_revisions(eid)) - {""} == revs  # '' too where datasets have none
            else:
                assert sorted(listed) == sorted(rest)
            colls = {r.rsplit("/", 1)[0] for r in rest if "/" in r and "#" not in r}
            assert set(one.list_collections(eid)) >= colls

    def test_load_through_one(self, one: Any, published: Path) -> None:
        import numpy as np

        paths = _scan(published)
        by_session = _by_session(paths)
        # a session without #revision# folders: there the default of each dataset is the file in place
        plain = [p for p in paths if not any("#" in r for r in by_session[session_of(p)[0]])]
        target = next(p for p in plain or paths if p.endswith("/spikes.times.npy"))
        session, inner = session_of(target)
        collection = inner.rsplit("/", 1)[0]
        eid = one.path2eid(session)
        spikes = one.load_object(eid, "spikes", collection=collection)
        expected = {
            r.split(".")[1]
            for r in _by_session(paths)[session]
            if r.startswith(collection + "/spikes.") and r.count("/") == collection.count("/") + 1
        }
        assert set(spikes) == expected
        for attr in expected:
            source = published / session / collection / f"spikes.{attr}.npy"
            np.testing.assert_array_equal(spikes[attr], np.load(source))
        times = one.load_dataset(eid, "spikes.times.npy", collection=collection)
        np.testing.assert_array_equal(times, np.load(published / target))
        path = one.load_dataset(eid, "spikes.times", collection=collection, download_only=True)
        assert Path(path).read_bytes() == (published / target).read_bytes()

    def test_download_verified_and_not_repeated(self, one: Any, published: Path, tmp_path: Path) -> None:
        paths = _scan(published)
        session = session_of(paths[0])[0]
        eid = one.path2eid(session)
        counter = CountingFetcher(one.repository.fetcher())
        one.repository.fetcher = lambda: counter  # type: ignore[method-assign]
        for dest in (tmp_path / "downloads", None):
            report = one.download(eid, dest=dest)
            assert report.ok, report.failed
            assert report.paths, "nothing downloaded"
            for rel, local in report.paths.items():
                assert Path(local).read_bytes() == (published / rel).read_bytes(), f"{rel}: bytes differ"
            opened = len(counter.opened)
            second = one.download(eid, dest=dest)
            assert second.ok and second.downloaded == [] and second.bytes == 0, "a second download transfers"
            assert sorted(second.paths) == sorted(report.paths)
            assert len(counter.opened) == opened, "a second download opened streams"
        if one.repository.is_local:
            return
        recs = one.list_datasets(eid, details=True)
        if hasattr(recs, "to_dict"):  # a pandas DataFrame when pandas is installed (as ONE-api)
            recs = recs.to_dict("records")
        rec = next(r for r in recs if r["md5"]) if any(r["md5"] for r in recs) else None
        if rec is None:
            return
        cached = one.repository.data_dir / rec["full_path"]
        data = bytearray(cached.read_bytes())
        data[-1] ^= 0xFF
        cached.write_bytes(bytes(data))
        report = one.download(eid)
        assert rec["full_path"] in report.downloaded, "a corrupted cached file must be downloaded again"
        assert cached.read_bytes() == (published / rec["full_path"]).read_bytes()

    def test_missing_things_are_not_found(self, one: Any, published: Path) -> None:
        session = session_of(_scan(published)[0])[0]
        eid = one.path2eid(session)
        with pytest.raises(NotFound):
            one.load_dataset(eid, "nothing.here.npy")
        with pytest.raises(NotFound):
            one.load_object(eid, "nosuchobject")
        with pytest.raises(NotFound):
            one.list_datasets("nolab/Subjects/NOBODY/1999-01-01/001")
        with pytest.raises(NotFound):
            one.download(eid, ["nosuchobject"])
