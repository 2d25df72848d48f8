"""For read-only types: upload is refused with :class:`~onecore.errors.UnsupportedOperation`."""

from __future__ import annotations

from pathlib import Path

import pytest

from onecore.errors import UnsupportedOperation
from onecore.repository import Repository

from .base import ConformanceBase, _scan


class ReadOnlyConformance(ConformanceBase):
    """For read-only types: upload is refused with :class:`~onecore.errors.UnsupportedOperation`."""

    def test_upload_unsupported_when_read_only(self, repository: Repository, data_root: Path) -> None:
        if repository.can_upload:
            pytest.fail(f"type {repository.type!r} supports upload: use RepositoryConformance (with the upload tests)")
        with pytest.raises(UnsupportedOperation):
            repository.upload(data_root, _scan(data_root))
