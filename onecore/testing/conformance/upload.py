"""Upload, for types that can upload (``can_upload = True``): report, dry run, incremental re-upload, CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from onecore.errors import OneError
from onecore.repository import Repository, md5_file
from onecore.testing.fixtures import configure

from .base import ConformanceBase, _rows, _scan, session_of


class UploadConformance(ConformanceBase):
    """Upload, for types that can upload (``can_upload = True``): report, dry run, incremental re-upload, CLI."""

    def _require_upload(self, repository: Repository) -> None:
        if not repository.can_upload:
            pytest.fail(
                f"type {repository.type!r} is read-only (can_upload = False): use ReadOnlyRepositoryConformance, "
                "which leaves out the upload tests"
            )

    # ----------------------------------------------------------------------------------------------
    # Empty repository and upload
    # ----------------------------------------------------------------------------------------------
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
