"""The loopback test server itself (onecore.testing.servers): ranges, auth, conditional GETs, the request
log and each injected fault, checked with plain requests."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from onecore.testing.servers import FileServer

REL = "lab/Subjects/s1/2021-01-01/001/alf/#2021-06-01#/spikes.times.npy"


@pytest.fixture(autouse=True)
def _isolated(one_home: Path) -> None:
    """Every test runs with a temporary ONE_HOME."""


@pytest.fixture
def data() -> bytes:
    return os.urandom(50_000)


@pytest.fixture
def server(tmp_path: Path, data: bytes):
    (tmp_path / "srv" / REL).parent.mkdir(parents=True)
    (tmp_path / "srv" / REL).write_bytes(data)
    with FileServer(tmp_path / "srv") as s:
        yield s


def test_serves_percent_encoded_paths_and_logs(server: FileServer, data: bytes) -> None:
    url = server.url_for(REL)
    assert "%23" in url and "#" not in url.split("//", 1)[1]
    r = requests.get(url, timeout=5)
    assert r.status_code == 200 and r.content == data
    assert r.headers["Accept-Ranges"] == "bytes" and r.headers["ETag"] and r.headers["Last-Modified"]
    server.wait_idle()
    [rec] = server.requests
    assert rec.path == REL and rec.status == 200 and rec.bytes_sent == len(data) and rec.range is None
    assert not rec.authorized
    assert server.count(REL) == 1 and server.count("lab/*") == 1 and server.count("other") == 0


def test_ranges(server: FileServer, data: bytes) -> None:
    url = server.url_for(REL)
    r = requests.get(url, headers={"Range": "bytes=100-"}, timeout=5)
    assert r.status_code == 206 and r.content == data[100:]
    assert r.headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    r = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert r.status_code == 206 and r.content == data[10:20]
    r = requests.get(url, headers={"Range": "bytes=-5"}, timeout=5)
    assert r.status_code == 206 and r.content == data[-5:]
    r = requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=5)
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"
    r = requests.get(url, headers={"Range": "bytes=0-1,5-6"}, timeout=5)  # multiple ranges: whole file
    assert r.status_code == 200 and r.content == data


def test_no_ranges_server(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "f.bin").write_bytes(data)
    with FileServer(tmp_path, ranges=False) as s:
        r = requests.get(s.url_for("f.bin"), headers={"Range": "bytes=100-"}, timeout=5)
        assert r.status_code == 200 and r.content == data


def test_conditional_get(server: FileServer) -> None:
    url = server.url_for(REL)
    first = requests.get(url, timeout=5)
    assert requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=5).status_code == 304
    since = first.headers["Last-Modified"]
    assert requests.get(url, headers={"If-Modified-Since": since}, timeout=5).status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"other"'}, timeout=5).status_code == 200
    # If-None-Match wins over If-Modified-Since
    r = requests.get(
        url, headers={"If-None-Match": '"other"', "If-Modified-Since": first.headers["Last-Modified"]}, timeout=5
    )
    assert r.status_code == 200


def test_basic_auth(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "f.bin").write_bytes(data)
    with FileServer(tmp_path, auth=("alice", "s3cret")) as s:
        r = requests.get(s.url_for("f.bin"), timeout=5)
        assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]
        assert requests.get(s.url_for("f.bin"), auth=("alice", "wrong"), timeout=5).status_code == 401
        r = requests.get(s.url_for("f.bin"), auth=("alice", "s3cret"), timeout=5)
        assert r.status_code == 200 and r.content == data
        assert [x.authorized for x in s.requests] == [False, True, True]
        assert "s3cret" not in repr(s)


def test_refuses_traversal_and_missing(server: FileServer) -> None:
    assert requests.get(server.url + "lab/../../etc/passwd", timeout=5).status_code in (400, 404)
    assert requests.get(server.url + "lab/%2e%2e/%2e%2e/x", timeout=5).status_code == 400
    assert requests.get(server.url + "nope.bin", timeout=5).status_code == 404
    assert requests.get(server.url + "lab", timeout=5).status_code == 404  # folders are not listed


@pytest.mark.parametrize("kind", ["drop", "short"])
def test_fault_cut_body(server: FileServer, data: bytes, kind: str) -> None:
    server.inject(REL, kind, after=1000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(server.url_for(REL), timeout=5).content  # noqa: B018
    server.wait_idle()
    assert server.requests[-1].fault == kind and server.requests[-1].bytes_sent == 1000
    assert requests.get(server.url_for(REL), timeout=5).content == data  # times=1: then healthy


def test_fault_short_defaults_to_half(server: FileServer, data: bytes) -> None:
    server.inject(REL, "short")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(server.url_for(REL), timeout=5).content  # noqa: B018
    server.wait_idle()
    assert server.requests[-1].bytes_sent == len(data) // 2


def test_fault_wrong_bytes(server: FileServer, data: bytes) -> None:
    server.inject(REL, "corrupt", after=10, times=2)
    for _ in range(2):
        got = requests.get(server.url_for(REL), timeout=5).content
        assert len(got) == len(data) and got[:10] == data[:10] and got[10:] != data[10:]
    assert requests.get(server.url_for(REL), timeout=5).content == data


def test_fault_status_and_retry_after(server: FileServer, data: bytes) -> None:
    server.inject(REL, "429", retry_after=3, times=2)
    server.inject(REL, "status", status=503)
    codes = []
    for _ in range(4):
        r = requests.get(server.url_for(REL), timeout=5)
        codes.append((r.status_code, r.headers.get("Retry-After")))
    assert codes == [(429, "3"), (429, "3"), (503, None), (200, None)]


def test_fault_ignore_range(server: FileServer, data: bytes) -> None:
    server.inject(REL, "ignore_range", times=None)
    for _ in range(2):
        r = requests.get(server.url_for(REL), headers={"Range": "bytes=100-"}, timeout=5)
        assert r.status_code == 200 and r.content == data


def test_fault_hang_is_a_read_timeout_and_stop_wakes_it(server: FileServer, data: bytes) -> None:
    server.inject(REL, "hang", seconds=30, times=None)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.url_for(REL), timeout=(2, 0.3))
    assert time.monotonic() - t0 < 5
    t0 = time.monotonic()
    server.stop()  # a hanging handler must not keep the test waiting
    assert time.monotonic() - t0 < 5
    assert not server.running


def test_fault_hang_mid_body(server: FileServer) -> None:
    server.inject(REL, "hang", after=2000, seconds=30)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url_for(REL), timeout=(2, 0.3)).content  # noqa: B018


def test_fault_glob_and_unknown_kind(server: FileServer) -> None:
    server.inject("lab/**", "404", times=None)
    assert requests.get(server.url_for(REL), timeout=5).status_code == 404
    server.clear_faults()
    assert requests.get(server.url_for(REL), timeout=5).status_code == 200
    with pytest.raises(ValueError, match="unknown fault"):
        server.inject(REL, "explode")


def test_head_and_log_filters(server: FileServer, data: bytes) -> None:
    r = requests.head(server.url_for(REL), timeout=5)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)
    assert server.count() == 0 and server.count(method="HEAD") == 1 and server.count(method=None) == 1
    server.clear_log()
    assert server.requests == []


def test_keep_alive_reuses_connections(server: FileServer) -> None:
    with requests.Session() as s:
        for _ in range(3):
            s.get(server.url_for(REL), timeout=5).raise_for_status()
    assert len({r.client_port for r in server.requests}) == 1
