"""The built-in ``local`` and ``http`` repository types run the repository conformance suite."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from click.testing import CliRunner

from onecore.builtins.http import HTTPRepository
from onecore.builtins.local import LocalRepository
from onecore.errors import ConfigError
from onecore.testing.conformance import ReadOnlyRepositoryConformance, RepositoryConformance


class TestLocalConformance(RepositoryConformance):
    # A missing root_dir is a settings problem, not a network one.
    expected_unreachable_error = ConfigError

    @pytest.fixture
    def repository(self, one_home: Path, tmp_path: Path) -> Iterator[LocalRepository]:
        folder = tmp_path / "local-repo"
        folder.mkdir()
        with LocalRepository("conformance", {"root_dir": str(folder)}, home=one_home) as repo:
            yield repo

    @pytest.fixture
    def unreachable_repository(self, one_home: Path, tmp_path: Path) -> LocalRepository:
        return LocalRepository("gone", {"root_dir": str(tmp_path / "not-there")}, home=one_home)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        pass


class _Served:
    """A folder served over HTTP on 127.0.0.1 by a ThreadingHTTPServer in a thread."""

    def __init__(self, folder: Path):
        self.folder = folder
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[_Served]:
    folder = tmp_path / "www"
    folder.mkdir()
    s = _Served(folder)
    try:
        yield s
    finally:
        s.stop()


def _bump_mtime(path: Path) -> None:
    """Give a rewritten index a later mtime: the stdlib server's Last-Modified has 1 s resolution."""
    st = path.stat()
    t = max(time.time(), getattr(_bump_mtime, "last", 0.0) + 1.0)
    _bump_mtime.last = t  # type: ignore[attr-defined]
    os.utime(path, (st.st_atime, t))


class TestHTTPConformance(ReadOnlyRepositoryConformance):
    @pytest.fixture
    def repository(self, one_home: Path, served: _Served) -> Iterator[HTTPRepository]:
        with HTTPRepository("conformance", {"base_url": served.url}, home=one_home) as repo:
            yield repo

    @pytest.fixture
    def publish_root(self, served: _Served) -> Callable[[Path], None]:
        def publish(root: Path) -> None:
            from onecore.cli import cli

            shutil.copytree(root, served.folder, dirs_exist_ok=True)
            res = CliRunner().invoke(cli, ["index", str(served.folder), "--base-url", served.url])
            assert res.exit_code == 0, res.output
            _bump_mtime(served.folder / ".one_root")

        return publish

    @pytest.fixture
    def publish_index_text(self, served: _Served) -> Callable[[str], None]:
        def write(text: str) -> None:
            (served.folder / ".one_root").write_text(text, encoding="utf-8")
            (served.folder / ".one_index.tsv").unlink(missing_ok=True)  # .one_root alone is the index
            _bump_mtime(served.folder / ".one_root")

        return write

    @pytest.fixture
    def unreachable_repository(self, one_home: Path) -> HTTPRepository:
        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return HTTPRepository("gone", {"base_url": f"http://127.0.0.1:{port}/"}, home=one_home)
