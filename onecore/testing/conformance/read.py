"""The type declaration, its settings, an empty repository and the index round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest

from onecore.errors import ConfigError, OneError
from onecore.repository import Field, IndexUpdate, Repository, md5_file

from .base import ConformanceBase, _rows, _scan, session_of


class ReadConformance(ConformanceBase):
    """The type declaration, its settings, an empty repository and the index round trip."""

    # ----------------------------------------------------------------------------------------------
    # The type's declaration and settings
    # ----------------------------------------------------------------------------------------------
    def test_type_and_fields(self, repository: Repository) -> None:
        cls = type(repository)
        assert isinstance(cls.type, str) and cls.type, "the class needs a non-empty 'type' name"
        assert all(isinstance(f, Field) for f in cls.fields), "'fields' must hold onecore.repository.Field"
        names = [f.name for f in cls.fields]
        assert len(names) == len(set(names)), f"duplicate field names in {names}"
        assert set(repository.settings) <= set(names)
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

    def test_empty_repository(self, repository: Repository) -> None:
        try:
            rows = _rows(repository.fetch_index(None))
        except OneError as e:
            if repository.can_upload:
                pytest.fail(f"an empty repository that can upload must have an empty index, got {e!r}")
            return
        assert rows == []

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
