"""The repository conformance suite: one set of tests every repository type must pass.

A plugin's test module subclasses :class:`RepositoryConformance` (the subclass name must start with
``Test`` so that pytest collects it) and overrides one fixture, ``repository``::

    import pytest
    from onecore.testing.conformance import RepositoryConformance
    from mylab_one.repository import MyRepository

    class TestMyRepository(RepositoryConformance):
        @pytest.fixture
        def repository(self, one_home, my_server):
            with MyRepository("conformance", {"url": my_server.url}, home=one_home) as repo:
                yield repo

The contract, precisely:

``repository`` (required)
    Yields a configured, **empty** repository instance of the type under test, constructed with
    ``home=one_home`` (the isolated ``$ONE_HOME``; ``one_home`` is set up before it by an autouse
    fixture of the suite). Its ``name`` is the name the suite writes into the isolated config, its
    ``settings`` must be what a user would write in ``config.yaml`` (they are written there as they
    are). The fixture stops whatever it started (servers) after the ``yield``.

``publish_root`` (required for read-only types, ``can_upload = False``)
    Returns a callable ``publish(root: Path) -> None`` that makes the ALF data root ``root``
    available through the repository, replacing what was published before (the suite calls it again
    after changing ``root``, and then expects ``fetch_index`` to notice the change). The default
    uploads with ``repository.upload(root, scan(root))``. For ``http`` it copies ``root`` into the
    served folder and writes its ``.one_root`` with ``one index``.

``publish_index_text`` (optional)
    For types whose index is a ``.one_root`` file the test can write: returns a callable
    ``write(text: str) -> None`` that replaces the published index with ``text`` verbatim. The
    default ``None`` skips :meth:`~RepositoryConformance.test_unsafe_index_rows_are_never_written`.

``unreachable_repository`` (optional)
    Returns a repository of the type configured to point at nothing (a closed port, a folder that
    does not exist), or ``None`` (the default) to skip the test. Its ``fetch_index`` must raise
    :attr:`~RepositoryConformance.expected_unreachable_error` (``TransferError`` by default).

``data_root_overrides`` (optional)
    Returns a dict of keyword arguments of :func:`onecore.testing.make_data_root` merged over
    ``data_root_options`` for one test (default ``{}``): names that must be fresh for each test,
    e.g. ``{"labs": (lab,)}`` with a lab the fixture creates on a shared database server, so that
    every test starts from an empty repository. The fixtures ``repository`` and ``data_root``
    receive the same value within a test.

Class attributes to adjust: ``expected_unreachable_error``; ``data_root_options`` (keyword
arguments of :func:`onecore.testing.make_data_root`, e.g. ``{"n": 50}`` for a slow emulator);
``missing_url(url)`` (a method turning a dataset URL into one that the server does not have; the
default appends ``.missing`` to the URL's path).

What the suite checks, through the real API (``One(repo=...)`` with the repository written into the
isolated config, the ``one`` CLI, and :func:`onecore.transfer.download` with the type's fetcher):

- the type's declaration: ``type``, ``fields``; bad settings raise :class:`~onecore.errors.ConfigError`;
  secrets never appear in ``repr``;
- an empty repository's index: no rows, or a :class:`~onecore.errors.OneError` (never a bare
  exception); types that can upload must return an empty index, so that a first upload works;
- upload (``can_upload``): the report, a subset upload, a dry run that sends nothing, an unchanged
  re-upload that sends nothing, a changed or new dataset sent alone; without upload:
  :class:`~onecore.errors.UnsupportedOperation`;
- the index round trip: ``fetch_index`` rows are exactly the scanned datasets, safe ALF paths, with
  a URL (unless ``is_local``) and correct size and md5 where given; the validator state returns
  ``None`` (or the same rows) when nothing changed and a new index when something did;
- search, list, load and download through ``One``, with bytes identical to the data root, a second
  download that transfers nothing, and a corrupted cached file downloaded again (when md5 is known);
- unsafe paths: items with ``..``, absolute paths or symlinks leading outside are refused by the
  engine with the type's fetcher, and unsafe index rows never produce a file outside the cache;
- errors: missing datasets and sessions raise :class:`~onecore.errors.NotFound`, a missing file on
  the server a :class:`~onecore.errors.TransferError`, an unreachable server the expected error
  (and ``One`` falls back to its cached catalog when that error is a ``TransferError``);
- the CLI: ``one search``, ``one list``, ``one download`` (and ``one upload`` when supported).

Every test uses the fixtures ``one_home`` and ``alf_data_root``-like data from
:mod:`onecore.testing.fixtures` (exposed by onecore's pytest plugin); a test skipped because a type
does not support something says why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from onecore import hookimpl
from onecore.errors import (
    ConfigError,
    NotFound,
    OneError,
    TransferError,
    UnsupportedOperation,
)
from onecore.repository import Dataset, Field, IndexUpdate, Repository, md5_file
from onecore.testing.fixtures import build_registry, configure

__all__ = ["RepositoryConformance", "session_of", "CountingFetcher"]

_DEFAULT_ROOT_OPTIONS: dict[str, Any] = {"n": 100, "subjects": 1, "sessions": 1}
_ROOT_CACHE: dict[str, Path] = {}


def session_of(rel_path: str) -> tuple[str, str]:
    """Split a dataset path into (session path, path inside the session)."""
    parts = rel_path.split("/")
    n = 5 if len(parts) > 1 and parts[1] == "Subjects" else 3
    return "/".join(parts[:n]), "/".join(parts[n:])


def _by_session(paths: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in paths:
        s, rest = session_of(p)
        out.setdefault(s, []).append(rest)
    return out


def _scan(root: Path) -> list[str]:
    from onecore.scan import scan

    return list(scan(root))


def _rows(update: IndexUpdate | None) -> list[Dataset]:
    return [] if update is None else list(update.rows)


class CountingFetcher:
    """Wraps a fetcher and counts the streams it opens (to prove that nothing was transferred)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.opened: list[str] = []

    def open(self, url: str, offset: int = 0) -> Any:
        self.opened.append(url)
        return self.inner.open(url, offset)

    def close(self) -> None:
        self.inner.close()


