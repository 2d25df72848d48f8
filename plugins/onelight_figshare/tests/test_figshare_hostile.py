"""Hostile figshare answers: random and mutated JSON through every parser of figshare answers, path
escapes in file names, and endless or gigantic answers. Only clear ``OneError``s may escape."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onelight_figshare.api import FigshareAPI
from onelight_figshare.fuzz import parse_answer
from onelight_figshare.uploader import index_rows

from onecore.errors import OneError, TransferError
from onecore.testing.hostile import mutated_json
from onecore.testing.servers import QuietThreadingHTTPServer
from onecore.transfer import RetryPolicy

NASTY_TEXT = st.sampled_from(
    [
        "..~..~etc~passwd",
        "~..~x.y.npy",
        "%2e%2e~x.y.npy",
        "lab~Subjects~s~2020-01-01~001~alf~..~a.b.npy",
        "/abs~x.y.npy",
        "C:\\x.y.npy",
        "lab~Subjects~s~2020-01-01~001~a\u2024b.c.npy",
        "\x00",
        "",
        "one_root.tsv",
        "lab~Subjects~s~2020-01-01~001~alf~spikes.times.npy",
        "created",
        "available",
        "PENDING",
        "COMPLETE",
    ]
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.sampled_from([0, 1, -1, 2**63, 10**400 // 10**300]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=30), NASTY_TEXT)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=12), kids, max_size=6)),
    max_leaves=30,
)
KEYS = [
    "id",
    "name",
    "size",
    "download_url",
    "computed_md5",
    "supplied_md5",
    "status",
    "upload_url",
    "is_link_only",
    "location",
    "parts",
    "partNo",
    "startOffset",
    "endOffset",
]

FILE = {
    "id": 5,
    "name": "lab~Subjects~s~2020-01-01~001~alf~spikes.times.npy",
    "size": 10,
    "download_url": "http://127.0.0.1:9/ndownloader/files/5",
    "computed_md5": "0" * 32,
    "supplied_md5": "0" * 32,
    "status": "available",
    "upload_url": "http://127.0.0.1:9/upload/t",
    "is_link_only": False,
}
STATUS = {
    "token": "t",
    "size": 10,
    "status": "PENDING",
    "parts": [
        {"partNo": 1, "startOffset": 0, "endOffset": 4, "status": "COMPLETE"},
        {"partNo": 2, "startOffset": 5, "endOffset": 9, "status": "PENDING"},
    ],
}


def mutated() -> Any:
    """Real answer shapes, mutated (see :func:`onecore.testing.hostile.mutated_json`)."""
    return mutated_json([[FILE, dict(FILE, id=6)], FILE, STATUS, {"location": "http://h/files/7"}], KEYS, JSON)


def _only_one_errors(doc: Any) -> None:
    try:
        parse_answer(json.dumps(doc))
    except OneError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_random_json_gives_only_clear_errors(doc: Any) -> None:
    _only_one_errors(doc)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_answers_give_only_clear_errors(doc: Any) -> None:
    _only_one_errors(doc)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_only_clear_errors(text: str) -> None:
    try:
        parse_answer(text)
    except OneError:
        pass


@pytest.mark.parametrize(
    "name",
    [
        "..~..~x.y.npy",
        "lab~Subjects~s~2020-01-01~001~..~..~..~x.y.npy",
        "~etc~x.y.npy",
        "lab~Subjects~s~2020-01-01~001~alf~%2e%2e~x.y.npy",
        "lab~Subjects~s~2020-01-01~001~alf\\..\\x.y.npy",
        "lab~Subjects~s~2020-01-01~001~alf~\u2025~x.y.npy",
    ],
)
def test_file_names_escaping_the_cache_never_become_rows(name: str) -> None:
    from onelight_figshare.api import RemoteFile

    f = RemoteFile(1, name, 3, "http://127.0.0.1:9/ndownloader/files/1", "", "")
    rows, _ = index_rows([f], complete_only=True)
    assert rows == []


# -- endless and gigantic answers --------------------------------------------------------------------
class _Endless(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "endless"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.mode == "huge":
            self.send_header("Content-Length", str(5 * 1024**3))  # "5 GB", never sent
            self.end_headers()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        item = json.dumps(FILE).encode() + b","
        try:
            self._chunk(b"[")
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                self._chunk(item * (1 if self.mode == "slow" else 200))
                if self.mode == "slow":
                    time.sleep(0.05)
        except OSError:
            pass

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture
def endless() -> Iterator[Any]:
    servers = []

    def start(mode: str) -> str:
        handler = type("H", (_Endless,), {"mode": mode})
        httpd = QuietThreadingHTTPServer(("127.0.0.1", 0), handler)  # handler errors go to the log
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/v2"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize(
    "mode, env, message",
    [
        ("endless", {"ONE_MAX_ANSWER_BYTES": "2000000"}, "larger than 2000000 bytes"),
        ("huge", {}, "5368709120 bytes, more than the limit"),
        ("slow", {"ONE_MAX_ANSWER_SECONDS": "1"}, "more than 1 s"),
    ],
)
def test_endless_or_gigantic_answers_are_bounded(
    endless: Any, monkeypatch: pytest.MonkeyPatch, mode: str, env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    api = FigshareAPI(endless(mode), 1, None, retry=RetryPolicy(attempts=1, base_delay=0.01))
    t0 = time.monotonic()
    with pytest.raises(TransferError, match=message) as e:
        api.list_files(public=True)
    assert time.monotonic() - t0 < 10 and "figshare article 1: listing the public files" in str(e.value)
    api.close()
