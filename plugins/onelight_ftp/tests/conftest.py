"""Fixtures: real FTP/FTPS servers (pyftpdlib) and an HTTP server over the FTP home, all on 127.0.0.1."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from onelight_ftp import FTPRepository
from onelight_ftp.testing import FTPTestServer, make_data_root, self_signed_cert


@pytest.fixture(autouse=True)
def _one_home(one_home: Path) -> Path:
    """onecore's ``one_home`` fixture, for every test of the plugin."""
    return one_home


@pytest.fixture
def data_root(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "root"
    return root, make_data_root(root)


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[FTPTestServer]:
    with FTPTestServer(tmp_path / "ftp_home") as server:
        yield server


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import OpenSSL  # noqa: F401  (pyftpdlib's FTPS handler needs pyOpenSSL)
    except ImportError:
        pytest.skip("FTPS tests need pyOpenSSL (pip install 'onelight-ftp[test]')")
    cert = self_signed_cert(tmp_path_factory.mktemp("tls"))
    if cert is None:
        pytest.skip("FTPS tests need a certificate: neither the cryptography package nor openssl is here")
    return cert


@pytest.fixture
def ftps_server(tmp_path: Path, tls_cert: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FTPTestServer]:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert))  # trust the self-signed certificate
    with FTPTestServer(tmp_path / "ftps_home", tls=True, certfile=tls_cert) as server:
        yield server


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_over(tmp_path: Path) -> Iterator:
    """``http_over(folder)`` -> base URL of a ThreadingHTTPServer serving ``folder``."""
    servers = []

    def start(folder: Path) -> str:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
        t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        t.start()
        servers.append((httpd, t))
        return f"http://127.0.0.1:{httpd.server_address[1]}/"

    yield start
    for httpd, t in servers:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)


@pytest.fixture
def make_repo(_one_home: Path):
    """``make_repo(server, **settings)`` -> an :class:`FTPRepository` for the test server's writing user."""
    made: list[FTPRepository] = []

    def make(server: FTPTestServer, name: str = "ftptest", **extra: object) -> FTPRepository:
        repo = FTPRepository(name, server.settings(**extra), home=_one_home)
        made.append(repo)
        return repo

    yield make
    for repo in made:
        repo.close()