class _TypePlugin:
    """A plugin object registering one repository class (for types not installed as a plugin)."""

    def __init__(self, cls: type):
        self.cls = cls

    @hookimpl
    def one_register_repository_types(self, register: Callable[[type], None]) -> None:
        register(self.cls)


class RepositoryConformance:
    """The conformance tests of a repository type; see the module docstring for the contract."""

    #: The error an unreachable repository's ``fetch_index`` raises.
    expected_unreachable_error: ClassVar[type[OneError]] = TransferError
    #: Keyword arguments of :func:`onecore.testing.make_data_root` for the generated data root.
    data_root_options: ClassVar[dict[str, Any]] = {}

    # ----------------------------------------------------------------------------------------------
    # Fixtures a subclass provides or may override
    # ----------------------------------------------------------------------------------------------
    @pytest.fixture
    def repository(self) -> Iterator[Repository]:
        """A configured, empty repository of the type under test (override this)."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the 'repository' fixture: yield a configured, empty "
            "repository of the type under test, built with home=one_home"
        )

    @pytest.fixture
    def publish_root(self, repository: Repository) -> Callable[[Path], None]:
        """A callable making a data root available through the repository (default: upload)."""

        def publish(root: Path) -> None:
            if not repository.can_upload:
                pytest.fail(
                    f"{type(self).__name__}: the repository type {repository.type!r} cannot upload; override "
                    "the 'publish_root' fixture to make a data root available through it"
                )
            report = repository.upload(Path(root), _scan(Path(root)), jobs=2)
            report.raise_for_failures()

        return publish

    @pytest.fixture
    def publish_index_text(self) -> Callable[[str], None] | None:
        """A callable replacing the published index with raw text, or None (not possible)."""
        return None

    @pytest.fixture
    def data_root_overrides(self) -> dict[str, Any]:
        """Per-test keyword arguments of ``make_data_root`` merged over ``data_root_options`` (default none)."""
        return {}

    @pytest.fixture
    def unreachable_repository(self) -> Repository | None:
        """A repository of the type that points at nothing, or None to skip that test."""
        return None

    def missing_url(self, url: str) -> str:
        """A URL of the same server for a file that does not exist."""
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path=parts.path + ".missing"))

    # ----------------------------------------------------------------------------------------------
    # Fixtures of the suite
    # ----------------------------------------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _conformance_home(self, one_home: Path) -> Path:
        return one_home

    @pytest.fixture
    def data_root(self, tmp_path: Path, data_root_overrides: dict[str, Any]) -> Path:
        """A fresh copy of a generated ALF data root (generated once per options and process)."""
        options = {**_DEFAULT_ROOT_OPTIONS, **self.data_root_options, **data_root_overrides}
        key = json.dumps(options, sort_keys=True, default=str)
        pristine = _ROOT_CACHE.get(key)
        if pristine is None or not pristine.is_dir():
            import tempfile

            from onecore.testing.data import make_data_root

            pristine = Path(tempfile.mkdtemp(prefix="onecore-conformance-")) / "root"
            make_data_root(pristine, **options)
            _ROOT_CACHE[key] = pristine
        root = tmp_path / "data_root"
        shutil.copytree(pristine, root)
        return root

    @pytest.fixture
    def registry(self, repository: Repository) -> Iterator[Any]:
        """The installed plugins (plus the type under test if it is not installed), made process-wide."""
        from onecore.plugins import set_registry

        reg = build_registry(entrypoints=True)
        if repository.type not in reg.repository_types:
            reg = build_registry(_TypePlugin(type(repository)), entrypoints=True)
        set_registry(reg)
        try:
            yield reg
        finally:
            set_registry(None)

    @pytest.fixture
    def published(self, repository: Repository, publish_root: Callable[[Path], None], data_root: Path) -> Path:
        """The data root, published through the repository."""
        publish_root(data_root)
        return data_root

    @pytest.fixture
    def one(self, published: Path, repository: Repository, registry: Any) -> Iterator[Any]:
        """``One(repo=...)`` on the published repository, through the isolated config."""
        from onecore.api import One

        configure(repository)
        o = One(repo=repository.name, home=repository.home, registry=registry)
        try:
            yield o
        finally:
            o.close()

    # ----------------------------------------------------------------------------------------------
    # The type's declaration and settings
    # ----------------------------------------------------------------------------------------------
    def test_type_and_fields(self, repository: Repository) -> None:
        cls = type(repository)
        assert isinstance(cls.type, str) and cls.type, "the class needs a non-empty 'type' name"
        assert all(isinstance(f, Field) for f in cls.fields), "'fields' must hold onecore.repository.Field"
        names = [f.name for f in cls.fields]
        assert len(names) == len(set(names)), f"duplicate field names in {names}"
        assert set(repository.settings) <= set(names) | {"index_format"}
        for f in cls.fields:
            assert f.type in (str, int, bool), f"field {f.name!r}: type must be str, int or bool"
            value = repository.settings.get(f.name)
            if f.secret and isinstance(value, str) and len(value) >= 4:
                assert value not in repr(repository), f"the secret field {f.name!r} shows in repr()"

    def test_settings_errors_are_config_errors(self, repository: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
        cls = type(repository)
        good = {k: v for k, v in repository.settings.items() if v is not None}
        with pytest.raises(ConfigError, match="no_such_field"):
            cls("bad", {**good, "no_such_field": "1"}, home=repository.home)
        for f in cls.fields:
            if f.env:
                monkeypatch.delenv(f.env, raising=False)
            if f.required and f.default is None:
                with pytest.raises(ConfigError, match=f.name):
                    cls("bad", {k: v for k, v in good.items() if k != f.name}, home=repository.home)
            if f.type in (int, bool):
                with pytest.raises(ConfigError, match=f.name):
                    cls("bad", {**good, f.name: "not-a-number-or-bool"}, home=repository.home)

    def test_unknown_type_in_config_is_config_error(self, repository: Repository, registry: Any) -> None:
        from onecore.api import One
        from onecore.config import Config, RepoConfig

        config = Config.load(repository.home)
        config.add(RepoConfig("ghost", "no-such-type-xyz", {}))
        config.save()
        with pytest.raises(ConfigError, match="no-such-type-xyz"):
            One(repo="ghost", home=repository.home, registry=registry)

    # ----------------------------------------------------------------------------------------------
    # Empty repository and upload
    # ----------------------------------------------------------------------------------------------
    def test_empty_repository(self, repository: Repository) -> None:
        try:
            rows = _rows(repository.fetch_index(None))
        except OneError as e:
            if repository.can_upload:
                pytest.fail(f"an empty repository that can upload must have an empty index, got {e!r}")
            return
        assert rows == []

    def test_upload_unsupported_when_read_only(self, repository: Repository, data_root: Path) -> None:
        if repository.can_upload:
            pytest.skip(f"type {repository.type!r} supports upload")
        with pytest.raises(UnsupportedOperation):
            repository.upload(data_root, _scan(data_root))

    def _require_upload(self, repository: Repository) -> None:
        if not repository.can_upload:
            pytest.skip(f"type {repository.type!r} is read-only (can_upload = False)")

    def test_upload_report(self, repository: Repository, data_root: Path) -> None:
        self._require_upload(repository)
        datasets = _scan(data_root)
        first = datasets[:5]
        report = repository.upload(data_root, first, jobs=2)
        assert report.ok, report.failed
        assert sorted(report.downloaded) == sorted(first), "the report must list what was sent"
        assert report.bytes == sum((data_root / p).stat().st_size for p in first)
        assert {r.rel_path for r in _rows(repository.fetch_index(None))} == set(first)
        seen: list[Any] = []
        report = repository.upload(data_root, datasets, jobs=2, progress=seen.append)
        assert report.ok, report.failed
        assert sorted(report.downloaded) == sorted(datasets[5:]), "only what was missing is sent"
        assert sorted(report.skipped) == sorted(first)
        assert "transferred" in report.summary()
        assert {r.rel_path for r in _rows(repository.fetch_index(None))} == set(datasets)

    def test_upload_dry_run_sends_nothing(self, repository: Repository, data_root: Path) -> None:
        self._require_upload(repository)
        datasets = _scan(data_root)
        report = repository.upload(data_root, datasets, dry_run=True)
        assert sorted(report.downloaded) == sorted(datasets), "a dry run lists what would be sent"
        try:
            rows = _rows(repository.fetch_index(None))
        except OneError:
            rows = []
        assert rows == [], "a dry run must not send anything"

    def test_reupload_is_incremental(self, repository: Repository, data_root: Path) -> None:
        self._require_upload(repository)
        import numpy as np

        datasets = _scan(data_root)
        assert repository.upload(data_root, datasets, jobs=2).ok
        again = repository.upload(data_root, datasets, jobs=2)
        assert again.ok and again.downloaded == [] and again.bytes == 0, "an unchanged re-upload sends nothing"
        assert sorted(again.skipped) == sorted(datasets)
        changed = next(p for p in datasets if p.endswith("spikes.amps.npy"))
        np.save(data_root / changed, np.arange(17, dtype=np.float64))
        session, _ = session_of(changed)
        added = f"{session}/alf/extra.values.npy"
        np.save(data_root / added, np.ones(5))
        third = repository.upload(data_root, _scan(data_root), jobs=2)
        assert third.ok, third.failed
        assert sorted(third.downloaded) == sorted([changed, added])
        rows = {r.rel_path: r for r in _rows(repository.fetch_index(None))}
        assert added in rows
        if rows[changed].size is not None:
            assert rows[changed].size == (data_root / changed).stat().st_size
        if rows[changed].md5 is not None:
            assert rows[changed].md5 == md5_file(data_root / changed)

    # ----------------------------------------------------------------------------------------------
    # The index
    # ----------------------------------------------------------------------------------------------
    def test_index_round_trip(self, repository: Repository, published: Path) -> None:
        from onecore import alf
        from onecore.transfer import check_relpath

        update = repository.fetch_index(None)
        assert isinstance(update, IndexUpdate), "the first fetch_index(None) must return an IndexUpdate"
        rows = list(update.rows)
        paths = [r.rel_path for r in rows]
        assert len(paths) == len(set(paths)), "an index lists each dataset once"
        assert set(paths) == set(_scan(published)), "the index must list exactly the published datasets"
        json.dumps(update.state)  # the validator is stored as JSON in the catalog
        for r in rows:
            check_relpath(r.rel_path)
            alf.parse(r.rel_path)
            source = published / r.rel_path
            if not repository.is_local:
                assert r.url, f"{r.rel_path}: rows of a remote type need a download URL"
            else:
                local = repository.local_path(r)
                assert local is not None and local.read_bytes() == source.read_bytes()
            if r.size is not None:
                assert r.size == source.stat().st_size, f"{r.rel_path}: wrong size in the index"
            if r.md5 is not None:
                assert r.md5 == md5_file(source), f"{r.rel_path}: wrong md5 in the index"

    def test_index_validator(
        self, repository: Repository, published: Path, publish_root: Callable[[Path], None]
    ) -> None:
        import numpy as np

        first = repository.fetch_index(None)
        assert first is not None
        rows = sorted(r.rel_path for r in first.rows)
        again = repository.fetch_index(first.state)
        if again is not None:  # allowed (a type may not know), but then it must be the same index
            assert sorted(r.rel_path for r in again.rows) == rows
        session, _ = session_of(rows[0])
        added = f"{session}/alf/added.values.npy"
        np.save(published / added, np.arange(3))
        publish_root(published)
        changed = repository.fetch_index(first.state)
        assert changed is not None, "fetch_index(state) returned None although the index changed"
        assert added in {r.rel_path for r in changed.rows}

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

    # ----------------------------------------------------------------------------------------------
    # The CLI
    # ----------------------------------------------------------------------------------------------
    def test_cli_search_list_download(
        self, repository: Repository, published: Path, registry: Any, tmp_path: Path
    ) -> None:
        from click.testing import CliRunner

        from onecore.cli import cli

        configure(repository)
        runner = CliRunner()
        name = repository.name
        res = runner.invoke(cli, ["search", "--repo", name, "--json"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        sessions = _by_session(_scan(published))
        assert len(json.loads(res.stdout)) == len(sessions)
        session = next(s for s, rest in sorted(sessions.items()) if not any("#" in r for r in rest))
        res = runner.invoke(cli, ["list", session, "--repo", name, "--json"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert sorted(json.loads(res.stdout)) == sorted(sessions[session])
        dest = tmp_path / "cli-downloads"
        res = runner.invoke(
            cli, ["download", session, "spikes", "--repo", name, "--dir", str(dest), "-q"], catch_exceptions=False
        )
        assert res.exit_code == 0, res.output
        for rest in sessions[session]:
            if rest.split("/")[-1].startswith("spikes."):
                assert (dest / session / rest).read_bytes() == (published / session / rest).read_bytes()
        res = runner.invoke(cli, ["list", "nolab/Subjects/NOBODY/1999-01-01/001", "--repo", name])
        assert res.exit_code == 1 and "Error" in res.output and "Traceback" not in res.output

    def test_cli_upload(self, repository: Repository, data_root: Path, registry: Any) -> None:
        self._require_upload(repository)
        from click.testing import CliRunner

        from onecore.cli import cli

        configure(repository)
        runner = CliRunner()
        n = len(_scan(data_root))
        res = runner.invoke(cli, ["upload", str(data_root), "--repo", repository.name, "-q"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert f"{n} transferred" in res.output
        res = runner.invoke(cli, ["upload", str(data_root), "--repo", repository.name, "-q"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        assert "0 transferred" in res.output and f"{n} already up to date" in res.output
