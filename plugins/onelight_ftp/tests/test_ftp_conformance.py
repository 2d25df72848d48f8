"""The ftp repository type runs onecore's repository conformance suite: read back over FTP, and over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest
from onelight_ftp import FTPRepository
from onelight_ftp.testing import FTPTestServer

from onecore.testing.conformance import RepositoryConformance


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestFTPConformance(RepositoryConformance):
    """Downloads read directly over FTP (no base_url)."""

    @pytest.fixture
    def repository(self, one_home: Path, tmp_path: Path) -> Iterator[FTPRepository]:
        with FTPTestServer(tmp_path / "ftp_home") as server:
            with FTPRepository("conformance", server.settings(), home=one_home) as repo:
                yield repo

    @pytest.fixture
    def unreachable_repository(self, one_home: Path) -> FTPRepository:
        return FTPRepository("gone", {"host": "127.0.0.1", "port": _closed_port(), "timeout": 2}, home=one_home)


class TestFTPOverHTTPConformance(RepositoryConformance):
    """Uploads over FTP, downloads over HTTP from base_url (as ONE light did)."""

    @pytest.fixture
    def repository(self, one_home: Path, tmp_path: Path, http_over) -> Iterator[FTPRepository]:  # noqa: ANN001
        with FTPTestServer(tmp_path / "ftp_home") as server:
            base_url = http_over(server.home)
            with FTPRepository("conformance", server.settings(base_url=base_url), home=one_home) as repo:
                yield repo
