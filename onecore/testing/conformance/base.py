"""The fixtures every conformance mixin shares, and small helpers (see :mod:`onecore.testing.conformance`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from onecore import hookimpl
from onecore.errors import (
    OneError,
    TransferError,
)
from onecore.repository import Dataset, IndexUpdate, Repository
from onecore.testing.fixtures import build_registry, configure

__all__ = ["ConformanceBase", "session_of", "CountingFetcher"]

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


class ConformanceBase:
    """The fixtures of the conformance suite; the mixins of :mod:`onecore.testing.conformance` add the tests."""

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
