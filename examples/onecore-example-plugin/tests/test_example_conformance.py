"""The zipfile repository type passes onecore's repository conformance suite."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Callable, Iterator

import pytest
from onecore_example.archive import ZipRepository, make_archive

from onecore.testing.conformance import ReadOnlyRepositoryConformance


class TestZipfileConformance(ReadOnlyRepositoryConformance):
    @pytest.fixture
    def archive(self, tmp_path: Path) -> Path:
        path = tmp_path / "shared" / "data.zip"
        path.parent.mkdir(parents=True)
        zipfile.ZipFile(path, "w").close()  # an empty archive: an empty repository
        return path

    @pytest.fixture
    def repository(self, one_home: Path, archive: Path) -> Iterator[ZipRepository]:
        with ZipRepository("conformance", {"archive": str(archive)}, home=one_home) as repo:
            yield repo

    @pytest.fixture
    def publish_root(self, archive: Path) -> Callable[[Path], None]:
        # A read-only type: publishing a data root means packing it into the archive.
        def publish(root: Path) -> None:
            make_archive(root, archive)

        return publish

    @pytest.fixture
    def unreachable_repository(self, one_home: Path, tmp_path: Path) -> ZipRepository:
        return ZipRepository("gone", {"archive": str(tmp_path / "unplugged" / "data.zip")}, home=one_home)
