"""Hostile Alyx answers: random and mutated JSON through every parser of Alyx answers, path escapes, a
``next`` link to another host or in a loop, and endless or gigantic answers. Only ``OneError``s escape."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from one_alyx.client import AlyxClient, write_token
from one_alyx.testing.fuzz import _SESSION, _repository, parse_answer

from onecore.errors import OneError, TransferError, UnsafePathError
from onecore.testing.answer_server import EndlessAnswerHandler
from onecore.testing.hostile import mutated_json
from onecore.testing.secrets import TOKEN
from onecore.testing.servers import QuietThreadingHTTPServer
from onecore.transfer import RetryPolicy, check_relpath

NASTY = st.sampled_from(
    [
        "..",
        "../../etc",
        "/abs",
        "%2e%2e",
        "a\\..\\b",
        "C:",
        "~",
        "\u2025",
        "\x00",
        "",
        "x.y.npy",
        "alf/probe00",
        "2020-01-01T10:00:00",
        "d3372b15-f696-4279-9be5-98f15783b5bb",
    ]
)
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=30), NASTY)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=5), st.dictionaries(st.text(max_size=12), kids, max_size=6)),
    max_leaves=30,
)
KEYS = [
    "id",
    "url",
    "subject",
    "lab",
    "start_time",
    "number",
    "projects",
    "project",
    "task_protocol",
    "name",
    "collection",
    "revision",
    "file_size",
    "hash",
    "md5",
    "data_repository",
    "file_records",
    "exists",
    "data_url",
    "relative_path",
    "file_name",
    "results",
    "next",
    "count",
    "json",
    "nickname",
    "qc",
]
SESSION = {
    "id": "d3372b15-f696-4279-9be5-98f15783b5bb",
    "subject": "s",
    "lab": "lab",
    "number": 1,
    "start_time": "2020-01-01T10:00:00",
    "projects": ["p"],
    "task_protocol": "t",
    "users": ["u"],
}
DATASET = {
    "id": "a3372b15-f696-4279-9be5-98f15783b5bb",
    "name": "spikes.times.npy",
    "collection": "alf/probe00",
    "revision": "",
    "file_size": 10,
    "hash": "0" * 32,
    "default_dataset": True,
    "file_records": [
        {
            "exists": True,
            "data_url": None,
            "relative_path": "lab/Subjects/s/x.npy",
            "file_name": "spikes.times.npy",
            "data_repository": "r",
        }
    ],
}
PAGES = [
    {"count": 2, "next": "http://127.0.0.1:9/api/sessions?offset=1", "results": [SESSION]},
    {"count": 1, "next": None, "results": [DATASET]},
    [SESSION, SESSION],
    [DATASET],
    SESSION,
    DATASET,
    {"name": "r", "data_url": "http://h/data/", "json": {"data_url": "http://h/"}},
]


def mutated() -> Any:
    """Real answer shapes, mutated (see :func:`onecore.testing.hostile.mutated_json`)."""
    return mutated_json(PAGES, KEYS, JSON)


def _only_one_errors(doc: Any) -> None:
    try:
        parse_answer(json.dumps(doc))
    except OneError:
        pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_random_json_gives_only_clear_errors(doc: Any) -> None:
    _only_one_errors(doc)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_answers_give_only_clear_errors(doc: Any) -> None:
    _only_one_errors(doc)


@pytest.mark.parametrize(
    "field, value",
    [
        ("collection", "../../.."),
        ("collection", "alf/../../.."),
        ("revision", "x#/../../..#y"),
        ("name", "../../x.y.npy"),
        ("name", "%2e%2e/x.y.npy"),
        ("collection", "alf\\..\\.."),
    ],
)
def test_dataset_paths_escaping_the_cache_are_refused(field: str, value: str) -> None:
    ds = dict(DATASET, file_records=[], **{field: value})
    row = _repository()._dataset(ds, _SESSION)
    with pytest.raises(UnsafePathError):
        check_relpath(row.rel_path)  # the engine checks every path before writing anything


# -- a misbehaving server ---------------------------------------------------------------------------
class _Hostile(EndlessAnswerHandler):
    """Endless, slow or huge answers, plus a ``next`` link to another host or back to itself."""

    head = b'{"count": 1, "next": null, "results": ['
    item = json.dumps(SESSION).encode() + b","
    huge_bytes = 3 * 1024**3
    seen: list[tuple[str, str | None]] = []

    def answer_specially(self) -> bool:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.mode not in ("other_host", "loop"):
            return False
        port = self.server.server_address[1]
        nxt = (
            "http://127.0.0.2:9/api/sessions?offset=1"
            if self.mode == "other_host"
            else f"http://127.0.0.1:{port}/api/sessions?offset=1"
        )
        body = json.dumps({"count": 9, "next": nxt, "results": [SESSION]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True


@pytest.fixture
def hostile(one_home: Path) -> Iterator[Any]:
    servers: list[Any] = []

    def start(mode: str) -> tuple[AlyxClient, type[_Hostile]]:
        handler = type("H", (_Hostile,), {"mode": mode, "seen": []})
        httpd = QuietThreadingHTTPServer(("127.0.0.1", 0), handler)  # handler errors go to the log
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        base = f"http://127.0.0.1:{httpd.server_address[1]}/api"
        write_token(one_home, base, "u", TOKEN)  # a cached token: no login needed
        return AlyxClient(
            base, username="u", password=None, home=one_home, retry=RetryPolicy(attempts=1, base_delay=0.01)
        ), handler

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize(
    "mode, env, message",
    [
        ("endless", {"ONE_MAX_ANSWER_BYTES": "2000000"}, "larger than 2000000 bytes"),
        ("huge", {}, "3221225472 bytes, more than the limit"),
        ("slow", {"ONE_MAX_ANSWER_SECONDS": "1"}, "more than 1 s"),
    ],
)
def test_endless_or_gigantic_answers_are_bounded(
    hostile: Any, monkeypatch: pytest.MonkeyPatch, mode: str, env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    client, _ = hostile(mode)
    t0 = time.monotonic()
    with pytest.raises(TransferError, match=message) as e:
        list(client.paginate("sessions"))
    assert time.monotonic() - t0 < 10 and "/api/sessions" in str(e.value)
    client.close()


def test_next_page_on_another_host_is_refused_and_gets_no_token(hostile: Any) -> None:
    client, handler = hostile("other_host")
    with pytest.raises(OneError, match="not on http://127.0.0.1:.*refusing to follow it") as e:
        list(client.paginate("sessions"))
    assert TOKEN not in str(e.value) and len(handler.seen) == 1
    client.close()


def test_endless_pagination_is_refused(hostile: Any) -> None:
    client, handler = hostile("loop")
    with pytest.raises(OneError, match="pages never end"):
        list(client.paginate("sessions"))
    assert len(handler.seen) == 2
    client.close()
